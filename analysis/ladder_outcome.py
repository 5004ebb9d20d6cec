"""The ladder's forecast beside what production showed (docs/ladder.md): per method, the production ΔPGR against
the forecast's prediction interval (hit or miss) and the verdict reached against the forecast's probabilities (its
Brier score); per role (gap, weak and ceiling accuracy), the production value against its interval. The forecast is
a replay plan's `ladder` section (jobs/ladder_plan.py), fixed before production ran; the outcome is
analysis.analyze's results of the replay."""

from __future__ import annotations

import numpy as np

from analysis.rules import NOT_TESTED, TRANSFER_VERDICTS


def interval_hit(pred: dict, observed: float | None) -> bool | None:
    """Did the production mean land inside the forecast's prediction interval?"""
    if observed is None or not np.isfinite(observed) or "pi" not in pred:
        return None
    return bool(pred["pi"][0] <= observed <= pred["pi"][1])


def with_not_tested(probs: dict) -> dict:
    """The four verdicts' probabilities plus NOT_TESTED's, 1 minus their sum (a plan stores the four only)."""
    four = {v: probs[v] for v in TRANSFER_VERDICTS}
    return four | {NOT_TESTED: probs.get(NOT_TESTED, max(0.0, 1.0 - sum(four.values())))}


def verdict_line(probs: dict) -> str:
    """'survives 0.12, attenuated 0.00, vanishes 0.43, inconclusive 0.45' (+ NOT_TESTED's where it has any)."""
    full = with_not_tested(probs)
    return ", ".join(f"{v} {p:.2f}" for v, p in full.items() if v != NOT_TESTED or p > 0)


def brier(probs: dict, reached: str) -> float:
    """Multi-category Brier score of a verdict forecast (0 best, 2 worst), NOT_TESTED a category of its own."""
    return float(sum((p - (v == reached)) ** 2 for v, p in with_not_tested(probs).items()))


def outcome_rows(section: dict, res: dict) -> list[dict]:
    """Forecast (a replay plan's `ladder` section) beside outcome (analysis.analyze's comparisons), per method:
    the production ΔPGR and whether it landed in the forecast's interval, the verdict reached and the probability
    the forecast gave it, and the forecast's Brier score. Then the roles (gap, weak and ceiling accuracy) the
    ladder forecast too, beside production's own (its groups in `res`; `role` set on those rows)."""
    rows = []
    for c in res.get("comparisons", []):
        f = section["methods"].get(c["method"])
        if not f:
            continue
        obs = (c.get("prod_delta") or {}).get("estimate")
        probs = f["verdicts"]
        ok = all(p is not None and np.isfinite(p) for p in probs.values())
        probs = with_not_tested(probs) if ok else probs
        rows.append({"method": c["method"], "dataset": c["prod_dataset"], "forecast": f["delta_pgr"], "pi": f["pi"],
                     "observed": obs, "hit": interval_hit({"pi": f["pi"]}, obs),
                     "forecast_verdict": max(probs, key=lambda v: -1 if probs[v] is None else probs[v]),
                     "p_reached": probs.get(c["verdict"]), "verdict": c["verdict"],
                     "brier": brier(probs, c["verdict"]) if ok else None})
    lab = (res.get("plan") or {}).get("lab_study")
    for g in res.get("groups", []):
        if g["study"] == lab:
            continue
        for role, f in (section.get("roles") or {}).items():
            obs = g.get(role)
            obs = obs.get("estimate") if isinstance(obs, dict) else obs
            rows.append({"role": role, "dataset": g["dataset"], "forecast": f["forecast"], "pi": f["pi"],
                         "observed": obs, "hit": interval_hit({"pi": f["pi"]}, obs)})
    return rows


def outcome_markdown(section: dict, rows: list[dict]) -> list[str]:
    if not rows:
        return []
    p = section["production"]

    def f(x, fmt="+.3f"):
        return "—" if x is None or not np.isfinite(x) else format(x, fmt)

    def table(head, body):
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(b) + " |" for b in body]

    hit = {True: "hit", False: "**miss**", None: "—"}
    pi = f"[{100 * (1 - section['alpha']):.0f}% PI]"
    methods = [r for r in rows if "method" in r]
    roles = [r for r in rows if "role" in r]
    out = ["## The ladder's forecast vs what production showed", "",
           f"Forecast by ladder study `{section['study']}` (ladder `{section['ladder']}`: "
           + ", ".join(f"{r['model']} {r['params_m']:g} M" for r in section["rungs"])
           + f" -> {p['model']} {p['params_m']:g} M at {p['seeds']} seeds), fixed in the plan before any production "
           f"cell ran. Brier: the forecast's four verdict probabilities against the verdict reached (0 best, 2 "
           f"worst).", ""]
    if methods:
        out += table(["method", f"forecast ΔPGR {pi}", "production ΔPGR", "in the interval",
                      "most likely verdict (forecast)", "verdict reached", "P(reached) forecast", "Brier"],
                     [[r["method"], f"{f(r['forecast'])} [{f(r['pi'][0])}, {f(r['pi'][1])}]", f(r["observed"]),
                       hit[r["hit"]], r["forecast_verdict"], r["verdict"], f(r["p_reached"], ".2f"),
                       f(r["brier"], ".3f")] for r in methods]) + [""]
    if roles:
        out += ["The roles the ladder forecast on the same line in log size (accuracies are bounded, the line is "
                "not):", ""]
        out += table(["quantity", "dataset", f"forecast {pi}", "production", "in the interval"],
                     [[r["role"], r["dataset"], f"{f(r['forecast'], '.3f')} [{f(r['pi'][0], '.3f')}, "
                       f"{f(r['pi'][1], '.3f')}]", f(r["observed"], ".3f"), hit[r["hit"]]] for r in roles]) + [""]
    return out + [*[f"- {n}" for n in section.get("notes", [])], ""]
