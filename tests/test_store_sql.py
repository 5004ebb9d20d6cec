"""A run written in one transaction (transfer.store.sql) is the run MLflow's client API writes: the same cell logged
both ways into one real sqlite store reads back the same through MLflow's own client, search and inputs; a write
that fails part-way leaves nothing; a store whose schema was not verified is written through the client API."""

from __future__ import annotations

import math
import sqlite3
import time

import pytest
from mlflow.exceptions import MlflowException

from jobs.driver import cell_tags
from tests.test_store_inputs import predictions
from transfer import store as st
from transfer.cell import CellResult
from transfer.config import config_hash
from transfer.store import sql as store_sql


STARTED_MS = int(time.time() * 1000) - 5000


def log_both_ways(tmp_path, compose_cfg, metrics):
    cell = compose_cfg("method=confident_only", "seed=3", "setting.data.max_pairs=40")
    cell = {**cell, "config_hash": config_hash(cell)}
    writer = st.StudyWriter("sql", f"sqlite:///{tmp_path / 'mlruns.db'}")
    assert writer._sql is not None, (
        f"this MLflow's tracking schema ({store_sql.schema_revision(writer.client._tracking_client.store)}) is not "
        f"in transfer.store.sql.VERIFIED_SCHEMAS: check this test passes with it added, then add it")
    result = CellResult(cell, metrics, predictions(), started_ms=STARTED_MS)  # a cell that took 5 s
    fast = writer.log_cell(result, cell_tags(cell, "sha"))
    writer._sql = None  # the client API's four calls
    slow = writer.log_cell(result, cell_tags(cell, "sha"))
    return writer, writer.client.get_run(fast), writer.client.get_run(slow)


def test_one_transaction_writes_the_run_the_client_api_writes(tmp_path, compose_cfg):
    metrics = {"w2s_acc": 0.75, "pgr": float("nan"), "gap": float("inf"), "n_test": 4}
    writer, fast, slow = log_both_ways(tmp_path, compose_cfg, metrics)
    for run in (fast, slow):
        assert run.info.status == "FINISHED" and run.info.lifecycle_stage == "active"
        assert run.info.artifact_uri.endswith(f"/{run.info.run_id}/artifacts")
        assert run.info.start_time == STARTED_MS and run.info.end_time >= STARTED_MS + 5000  # the UI's Duration
    assert (fast.info.user_id, fast.info.run_name) == (slow.info.user_id, slow.info.run_name)
    assert fast.data.params == slow.data.params and fast.data.tags == slow.data.tags
    assert fast.data.metrics.keys() == slow.data.metrics.keys() == metrics.keys()
    assert math.isnan(fast.data.metrics["pgr"]) and math.isnan(slow.data.metrics["pgr"])
    assert all(fast.data.metrics[k] == slow.data.metrics[k] for k in ("w2s_acc", "gap", "n_test"))
    c = writer.client
    history = [[(m.value, m.step) for m in c.get_metric_history(r.info.run_id, "w2s_acc")] for r in (fast, slow)]
    assert history[0] == history[1] == [(0.75, 0)]

    def inputs(run):
        return sorted((i.dataset.name, i.dataset.digest, i.dataset.source_type, i.dataset.source, i.dataset.schema,
                       i.dataset.profile, sorted((t.key, t.value) for t in i.tags)) for i in run.inputs.dataset_inputs)
    assert inputs(fast) == inputs(slow) and len(inputs(fast)) == 3
    with sqlite3.connect(tmp_path / "mlruns.db") as db:  # the second run reused the first run's dataset rows
        assert db.execute("select count(*) from datasets").fetchone()[0] == 3

    found = c.search_runs([writer.experiment_id], "metrics.w2s_acc > 0.5 and params.seed = '3' and "
                                                  "tags.method = 'confident_only' and attributes.status = 'FINISHED'")
    assert {r.info.run_id for r in found} == {fast.info.run_id, slow.info.run_id}
    assert [r.info.run_id for r in st.runs(c, writer.experiment_id, st.CELL)] != []
    files = [sorted(a.path for a in c.list_artifacts(r.info.run_id)) for r in (fast, slow)]
    assert files[0] == files[1] == sorted([st.PREDICTIONS, st.CELL_CONFIG])


def test_a_write_that_fails_part_way_leaves_no_run(tmp_path, compose_cfg):
    writer, fast, _ = log_both_ways(tmp_path, compose_cfg, {"w2s_acc": 0.75})
    sql = store_sql.run_writer(writer.client, writer.experiment_id)
    db = sqlite3.connect(tmp_path / "mlruns.db")
    # a real failure of the database at the transaction's last insert (as a full disk or a lock would be)
    db.execute("create trigger refuse before insert on input_tags begin select raise(abort, 'refused'); end")
    db.commit()
    before = {t: db.execute(f"select count(*) from {t}").fetchone()[0]
              for t in ("runs", "tags", "params", "metrics", "latest_metrics", "inputs")}
    with pytest.raises(MlflowException, match="refused"):
        sql.write("f" * 32, "doomed", {"method": "x"}, {"w2s_acc": 0.5}, {"seed": 1},
                  writer.client.get_run(fast.info.run_id).inputs.dataset_inputs)
    after = {t: db.execute(f"select count(*) from {t}").fetchone()[0] for t in before}
    assert after == before
    db.close()


def test_a_store_of_an_unverified_schema_is_written_through_the_client_api(tmp_path, compose_cfg):
    writer, _, _ = log_both_ways(tmp_path, compose_cfg, {"w2s_acc": 0.75})
    db = sqlite3.connect(tmp_path / "mlruns.db")
    (revision,) = db.execute("select version_num from alembic_version").fetchone()
    db.execute("update alembic_version set version_num = 'not-verified'")
    db.commit()
    try:
        assert store_sql.run_writer(writer.client, writer.experiment_id) is None
    finally:
        db.execute("update alembic_version set version_num = ?", (revision,))
        db.commit()
        db.close()
    assert store_sql.run_writer(writer.client, writer.experiment_id) is not None
