"""The evaluation boundary, attacked by the ADVERSARIAL plugins in plugins.py: each attempt is refused or flagged.

Real cells (run_cell) on 40 real HH pairs + the real HHH OOD set with real MiniLM -> SmolLM2 features (cached).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from tests.adversarial import plugins
from transfer.cell import run_cell
from transfer.errors import BoundaryError, MethodError

pytestmark = pytest.mark.slow  # real features and real cells (~1 min)
METHODS = Path(__file__).parent / "methods"


def run(cell_and_inputs, name: str, **cfg):
    cell, inputs = cell_and_inputs
    method = {**OmegaConf.to_container(OmegaConf.load(METHODS / f"{name}.yaml")), **cfg}
    plugins.SEEN.clear()
    return run_cell({**cell, "method": method}, inputs)


def test_honest_method_runs_behind_the_guard(cell_and_inputs):
    res = run(cell_and_inputs, "honest")
    assert 0 <= res.metrics["w2s_acc"] <= 1 and "ood_w2s_acc" in res.metrics


def test_gold_is_not_on_the_view(cell_and_inputs):
    with pytest.raises(MethodError, match="AttributeError: 'StudentView' object has no attribute 'gold'"):
        run(cell_and_inputs, "gold_from_view")


def test_the_call_stack_holds_no_harness_frame_with_gold(cell_and_inputs):
    res = run(cell_and_inputs, "gold_from_stack")  # it runs, and finds nothing to cheat with
    assert res.metrics["method_stack_hits"] == 0


@pytest.mark.parametrize("name, refused", [
    ("gold_from_heap", "list every object"),
    ("reads_data_file", "open .*harmless-base-test"),  # swallowed by the method, flagged by the harness
    ("shells_out", "start a process"),
    ("sets_tracking_env", "MLFLOW_TRACKING_URI"),
    ("calls_home", "network connection"),
])
def test_attempts_through_the_harness_are_refused(cell_and_inputs, name, refused):
    with pytest.raises(BoundaryError, match=refused):
        run(cell_and_inputs, name)
    assert os.environ.get("MLFLOW_TRACKING_URI") != "sqlite:////tmp/elsewhere.db"


@pytest.mark.parametrize("name, message", [("logs_to_mlflow", "call mlflow|MLFLOW_TRACKING_URI"),
                                           ("logs_via_client", "call mlflow")])
def test_method_cannot_write_to_the_tracking_store(cell_and_inputs, tmp_path, name, message):
    store = f"sqlite:///{tmp_path / 'store.db'}"
    MlflowClient(store).search_experiments()  # the store exists; only the method is kept out
    with pytest.raises(BoundaryError, match=message):
        run(cell_and_inputs, name, store=store)
    assert MlflowClient(store).search_runs(["0"]) == []


def test_the_real_tracking_store_and_data_paths_of_the_cell_are_protected(cell_and_inputs, tmp_path):
    cell, inputs = cell_and_inputs
    db = tmp_path / "cell-store.db"
    db.write_bytes(b"")
    method = {"name": "reads", "impl": "tests.adversarial.plugins:ReadsDataFile"}
    from transfer import boundary
    assert str(db) in boundary.protected_paths({**cell, "runtime": {"tracking_uri": f"sqlite:///{db}"}})
    assert cell["setting"]["data"]["path"] in boundary.protected_paths(cell)
    with pytest.raises(BoundaryError):
        run_cell({**cell, "method": method}, inputs)


@pytest.mark.parametrize("kind, message", [("nan", "non-finite"), ("short", "shape"),
                                           ("above_one", "outside \\[0, 1\\]"), ("negative", "outside \\[0, 1\\]")])
def test_invalid_predictions_are_rejected(cell_and_inputs, kind, message):
    with pytest.raises(BoundaryError, match=message):
        run(cell_and_inputs, f"bad_{kind}")


@pytest.mark.parametrize("name, message", [("selects_on_test", "select_on: test"),
                                           ("early_stops_on_ood", "training.early_stop_on: ood"),
                                           ("asks_for_test", "asks the harness for \\['test'\\]")])
def test_test_based_selection_is_refused_before_anything_runs(cell_and_inputs, name, message):
    with pytest.raises(BoundaryError, match=message):
        run(cell_and_inputs, name)


@pytest.mark.parametrize("name", ["reaches_behind_weak_labels", "gold_from_stack"])
def test_the_seeds_shared_work_is_out_of_the_methods_reach(cell_and_inputs, name):
    """With the weak teacher and ceiling shared per seed (transfer/seedwork.py), handed over as one buffer like a
    Ray object, nothing leads from the view's arrays to the held-out predictions: the method process receives the
    view's arrays alone."""
    from tests.helpers.seedwork import one_buffer
    from transfer.seedwork import compute_seed_work

    cell, inputs = cell_and_inputs
    method = {**OmegaConf.to_container(OmegaConf.load(METHODS / f"{name}.yaml"))}
    res = run_cell({**cell, "method": method}, inputs, one_buffer(compute_seed_work(cell, inputs)))
    assert res.metrics.get("method_behind_excess_bytes", 0) == 0 and res.metrics.get("method_stack_hits", 0) == 0


def test_guard_is_off_outside_method_code(tmp_path):
    (tmp_path / "x").write_text("harness code may write")  # the audit hook only acts in guarded threads
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
