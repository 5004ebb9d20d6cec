"""The tracking store's contract (docs/tracking.md), on MLflow's public API: names, paginated reading, the plan.

experiment = study (artifacts beside a sqlite store), one parent run (`transfer.role=study`), one child run per cell
(`cell`) or per imported baseline seed (`baseline`), and one run per (setting, dataset, method) with the analysis'
study-level numbers (`summary`, transfer/store/summary.py). The sweep driver, the replay, the AAR import and the
test fixtures write through `transfer.store.writer.StudyWriter` (the sweep off its critical path, through
`transfer.store.background`); analysis/ and the replay read through `find_experiment`, `runs` (every page, no cap)
and `artifact`. Roles, artifact names, queries, the artifact location and the plan's tag and bytes live in this
package only; the callers supply their own tags and metrics (a cell's in jobs.driver.cell_tags).

The package imports only MLflow and `transfer.paths`/`env`/`errors`: analysis/ reads the store through it without
importing the pipeline (tests/repo/test_layers.py). Cells (and the methods inside them) never touch the store.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from transfer import env, paths
from transfer.errors import StudyError  # store.StudyError is what readers of a study catch

ROLE, STUDY, CELL, BASELINE = "transfer.role", "study", "cell", "baseline"  # the tag and its values
SUMMARY = "summary"  # a study-level row of the results (transfer/store/summary.py), not a cell: analysis never reads it
PARENT, NOTE, KIND = "mlflow.parentRunId", "mlflow.note.content", "mlflow.experimentKind"
PREDICTIONS, CELL_CONFIG, STUDY_CONFIG = "predictions.parquet", "cell_config.json", "study_config.yaml"
PLAN_TAG, PLAN_FILE = "plan_sha256", "plan.json"
PAGE = 1000  # runs per search_runs request; every page is read (MLflow caps one request at 50,000)


def uri(tracking_uri: str | None = None) -> str:
    """The tracking URI given, else $MLFLOW_TRACKING_URI, else sqlite:///<repo>/mlruns.db."""
    return tracking_uri or paths.default_tracking_uri()


def client(tracking_uri: str | None = None) -> MlflowClient:
    env.apply()  # no telemetry, no progress bar per artifact read, whoever calls
    check_tracking_uri(uri(tracking_uri))
    return MlflowClient(uri(tracking_uri))


_ANSWERED: set[str] = set()  # tracking servers that answered once in this process


def check_tracking_uri(tracking_uri: str, timeout_s: float = 10) -> None:
    """A tracking server (http[s]://) answers, else one line: MLflow's client would retry for minutes first."""
    if not tracking_uri.startswith(("http://", "https://")) or tracking_uri in _ANSWERED:
        return
    try:
        urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=timeout_s).close()
    except urllib.error.HTTPError:
        pass  # it answered (e.g. 401 behind a login): the client's own requests will say more
    except OSError as exc:
        raise StudyError(f"tracking server {tracking_uri} does not answer ({getattr(exc, 'reason', exc)}): start "
                         f"it (make tracking-server) or fix MLFLOW_TRACKING_URI") from None
    _ANSWERED.add(tracking_uri)


def artifact_location(tracking_uri: str, study: str) -> str | None:
    """Where a new study's artifacts go: the harness's artifact root for a sqlite store (not wherever the cwd is);
    a tracking server decides for itself."""
    return (paths.default_artifact_root(tracking_uri) / study).as_uri() if tracking_uri.startswith("sqlite:") \
        else None


# ---------------------------------------------------------------------------------------------------- reading
def find_experiment(c: MlflowClient, name: str):
    exp = c.get_experiment_by_name(name)
    if exp is None:
        names = sorted(e.name for e in c.search_experiments() if e.name != "Default")
        raise StudyError(f"no study (MLflow experiment) named {name!r} in {c.tracking_uri}; "
                         f"available: {', '.join(names) or 'none'}")
    return exp


def search(c: MlflowClient, experiment_id: str, query: str = "", order_by: list[str] | None = None,
           page_size: int | None = None) -> list:
    """Every run matching `query`, page after page (no cap)."""
    out, token = [], None
    while True:
        page = c.search_runs([experiment_id], query, max_results=page_size or PAGE, order_by=order_by,
                             page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def runs(c: MlflowClient, experiment_id: str, role: str | None = None, status: str | None = None,
         page_size: int | None = None) -> list:
    """The study's runs of one role (`cell`, `baseline`, `study`; None: all) and status (None: any)."""
    parts = ([f"tags.`{ROLE}` = '{role}'"] if role else []) + ([f"attributes.status = '{status}'"] if status else [])
    return search(c, experiment_id, " and ".join(parts), page_size=page_size)


def parent_run(c: MlflowClient, experiment_id: str):
    """The study's parent run (the first created), or None."""
    found = c.search_runs([experiment_id], f"tags.`{ROLE}` = '{STUDY}'", max_results=1,
                          order_by=["attributes.start_time ASC", "attributes.run_id ASC"])
    return found[0] if found else None


def artifact(c: MlflowClient, run_id: str, name: str, dest: str, artifact_uri: str | None = None) -> Path | None:
    """A run's artifact downloaded under `dest`, or None when the run has none of that name. `artifact_uri`: the
    run's (run.info.artifact_uri), when the caller has it: a run id alone is looked up in the store first."""
    root = artifact_uri or c.get_run(run_id).info.artifact_uri
    listed = mlflow.artifacts.list_artifacts(artifact_uri=root, tracking_uri=c.tracking_uri)
    if name not in {posixpath.basename(f.path) for f in listed}:  # the root's entries (paths may carry its name)
        return None
    Path(dest).mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{root.rstrip('/')}/{name}", dst_path=dest,
                                                    tracking_uri=c.tracking_uri))


def read_json(c: MlflowClient, run_id: str, name: str, artifact_uri: str | None = None):
    with tempfile.TemporaryDirectory() as tmp:
        path = artifact(c, run_id, name, tmp, artifact_uri)
        return None if path is None else json.loads(path.read_text())


def metric_key(key: str) -> str:
    """A metric name MLflow accepts: a variant's name (logconf[alpha_max=0.3]#9a328b) has [ ] = , # in it, which
    become _ (the 6 hex digits keep names apart)."""
    return re.sub(r"[^\w\-./ ]", "_", key)


def annotate(c: MlflowClient, run_id: str, tags: dict | None = None, metrics: dict | None = None,
             files: list[Path] = (), folder: str | None = None, tables: dict | None = None) -> None:
    """Results of an analysis on a study's parent run: tags, metrics, files under `folder`, tables
    ({artifact name: {column: values}}, shown as tables in the MLflow UI)."""
    for name, table in (tables or {}).items():
        mlflow.set_tracking_uri(c.tracking_uri)
        mlflow.log_table(table, name, run_id=run_id)
    now = int(time.time() * 1000)
    c.log_batch(run_id, metrics=[Metric(metric_key(k), float(v), now, 0) for k, v in (metrics or {}).items()],
                tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()])
    for f in files:
        c.log_artifact(run_id, str(f), folder)


def plan_dumps(plan: dict) -> str:
    """A plan's stored bytes: plain JSON without timestamps, so the same inputs give the same sha256."""
    return json.dumps(plan, sort_keys=True, indent=1, allow_nan=False)


def plan_sha256(plan: dict) -> str:
    return hashlib.sha256(plan_dumps(plan).encode()).hexdigest()


def stored_plan(c: MlflowClient, run_id: str) -> dict | None:
    """The plan.json on a parent run, or None."""
    return read_json(c, run_id, PLAN_FILE)
