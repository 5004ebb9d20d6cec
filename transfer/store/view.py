"""A study's saved view in the MLflow UI: its results table. The runs table shows the study's summary runs only
(one per setting, dataset and method, transfer/store/summary.py: the report's study-level numbers and verdicts),
sorted as the report's table reads (the baseline method first, each method's lab row before its production row),
with the columns a researcher compares instead of MLflow's defaults (Source, Models, Dataset: all "-" here).

Why rows and not groups of cells: MLflow's group rows average their runs' metrics, and the mean of each seed's own
PGR (w2s - weak_s) / gap_s is not the study's PGR (w2s - W) / (C - W): a seed with a gap near 0 swings it by tens
(issue 27: ccs read +1.06 in the UI, -2.52 in the report). The cells keep their `pgr` as the seed's own ratio
(docs/tracking.md); the view averages nothing, and "Exit shared view" shows the cells as before.

MLflow's UI loads a view shared as the experiment tag `mlflow.sharedViewState.<key>` when the experiment's address
carries `viewStateShareKey=<key>` (what its own "Share" button writes: its UI state fields and search facets). Each
study gets one such view, key `transfer`, and the harness prints its address (`study_url`).
"""

from __future__ import annotations

import json

SHARE_TAG, VIEW_KEY = "mlflow.sharedViewState.", "transfer"
# a `dataset` *tag* column is not rendered by MLflow 3.17 (checked in Chromium): what names a row is a param
COLUMNS = (("params", "method.name"), ("params", "setting"), ("params", "dataset"),
           ("metrics", "pgr"), ("metrics", "pgr_ci_low"), ("metrics", "pgr_ci_high"),
           ("metrics", "delta_pgr"), ("metrics", "delta_pgr_ci_low"), ("metrics", "delta_pgr_ci_high"),
           ("tags", "lab_verdict"), ("tags", "transfer_verdict"), ("metrics", "seeds"),
           ("metrics", "weak_acc"), ("metrics", "ceiling_acc"), ("metrics", "gap"), ("params", "strong_model"))
ROWS = "tags.`transfer.role` = 'summary'"  # transfer.store.SUMMARY; the view's filter (MLflow's search syntax)
ORDER = "tags.`transfer.order`"            # transfer.store.summary.ORDER
NAME = "attributes.`Run Name`"             # the UI's column id of the run name
# MLflow 3.17's UI-wide switch (GenAI / Model training): the `workflowType` parameter, else the browser's stored
# choice (default GenAI); the experiment's `mlflow.experimentKind` tag is not consulted (ops/mlflow_ui.py)
ML = "workflowType=machine_learning"


def view_state() -> dict:
    """MLflow's experiment-page state (the fields its shared views carry), as the UI's own code names them."""
    return {
        "selectedColumns": [f"{kind}.`{key}`" for kind, key in COLUMNS],
        # the columns in COLUMNS' order (MLflow's own puts metrics, then params, then tags, each alphabetical),
        # the run name wide enough for most variants ("logconf[alpha_max=0.25,student_l2=0.03]#f564bc / lab")
        "columnOrder": [NAME, *(f"{kind}.`{key}`" for kind, key in COLUMNS)],
        "columnWidths": {NAME: 420, "params.`method.name`": 130},
        "searchFilter": ROWS, "orderByKey": ORDER, "orderByAsc": True,
        "runsHiddenMode": "SHOW_ALL",  # charts compare every row, not MLflow's default of the first ten
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


OPEN = "/transfer/open"  # ops/mlflow_app.py's page: stores the UI's model-training choice, then opens study_url


def open_url(base: str, experiment_id: str | None = None) -> str:
    """What the harness prints: `make mlflow-ui`'s page that keeps the browser's MLflow UI in model-training mode
    for every later click (ops/mlflow_app.py), opening the study's saved view (or, with no study, the list)."""
    return f"{base.rstrip('/')}{OPEN}" + (f"?experiment={experiment_id}" if experiment_id else "")
