"""Hypothesis tests, all delegated to scipy / statsmodels; each returns a plain dict for results.json."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

NAN = float("nan")


def seed_tests(x: pd.Series, y: pd.Series) -> dict:
    """Paired t-test and Wilcoxon signed-rank of x - y over the seeds both have (x, y: per-seed PGR)."""
    both = pd.concat([x, y], axis=1, keys=["x", "y"]).dropna()
    n = len(both)
    out = {"n_pairs": n, "t": NAN, "p_t": NAN, "w": NAN, "p_wilcoxon": NAN, "note": None}
    if n < 2:
        out["note"] = f"{n} paired seed(s): no seed-level test"
        return out
    t = stats.ttest_rel(both.x, both.y)
    out.update(t=float(t.statistic), p_t=float(t.pvalue))
    d = both.x - both.y
    if (d != 0).any():
        w = stats.wilcoxon(both.x, both.y)
        out.update(w=float(w.statistic), p_wilcoxon=float(w.pvalue))
    if n < 6:  # the exact signed-rank test cannot reach p < 0.05 with fewer than 6 pairs
        out["note"] = f"Wilcoxon with {n} pairs: smallest attainable two-sided p = {2 / 2 ** n:.3f}"
    return out


def mcnemar_by_seed(ex: pd.DataFrame, method: str, baseline: str) -> list[dict]:
    """McNemar's test per seed on the paired per-example correctness of `method` vs `baseline` students."""
    out = []
    for seed, g in ex[ex["row"].isin([method, baseline])].groupby("seed"):
        piv = g.pivot_table(index="example_id", columns="row", values="correct").dropna()
        if method not in piv or baseline not in piv:
            continue
        a, b = piv[method].astype(bool), piv[baseline].astype(bool)
        table = [[int((a & b).sum()), int((a & ~b).sum())], [int((~a & b).sum()), int((~a & ~b).sum())]]
        discordant = table[0][1] + table[1][0]
        res = mcnemar(table, exact=discordant < 25, correction=True)
        out.append({"seed": int(seed), "method_only": table[0][1], "baseline_only": table[1][0],
                    "statistic": float(res.statistic), "p": float(res.pvalue), "exact": discordant < 25})
    return out


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values, equal to statsmodels' multipletests(method="holm") (tested), which calls
    gc.collect() on every use: 0.1 s with a full heap, thousands of times in benchmarks/verdicts.py."""
    order = np.argsort(p)
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)))
    out = np.empty_like(adj)
    out[order] = adj
    return out


def adjust(pvalues: dict, method: str) -> dict:
    """Multiplicity correction across the methods of one family; NaN p-values stay NaN and are not counted."""
    keys = [k for k, p in pvalues.items() if p is not None and np.isfinite(p)]
    out = {k: NAN for k in pvalues}
    if keys:
        ps = np.array([pvalues[k] for k in keys], dtype=float)
        adj = holm(ps) if method == "holm" else multipletests(ps, method=method)[1]
        out.update({k: float(a) for k, a in zip(keys, adj)})
    return out


def mean_test(x: pd.Series, null: float, alternative: str) -> dict:
    """One-sample one-sided t-test of the mean of x (per-seed ΔPGR) against `null` (scipy.stats.ttest_1samp)."""
    x = pd.Series(x, dtype=float).dropna()
    out = {"n": len(x), "mean": float(x.mean()) if len(x) else NAN, "null": null, "alternative": alternative,
           "t": NAN, "df": NAN, "p": NAN}
    if len(x) < 2 or not np.isfinite(x.std(ddof=1)):
        out["note"] = f"{len(x)} seed(s): no test"
        return out
    if x.std(ddof=1) == 0:  # identical seeds: the t statistic is undefined; the sign of mean - null decides
        out.update(p=0.0 if (x.mean() - null) * (1 if alternative == "greater" else -1) > 0 else 1.0, df=len(x) - 1)
        return out
    t = stats.ttest_1samp(x, null, alternative=alternative)
    return {**out, "t": float(t.statistic), "df": float(t.df), "p": float(t.pvalue)}


def contrast_test(prod: pd.Series, lab: pd.Series, ratio: float, alternative: str) -> dict:
    """Welch t-test of mean(prod) - ratio * mean(lab) against 0, one-sided; lab and production seeds independent.

    ratio=1 asks whether the production gain differs from the lab gain; ratio=rho < 1 whether production kept more
    (alternative="greater") than the share rho of the lab gain. Equivalent to scipy's Welch test of prod vs
    ratio * lab, whose variance is ratio^2 times the lab's: the Welch-Satterthwaite df follow.
    """
    prod, lab = pd.Series(prod, dtype=float).dropna(), pd.Series(lab, dtype=float).dropna()
    out = {"n_prod": len(prod), "n_lab": len(lab), "ratio": ratio, "alternative": alternative,
           "estimate": float(prod.mean() - ratio * lab.mean()) if len(prod) and len(lab) else NAN,
           "t": NAN, "df": NAN, "p": NAN}
    if len(prod) < 2 or len(lab) < 2:
        out["note"] = "fewer than 2 seeds in a setting: no test"
        return out
    t = stats.ttest_ind(prod, ratio * lab, equal_var=False, alternative=alternative)
    return {**out, "t": float(t.statistic), "df": float(t.df), "p": float(t.pvalue)}


def fieller_ratio(prod: pd.Series, lab: pd.Series, alpha: float, floor: float) -> dict:
    """Transfer ratio mean(prod) / mean(lab) with its Fieller (1 - alpha) interval for independent samples: the
    ratios r that the two-sided Welch test of mean(prod) - r x mean(lab) = 0 does not reject, with the t quantile at
    the Welch df of r = `floor`, so the interval clears the floor exactly when the verdict's keep-share test does."""
    prod, lab = pd.Series(prod, dtype=float).dropna(), pd.Series(lab, dtype=float).dropna()
    if len(prod) < 2 or len(lab) < 2:
        return {"estimate": None, "ci": (None, None), "undefined": "fewer than 2 seeds in a setting"}
    mp, ml = prod.mean(), lab.mean()
    vp, vl = prod.var(ddof=1) / len(prod), lab.var(ddof=1) / len(lab)
    df = (vp + floor ** 2 * vl) ** 2 / (vp ** 2 / (len(prod) - 1) + (floor ** 2 * vl) ** 2 / (len(lab) - 1))
    t2 = stats.t.ppf(1 - alpha / 2, df) ** 2
    a, b, c = ml ** 2 - t2 * vl, -2 * mp * ml, mp ** 2 - t2 * vp  # (mp - r ml)^2 <= t2 (vp + r^2 vl)
    if a <= 0:  # the lab effect itself is not distinguishable from 0 at this level: the set is unbounded
        return {"estimate": None, "ci": (None, None), "undefined": "lab effect's CI includes 0: ratio unbounded"}
    est = float(mp / ml)
    disc = b * b - 4 * a * c
    root = np.sqrt(max(disc, 0.0))
    return {"estimate": est, "ci": (float((-b - root) / (2 * a)), float((-b + root) / (2 * a))), "undefined": None,
            "method": "Fieller, Welch df at the floor"}


