"""A study's summary runs: one child run of the parent per (study, setting, dataset, method), role `summary`,
holding the study-level numbers analysis/ computed (analysis/rows.py makes the rows), so the MLflow UI's runs table
of a study *is* its results table (transfer/store/view.py shows these rows only).

Updated in place: a later analysis of the same study (more seeds, the report after the sweep's table) writes new
values and tags on the same run, so a run's address stays valid. Params name what a row is (method, setting,
dataset, models) and are written once (MLflow params cannot change).
"""

from __future__ import annotations

import time

from mlflow.entities import Metric, Param, RunTag

from transfer import store
from transfer.store import view

ORDER = "transfer.order"  # the saved view sorts by it: baseline first, each method's lab row before production


def write(c, experiment_id: str, parent_id: str, rows: list[dict], source: str) -> list[str]:
    """Create or update one summary run per row (analysis.rows.rows); `source` says which analysis wrote it
    (e.g. "make report"). Returns the run ids in the rows' order."""
    view.save_view(c, c.get_experiment(experiment_id))  # a study made by older code gets the view that shows these
    existing = {tuple(r.data.tags.get(k) for k in ("study", "setting", "dataset", "method")): r
                for r in store.runs(c, experiment_id, store.SUMMARY)}
    now, ids = int(time.time() * 1000), []
    for row in rows:
        tags = {store.ROLE: store.SUMMARY, store.PARENT: parent_id, ORDER: row["order"], "transfer.source": source,
                **row["tags"]}
        run = existing.get(row["key"])
        params = []
        if run is None:
            run = c.create_run(experiment_id, run_name=row["name"], tags=tags)
            params = [Param(k, str(v)) for k, v in row["params"].items()]
        c.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in row["metrics"].items()],
                    params=params, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])
        if run.info.status != "FINISHED":
            c.set_terminated(run.info.run_id, status="FINISHED")
        ids.append(run.info.run_id)
    return ids
