"""MLflow records of a study: experiment = study, one parent run, one child run per cell (see docs/tracking.md).

Only the sweep driver writes here; cells (and the methods inside them) return results and never touch the store.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import mlflow
import yaml
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from transfer import paths
from transfer.config import flatten

ROLE = "transfer.role"
EXPERIMENT_KIND = "mlflow.experimentKind"


class StudyTracker:
    def __init__(self, study: str, tracking_uri: str | None = None):
        self.uri = tracking_uri or paths.default_tracking_uri()
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(self.uri)
        self.study = study
        exp = self.client.get_experiment_by_name(study)
        if exp is None:
            location = None
            if self.uri.startswith("sqlite:"):  # keep artifacts beside the store, not wherever the cwd is
                location = (paths.default_artifact_root() / study).as_uri()
            # the kind makes the MLflow UI open the experiment on its runs, not on the GenAI traces page
            self.experiment_id = self.client.create_experiment(study, artifact_location=location,
                                                               tags={EXPERIMENT_KIND: "custom_model_development"})
        else:
            self.experiment_id = exp.experiment_id
        self.parent_id = self._parent_run()

    def _parent_run(self) -> str:
        runs = self.client.search_runs([self.experiment_id], f"tags.`{ROLE}` = 'study'", max_results=1,
                                       order_by=["attributes.start_time ASC", "attributes.run_id ASC"])
        if runs:
            self.client.update_run(runs[0].info.run_id, status="RUNNING")
            return runs[0].info.run_id
        run = self.client.create_run(self.experiment_id, run_name=self.study,
                                     tags={ROLE: "study", "study": self.study})
        # two drivers starting a new study at once each created one: both keep the earliest (transfer.lease)
        first = self.client.search_runs([self.experiment_id], f"tags.`{ROLE}` = 'study'", max_results=1,
                                        order_by=["attributes.start_time ASC", "attributes.run_id ASC"])[0]
        if first.info.run_id != run.info.run_id:
            self.client.delete_run(run.info.run_id)
        return first.info.run_id

    def start(self, study_config: dict, settings: list[str], methods: list[str], git_sha: str) -> None:
        for key, value in {"git_sha": git_sha, "settings": ",".join(settings), "methods": ",".join(methods)}.items():
            self.client.set_tag(self.parent_id, key, value)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "study_config.yaml"
            path.write_text(yaml.safe_dump(study_config, sort_keys=False))
            self.client.log_artifact(self.parent_id, str(path))

    def cell_runs(self, status: str | None = None) -> list:
        query = f"tags.`{ROLE}` = 'cell'" + (f" and attributes.status = '{status}'" if status else "")
        return self.client.search_runs([self.experiment_id], query, max_results=50000)

    def finished_hashes(self) -> set[str]:
        return {r.data.tags.get("config_hash") for r in self.cell_runs("FINISHED")}

    def fail_orphans(self) -> int:
        """Cells left RUNNING by a sweep that was killed are marked FAILED (their results were never logged)."""
        orphans = self.cell_runs("RUNNING")
        for run in orphans:
            self.client.set_terminated(run.info.run_id, status="FAILED")
        return len(orphans)

    def log_cell(self, result, tags: dict[str, str]) -> str:
        cell = result.cell
        run = self.client.create_run(self.experiment_id, run_name=tags["run_name"],
                                     tags={ROLE: "cell", "mlflow.parentRunId": self.parent_id, "study": self.study,
                                           **{k: v for k, v in tags.items() if k != "run_name"}})
        run_id = run.info.run_id
        try:
            now = int(time.time() * 1000)
            params = {**flatten({"method": cell["method"], "head": cell["head"], "seeds": cell["seeds"]}),
                      "data.max_pairs": cell["setting"]["data"].get("max_pairs")}
            self.client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in result.metrics.items()],
                params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                tags=[RunTag("mlflow.note.content", f"{tags['setting']} / {tags['method']} / seed {tags['seed']}")],
            )
            with tempfile.TemporaryDirectory() as tmp:  # both artifacts in one call (one store round trip)
                result.predictions.to_parquet(Path(tmp) / "predictions.parquet", index=False)
                (Path(tmp) / "cell_config.json").write_text(json.dumps(cell, indent=1, default=str))
                self.client.log_artifacts(run_id, tmp)
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    def log_failure(self, tags: dict[str, str], error: str) -> str:
        """A cell that raised: a FAILED run with its error, so the report can say which cells are missing and why
        (a rerun that finishes makes it moot; finished_hashes() looks at FINISHED runs only)."""
        run = self.client.create_run(self.experiment_id, run_name=tags["run_name"],
                                     tags={ROLE: "cell", "mlflow.parentRunId": self.parent_id, "study": self.study,
                                           **{k: v for k, v in tags.items() if k != "run_name"},
                                           "error": error[:5000]})
        self.client.set_terminated(run.info.run_id, status="FAILED")
        return run.info.run_id

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.parent_id, status=status)
