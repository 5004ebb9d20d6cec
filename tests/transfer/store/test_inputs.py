"""A logged cell carries its resolved config as params (what varies first) and its datasets as MLflow inputs with
example ids only: a real composed cell, a real sqlite store."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from jobs.driver import cell_tags
from tests.helpers import predictions
from transfer.cell import CellResult
from transfer.config import config_hash
from transfer.store import inputs as st_inputs
from transfer.store.inputs import file_sha256
from transfer.store.writer import StudyWriter


def test_a_logged_cell_has_its_params_in_order_and_its_dataset_inputs(tmp_path, compose_cfg, hh_path):
    cell = compose_cfg("method=confident_only", "seed=3", "setting.data.max_pairs=40")
    cell = {**cell, "config_hash": config_hash(cell)}
    writer = StudyWriter("inputs", f"sqlite:///{tmp_path / 'mlruns.db'}")
    run_id = writer.log_cell(CellResult(cell, {"pgr": 0.5}, predictions()), cell_tags(cell, "sha"))
    run = writer.client.get_run(run_id)

    params = run.data.params
    assert params["method.name"] == "confident_only" and params["seed"] == "3" and params["setting"] == "lab"
    assert params["mode"] == "head" and params["dataset"] == "hh_harmless" and params["data.max_pairs"] == "40"
    assert params["method.low"] == str(cell["method"]["low"]) and params["seeds.student"] == "3"
    order = list(st_inputs.cell_params(cell))
    assert order[:5] == ["method.name", "seed", "setting", "mode", "dataset"]
    assert max(order.index(k) for k in order if k.startswith("method.")) < order.index("head.epochs")

    inputs = {(i.dataset.name, next(t.value for t in i.tags if t.key == "mlflow.data.context")): i
              for i in run.inputs.dataset_inputs}
    assert set(inputs) == {("hh_harmless", "train"), ("hh_harmless", "eval"), ("hhh_alignment", "eval")}
    train, test = inputs[("hh_harmless", "train")], inputs[("hh_harmless", "eval")]
    assert json.loads(train.dataset.source)["uri"] == str(hh_path.resolve())
    assert {t.key: t.value for t in test.tags}["data_sha256"] == file_sha256(str(hh_path))
    assert json.loads(train.dataset.profile)["num_rows"] == 6 and json.loads(test.dataset.profile)["num_rows"] == 4
    schema = json.loads(test.dataset.schema)["mlflow_colspec"]
    assert [c["name"] for c in schema] == ["example_id", "split", "subset"]  # no text, no gold label
    from mlflow.models import infer_signature

    ids = predictions()[st_inputs.COLUMNS].astype(str)
    assert st_inputs.SCHEMA == infer_signature(ids).inputs  # the schema given is the one MLflow would infer
    assert train.dataset.digest != test.dataset.digest


def test_a_dataset_in_a_folder_is_logged_with_the_folders_digest(tmp_path):
    """A BIG-bench task (a folder, no OOD set of its own): its input's source is the folder, its digest the files'."""
    from jobs.grid import expand

    spec = expand(["grid.datasets=[bigbench_navigate]", "grid.methods=[vanilla]", "grid.seeds=[0]"]).cells[0]
    cell = {**spec.config, "config_hash": spec.config_hash}
    folder = cell["setting"]["data"]["path"]
    writer = StudyWriter("folder", f"sqlite:///{tmp_path / 'mlruns.db'}")
    preds = predictions()
    run = writer.client.get_run(writer.log_cell(CellResult(cell, {}, preds), cell_tags(cell, "sha")))
    inputs = {(i.dataset.name, next(t.value for t in i.tags if t.key == "mlflow.data.context")): i
              for i in run.inputs.dataset_inputs}
    ood = (cell["setting"].get("ood") or {}).get("name")
    assert set(inputs) == {("bigbench_navigate", "train"), ("bigbench_navigate", "eval")} | (
        {(ood, "eval")} if ood else set())
    train = inputs[("bigbench_navigate", "train")]
    h = hashlib.sha256()  # every file under the folder: its relative name, then its bytes
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode() + f.read_bytes())
    assert {t.key: t.value for t in train.tags}["data_sha256"] == h.hexdigest()
    assert json.loads(train.dataset.source)["uri"] == str(Path(folder).resolve())
    assert run.data.params["dataset"] == "bigbench_navigate"
