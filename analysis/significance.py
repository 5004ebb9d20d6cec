"""Hypothesis tests, all delegated to scipy / statsmodels; each returns a plain dict for results.json."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

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


def interaction_model(ex: pd.DataFrame, method: str, baseline: str, lab: str, prod: str) -> dict:
    """Logit of per-example student correctness ~ method + method x setting + seed fixed effects.

    The method x production coefficient is the "did the gain shrink in production" test (log-odds scale).
    SEs are cluster-robust two-way, by seed (method effects vary by seed) and by example (shared difficulty),
    with t reference (df = clusters - 1), because only a handful of seeds exist.
    """
    d = ex[ex["row"].isin([method, baseline]) & ex["setting"].isin([lab, prod])].copy()
    if d.empty or d["setting"].nunique() < 2 or d["row"].nunique() < 2:
        return {"skipped": "per-example predictions missing for a setting or method"}
    d["treated"] = (d["row"] == method).astype(float)
    d["prod"] = (d["setting"] == prod).astype(float)
    d["seed_key"] = d["setting"] + ":" + d["seed"].astype(str)
    d["example_key"] = d["dataset"] + ":" + d["example_id"].astype(str)
    groups = np.column_stack([pd.factorize(d["seed_key"])[0], pd.factorize(d["example_key"])[0]])
    fit = smf.glm("correct ~ treated + treated:prod + C(seed_key)", d, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    name = "treated:prod"
    lo, hi = fit.conf_int().loc[name]
    return {"coef_lab": float(fit.params["treated"]), "coef_interaction": float(fit.params[name]),
            "se": float(fit.bse[name]), "ci": (float(lo), float(hi)), "p": float(fit.pvalues[name]),
            "n_obs": int(fit.nobs), "scale": "log-odds of a correct test answer"}


def welch_shrinkage(lab: pd.Series, prod: pd.Series) -> dict:
    """Seed-level interaction: Welch t-test of per-seed ΔPGR, lab vs production (no per-example data needed)."""
    lab, prod = lab.dropna(), prod.dropna()
    if len(lab) < 2 or len(prod) < 2:
        return {"skipped": "fewer than 2 seeds with ΔPGR in a setting"}
    t = stats.ttest_ind(prod, lab, equal_var=False)
    return {"t": float(t.statistic), "p": float(t.pvalue), "df": float(t.df), "scale": "ΔPGR"}


def adjust(pvalues: dict, method: str) -> dict:
    """Multiplicity correction across the methods of one family; NaN p-values stay NaN and are not counted."""
    keys = [k for k, p in pvalues.items() if p is not None and np.isfinite(p)]
    out = {k: NAN for k in pvalues}
    if keys:
        adj = multipletests([pvalues[k] for k in keys], method=method)[1]
        out.update({k: float(a) for k, a in zip(keys, adj)})
    return out


def tost(x: pd.Series, y: pd.Series, sesoi: float) -> dict:
    """Equivalence of x and y (paired by seed) within +-sesoi: two one-sided t-tests (statsmodels)."""
    both = pd.concat([x, y], axis=1, keys=["x", "y"]).dropna()
    if len(both) < 2:
        return {"p": NAN, "bounds": (-sesoi, sesoi), "note": "fewer than 2 paired seeds"}
    p, lower, upper = ttost_paired(both.x.to_numpy(), both.y.to_numpy(), -sesoi, sesoi)
    return {"p": float(p), "p_lower": float(lower[1]), "p_upper": float(upper[1]), "bounds": (-sesoi, sesoi)}


def power(effect: float | None, sd: float, n: int, alpha: float, target: float) -> dict:
    """Paired t-test power for a true ΔPGR = `effect` at per-seed SD `sd`: achieved with n seeds, seeds needed."""
    if effect is None or not np.isfinite(effect) or not np.isfinite(sd) or sd <= 0 or effect == 0:
        return {"effect_size": NAN, "achieved": NAN, "seeds_needed": None}
    d = abs(effect) / sd
    tp = TTestPower()
    achieved = float(tp.power(effect_size=d, nobs=n, alpha=alpha)) if n >= 2 else NAN
    try:
        needed = int(math.ceil(tp.solve_power(effect_size=d, alpha=alpha, power=target)))
    except Exception:  # solver fails for tiny effects: report as beyond reach rather than a made-up number
        needed = None
    return {"effect_size": float(d), "achieved": achieved, "seeds_needed": max(needed, 2) if needed else None}
