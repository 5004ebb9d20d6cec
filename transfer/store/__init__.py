"""The tracking store's contract (docs/tracking.md), in one place: names, writing, paginated reading, the plan.

experiment = study (artifacts beside a sqlite store), one parent run (`transfer.role=study`), one child run per cell
(`cell`) or per imported baseline seed (`baseline`). The sweep driver, the replay, the AAR import and the test
fixtures write through `StudyWriter`; analysis/ and the replay read through `find_experiment`, `runs` (every page,
no cap) and `artifact`. Roles, artifact names, queries, the artifact location and the plan's tag and bytes live
here only; the callers supply their own tags and metrics (a cell's in jobs.driver.cell_tags).

This module imports only MLflow and `transfer.paths`/`env`/`errors`/`store_inputs`/`store_sql`: analysis/ reads the store
through it without importing the pipeline (tests/test_layers.py). Cells (and the methods inside them) never touch the store.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from transfer import env, paths
from transfer.store import sql as store_sql
from transfer.store import view as mlflow_view
from transfer.errors import StudyError  # store.StudyError is what readers of a study catch

ROLE, STUDY, CELL, BASELINE = "transfer.role", "study", "cell", "baseline"  # the tag and its values
PARENT, NOTE, KIND = "mlflow.parentRunId", "mlflow.note.content", "mlflow.experimentKind"
PREDICTIONS, CELL_CONFIG, STUDY_CONFIG = "predictions.parquet", "cell_config.json", "study_config.yaml"
PLAN_TAG, PLAN_FILE = "plan_sha256", "plan.json"
PAGE = 1000  # runs per search_runs request; every page is read (MLflow caps one request at 50,000)
SETTLE_S = 1.0  # longer than a write takes to land: then two drivers read the same runs


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
    run's (run.info.artifact_uri), when the caller has it: the client's runs:/ path looks the run up three times."""
    repo = get_artifact_repository(artifact_uri or c.get_run(run_id).info.artifact_uri, tracking_uri=c.tracking_uri)
    if name not in {a.path for a in repo.list_artifacts()}:
        return None
    Path(dest).mkdir(parents=True, exist_ok=True)  # the client would make it; the repository requires it
    return Path(repo.download_artifacts(name, dest))


def read_json(c: MlflowClient, run_id: str, name: str, artifact_uri: str | None = None):
    with tempfile.TemporaryDirectory() as tmp:
        path = artifact(c, run_id, name, tmp, artifact_uri)
        return None if path is None else json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------------- writing
