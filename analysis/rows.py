"""The report's study-level numbers as one row per (study, setting, dataset, method): what the MLflow UI shows as a
study's summary runs (transfer/store/summary.py writes them; jobs/report.py and jobs/summary.py call both).

Pure: the rows are taken from what analysis/ already computed (estimates.estimate_group, analyze.analyze), never
recomputed, so the UI's table and the report's cannot disagree. Verdict wording is whatever analysis/ put in its
output (analysis/rules.py), not a copy of it. Values are rounded for reading (DIGITS); results.json keeps them whole.
"""

from __future__ import annotations

import math

DIGITS = 3  # the report prints PGR to 2 places and accuracies to 3: 3 places read the same and show no noise


def group_dict(g, study: str) -> dict:
    """An estimates.Group as the JSON group analyze() reports (the fields rows() reads), for callers that estimate
    groups without the verdicts (the sweep's closing table)."""
    return {"study": study, "setting": g.setting, "dataset": g.dataset, "baseline": g.baseline, "methods": g.methods,
            "weak_acc": g.weak, "ceiling_acc": g.ceiling, "gap": g.gap, "pgr": g.pgr, "delta": g.delta,
            "lab_verdicts": {}}


def _num(v) -> float:
    """A value as a metric: rounded, NaN where analysis/ gave none (so an old number never outlives its estimate)."""
    return round(float(v), DIGITS) if v is not None and math.isfinite(float(v)) else float("nan")


def _est(prefix: str, e: dict | None) -> dict[str, float]:
    e = e or {}
    lo, hi = e.get("ci") or (None, None)
    return {prefix: _num(e.get("estimate")), f"{prefix}_ci_low": _num(lo), f"{prefix}_ci_high": _num(hi)}


def rows(groups: list[dict], comparisons: list[dict] = (), models: dict | None = None, level: float = 0.95,
         lab_setting: str = "lab") -> list[dict]:
    """One row per (study, setting, dataset, method) of `groups` (analyze()'s res["groups"], or group_dict()s):
    {key, name, order, params, tags, metrics}. `comparisons`: analyze()'s, whose transfer verdicts go on the
    production rows; `models`: {(study, setting, dataset): (weak model, strong model)}.

    order sorts the rows as a results table reads: the baseline method first, then the others as analysis/ orders
    them, each method's lab row before its production row, datasets after."""
    by_method = {(c["prod_dataset"], c["method"]): c for c in comparisons}
    baselines = {g["baseline"] for g in groups}
    names = sorted({m for g in groups for m in g["methods"]}, key=lambda m: (m not in baselines, m))
    settings = sorted({g["setting"] for g in groups}, key=lambda s: (s != lab_setting, s))
    out = []
    for g in groups:
        weak, strong = (models or {}).get((g["study"], g["setting"], g["dataset"]), ("", ""))
        for m in g["methods"]:
            pgr = g["pgr"][m]
            metrics = {**_est("pgr", pgr), **_est("delta_pgr", g["delta"].get(m)),
                       "seeds": float(pgr.get("n_seeds") or 0), "weak_acc": _num(g["weak_acc"]),
                       "ceiling_acc": _num(g["ceiling_acc"]), **_est("gap", g["gap"])}
            tags = {"study": g["study"], "setting": g["setting"], "dataset": g["dataset"], "method": m,
                    "baseline": g["baseline"], "ci_level": f"{level:.0%}"}
            if pgr.get("undefined"):
                tags["pgr_undefined"] = pgr["undefined"]
            lab = g.get("lab_verdicts", {}).get(m)
            if lab:
                tags.update(lab_verdict=lab["verdict"], lab_reason=str(lab["reason"]))
            c = by_method.get((g["dataset"], m)) if g["setting"] != lab_setting else None
            if c:
                tags.update(lab_verdict=c["lab_verdict"], transfer_verdict=c["verdict"],
                            transfer_reason=str(c["reason"]))
                metrics["lab_delta_pgr"] = _num(c["lab_effect"].get("mean"))
            order = f"{names.index(m):03d} {settings.index(g['setting'])} {g['dataset']}"
            out.append({"key": (g["study"], g["setting"], g["dataset"], m), "order": order,
                        "name": f"{m} / {g['setting']} / {g['dataset']}",
                        "params": {"method.name": m, "setting": g["setting"], "dataset": g["dataset"],
                                   "weak_model": weak, "strong_model": strong},
                        "tags": tags, "metrics": metrics})
    return sorted(out, key=lambda r: r["order"])
