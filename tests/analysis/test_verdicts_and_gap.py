"""Verdict rules one by one, and the 'gap too small' rule: PGR undefined, never a number."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.analyze import analyze
from analysis.config import load_config
from analysis.simulate import as_study, simulate
from analysis.verdicts import Evidence, decide
from tests.analysis.conftest import FAST

NAN = float("nan")


def ev(**kw):
    base = dict(method="m", lab_delta=0.15, prod_delta=0.14, p_lab=0.001, p_prod=0.002, p_equiv=0.9, p_shrink=0.6,
                shrink_sign=-1.0, power=0.9, seeds_needed=4, undefined=None)
    return Evidence(**{**base, **kw})


@pytest.mark.parametrize("kw, verdict, rule", [
    ({"undefined": "gap too small"}, "inconclusive", "rule 1"),
    ({"p_lab": 0.2}, "inconclusive", "rule 2"),
    ({"lab_delta": -0.15}, "inconclusive", "rule 2"),
    ({"prod_delta": 0.01, "p_prod": 0.8, "p_equiv": 0.01}, "vanishes", "rule 3"),
    ({"prod_delta": -0.1, "p_prod": 0.01}, "vanishes", "rule 3"),
    ({}, "survives", "rule 4"),
    ({"prod_delta": 0.05, "p_prod": 0.01, "p_shrink": 0.01}, "attenuated", "rule 5"),
    ({"prod_delta": 0.05, "p_prod": 0.3, "p_shrink": 0.01}, "attenuated", "rule 5"),
    ({"prod_delta": 0.08, "p_prod": 0.3, "p_shrink": 0.3, "power": 0.3, "seeds_needed": 14}, "inconclusive", "rule 6"),
    ({"p_shrink": NAN}, "survives", "rule 4"),
])
def test_rules(kw, verdict, rule):
    v, reason = decide(ev(**kw), 0.05)
    assert v == verdict and reason.startswith(rule)


def test_underpowered_reason_names_seeds():
    _, reason = decide(ev(prod_delta=0.08, p_prod=0.3, p_shrink=0.3, power=0.31, seeds_needed=14), 0.05)
    assert "0.31" in reason and "14 seeds" in reason


def test_gap_too_small_gives_no_pgr_number():
    zero_gap = {"weak": 0.6, "ceiling": 0.6, "pgr": {"vanilla": 0.0, "better": 0.0}}
    cells, ex = simulate({"lab": {}, "production": zero_gap}, list(range(5)), 300, np.random.default_rng(5))
    res = analyze(as_study(cells, ex), load_config(FAST))
    prod = next(g for g in res["groups"] if g["setting"] == "production")
    lab = next(g for g in res["groups"] if g["setting"] == "lab")
    assert not prod["gap"]["defined"] and prod["gap"]["ci"][0] <= 0 <= prod["gap"]["ci"][1]
    assert lab["gap"]["defined"]
    for m in ("vanilla", "better"):
        assert prod["pgr"][m]["estimate"] is None and prod["pgr"][m]["ci"] == (None, None)
        assert prod["pgr"][m]["undefined"].startswith("gap too small")
    assert prod["delta"]["better"]["estimate"] is None
    assert prod["tests"]["better"]["scale"].startswith("accuracy")  # tests still run, on accuracies
    assert math.isfinite(prod["tests"]["better"]["p_t"])
    (comp,) = res["comparisons"]
    assert comp["verdict"] == "inconclusive" and comp["reason"].startswith("rule 1")
    assert comp["ratio"]["estimate"] is None
