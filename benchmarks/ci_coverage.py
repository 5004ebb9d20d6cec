"""Coverage of the report's 95% CIs on SIMULATED studies with known truth (analysis.simulate).  (`make ci-coverage`)

    .venv/bin/python benchmarks/ci_coverage.py [--sims 400] [--seeds 5 10] [--n-test 500] [--bootstrap 1000]

Two kinds of records: *native* (teacher, ceiling and students share seeds, per-example predictions) and *imported*
(no predictions; the teacher and ceiling have their own 16 seeds, as the AAR records do). For each simulated study
the CIs of PGR (vanilla), ΔPGR (better - vanilla, paired by seed) and the gap are checked against the truth, for both
interval methods (t and percentile). Prints coverage with its binomial SE and the mean SE relative to the estimator's
true spread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from analysis.config import load_config
from analysis.estimates import estimate_group
from analysis.load import Study
from analysis.simulate import DEFAULT, as_study, simulate

TRUE = {"pgr": DEFAULT["pgr"]["vanilla"], "delta": DEFAULT["pgr"]["better"] - DEFAULT["pgr"]["vanilla"],
        "gap": DEFAULT["ceiling"] - DEFAULT["weak"]}
BASELINE_SEEDS = 16  # imported records: the AAR's teacher/ceiling seeds


def make_study(rng, seeds: int, n_test: int, kind: str) -> Study:
    if kind == "native":
        return as_study(*simulate({"lab": {}}, list(range(seeds)), n_test, rng))
    cells, _ = simulate({"lab": {}}, list(range(BASELINE_SEEDS)), n_test, rng)
    base = cells.groupby(["setting", "dataset", "seed"], as_index=False)[["weak_acc", "ceiling_acc", "n_test"]].first()
    return Study(name="imported", experiment_id="", parent_run_id=None, cells=cells[cells.seed < seeds],
                 baselines=base, examples=pd.DataFrame())


def one(rng, seeds: int, kind: str, args, cfgs) -> dict:
    study = make_study(rng, seeds, args.n_test, kind)
    out = {}
    for how, cfg in cfgs.items():
        g = estimate_group(study, "lab", "sim", cfg, np.random.default_rng(rng.integers(1 << 31)))
        vals = {"pgr": g.pgr["vanilla"], "delta": g.delta["better"],
                "gap": {"estimate": g.gap["estimate"], "ci": g.gap["ci"], "se_boot": g.gap["se_boot"]}}
        for k, v in vals.items():
            lo, hi = v["ci"]
            out[how, k] = (lo <= TRUE[k] <= hi, v["estimate"], v["se_boot"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=400)
    ap.add_argument("--seeds", type=int, nargs="+", default=[5, 10])
    ap.add_argument("--kinds", nargs="+", default=["native", "imported"], choices=["native", "imported"])
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--rng", type=int, default=2024)
    args = ap.parse_args()
    cfgs = {how: load_config([f"ci_method={how}", f"bootstrap={args.bootstrap}"]) for how in ("t", "percentile")}
    t0 = time.time()
    print(f"{args.sims} simulated studies per row, {args.n_test} test examples per seed, B={args.bootstrap}; "
          f"truth {TRUE}\n")
    print("| records | seeds | interval | PGR | ΔPGR | gap | bootstrap SE / true SD (PGR, ΔPGR, gap) |")
    print("|---|---|---|---|---|---|---|")
    for kind in args.kinds:
        for seeds in args.seeds:
            rng = np.random.default_rng([args.rng, seeds, len(kind)])
            rows = [one(rng, seeds, kind, args, cfgs) for _ in range(args.sims)]
            for how in cfgs:
                cov, ratio = [], []
                for k in TRUE:
                    hit = np.array([r[how, k][0] for r in rows])
                    est = np.array([r[how, k][1] for r in rows])
                    se = np.array([r[how, k][2] for r in rows])
                    c = hit.mean()
                    cov.append(f"{c:.3f} ± {np.sqrt(c * (1 - c) / len(hit)):.3f}")
                    ratio.append(f"{se.mean() / est.std(ddof=1):.2f}")
                base = f"{BASELINE_SEEDS} + " if kind == "imported" else ""
                print(f"| {kind} | {base}{seeds} | {how} | " + " | ".join(cov) + " | " + ", ".join(ratio) + " |")
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
