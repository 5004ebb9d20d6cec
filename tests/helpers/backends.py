"""The real model and backend configs, real HH pairs, and checks that a server's processes are gone."""

from __future__ import annotations

import numpy as np
import pytest

from ops.lifecycle import alive
from transfer import paths
from transfer.config import group_config as conf
from transfer.data.loaders import hh_rlhf


REAL_HOME = paths.home()
FMT = {"prompt_words": 40, "reply_words": 110}  # conf/data/hh_harmless.yaml's format


def vllm_cfg(**overrides) -> dict:
    """conf/backend/vllm.yaml as users get it, with a small context and quick give-up for tests."""
    return conf("backend", "vllm", **{"max_model_len": 256, "retries": 2, "backoff_s": 0.2, **overrides})


def model_cfg(name: str) -> dict:
    cfg = conf("model", name)
    if not (REAL_HOME / "assets" / name / "model.safetensors").exists():
        pytest.fail(f"model asset {name} missing: run `make assets`")
    return cfg


def real_pairs(n: int):
    path = paths.shared_data_dir() / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    if not path.exists():
        pytest.fail(f"real data missing at {path}: set TRANSFER_DATA to the shared data folder")
    return hh_rlhf.load({"name": "hh_harmless", "path": str(path), "subset": "harmless-base", "max_pairs": n})


def assert_gone(pids) -> None:
    left = [p for p in pids if alive(p)]
    assert not left, f"processes left behind: {left}"


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
