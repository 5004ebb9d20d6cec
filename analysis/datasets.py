"""Across datasets: a method × dataset table, and whether a method's gain over the baseline is consistent.

The test is a random-effects meta-analysis over datasets (statsmodels `combine_effects`, Paule–Mandel τ²): each
dataset contributes its ΔPGR estimate (mean over seeds, paired with the baseline) and that mean's squared standard
error over seeds. ΔPGR is on each dataset's own gap scale, so datasets with different gaps are comparable; datasets
whose gap's CI includes 0 (PGR undefined) are left out and named. Reported per (setting, method): the pooled mean
ΔPGR with a t(k − 1) interval, its two-sided p, the between-dataset variance τ², I² (the share of the spread that
is heterogeneity, not seed noise), Cochran's Q test of homogeneity, and the prediction interval for a new dataset,
t(k − 2) × sqrt(τ² + SE²) (Higgins, Thompson & Spiegelhalter 2009), which says whether the gain is expected on a
dataset not in the study.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

RULE = ("consistent gain: the prediction interval for a new dataset lies above 0; gain on average only: the pooled "
        "random-effects interval lies above 0 but the prediction interval does not; consistent loss / loss on "
        "average: the same below 0; no average effect shown: the pooled interval includes 0. Heterogeneity: "
        "Cochran's Q at alpha, with I² and τ².")


def by_dataset(res: dict) -> dict[str, dict]:
    """setting -> {"datasets": [...], "methods": [...], "cells": {(method, dataset): {"pgr", "delta", "gap"}}}."""
    out: dict[str, dict] = {}
    for g in res["groups"]:
        t = out.setdefault(g["setting"], {"datasets": [], "methods": [], "cells": {}, "gap": {}})
        t["datasets"].append(g["dataset"])
        t["gap"][g["dataset"]] = {"weak": g["weak_acc"], "ceiling": g["ceiling_acc"], **g["gap"]}
        for m in g["methods"]:
            if m not in t["methods"]:
                t["methods"].append(m)
            t["cells"][f"{m}|{g['dataset']}"] = {"pgr": g["pgr"].get(m), "delta": g["delta"].get(m)}
    return out


def meta(effects: dict[str, float], ses: dict[str, float], alpha: float) -> dict:
    """Random-effects meta-analysis of per-dataset effects with standard errors."""
    from statsmodels.stats.meta_analysis import combine_effects

    names = [d for d in effects if np.isfinite(effects[d]) and np.isfinite(ses[d]) and ses[d] > 0]
    k = len(names)
    if k < 2:
        return {"k": k, "datasets": names, "verdict": "fewer than two datasets with a defined ΔPGR: no test"}
    eff, var = np.array([effects[d] for d in names]), np.array([ses[d] ** 2 for d in names])
    r = combine_effects(eff, var, method_re="iterated", use_t=True, alpha=alpha, row_names=names)
    hom = r.test_homogeneity()
    if hom.statistic <= k - 1:  # no excess spread: the PM root is τ² = 0 (statsmodels returns junk there),
        tau2, est, se = 0.0, float(r.mean_effect_fe), float(r.sd_eff_w_fe)  # so the random-effects fit is the fixed one
    else:
        tau2, est, se = float(r.tau2), float(r.mean_effect_re), float(r.sd_eff_w_re)
    tq = stats.t.ppf(1 - alpha / 2, k - 1)
    out = {"k": k, "datasets": names, "estimate": est, "se": se, "ci": (est - tq * se, est + tq * se),
           "p": float(2 * stats.t.sf(abs(est / se), k - 1)) if se > 0 else float("nan"),
           "tau2": tau2, "i2": max(0.0, 1 - hom.df / hom.statistic) if hom.statistic > 0 else 0.0,
           "q": float(hom.statistic), "q_df": int(hom.df),
           "q_p": float(hom.pvalue), "per_dataset": {d: {"estimate": float(e), "se": float(np.sqrt(v))}
                                                    for d, e, v in zip(names, eff, var)}}
    if k >= 3:
        half = stats.t.ppf(1 - alpha / 2, k - 2) * np.sqrt(tau2 + se ** 2)
        out["prediction"] = (est - half, est + half)
    out["verdict"] = _verdict(out)
    return out


def _verdict(m: dict) -> str:
    lo, hi = m["ci"]
    plo, phi = m.get("prediction", (float("nan"), float("nan")))
    if lo > 0:
        return "consistent gain" if plo > 0 else "gain on average only"
    if hi < 0:
        return "consistent loss" if phi < 0 else "loss on average only"
    return "no average effect shown"


def across(res: dict, alpha: float) -> dict:
    """setting -> {"table": by_dataset's, "meta": {method: meta()}, "left_out": {method: [undefined datasets]}}."""
    out = {}
    for setting, t in by_dataset(res).items():
        if len(t["datasets"]) < 2:
            continue
        metas, left = {}, {}
        for m in t["methods"]:
            cells = {d: t["cells"].get(f"{m}|{d}") or {} for d in t["datasets"]}
            deltas = {d: c["delta"] for d, c in cells.items() if c.get("delta")}
            if not deltas:
                continue  # the baseline itself
            ok = {d: v for d, v in deltas.items() if v.get("estimate") is not None and v.get("se_seeds")}
            left[m] = sorted(set(deltas) - set(ok))
            metas[m] = meta({d: v["estimate"] for d, v in ok.items()}, {d: v["se_seeds"] for d, v in ok.items()},
                            alpha)
        out[setting] = {"table": t, "meta": metas, "left_out": left, "rule": RULE}
    return out


def markdown(res: dict) -> list[str]:
    """The report's section: one method × dataset table and one meta-analysis table per setting."""
    from analysis.format import ci, num, pval

    out = []
    for setting, a in (res.get("across_datasets") or {}).items():
        t, ds = a["table"], a["table"]["datasets"]
        gap = ["gap (weak → ceiling)"] + [f"{num(t['gap'][d]['estimate'])} ({num(t['gap'][d]['weak'])} → "
                                          f"{num(t['gap'][d]['ceiling'])})" for d in ds]
        rows = [gap]
        for m in t["methods"]:
            row = [m]
            for d in ds:
                c = t["cells"].get(f"{m}|{d}")
                p, dl = (c or {}).get("pgr") or {}, (c or {}).get("delta") or {}
                row.append("--" if not c else "undefined" if p.get("estimate") is None else
                           num(p["estimate"], 2) + (f" (Δ {num(dl.get('estimate'), 2)})" if dl else ""))
            rows.append(row)
        out += [f"### Method × dataset ({setting})", "", _md(["method", *ds], rows), "",
                "PGR per method and dataset (ΔPGR over the baseline in brackets); each dataset has its own "
                "baselines, PGR, ΔPGR and verdicts (tables above).", ""]
        if a["meta"]:
            mrows = [[m, str(r["k"]), num(r.get("estimate")), ci(r.get("ci")), pval(r.get("p")),
                      ci(r.get("prediction")), num(r.get("tau2"), 4), num(r.get("i2"), 2), pval(r.get("q_p")),
                      r["verdict"]] for m, r in a["meta"].items()]
            out += [f"### Is the gain consistent across datasets? ({setting})", "",
                    _md(["method", "datasets", "pooled ΔPGR", "CI", "p", "prediction interval", "τ²", "I²",
                         "Q test p", "across datasets"], mrows), "",
                    "Random-effects meta-analysis over datasets of each method's ΔPGR (Paule–Mandel τ², t(k−1) "
                    "interval; prediction interval for a new dataset, t(k−2)). " + a["rule"]]
            left = {m: d for m, d in a["left_out"].items() if d}
            out += [f"Left out (PGR undefined): {', '.join(f'{m}: {d}' for m, d in left.items())}." if left else "", ""]
    return out


def _md(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in rows])
