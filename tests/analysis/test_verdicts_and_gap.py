"""Verdicts against planted truth, rule by rule, and the 'gap too small' rule: PGR undefined, never a number.

Each test here is built so that a plausible wrong rule fails it: dropping a sign check, a margin (SESOI, the
ratio floor), the seed pairing, or the discovery/confirmation split.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import power as pw
from analysis import significance as sig
from analysis.analyze import analyze
from analysis.config import load_config
from analysis.rules import classify
from analysis.simulate import as_study, planted, simulate
from analysis.verdicts import Margins, lab_stage, split_seeds, transfer_stage
from tests.helpers.analysis import FAST

M = Margins(alpha=0.05, sesoi=0.1, ratio_floor=0.5, power=0.8, correction="holm")


def series(values, first: int = 0) -> pd.Series:
    return pd.Series(values, index=range(first, first + len(values)), dtype=float)


def draws(mean: float, sd: float, n: int, seed: int) -> pd.Series:
    """n per-seed ΔPGR values with exactly this sample mean and SD (so a verdict does not hang on luck)."""
    z = np.random.default_rng(seed).standard_normal(n)
    return series(mean + sd * (z - z.mean()) / z.std(ddof=1))


def verdicts(lab: pd.Series, prod: pd.Series, margins: Margins = M) -> tuple[str, str]:
    lr = lab_stage({"m": lab}, margins)
    tr = transfer_stage(lr, {"m": prod}, margins)
    return lr["m"]["verdict"], tr["m"]["verdict"]


def test_split_alternates_over_sorted_seeds():
    assert split_seeds([5, 1, 3, 0, 2, 4]) == ([0, 2, 4], [1, 3, 5])


@pytest.mark.parametrize("prod_mean, expected", [
    (0.25, "survives"),      # full transfer
    (0.0, "vanishes"),       # gone
    (-0.2, "vanishes"),      # reversed: a dropped sign check would call a large |ΔPGR| a gain
    (0.125, "attenuated"),   # half: at the ratio floor, so never "survives"
])
def test_transfer_verdicts_on_precise_samples(prod_mean, expected):
    lab, prod = draws(0.25, 0.08, 24, 1), draws(prod_mean, 0.08, 24, 2)
    assert verdicts(lab, prod) == ("lab gain established", expected)


def test_sesoi_is_a_margin_not_zero():
    """A precise production gain of 0.05 (> 0, < SESOI) vanishes; one of 0.2 does not."""
    lab = draws(0.25, 0.05, 40, 3)
    assert verdicts(lab, draws(0.05, 0.03, 40, 4))[1] == "vanishes"
    assert verdicts(lab, draws(0.2, 0.03, 40, 4))[1] == "survives"


def test_ratio_floor_is_a_margin():
    """Production keeps 0.4 of a precise lab gain: attenuated at floor 0.5, survives at floor 0.3."""
    lab, prod = draws(0.3, 0.03, 40, 5), draws(0.12, 0.03, 40, 6)
    assert verdicts(lab, prod)[1] == "attenuated"
    assert verdicts(lab, prod, Margins(0.05, 0.1, 0.3, 0.8, "holm"))[1] == "survives"


def test_lab_gain_is_one_sided():
    assert verdicts(draws(-0.3, 0.05, 20, 7), draws(0.0, 0.05, 20, 8))[0] == "no lab gain >= SESOI"
    assert verdicts(draws(0.0, 0.05, 20, 7), draws(0.0, 0.05, 20, 8))[0] == "no lab gain >= SESOI"
    assert verdicts(draws(0.05, 0.3, 8, 7), draws(0.0, 0.05, 20, 8)) == ("lab inconclusive", "not tested (no lab gain)")


def test_the_lab_effect_comes_from_confirmation_seeds():
    """Discovery seeds (even positions) show +0.5, confirmation seeds +0.1: production is compared with +0.1, so a
    production gain of +0.1 survives; with the selecting seeds' +0.3 (the winner's curse) it would look attenuated."""
    values = np.where(np.arange(20) % 2 == 0, 0.5, 0.1) + np.random.default_rng(9).normal(0, 0.02, 20)
    lab = lab_stage({"m": series(values)}, M)
    assert lab["m"]["verdict"] == "lab gain established"
    assert lab["m"]["confirmation"]["mean"] == pytest.approx(values[1::2].mean())
    assert transfer_stage(lab, {"m": draws(0.1, 0.02, 20, 10)}, M)["m"]["verdict"] == "survives"


def test_too_few_lab_seeds_for_the_split():
    lab = lab_stage({"m": series([0.3, 0.31, 0.29])}, M)
    assert lab["m"]["verdict"] == "lab inconclusive" and "at least 4" in lab["m"]["reason"]


def test_pairing_by_seed_decides_the_lab_gain(sim_tables):
    """Seed effects shared by both students are large, the method's gain small but steady: only a paired test sees
    it. Shuffling the baseline's seeds (breaking the pairing) must lose the verdict."""
    rng = np.random.default_rng(11)
    shared = rng.normal(0, 0.05, 24)
    base = 0.62 + shared
    cells = []
    for s in range(24):
        for m, acc in (("vanilla", base[s]), ("better", base[s] + 0.02 + rng.normal(0, 0.003))):
            cells.append({"run_id": f"{m}{s}", "setting": "lab", "method": m, "seed": s, "dataset": "d",
                          "weak_acc": 0.6, "ceiling_acc": 0.7, "w2s_acc": acc, "gap": 0.1, "pgr": 0.0,
                          "n_test": 600.0, "original_method": m})
    cells = pd.DataFrame(cells)
    res = analyze(as_study(cells, pd.DataFrame()), load_config(FAST))
    assert res["groups"][0]["lab_verdicts"]["better"]["verdict"] == "lab gain established"
    shuffled = cells.copy()
    van = shuffled.method == "vanilla"
    shuffled.loc[van, "seed"] = rng.permutation(shuffled.loc[van, "seed"].to_numpy())
    res = analyze(as_study(shuffled, pd.DataFrame()), load_config(FAST))
    assert res["groups"][0]["lab_verdicts"]["better"]["verdict"] != "lab gain established"


