"""A study's saved view in the MLflow UI: its runs grouped by setting, dataset and method, with the columns a
researcher compares (method, seed, setting, pgr and the three accuracies) instead of MLflow's defaults
(Source, Models, Dataset: all "-" here).

MLflow's UI loads a view shared as the experiment tag `mlflow.sharedViewState.<key>` when the experiment's address
carries `viewStateShareKey=<key>` (what its own "Share" button writes). Each study gets one such view, key
`transfer`, and the harness prints its address (`study_url`). MLflow does not share per-run state (expanded parents,
pinned runs), so the view groups the runs instead of unfolding the parent: each group row shows its cells' average.
"""

from __future__ import annotations

import json

SHARE_TAG, VIEW_KEY = "mlflow.sharedViewState.", "transfer"
# a `dataset` tag column is not rendered by MLflow 3.17 (checked in Chromium); the group rows name the dataset
COLUMNS = (("tags", "method"), ("tags", "seed"), ("tags", "setting"), ("metrics", "pgr"), ("metrics", "w2s_acc"),
           ("metrics", "weak_acc"), ("metrics", "ceiling_acc"))
GROUP_BY = ("setting", "dataset", "method")
ML = "workflowType=machine_learning"  # MLflow 3.17's UI-wide switch; its default (GenAI) hides the runs table


def view_state() -> dict:
    """MLflow's experiment-page UI state (the fields its shared views carry), as the UI's own code names them."""
    return {
        "selectedColumns": [f"{kind}.`{key}`" for kind, key in COLUMNS],
        "groupBy": {"aggregateFunction": "average",
                    "groupByKeys": [{"mode": "tag", "groupByData": key} for key in GROUP_BY]},
        "runsHiddenMode": "SHOW_ALL",  # charts compare every cell, not MLflow's default of the first ten
    }


def view_tag() -> dict[str, str]:
    """The experiment tag that holds the view (given to create_experiment, so a new study has it from the start)."""
    return {SHARE_TAG + VIEW_KEY: json.dumps(view_state(), sort_keys=True)}


def save_view(client, experiment) -> None:
    """Refresh the view on an existing study's experiment when this code's differs. Two drivers may do it at once
    (a unique-key error from the store for one of them): both write the same value, so the loser lets it be."""
    from mlflow.exceptions import MlflowException

    (key, value), = view_tag().items()
    if experiment.tags.get(key) == value:
        return
    try:
        client.set_experiment_tag(experiment.experiment_id, key, value)
    except MlflowException:
        pass


def study_url(base: str, experiment_id: str) -> str:
    """The address that opens the study on its runs table in the saved view, e.g. base http://127.0.0.1:5000."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}&{ML}"
