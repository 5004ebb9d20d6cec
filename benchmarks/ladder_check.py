"""Calibration of the scale ladder's forecast on planted-truth ladders (`make ladder-check`).

    .venv/bin/python benchmarks/ladder_check.py [--ladders 500] [--seeds 10] [--prod-seeds 10] [--lab-seeds 10]
        [--geometries gpu3 gpu4 cpu3] [--trends linear saturating reversing]

Each ladder is SIMULATED: rungs of the sizes a ladder config names (gpu3: Qwen2.5 0.5/1.5/3 B -> production 7 B;
gpu4: 0.5/1.5/3/7 B -> 14 B; cpu3: SmolLM2-135M, Gemma-3-270M, Qwen2.5-Coder-0.5B -> 7 B; cpu3r, the replayable
CPU ladder: MPNet-base, SmolLM2-135M, Gemma-3-270M -> Qwen2.5-Coder-0.5B), a planted true ΔPGR per
rung from a trend in t = log size scaled to 0 at the first rung and 1 at production (none of them a polynomial):

    linear:      0.25 - 0.20 t                                   (a lab gain that shrinks with size)
    saturating:  0.05 + 0.25 (1 - exp(-4 t)) / (1 - exp(-4))     (rises, then flattens)
    reversing:   0.10 + 1.2 t exp(-3 t) - 0.15 t                  (rises, then falls back to about 0 at production)

plus a rung's own offset from the trend (sd `--tau`: 0.03 for the one-family GPU ladders, 0.15 for the CPU ladder's
three architectures), a seed intercept shared by a seed's rungs (sd 0.08) and per-seed noise (sd 0.15): per-seed
ΔPGR SD 0.17, about the lab's (0.06-0.58 in the demo). The forecast runs with the shape its ladder is configured
with (`--shape` overrides: gpu auto, the line and a bend; cpu line). analysis.ladder's statistics (fit, predict,
verdict_probabilities) are run as the ladder job runs them; production is then simulated at the same trend with its
own seeds. Printed per row: the 95% prediction interval's coverage of the production mean (with its binomial SE),
its median width, the mean weight on the bend, and the verdict forecast's Brier score (4 verdicts, 0 best; given
an established lab gain: the lab is the first rung, with its own confirmation seeds) beside two references: the
same forecast without the ladder (production = the lab's effect, the plan's power scenario) and a flat 1/4 each
(0.75).

Bars: coverage within [0.90, 0.97] of the nominal 0.95 in every row. Exit 1 when one fails. SIMULATED data only.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import pandas as pd

from analysis import significance as sig
from analysis.config import load_config
from analysis.ladder import SHAPES, bend_weight, fit, predict, verdict_probabilities
from analysis.ladder_outcome import brier
from analysis.rules import classify
from analysis.verdicts import Margins

# rungs, production, and as its ladder is configured: the forecast's shape and the rungs' own offsets (sd tau):
# one model family (Qwen2.5) sits close to a curve; SmolLM2 / Gemma-3 / Qwen2.5-Coder differ in architecture, and
# the real CPU ladder's middle rung sat 0.1-0.3 PGR off its neighbours (docs/ladder.md)
GEOMETRIES = {"gpu3": ([494.0, 1544.0, 3086.0], 7616.0, "auto", 0.03),
              "gpu4": ([494.0, 1544.0, 3086.0, 7616.0], 14770.0, "auto", 0.03),
              "cpu3": ([134.5, 268.1, 630.2], 7616.0, "line", 0.15),
              "cpu3r": ([109.5, 134.5, 268.1], 630.2, "line", 0.15)}
TRENDS = {
    "linear": lambda t: 0.25 - 0.20 * t,
    "saturating": lambda t: 0.05 + 0.25 * (1 - np.exp(-4 * t)) / (1 - np.exp(-4)),
    "reversing": lambda t: 0.10 + 1.2 * t * np.exp(-3 * t) - 0.15 * t,
}
SU, SE = 0.08, 0.15
BAR = (0.90, 0.97)


def reached(prod: np.ndarray, lab: np.ndarray, m: Margins) -> str:
    """The transfer verdict the rules reach on one production sample (one method: k = 1)."""
    lvl = m.level
    p = pd.Series(prod)
    flags = {"vanish": sig.mean_test(p, m.sesoi, "less")["p"] < lvl, "gain": sig.mean_test(p, 0.0, "greater")["p"] < lvl,
             "keep": sig.contrast_test(p, pd.Series(lab), m.ratio_floor, "greater")["p"] < lvl,
             "drop": sig.contrast_test(p, pd.Series(lab), 1.0, "less")["p"] < lvl}
    return str(classify(flags["vanish"], flags["gain"], flags["keep"], flags["drop"]))


def one_ladder(geometry: str, trend: str, i: int, a, margins: Margins, shape: str, tau: float) -> dict:
    rungs, prod = GEOMETRIES[geometry][:2]
    rng = np.random.default_rng([i, list(GEOMETRIES).index(geometry), list(TRENDS).index(trend)])
    x, x_p = np.log(rungs), math.log(prod)
    t = (x - x[0]) / (x_p - x[0])
    f_true = TRENDS[trend]
    mu = f_true(t) + rng.normal(0, tau, len(t))
    y = mu[None, :] + rng.normal(0, SU, (a.seeds, 1)) + rng.normal(0, SE, (a.seeds, len(t)))
    # the lab: the first rung's method on its own confirmation seeds (a separate study, as the real lab is)
    lab = f_true(0.0) + rng.normal(0, SU, a.lab_seeds) + rng.normal(0, SE, a.lab_seeds)
    true_p = f_true(1.0) + rng.normal(0, tau)
    prod_s = true_p + rng.normal(0, SU, a.prod_seeds) + rng.normal(0, SE, a.prod_seeds)
    pred = predict(fit(y, x), x_p, a.prod_seeds, shape=shape)
    lab_eff = {"verdict": "lab gain established", "mean": float(lab.mean()), "sd": float(lab.std(ddof=1)),
               "n": a.lab_seeds}
    probs = verdict_probabilities(pred, lab_eff, margins, 1, rng_seed=i, draws=a.draws)
    # without the ladder: production = the lab's effect, the replay plan's 'full transfer' scenario
    flat = {"mean": lab_eff["mean"], "n_prod": a.prod_seeds, "prod_sd": pred["prod_sd"],
            "components": [{"degree": 0, "mean": lab_eff["mean"], "true_var": 1e-12, "weight": 1.0}]}
    probs0 = verdict_probabilities(flat, lab_eff, margins, 1, rng_seed=i, draws=a.draws)
    v = reached(prod_s, lab, margins)
    obs = float(prod_s.mean())
    return {"hit": pred["pi"][0] <= obs <= pred["pi"][1], "width": pred["pi"][1] - pred["pi"][0],
            "bend": bend_weight(pred), "brier": brier(probs, v), "brier_lab": brier(probs0, v),
            "reached": v, "p_reached": probs[v]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ladders", type=int, default=500, help="planted ladders per geometry and trend")
    ap.add_argument("--seeds", type=int, default=10, help="seeds on every rung")
    ap.add_argument("--prod-seeds", type=int, default=10)
    ap.add_argument("--lab-seeds", type=int, default=10, help="the lab's confirmation seeds")
    ap.add_argument("--tau", type=float, help="sd of a rung's offset from its trend (default: per geometry)")
    ap.add_argument("--draws", type=int, default=2000, help="predictive draws per verdict forecast")
    ap.add_argument("--shape", choices=SHAPES, help="the forecast's shape (default: as the geometry's ladder is "
                                                     "configured, conf/ladder `shape:`)")
    ap.add_argument("--geometries", nargs="*", default=list(GEOMETRIES), choices=list(GEOMETRIES))
    ap.add_argument("--trends", nargs="*", default=list(TRENDS), choices=list(TRENDS))
    a = ap.parse_args()
    t0 = time.time()
    margins = Margins.from_config(load_config())
    print(f"{a.ladders} planted ladders per row; {a.seeds} seeds per rung, {a.prod_seeds} production seeds, "
          f"{a.lab_seeds} lab confirmation seeds; per-seed ΔPGR: seed sd {SU}, noise sd {SE}; nominal 95% "
          f"prediction intervals; SIMULATED\n")
    head = ["geometry", "shape", "rung offset sd", "trend", "true production ΔPGR", "PI coverage", "median PI width", "weight on the bend",
            "Brier (ladder)", "Brier (lab effect as production)", "verdicts reached (S/A/V/I)"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    failures = []
    for g in a.geometries:
        shape, tau = a.shape or GEOMETRIES[g][2], GEOMETRIES[g][3] if a.tau is None else a.tau
        for tr in a.trends:
            rows = [one_ladder(g, tr, i, a, margins, shape, tau) for i in range(a.ladders)]
            cov = float(np.mean([r["hit"] for r in rows]))
            se = math.sqrt(cov * (1 - cov) / len(rows))
            reach = {v: sum(r["reached"] == v for r in rows) / len(rows)
                     for v in ("survives", "attenuated", "vanishes", "inconclusive")}
            print(f"| {g} | {shape} | {tau:g} | {tr} | {TRENDS[tr](1.0):+.3f} | {cov:.3f} ± {se:.3f} | "
                  f"{np.median([r['width'] for r in rows]):.2f} | {np.mean([r['bend'] for r in rows]):.2f} | "
                  f"{np.mean([r['brier'] for r in rows]):.3f} | {np.mean([r['brier_lab'] for r in rows]):.3f} | "
                  + "/".join(f"{reach[v]:.2f}" for v in reach) + " |", flush=True)
            if not BAR[0] <= cov <= BAR[1]:
                failures.append(f"{g} ({shape}, offsets {tau:g}) {tr}: coverage {cov:.3f} outside [{BAR[0]}, {BAR[1]}]")
    for f in failures:
        print("FAIL", f)
    print(("all bars met" if not failures else f"{len(failures)} bar(s) failed")
          + f"; wall time {time.time() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
