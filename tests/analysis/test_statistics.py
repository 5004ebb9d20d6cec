"""Every p-value and CI of analysis/ against an independent computation with scipy / statsmodels called directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from analysis import significance as sig
from analysis.analyze import analyze
from analysis.bootstrap import Block, hierarchical
from analysis.config import load_config
from analysis.estimates import estimate_group
from analysis.simulate import as_study
from tests.analysis.conftest import FAST


@pytest.fixture(scope="module")
def result(sim_tables):
    cells, ex = sim_tables
    return as_study(cells, ex), analyze(as_study(cells, ex), load_config(FAST))


def _group(res, setting):
    return next(g for g in res["groups"] if g["setting"] == setting)


def test_seed_tests_match_scipy(result):
    study, res = result
    g = _group(res, "production")
    x = pd.Series(g["pgr"]["robust"]["per_seed"])
    y = pd.Series(g["pgr"]["vanilla"]["per_seed"])
    # per-seed PGR itself, recomputed from the raw cells with the pooled denominator
    cells = study.cells[study.cells.setting == "production"]
    base = cells.groupby("seed")[["weak_acc", "ceiling_acc"]].first().mean()
    raw = cells[cells.method == "robust"].set_index("seed").w2s_acc
    assert np.allclose(x.sort_index(), (raw.sort_index() - base.weak_acc) / (base.ceiling_acc - base.weak_acc))
    t = g["tests"]["robust"]
    assert t["p_t"] == pytest.approx(stats.ttest_rel(x, y).pvalue, rel=1e-12)
    assert t["p_wilcoxon"] == pytest.approx(stats.wilcoxon(x, y).pvalue, rel=1e-12)
    assert g["delta"]["robust"]["estimate"] == pytest.approx((x - y).mean(), rel=1e-9)
    assert g["delta"]["robust"]["se_seeds"] == pytest.approx((x - y).std(ddof=1) / np.sqrt(len(x)), rel=1e-9)


def test_holm_and_bh_match_multipletests():
    ps = {"a": 0.01, "b": 0.04, "c": 0.03, "d": float("nan")}
    for method in ("holm", "fdr_bh"):
        adj = sig.adjust(ps, method)
        ref = multipletests([0.01, 0.04, 0.03], method=method)[1]
        assert [adj["a"], adj["b"], adj["c"]] == pytest.approx(list(ref))
        assert np.isnan(adj["d"])
    assert sig.adjust(ps, "holm")["a"] == pytest.approx(0.03)  # 3 tests: smallest p times 3


def test_group_p_values_are_adjusted(result):
    _, res = result
    g = _group(res, "lab")
    raw = [g["tests"][m]["p_t"] for m in ("better", "robust")]
    ref = multipletests(raw, method="holm")[1]
    assert [g["tests"][m]["p_t_adj"] for m in ("better", "robust")] == pytest.approx(list(ref))


def test_mcnemar_matches_statsmodels_on_a_hand_built_table():
    ids = [f"e{i}" for i in range(60)]
    m = np.r_[np.ones(30), np.zeros(30)]
    v = np.r_[np.ones(20), np.zeros(10), np.ones(4), np.zeros(26)]  # 10 method-only, 4 baseline-only
    ex = pd.DataFrame({"seed": 0, "row": ["m"] * 60 + ["v"] * 60, "example_id": ids * 2, "correct": np.r_[m, v]})
    out = sig.mcnemar_by_seed(ex, "m", "v")[0]
    assert (out["method_only"], out["baseline_only"]) == (10, 4)
    assert out["p"] == pytest.approx(mcnemar([[20, 10], [4, 26]], exact=True).pvalue)
    assert out["p"] == pytest.approx(stats.binomtest(4, 14, 0.5).pvalue)  # exact McNemar = binomial test


def test_bootstrap_se_matches_analytic_two_stage_variance():
    """Mean of k seeds' binomial accuracies: Var* = (S-1)/S * s^2/S + mean(p(1-p)/n)/S for two-stage resampling."""
    rng = np.random.default_rng(0)
    acc = np.array([0.55, 0.60, 0.52, 0.58, 0.61, 0.57])
    blocks = [Block(seed=i, n=400, acc=np.array([a])) for i, a in enumerate(acc)]
    reps = hierarchical(blocks, [], 20000, rng)[:, 0]
    S = len(acc)
    analytic = (S - 1) / S * acc.var(ddof=1) / S + np.mean(acc * (1 - acc) / 400) / S
    assert reps.std() == pytest.approx(np.sqrt(analytic), rel=0.03)


def test_ci_methods(sim_tables):
    cells, ex = sim_tables
    study = as_study(cells, ex)
    t = estimate_group(study, "lab", "sim", load_config(FAST + ["ci_method=t"]), np.random.default_rng(1))
    p = estimate_group(study, "lab", "sim", load_config(FAST + ["ci_method=percentile"]), np.random.default_rng(1))
    est, se = t.pgr["vanilla"]["estimate"], t.pgr["vanilla"]["se_boot"]
    half = stats.t.ppf(0.975, 11) * se * np.sqrt(12 / 11)  # a seed bootstrap's SD is the ddof=0 SE
    assert t.pgr["vanilla"]["ci"] == pytest.approx((est - half, est + half))
    lo, hi = p.pgr["vanilla"]["ci"]
    assert lo < p.pgr["vanilla"]["estimate"] < hi and (hi - lo) < 2 * half
    # ΔPGR's t interval is the paired t-test's own
    d = pd.Series(t.delta["better"]["per_seed"])
    ref = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    assert t.delta["better"]["ci"] == pytest.approx((ref.low, ref.high))


def test_seed_bootstrap_keeps_pairs_without_per_example_records():
    """Imported records have no predictions: a drawn seed must bring both rows, so ΔPGR's bootstrap SD is the SD of
    the mean of per-seed differences (x sqrt((n-1)/n)), not that of two independent means."""
    rng = np.random.default_rng(2)
    shared = rng.normal(0.6, 0.05, 8)
    acc = np.column_stack([shared, shared + 0.02 + rng.normal(0, 0.004, 8)])
    blocks = [Block(seed=i, n=600, acc=a) for i, a in enumerate(acc)]
    reps = hierarchical(blocks, [(1, 0)], 20000, rng, within=False)[:, 2]
    diff = acc[:, 1] - acc[:, 0]
    assert reps.std() == pytest.approx(diff.std(ddof=0) / np.sqrt(8), rel=0.05)