@pytest.mark.parametrize("case, lab_d, prod_d, lab_verdict, verdict", [
    ("survives", 0.25, 0.25, "lab gain established", "survives"),
    ("vanishes", 0.25, 0.0, "lab gain established", "vanishes"),
    ("no gain", 0.0, 0.0, "no lab gain >= SESOI", "not tested (no lab gain)"),
])
def test_planted_studies_through_analyze(case, lab_d, prod_d, lab_verdict, verdict):
    """A fixed-seed planted-truth study with many seeds and items, through the report's own entry point."""
    cells, ex = planted({"lab": {"delta": lab_d}, "production": {"delta": prod_d, "ceiling": 0.75}},
                        {"lab": list(range(30)), "production": list(range(30))}, 3000, np.random.default_rng(12))
    res = analyze(as_study(cells, ex), load_config(FAST))
    (c,) = res["comparisons"]
    assert (c["lab_verdict"], c["verdict"]) == (lab_verdict, verdict), c["reason"]


def test_classify_order():
    t, f = True, False
    assert classify(t, t, t, f) == "vanishes"  # shown below SESOI beats everything
    assert classify(f, t, t, t) == "survives"  # kept the floor share, even if smaller than the lab
    assert classify(f, t, f, t) == "attenuated"
    assert classify(f, f, t, t) == "inconclusive"  # no production gain shown: neither survives nor attenuated


def test_one_sided_tests_match_scipy():
    rng = np.random.default_rng(13)
    x, y = series(rng.normal(0.1, 0.1, 9)), series(rng.normal(0.2, 0.1, 12))
    assert sig.mean_test(x, 0.1, "less")["p"] == pytest.approx(stats.ttest_1samp(x, 0.1, alternative="less").pvalue)
    ref = stats.ttest_ind(x, 0.5 * y, equal_var=False, alternative="greater")
    out = sig.contrast_test(x, y, 0.5, "greater")
    assert out["p"] == pytest.approx(ref.pvalue) and out["estimate"] == pytest.approx(x.mean() - 0.5 * y.mean())
    # by hand: Welch t of a linear contrast
    v = x.var(ddof=1) / len(x) + 0.25 * y.var(ddof=1) / len(y)
    assert out["t"] == pytest.approx((x.mean() - 0.5 * y.mean()) / math.sqrt(v))


def test_fieller_interval_agrees_with_the_keep_test():
    rng = np.random.default_rng(14)
    for _ in range(40):
        prod, lab = series(rng.normal(0.15, 0.1, 10)), series(rng.normal(0.25, 0.12, 10))
        r = sig.fieller_ratio(prod, lab, 0.05, 0.5)
        keep = sig.contrast_test(prod, lab, 0.5, "greater")["p"] < 0.025
        if r["ci"][0] is not None:
            assert (r["ci"][0] > 0.5) == keep
            assert r["ci"][0] < r["estimate"] < r["ci"][1]


def test_power_matches_noncentral_t_where_one_test_decides():
    """Under no transfer with a strong lab effect only the below-SESOI test can fire: its rate is the noncentral t's."""
    rate = pw.production_rates(0.0, 0.12, 15, 0.4, 0.05, 30, M, 1)["vanishes"]
    assert rate == pytest.approx(pw.t_power(M.sesoi, 0.12, 15, M.level), abs=0.002)
    d = 0.1 / 0.12
    assert pw.t_power(0.1, 0.12, 15, 0.025) == pytest.approx(
        stats.nct.sf(stats.t.ppf(0.975, 14), 14, d * math.sqrt(15)))


def test_seeds_needed_reach_the_target():
    need = pw.seeds_for(lambda n: pw.t_power(0.1, 0.12, n, 0.025), 0.8)
    assert pw.t_power(0.1, 0.12, need, 0.025) >= 0.8 > pw.t_power(0.1, 0.12, need - 1, 0.025)


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


def test_a_method_with_failed_seeds_is_inconclusive_and_says_how_many():
    """The seeds that survived a failure are a selected sample: a clear gain on them does not establish one."""
    from analysis.analyze import with_failed_seeds

    clear = draws(0.5, 0.05, 12, seed=1)
    failed = pd.DataFrame([{"setting": "lab", "dataset": "d", "method": "m", "seed": s} for s in ("12", "13", "14")]
                          + [{"setting": "lab", "dataset": "other", "method": "ok", "seed": "0"}])
    rows = with_failed_seeds(lab_stage({"m": clear, "ok": clear}, M), failed, "lab", "d")
    assert rows["ok"]["verdict"] == "lab gain established" and rows["ok"]["failed_seeds"] == 0
    assert rows["m"]["verdict"] == "lab inconclusive" and rows["m"]["failed_seeds"] == 3
    assert "3 of 15 seeds FAILED" in rows["m"]["reason"] and "[without them: lab gain established]" in rows["m"]["reason"]
