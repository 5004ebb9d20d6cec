"""Shared pieces of the backend tests: the real model and backend configs, real HH pairs, an isolated home."""

from __future__ import annotations

import os

import pytest

from ops.lifecycle import alive
from transfer import paths
from transfer.config import group_config as conf  # conf/<group>/<name>.yaml, resolved
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


@pytest.fixture(scope="module")
def iso_home(tmp_path_factory):
    """A fresh TRANSFER_HOME (features, logs) that reuses the real assets and served-model copies."""
    home = tmp_path_factory.mktemp("home")
    for shared in ("assets", "vllm"):
        (REAL_HOME / shared).mkdir(parents=True, exist_ok=True)
        (home / shared).symlink_to(REAL_HOME / shared)
    old = os.environ.get("TRANSFER_HOME")
    os.environ["TRANSFER_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("TRANSFER_HOME", None)
    else:
        os.environ["TRANSFER_HOME"] = old
