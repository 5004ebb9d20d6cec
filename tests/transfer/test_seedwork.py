"""Per-seed shared work (transfer/seedwork.py): a cell given its seed's shared weak teacher and ceiling returns
exactly what it returns when it trains them itself, on real inputs (200 real HH pairs + the real HHH OOD set,
MiniLM -> SmolLM2 features from the content-hashed cache)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from tests.helpers.seedwork import one_buffer
from transfer import paths
from transfer.cell import run_cell
import transfer.config
from transfer.data import load_dataset_from_config
from transfer.errors import TransferError
from transfer.features.extract import extract_pair_features
from transfer.inputs import CellInputs
from transfer.seedwork import compute_seed_work, seed_key

pytestmark = pytest.mark.slow  # real features, real cells (~30 s)
METHODS = ("vanilla", "confident_only", "logconf", "bootstrap", "knn_relabel", "ccs")
FIELDS = {"confident_only": ("method.low=0.4", "method.high=0.6")}  # 100 train_unlabel pairs: a narrower band


def compose_cell(*overrides: str) -> dict:
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        return transfer.config.to_plain(compose("config", overrides=["setting.data.max_pairs=200", *overrides]))


@pytest.fixture(scope="module")
def inputs():
    s = compose_cell()["setting"]
    pairs, ood = load_dataset_from_config(s["data"]), load_dataset_from_config(s["ood"])
    feats = {}
    for role in ("weak", "strong"):
        feats[role] = extract_pair_features(pairs, s[role], s[f"{role}_backend"], s["data"]["format"])
        feats[f"{role}_ood"] = extract_pair_features(ood, s[role], s[f"{role}_backend"], s["data"]["format"])
    return CellInputs(pairs=pairs, ood=ood, features=feats)


@pytest.mark.parametrize("seed", [0, 3])
def test_shared_seed_work_gives_the_same_cells_bit_for_bit(inputs, seed):
    cells = {m: compose_cell(f"method={m}", f"seed={seed}", *FIELDS.get(m, ())) for m in METHODS}
    work = compute_seed_work(cells["vanilla"], inputs)
    assert work.ceiling is not None and set(work.weak) == {"train_unlabel", "test", "ood"}
    for name, cell in cells.items():
        assert seed_key(cell) == work.key  # one key for every method of the seed
        before = time.time() * 1000
        own, shared = run_cell(cell, inputs), run_cell(cell, inputs, one_buffer(work))
        assert before - 1 <= own.started_ms <= shared.started_ms <= time.time() * 1000  # the run's start in the UI
        assert own.metrics.keys() == shared.metrics.keys(), name
        for k, v in own.metrics.items():
            assert v == shared.metrics[k] or (np.isnan(v) and np.isnan(shared.metrics[k])), (name, k)
        pd.testing.assert_frame_equal(own.predictions, shared.predictions, check_exact=True)
        assert set(own.predictions["role"]) == {"weak", "ceiling", "w2s"}


def test_seed_key_covers_what_the_teacher_and_ceiling_depend_on():
    base = compose_cell()
    key = seed_key(base)
    assert seed_key(compose_cell("method=logconf", "method.alpha_max=0.5")) == key
    assert seed_key(compose_cell("head.l2=0.1")) == key  # the student's head: the method's business, not the roles'
    for override in ("seeds.teacher=1", "seeds.student=1", "seeds.split=1", "roles.teacher.l2=0.1",
                     "roles.ceiling.l2=0.1", "roles.cv.folds=3", "roles.cv.l2_grid=[1.0,0.1]", "splits.test=0.3",
                     "splits.train_unlabel=0.45", "setting=production", "setting.data.max_pairs=100"):
        assert seed_key(compose_cell(override)) != key, override
    prompt = compose_cell("mode=prompt")
    # another mode trains its own ceiling: only the teacher is shared, and the student seed does not enter it
    assert seed_key(prompt) != key and seed_key(compose_cell("mode=prompt", "seeds.student=5")) == seed_key(prompt)


def test_a_cell_refuses_another_seeds_work(inputs):
    work = compute_seed_work(compose_cell("seed=1"), inputs)
    with pytest.raises(TransferError, match="shared seed work"):
        run_cell(compose_cell("seed=2"), inputs, work)


def test_the_two_sides_travel_only_to_methods_that_ask(inputs):
    """strong_a / strong_b are two more (n, dim) arrays per cell's method process: vanilla gets None, ccs both."""
    from transfer.cell import student_view
    from transfer.sandbox.client import describe
    from transfer.seedwork import cell_splits

    cell = compose_cell("method=vanilla")
    tu = cell_splits(cell, inputs)[0]["train_unlabel"]
    weak = np.full(len(tu.index), 0.5)
    for name, sides in (("vanilla", False), ("ccs", True)):
        view = student_view(cell, inputs, tu, weak, describe(compose_cell(f"method={name}")["method"]).needs)
        assert (view.strong_a is not None and view.strong_b is not None) == sides, name
        if sides:
            assert np.allclose(view.strong_a - view.strong_b, view.x, atol=1e-5)
