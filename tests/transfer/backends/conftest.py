"""The backend tests' fixture: an isolated home (their shared helpers are tests/helpers/backends.py)."""

from __future__ import annotations

import os

import pytest

from tests.helpers.backends import REAL_HOME


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
