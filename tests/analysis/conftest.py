"""Fixtures: SIMULATED studies written into a temporary sqlite MLflow store exactly as docs/tracking.md says."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.simulate import predictions, simulate
from tests.helpers.analysis import write_study


# Known truth: `better` gains +0.15 PGR in the lab; in production its gain is 0 (vanishes), `robust` keeps +0.15.
TRUTH = {"lab": {"pgr": {"vanilla": 0.2, "better": 0.35, "robust": 0.35}, "seed_sd": 0.04, "method_sd": 0.02},
         "production": {"pgr": {"vanilla": 0.2, "better": 0.2, "robust": 0.35}, "seed_sd": 0.04, "method_sd": 0.02}}


@pytest.fixture(scope="session")
def sim_tables():
    return simulate(TRUTH, seeds=list(range(12)), n_test=500, rng=np.random.default_rng(7))


@pytest.fixture(scope="session")
def store(tmp_path_factory, sim_tables):
    """A sqlite store with study `sim` (lab + production cells, predictions) and `sim-noex` (no predictions)."""
    d = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{d / 'mlruns.db'}"
    cells, ex = sim_tables
    write_study(uri, "sim", cells, ex)
    write_study(uri, "sim-noex", cells[cells.seed < 8], ex, with_predictions=False)  # fewer runs: faster
    return uri
