"""MLflow's own server app plus one page, `/transfer/open[?experiment=<id>]`, that puts the browser's MLflow UI
in model-training mode and opens a study's saved view (or the experiment list): what the harness's links point at.

Why: MLflow 3.17's UI decides GenAI vs Model training per browser, from the `workflowType` URL parameter, else
its stored choice (localStorage `mlflow.workflowType_v1`, default GenAI); the experiment's `mlflow.experimentKind`
tag is not consulted. A printed `...&workflowType=machine_learning` holds for the page it opens only: the next
click (a run, the experiment list) drops it and lands on GenAI pages. The page stores the UI's own toggle value
(what clicking "Model training" stores) before opening the route, so every later page stays in model training.

ops/mlflow_ui.py serves it through `mlflow server --app-name transfer` (MLflow's plugin-app mechanism); the app is
MLflow's FastAPI app unchanged, the page a rule on the Flask app it mounts at "/".
"""

from __future__ import annotations

import json

from flask import Response, request
from mlflow.server import app as flask_app
from mlflow.server.fastapi_app import app  # noqa: F401  (what uvicorn serves: MLflow's app, Flask at "/")

from transfer.store.view import ML, OPEN, study_url

STORAGE_KEY, STORAGE_VALUE = "mlflow.workflowType_v1", json.dumps("machine_learning")  # the UI's useLocalStorage
PAGE = """<!doctype html><meta charset="utf-8"><title>MLflow (model training)</title>
<script>
try {{ localStorage.setItem({key}, {value}); }} catch (e) {{}}
location.replace({target});
</script>
<p>Opening <a href={target}>the MLflow UI</a> in model-training mode.</p>"""


def target(experiment: str | None) -> str:
    """The UI address opened: a study's saved view (transfer/store/view.py), or the experiment list."""
    if experiment and experiment.isdigit():
        return study_url("", experiment)
    return f"/#/experiments?{ML}"


def open_in_model_training() -> Response:
    page = PAGE.format(key=json.dumps(STORAGE_KEY), value=json.dumps(STORAGE_VALUE),
                       target=json.dumps(target(request.args.get("experiment"))))
    return Response(page, mimetype="text/html", headers={"Cache-Control": "no-store"})


flask_app.add_url_rule(OPEN, "transfer_open_in_model_training", open_in_model_training)
