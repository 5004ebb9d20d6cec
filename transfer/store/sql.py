"""A finished run written in one transaction, straight into a sqlite MLflow store's own tables.

MLflow's client writes a run in four calls (create_run, log_batch, log_inputs, set_terminated), each its own
session, queries and commit: about 30 ms of a cell's logging here, more than the rest of the harness's per-cell work
(issue 10). This writes the rows those four calls write, through MLflow's own table definitions
(`mlflow.store.tracking.dbmodels`) and its own validation, in one transaction: about a third of the time, and a cell
is logged whole or not at all (the driver dying in between leaves no RUNNING run behind).

Only for a sqlite store whose schema this code was checked against (`VERIFIED_SCHEMAS`: the store's alembic
revision; tests/test_store_sql.py compares the two paths' runs field by field and fails on a new MLflow schema).
Anything else (a tracking server, Postgres, a newer MLflow) goes through the client API: an MLflow upgrade can make
logging slower, never different.
"""

from __future__ import annotations

import time
import uuid

from mlflow.entities import DatasetInput, LifecycleStage, Metric, Param, RunStatus, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
from mlflow.utils.uri import append_to_uri_path

# alembic revisions of MLflow's tracking schema whose tables this module writes as the client API would
VERIFIED_SCHEMAS = {"dc11669786a5"}  # MLflow 3.17


def schema_revision(store) -> str | None:
    from mlflow.store.db.utils import _get_schema_version

    return _get_schema_version(store.engine)


def run_writer(client, experiment_id: str) -> RunWriter | None:
    """A one-transaction writer for `client`'s store, or None where only the client API is known to be right."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = client._tracking_client.store
    if not isinstance(store, SqlAlchemyStore) or store.db_type != "sqlite":
        return None
    if schema_revision(store) not in VERIFIED_SCHEMAS:
        return None
    return RunWriter(store, experiment_id, client.get_experiment(experiment_id).artifact_location)


class RunWriter:
    def __init__(self, store, experiment_id: str, artifact_location: str):
        self.store, self.experiment_id, self.artifact_location = store, experiment_id, artifact_location

    def artifact_uri(self, run_id: str) -> str:
        return append_to_uri_path(self.artifact_location, run_id, "artifacts")  # as SqlAlchemyStore.create_run

    def write(self, run_id: str, run_name: str, tags: dict[str, str], metrics: dict[str, float],
              params: dict[str, object], inputs: list[DatasetInput] = (), start_ms: int | None = None) -> None:
        """One FINISHED run with its tags, metrics (step 0), params and dataset inputs, in one transaction; it
        started at `start_ms` (default: now) and ends now."""
        from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
        from mlflow.utils.validation import _validate_batch_log_data, _validate_dataset_inputs, _validate_run_id

        now = int(time.time() * 1000)
        _validate_run_id(run_id)
        metric_list = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        metric_list, param_list, tag_list = _validate_batch_log_data(
            metric_list, [Param(k, str(v)) for k, v in params.items()],
            [RunTag(k, v) for k, v in {**tags, MLFLOW_RUN_NAME: run_name}.items()])
        _validate_dataset_inputs(list(inputs))
        run = dict(run_uuid=run_id, name=run_name, artifact_uri=self.artifact_uri(run_id),
                   experiment_id=int(self.experiment_id), source_type="UNKNOWN", source_name="",
                   entry_point_name="", user_id="unknown", status=RunStatus.to_string(RunStatus.FINISHED),
                   start_time=start_ms or now, end_time=now, deleted_time=None, source_version="",
                   lifecycle_stage=LifecycleStage.ACTIVE)
        metric_rows = []
        for m in metric_list:
            is_nan, value = self.store.sanitize_metric_value(m.value)
            metric_rows.append(dict(run_uuid=run_id, key=m.key, value=value, timestamp=m.timestamp, step=m.step,
                                    is_nan=is_nan))
        with self.store.ManagedSessionMaker(read_only=False) as session:
            session.execute(SqlRun.__table__.insert(), [run])
            session.execute(SqlTag.__table__.insert(), [dict(run_uuid=run_id, key=t.key, value=t.value)
                                                        for t in tag_list])
            if param_list:
                session.execute(SqlParam.__table__.insert(), [dict(run_uuid=run_id, key=p.key, value=p.value)
                                                              for p in param_list])
            if metric_rows:
                session.execute(SqlMetric.__table__.insert(), metric_rows)
                session.execute(SqlLatestMetric.__table__.insert(), metric_rows)
            if inputs:
                self._inputs(session, run_id, inputs)

    def _inputs(self, session, run_id: str, inputs: list[DatasetInput]) -> None:
        """As SqlAlchemyStore.log_inputs: a dataset row per (name, digest) new to the experiment, an input edge to
        the run per dataset, the input's tags."""
        from mlflow.store.tracking.dbmodels.models import SqlDataset, SqlInput, SqlInputTag

        first = {}
        for i in inputs:  # one per (name, digest), the first
            first.setdefault((i.dataset.name, i.dataset.digest), i)
        unique = list(first.values())
        existing = {(d.name, d.digest): d.dataset_uuid for d in session.query(SqlDataset).filter(
            SqlDataset.experiment_id == int(self.experiment_id),
            SqlDataset.name.in_([i.dataset.name for i in unique]),
            SqlDataset.digest.in_([i.dataset.digest for i in unique]))}
        datasets, edges, edge_tags = [], [], []
        for i in unique:
            d = i.dataset
            if (d.name, d.digest) not in existing:
                existing[(d.name, d.digest)] = uuid.uuid4().hex
                datasets.append(dict(dataset_uuid=existing[(d.name, d.digest)], experiment_id=int(self.experiment_id),
                                     name=d.name, digest=d.digest, dataset_source_type=d.source_type,
                                     dataset_source=d.source, dataset_schema=d.schema, dataset_profile=d.profile))
            edge = uuid.uuid4().hex
            edges.append(dict(input_uuid=edge, source_type="DATASET", source_id=existing[(d.name, d.digest)],
                              destination_type="RUN", destination_id=run_id))
            edge_tags += [dict(input_uuid=edge, name=t.key, value=t.value) for t in i.tags]
        if datasets:
            session.execute(SqlDataset.__table__.insert(), datasets)
        session.execute(SqlInput.__table__.insert(), edges)
        if edge_tags:
            session.execute(SqlInputTag.__table__.insert(), edge_tags)
