"""Tests compose the real configs (conf/) on CPU with tiny limits, and use real data and real models."""

from __future__ import annotations

from transfer import env

env.apply()  # before anything below imports Ray, MLflow or transformers

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from transfer import paths  # noqa: E402
from transfer.config import to_plain  # noqa: E402


@pytest.fixture
def compose_cfg():
    """compose_cfg(*overrides) -> the resolved config a user would get with those overrides."""
    def _compose(*overrides: str) -> dict:
        with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
            return to_plain(compose("config", overrides=list(overrides)))
    return _compose


@pytest.fixture
def hh_path():
    path = paths.shared_data_dir() / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    if not path.exists():
        pytest.fail(f"real data missing at {path}: set TRANSFER_DATA to the shared data folder")
    return path


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray for one test module; shut down after it, so no in-process Ray outlives the module (a second
    cluster started by a later test must not share the machine with an idle one)."""
    import ray

    from jobs.raytasks import init_ray
    init_ray({"num_cpus": 2})
    yield ray
    ray.shutdown()