def _var_parts(samples: list[tuple[np.ndarray, np.ndarray]], r: float) -> list[tuple[float, int]]:
    """(Var of mean(num - r den), n) per independent sample of seeds."""
    return [(float(np.var(a - r * b, ddof=1)) / len(a), len(a)) for a, b in samples]


def _welch(parts: list[tuple[float, int]]) -> tuple[float, float]:
    """(total variance, Welch-Satterthwaite df) of a sum of independent sample means' variances."""
    v = sum(p for p, _ in parts)
    den = sum(p * p / (n - 1) for p, n in parts if p > 0)
    return v, (v * v / den if den > 0 else float("inf"))


def ratio_interval(num: float, den: float, samples: list[tuple[np.ndarray, np.ndarray]], alpha: float) -> dict:
    """Two-sided (1 - alpha) interval for num / den by test inversion (Fieller): the ratios r that the t-test of
    num - r x den = 0 does not reject. samples: per independent set of seeds, the per-seed contributions (a_s, b_s)
    to num and den (mean(a) - r mean(b) summed over samples is num - r den); the test's variance and Welch df come
    from the per-seed values of a - r b, so the denominator's (the gap's) noise and its covariance with the
    numerator's are counted. With one sample it is Fieller's interval at t(n - 1), and at r = 0 it is the plain
    t-test of num: the interval excludes 0 exactly when that test rejects. Unbounded (undefined, with the reason)
    when den is not distinguishable from 0 at this level."""
    samples = [(np.asarray(a, float), np.asarray(b, float)) for a, b in samples if len(a)]
    if not samples or any(len(a) < 2 for a, _ in samples) or not np.isfinite([num, den]).all():
        return {"ci": (NAN, NAN), "undefined": "fewer than 2 seeds: no interval"}

    def excess(r: float) -> float:  # > 0 where the test of num - r den = 0 rejects
        v, df = _welch(_var_parts(samples, r))
        return (num - r * den) ** 2 - stats.t.ppf(1 - alpha / 2, df) ** 2 * v

    slope = [(float(np.var(b, ddof=1)) / len(b), len(b)) for _, b in samples]  # the variance's r^2 coefficient
    v_den, df_den = _welch(slope)
    if den ** 2 <= stats.t.ppf(1 - alpha / 2, df_den) ** 2 * v_den:
        return {"ci": (NAN, NAN), "undefined": "the denominator's (gap's) CI includes 0: the ratio's interval is "
                                               "unbounded (Fieller)"}
    r0 = num / den
    step = max(abs(r0), np.sqrt(max(_welch(_var_parts(samples, r0))[0], 0.0)) / abs(den), 1e-9)
    # the SE the interval is built from: the test's SD at r = num / den, on the ratio's scale (the delta method's)
    se = float(np.sqrt(max(_welch(_var_parts(samples, r0))[0], 0.0)) / abs(den))
    ends = []
    for sign in (-1, 1):
        far = r0 + sign * step
        while excess(far) <= 0:  # bounded: excess grows like r^2 (den^2 - t^2 v_den) > 0
            far = r0 + 2 * (far - r0)
        ends.append(float(optimize.brentq(excess, r0, far, xtol=1e-12)) if excess(r0) < 0 else r0)
    return {"ci": (ends[0], ends[1]), "se": se, "undefined": None}
