"""Real views for method tests: HH harmless (200 pairs) and HHH (221 pairs), MiniLM -> SmolLM2 features from the
content-hashed cache (extracted on first use), the real weak teacher, the real splits."""

from __future__ import annotations

import numpy as np
import pytest

from transfer.cell import pair_inputs, student_view
from transfer.data import load_dataset_from_config
from transfer.data.splits import make_splits, whole
from transfer.features.extract import extract_pair_features
from transfer.heads import train_head
from transfer.inputs import CellInputs
from transfer.methods import StudentView


@pytest.fixture(scope="session")
def lab_cell():
    from hydra import compose, initialize_config_dir
    import transfer.config
    from transfer import paths
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        return transfer.config.to_plain(compose("config", overrides=["setting.data.max_pairs=200"]))


def _features(pairs, setting):
    return {r: extract_pair_features(pairs, setting[r], setting[f"{r}_backend"], setting["data"]["format"])
            for r in ("weak", "strong")}


@pytest.fixture(scope="session")
def hh_view(lab_cell):
    """(view, gold of train_unlabel) on 200 real HH pairs, weak labels from the real MiniLM teacher."""
    s = lab_cell["setting"]
    pairs = load_dataset_from_config(s["data"])
    feats = _features(pairs, s)
    sp = make_splits(pairs, lab_cell["splits"], 0)
    tl, tu = sp["train_label"], sp["train_unlabel"]
    teacher = train_head(pair_inputs(feats["weak"], tl)[0], tl.a_is_better.astype(np.float32), seed=0,
                         **lab_cell["head"])
    weak = teacher.predict_proba(pair_inputs(feats["weak"], tu)[0])
    view = student_view(lab_cell, CellInputs(pairs=pairs, ood=None, features=feats), tu, weak, ())
    return view, tu.a_is_better


@pytest.fixture(scope="session")
def hhh_view(lab_cell):
    """(view, gold) on the 221 real HHH pairs with SmolLM2 features and uninformative (coin-flip) weak labels."""
    s = lab_cell["setting"]
    pairs = load_dataset_from_config(s["ood"])
    feats = _features(pairs, s)
    split = whole(pairs, "hhh", 0)
    x, a, b = pair_inputs(feats["strong"], split)
    coin = np.random.default_rng(0).random(len(x)).astype(np.float64)
    view = StudentView(x=x, strong_a=a, strong_b=b, weak_probs=coin, example_ids=tuple(map(str, range(len(x)))),
                       seed=0, head=dict(lab_cell["head"]))
    return view, split.a_is_better


