"""grid.power_seeds: the seed count comes from the pilot's per-seed ΔPGR SD (never its effects), capped."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.simulate import simulate
from jobs.power_seeds import lab_verdict_lines, seeds_needed
from tests.helpers.analysis import write_study

PILOT = list(range(6))


def _study(uri: str, name: str, method_sd: float) -> None:
    truth = {"lab": {"pgr": {"vanilla": 0.2, "logconf": 0.3, "ccs": 0.2}, "seed_sd": 0.05, "method_sd": method_sd}}
    cells, ex = simulate(truth, PILOT, 2000, np.random.default_rng(1))
    write_study(uri, name, cells, ex, with_predictions=False)


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('power') / 'mlruns.db'}"
    _study(uri, "quiet", 0.02)
    _study(uri, "noisy", 0.25)
    return uri


def grid(effect=0.25, cap=200):
    return {"settings": ["lab"], "seeds": PILOT, "power_seeds": {"effect": effect, "max": cap}}


def test_more_noise_needs_more_seeds_and_the_cap_holds(uri):
    quiet, lines = seeds_needed("quiet", uri, grid())
    noisy, _ = seeds_needed("noisy", uri, grid())
    assert len(PILOT) <= quiet < noisy <= 200
    assert any("logconf" in x and "per-seed ΔPGR SD" in x for x in lines)
    capped, lines = seeds_needed("noisy", uri, grid(cap=10))
    assert capped == 10 and "capped at grid.power_seeds.max=10" in lines[-1]


def test_a_smaller_declared_effect_needs_more_seeds(uri):
    assert seeds_needed("noisy", uri, grid(effect=0.5))[0] <= seeds_needed("noisy", uri, grid(effect=0.25))[0]


def test_lab_verdict_lines_name_every_method(uri):
    lines = lab_verdict_lines("quiet", uri)
    assert {x.split()[1] for x in lines} == {"logconf", "ccs"}
