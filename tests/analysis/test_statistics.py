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
from analysis.simulate import as_study, simulate
from tests.helpers.analysis import FAST


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


def _inverted_t(a: np.ndarray, b: np.ndarray, grid: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """The ratios on `grid` that scipy's one-sample t-test of a - r b = 0 does not reject: Fieller, by brute force."""
    keep = grid[stats.ttest_1samp(a[None, :] - grid[:, None] * b[None, :], 0, axis=1).pvalue >= alpha]
    return keep.min(), keep.max()


def test_ci_methods(sim_tables):
    cells, ex = sim_tables
    study = as_study(cells, ex)
    t = estimate_group(study, "lab", "sim", load_config(FAST + ["ci_method=t"]), np.random.default_rng(1))
    p = estimate_group(study, "lab", "sim", load_config(FAST + ["ci_method=percentile"]), np.random.default_rng(1))
    lab = cells[(cells.setting == "lab")]
    acc = lab.pivot(index="seed", columns="method", values="w2s_acc")
    base = lab.groupby("seed")[["weak_acc", "ceiling_acc"]].first()
    gap = base.ceiling_acc - base.weak_acc
    grid = np.arange(-1, 1.5, 1e-4)
    # PGR and ΔPGR: the ratios the per-seed t-test of numerator - r x gap does not reject (the gap's noise counted)
    lo, hi = _inverted_t((acc.vanilla - base.weak_acc).to_numpy(), gap.to_numpy(), grid)
    assert t.pgr["vanilla"]["ci"] == pytest.approx((lo, hi), abs=2e-4)
    d = (acc.better - acc.vanilla).to_numpy()
    lo, hi = _inverted_t(d, gap.to_numpy(), grid)
    assert t.delta["better"]["ci"] == pytest.approx((lo, hi), abs=2e-4)
    # ... and it excludes 0 exactly when the paired t-test rejects
    assert (lo > 0 or hi < 0) == (stats.ttest_1samp(d, 0).pvalue < 0.05)
    plo, phi = p.pgr["vanilla"]["ci"]
    assert plo < p.pgr["vanilla"]["estimate"] < phi and (phi - plo) < 2 * (t.pgr["vanilla"]["ci"][1] - lo)


def test_ratio_interval_inverts_welch_for_separate_baseline_seeds():
    """Imported records: teacher/ceiling on their own 16 seeds, methods on 5. At each end of the interval the Welch
    test of mean(method) - [(1 - r) W + r C] = 0 sits exactly at alpha."""
    rng = np.random.default_rng(3)
    w, c = rng.normal(0.53, 0.01, 16), rng.normal(0.73, 0.01, 16)
    s = rng.normal(0.57, 0.02, 5)
    num, den = s.mean() - w.mean(), c.mean() - w.mean()
    out = sig.ratio_interval(num, den, [(s, np.zeros(5)), (-w, c - w)], 0.05)
    for r in out["ci"]:
        p = stats.ttest_ind(s, (1 - r) * w + r * c, equal_var=False).pvalue
        assert p == pytest.approx(0.05, abs=1e-6)
    assert out["ci"][0] < num / den < out["ci"][1]


def test_ratio_interval_is_undefined_not_huge_when_the_gap_nears_zero():
    """navigate-like: a gap whose CI just includes 0 gives no interval (with the reason); one whose CI just clears
    0 gives a finite Fieller interval, never +-1e13."""
    rng = np.random.default_rng(4)
    g0 = rng.normal(0, 0.02, 6)
    g0 -= g0.mean()
    se = g0.std(ddof=1) / np.sqrt(6)
    crit = stats.t.ppf(0.975, 5)
    num = rng.normal(0, 0.02, 6)
    for shift, bounded in ((0.95 * crit * se, False), (1.05 * crit * se, True)):
        out = sig.ratio_interval(num.mean() + 0.01, shift, [(num + 0.01, g0 + shift)], 0.05)
        assert (out["undefined"] is None) == bounded
        if bounded:
            assert all(np.isfinite(out["ci"])) and out["ci"][0] < out["ci"][1]
            assert max(map(abs, out["ci"])) < 1e3
        else:
            assert "unbounded" in out["undefined"] and all(np.isnan(out["ci"]))


def test_pgr_is_defined_exactly_when_its_interval_is_bounded():
    """The gap's t interval and Fieller's bound use the same seed-level test: over studies with gaps near 0, a
    defined PGR always has a finite interval and an undefined one has no number."""
    cfg = load_config(FAST)
    seen = set()
    for i in range(12):
        truth = {"lab": {"weak": 0.6, "ceiling": 0.6 + 0.004 * i, "acc_sd": 0.01}}
        cells, ex = simulate(truth, list(range(5)), 300, np.random.default_rng(i))
        g = estimate_group(as_study(cells, ex), "lab", "sim", cfg, np.random.default_rng(0))
        seen.add(g.defined)
        for est in [*g.pgr.values(), *g.delta.values()]:
            if g.defined:
                assert all(np.isfinite(est["ci"])) and "ci_undefined" not in est
            else:
                assert est["estimate"] is None and est["undefined"]
    assert seen == {True, False}


def test_fieller_covers_where_the_known_gap_interval_does_not():
    """Ratio of means with a noisy denominator (relative SE of the gap 0.1 per seed-mean): the interval that takes
    the pooled gap as known under-covers; Fieller's covers at the nominal rate. 1,500 simulated samples of 10."""
    rng = np.random.default_rng(5)
    hits, naive = [], []
    for _ in range(1500):
        gap = rng.normal(0.1, 0.03, 10)
        d = rng.normal(0.1, 0.03, 10)  # true ratio 1.0, the numerator as noisy as the gap
        lo, hi = sig.ratio_interval(d.mean(), gap.mean(), [(d, gap)], 0.05)["ci"]
        hits.append(lo <= 1.0 <= hi)
        k = stats.ttest_1samp(d / gap.mean(), 0).confidence_interval(0.95)
        naive.append(k.low <= 1.0 <= k.high)
    assert 0.935 <= np.mean(hits) <= 0.965
    assert np.mean(naive) < 0.90


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