class StudyWriter:
    """A study's experiment and parent run (created if new, reused if not); cells and baselines as child runs."""

    def __init__(self, study: str, tracking_uri: str | None = None, parent_tags: dict | None = None):
        self.uri = uri(tracking_uri)
        self.client = client(self.uri)
        mlflow.set_tracking_uri(self.uri)
        self.study = study
        self.experiment_id = self._experiment(study)
        self._sql = store_sql.run_writer(self.client, self.experiment_id)  # None: the client API
        parent = parent_run(self.client, self.experiment_id)
        if parent:
            self.client.update_run(parent.info.run_id, status="RUNNING")
            self.parent_id = parent.info.run_id
        else:
            mine = self.client.create_run(self.experiment_id, run_name=study, tags={
                ROLE: STUDY, "study": study, **(parent_tags or {})}).info.run_id
            # two drivers starting a new study at once each created one: once both writes have landed (start times
            # are the drivers' clocks, not the store's order) both keep the first (then jobs.lease decides)
            time.sleep(SETTLE_S)
            self.parent_id = parent_run(self.client, self.experiment_id).info.run_id
            if self.parent_id != mine:
                self.client.delete_run(mine)

    def _experiment(self, study: str) -> str:
        exp = self.client.get_experiment_by_name(study)
        try:  # the kind makes the MLflow UI open the experiment on its runs, not on the GenAI traces page
            if exp:  # the saved view of the UI's runs table: refreshed if this code's differs
                mlflow_view.save_view(self.client, exp)
                return exp.experiment_id
            return self.client.create_experiment(study, artifact_location=artifact_location(self.uri, study),
                                                 tags={KIND: "custom_model_development", **mlflow_view.view_tag()})
        except MlflowException as exc:  # another driver created it in between
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(study).experiment_id

    def start(self, study_config: dict, settings: list[str], methods: list[str], git_sha: str) -> None:
        import yaml

        self.client.log_batch(self.parent_id, tags=[RunTag(k, v) for k, v in {
            "git_sha": git_sha, "settings": ",".join(settings), "methods": ",".join(methods)}.items()])
        self.log_files(self.parent_id, {STUDY_CONFIG: yaml.safe_dump(study_config, sort_keys=False)})

    def cell_runs(self, status: str | None = None) -> list:
        return runs(self.client, self.experiment_id, CELL, status)

    def finished_hashes(self) -> set[str]:
        return {r.data.tags.get("config_hash") for r in self.cell_runs("FINISHED")}

    def known_hashes(self) -> set[str]:
        """config_hash of every run of the study, any role and status (an import adds only what is missing)."""
        return {r.data.tags.get("config_hash") for r in runs(self.client, self.experiment_id)}

    def fail_orphans(self) -> int:
        """Cells left RUNNING by a sweep that was killed are marked FAILED (their results were never logged)."""
        orphans = self.cell_runs("RUNNING")
        for run in orphans:
            self.client.set_terminated(run.info.run_id, status="FAILED")
        return len(orphans)

    def log_run(self, run_name: str, tags: dict, metrics: dict | None = None, params: dict | None = None,
                files: dict | None = None, note: str | None = None, role: str = CELL, inputs: list = (),
                start_ms: int | None = None) -> str:
        """One FINISHED child run: tags, metrics, params, a description, files ({name: DataFrame | dict | str}),
        dataset inputs (mlflow.entities.DatasetInput), started at `start_ms` (default: now) and ending now. On a
        verified sqlite store in one transaction after the files (transfer.store.sql); else through the client
        API, FAILED if any of it cannot be written."""
        tags = {ROLE: role, PARENT: self.parent_id, "study": self.study, **tags, **({NOTE: note} if note else {})}
        params = {k: str(v)[:6000] for k, v in (params or {}).items()}
        if self._sql is not None:
            run_id = uuid.uuid4().hex
            if files:  # first: a FINISHED run always has its files
                self.log_files(run_id, files, get_artifact_repository(self._sql.artifact_uri(run_id),
                                                                      tracking_uri=self.uri))
            self._sql.write(run_id, run_name, tags, metrics or {}, params, list(inputs), start_ms)
            return run_id
        info = self.client.create_run(self.experiment_id, start_time=start_ms, run_name=run_name, tags=tags).info
        run_id = info.run_id
        try:
            now = int(time.time() * 1000)
            self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
                                  params=[Param(k, v) for k, v in params.items()])
            if inputs:  # what mlflow.log_input writes, without making this the fluent API's active run
                self.client.log_inputs(run_id, datasets=list(inputs))
            if files:  # the new run's artifact URI is known: no get_run to look it up (a tenth of logging a cell)
                self.log_files(run_id, files, get_artifact_repository(info.artifact_uri, tracking_uri=self.uri))
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    def log_files(self, run_id: str, files: dict, repo=None) -> None:
        """All files in one log_artifacts call (one store round trip), through `repo` if given."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                path = Path(tmp) / name
                if hasattr(content, "to_parquet"):
                    content.to_parquet(path, index=False)
                else:
                    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=1, default=str))
            if repo:
                repo.log_artifacts(tmp)
            else:
                self.client.log_artifacts(run_id, tmp)

    def log_cell(self, result, tags: dict[str, str]) -> str:
        """A scored cell (transfer.cell.CellResult) with the sweep's tags (`run_name` names the run)."""
        from transfer.store.inputs import cell_params, dataset_inputs

        cell = result.cell
        return self.log_run(tags["run_name"], {k: v for k, v in tags.items() if k != "run_name"}, result.metrics,
                            cell_params(cell), {PREDICTIONS: result.predictions, CELL_CONFIG: cell},
                            note=f"{tags['setting']} / {tags['method']} / seed {tags['seed']}",
                            inputs=dataset_inputs(cell, result.predictions), start_ms=result.started_ms)

    def log_failure(self, tags: dict[str, str], error: str) -> str:
        """A cell that raised: a FAILED run with its error, so the report can say which cells are missing and why
        (a rerun that finishes makes it moot; finished_hashes() looks at FINISHED runs only)."""
        run = self.client.create_run(self.experiment_id, run_name=tags["run_name"], tags={
            ROLE: CELL, PARENT: self.parent_id, "study": self.study,
            **{k: v for k, v in tags.items() if k != "run_name"}, "error": error[:5000]})
        self.client.set_terminated(run.info.run_id, status="FAILED")
        return run.info.run_id

    def set_parent(self, tags: dict | None = None, metrics: dict | None = None) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(self.parent_id, metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
                              tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()])

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.parent_id, status=status)

    # the transfer plan (docs/replay.md): results under one plan are never mixed with another's
    def register_plan(self, plan: dict, retry: str) -> str:
        """Attach the plan to the parent run, unless results exist under a different (or no) plan."""
        sha = plan_sha256(plan)
        old = self.client.get_run(self.parent_id).data.tags.get(PLAN_TAG)
        done = self.client.search_runs([self.experiment_id], f"tags.`{ROLE}` = '{CELL}' and "
                                       "attributes.status = 'FINISHED'", max_results=1)
        if done and old != sha:
            before = stored_plan(self.client, self.parent_id) or {}
            changed = sorted(k for k in set(before) | set(plan) if before.get(k) != plan.get(k))
            raise StudyError(f"study {self.study!r} has results under plan {old or '(none)'} but this plan is {sha} "
                             f"(changed: {', '.join(changed) or 'n/a'}); start a new study: {retry}")
        if old != sha:
            self.log_files(self.parent_id, {PLAN_FILE: plan_dumps(plan)})
            self.client.set_tag(self.parent_id, PLAN_TAG, sha)
        return sha

    def check_plan(self, sha: str | None) -> None:
        """A plain sweep into a planned study would add cells no plan declared: refused."""
        old = self.client.get_run(self.parent_id).data.tags.get(PLAN_TAG)
        if old and old != sha:
            raise StudyError(f"study {self.study!r} runs under plan {old}; add cells only through `make replay` "
                             f"(this sweep has plan {sha or '(none)'})")


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
