"""Fixtures of the adversarial suite: one real cell (40 real HH pairs, the real HHH OOD set, real MiniLM -> SmolLM2
features) shared by the attacks of a module."""

from __future__ import annotations

import pytest

from transfer.data import load_dataset_from_config
from transfer.features.extract import extract_pair_features
from transfer.inputs import CellInputs


@pytest.fixture(scope="module")
def cell_and_inputs(compose_cfg_module):
    cell = compose_cfg_module("setting.data.max_pairs=40", "head.epochs=5")
    s = cell["setting"]
    pairs, ood = load_dataset_from_config(s["data"]), load_dataset_from_config(s["ood"])
    feats = {}
    for role in ("weak", "strong"):
        feats[role] = extract_pair_features(pairs, s[role], s[f"{role}_backend"], s["data"]["format"])
        feats[f"{role}_ood"] = extract_pair_features(ood, s[role], s[f"{role}_backend"], s["data"]["format"])
    return cell, CellInputs(pairs=pairs, ood=ood, features=feats)


@pytest.fixture(scope="module")
def compose_cfg_module():
    from hydra import compose, initialize_config_dir

    import transfer.config
    from transfer import paths

    def _compose(*overrides):
        with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
            return transfer.config.to_plain(compose("config", overrides=list(overrides)))
    return _compose
