"""Writing a study: its experiment and parent run (created if new, reused if not), cells and baselines as child runs,
the transfer plan. MLflow's public client only (MlflowClient: create_run, log_batch, log_inputs, log_artifacts,
set_terminated); the sweep keeps these writes off its cells' critical path (transfer/store/background.py)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import mlflow
import yaml
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from transfer import store
from transfer.errors import StudyError
from transfer.store import view
from transfer.store.inputs import cell_params, dataset_inputs

SETTLE_S = 1.0  # longer than a write takes to land: then two drivers read the same runs


class StudyWriter:
    """A study's experiment and parent run (created if new, reused if not); cells and baselines as child runs."""

    def __init__(self, study: str, tracking_uri: str | None = None, parent_tags: dict | None = None):
        self.uri = store.uri(tracking_uri)
        self.client = store.client(self.uri)
        mlflow.set_tracking_uri(self.uri)
        self.study = study
        self.experiment_id = self._experiment(study)
        parent = store.parent_run(self.client, self.experiment_id)
        if parent:
            self.client.update_run(parent.info.run_id, status="RUNNING")
            self.parent_id = parent.info.run_id
        else:
            mine = self.client.create_run(self.experiment_id, run_name=study, tags={
                store.ROLE: store.STUDY, "study": study, **(parent_tags or {})}).info.run_id
            # two drivers starting a new study at once each created one: once both writes have landed (start times
            # are the drivers' clocks, not the store's order) both keep the first (then jobs.lease decides)
            time.sleep(SETTLE_S)
            self.parent_id = store.parent_run(self.client, self.experiment_id).info.run_id
            if self.parent_id != mine:
                self.client.delete_run(mine)

    def _experiment(self, study: str) -> str:
        exp = self.client.get_experiment_by_name(study)
        try:  # the kind says what the experiment is; MLflow 3.17's UI ignores it (ops/mlflow_app.py), later ones may not
            if exp:  # the saved view of the UI's runs table: refreshed if this code's differs
                view.save_view(self.client, exp)
                return exp.experiment_id
            return self.client.create_experiment(study, artifact_location=store.artifact_location(self.uri, study),
                                                 tags={store.KIND: "custom_model_development", **view.view_tag()})
        except MlflowException as exc:  # another driver created it in between
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(study).experiment_id

    def start(self, study_config: dict, settings: list[str], methods: list[str], git_sha: str) -> None:
        self.client.log_batch(self.parent_id, tags=[RunTag(k, v) for k, v in {
            "git_sha": git_sha, "settings": ",".join(settings), "methods": ",".join(methods)}.items()])
        self.log_files(self.parent_id, {store.STUDY_CONFIG: yaml.safe_dump(study_config, sort_keys=False)})

    def cell_runs(self, status: str | None = None) -> list:
        return store.runs(self.client, self.experiment_id, store.CELL, status)

    def finished_hashes(self) -> set[str]:
        return {r.data.tags.get("config_hash") for r in self.cell_runs("FINISHED")}

    def known_hashes(self) -> set[str]:
        """config_hash of every run of the study, any role and status (an import adds only what is missing)."""
        return {r.data.tags.get("config_hash") for r in store.runs(self.client, self.experiment_id)}

    def fail_orphans(self) -> int:
        """Cells left RUNNING by a sweep that was killed are marked FAILED (their results were never logged)."""
        orphans = self.cell_runs("RUNNING")
        for run in orphans:
            self.client.set_terminated(run.info.run_id, status="FAILED")
        return len(orphans)

    def log_run(self, run_name: str, tags: dict, metrics: dict | None = None, params: dict | None = None,
                files: dict | None = None, note: str | None = None, role: str = store.CELL, inputs: list = (),
                start_ms: int | None = None, end_ms: int | None = None) -> str:
        """One FINISHED child run: tags, metrics, params, a description, files ({name: DataFrame | dict | str}),
        dataset inputs (mlflow.entities.DatasetInput), from `start_ms` to `end_ms` (default: now). Written in the
        order that keeps a killed writer honest: created RUNNING (a rerun marks it FAILED: `fail_orphans`), files
        before FINISHED (a FINISHED run always has them); FAILED if any of it cannot be written."""
        tags = {store.ROLE: role, store.PARENT: self.parent_id, "study": self.study, **tags,
                **({store.NOTE: note} if note else {})}
        params = {k: str(v)[:6000] for k, v in (params or {}).items()}
        run_id = self.client.create_run(self.experiment_id, start_time=start_ms, run_name=run_name,
                                        tags=tags).info.run_id
        try:
            at = end_ms or int(time.time() * 1000)
            self.client.log_batch(run_id, metrics=[Metric(k, float(v), at, 0) for k, v in (metrics or {}).items()],
                                  params=[Param(k, v) for k, v in params.items()])
            if inputs:  # what mlflow.log_input writes, without making this the fluent API's active run
                self.client.log_inputs(run_id, datasets=list(inputs))
            if files:
                self.log_files(run_id, files)
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED", end_time=end_ms)
        return run_id

    def log_files(self, run_id: str, files: dict) -> None:
        """All files in one log_artifacts call (one store round trip)."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                path = Path(tmp) / name
                if hasattr(content, "to_parquet"):
                    content.to_parquet(path, index=False)
                else:
                    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=1, default=str))
            self.client.log_artifacts(run_id, tmp)

    def log_cell(self, result, tags: dict[str, str], end_ms: int | None = None) -> str:
        """A scored cell (transfer.cell.CellResult) with the sweep's tags (`run_name` names the run), ended at
        `end_ms` (when the driver received it; default: now)."""
        cell = result.cell
        return self.log_run(tags["run_name"], {k: v for k, v in tags.items() if k != "run_name"}, result.metrics,
                            cell_params(cell), {store.PREDICTIONS: result.predictions, store.CELL_CONFIG: cell},
                            note=f"{tags['setting']} / {tags['method']} / seed {tags['seed']}",
                            inputs=dataset_inputs(cell, result.predictions), start_ms=result.started_ms,
                            end_ms=end_ms)

    def log_failure(self, tags: dict[str, str], error: str) -> str:
        """A cell that raised: a FAILED run with its error, so the report can say which cells are missing and why
        (a rerun that finishes makes it moot; finished_hashes() looks at FINISHED runs only)."""
        run = self.client.create_run(self.experiment_id, run_name=tags["run_name"], tags={
            store.ROLE: store.CELL, store.PARENT: self.parent_id, "study": self.study,
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
        sha = store.plan_sha256(plan)
        old = self.client.get_run(self.parent_id).data.tags.get(store.PLAN_TAG)
        done = self.client.search_runs([self.experiment_id], f"tags.`{store.ROLE}` = '{store.CELL}' and "
                                       "attributes.status = 'FINISHED'", max_results=1)
        if done and old != sha:
            before = store.stored_plan(self.client, self.parent_id) or {}
            changed = sorted(k for k in set(before) | set(plan) if before.get(k) != plan.get(k))
            raise StudyError(f"study {self.study!r} has results under plan {old or '(none)'} but this plan is {sha} "
                             f"(changed: {', '.join(changed) or 'n/a'}); start a new study: {retry}")
        if old != sha:
            self.log_files(self.parent_id, {store.PLAN_FILE: store.plan_dumps(plan)})
            self.client.set_tag(self.parent_id, store.PLAN_TAG, sha)
        return sha

    def check_plan(self, sha: str | None) -> None:
        """A plain sweep into a planned study would add cells no plan declared: refused."""
        old = self.client.get_run(self.parent_id).data.tags.get(store.PLAN_TAG)
        if old and old != sha:
            raise StudyError(f"study {self.study!r} runs under plan {old}; add cells only through `make replay` "
                             f"(this sweep has plan {sha or '(none)'})")
