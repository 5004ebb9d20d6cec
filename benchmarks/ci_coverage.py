"""Coverage of the report's 95% CIs on SIMULATED studies with known truth (analysis.simulate).

    .venv/bin/python benchmarks/ci_coverage.py [--sims 400] [--seeds 5] [--n-test 500] [--bootstrap 1000]

For each simulated study the hierarchical bootstrap CI of PGR (vanilla), of ΔPGR (better - vanilla, paired by
seed) and of the gap is checked against the truth, for both interval methods (t and percentile). Prints the
coverage with its binomial standard error, and the mean bootstrap SE relative to the estimator's true spread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from analysis.config import load_config
from analysis.estimates import estimate_group
from analysis.simulate import DEFAULT, as_study, simulate

TRUE = {"pgr": DEFAULT["pgr"]["vanilla"], "delta": DEFAULT["pgr"]["better"] - DEFAULT["pgr"]["vanilla"],
        "gap": DEFAULT["ceiling"] - DEFAULT["weak"]}


def one(rng, args, cfgs):
    cells, ex = simulate({"lab": {}}, list(range(args.seeds)), args.n_test, rng)
    study = as_study(cells, ex)
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
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--rng", type=int, default=2024)
    args = ap.parse_args()
    cfgs = {how: load_config([f"ci_method={how}", f"bootstrap={args.bootstrap}"]) for how in ("t", "percentile")}
    rng, t0, rows = np.random.default_rng(args.rng), time.time(), []
    for _ in range(args.sims):
        rows.append(one(rng, args, cfgs))
    print(f"{args.sims} simulated studies, {args.seeds} seeds x {args.n_test} test examples, "
          f"B={args.bootstrap}, {time.time() - t0:.0f}s; truth {TRUE}")
    print(f"{'interval':<11}{'quantity':<7}{'coverage':>10}{'± SE':>8}{'SE_boot/SD_true':>18}")
    for how in cfgs:
        for k in TRUE:
            hit = np.array([r[how, k][0] for r in rows])
            est = np.array([r[how, k][1] for r in rows])
            se = np.array([r[how, k][2] for r in rows])
            cov = hit.mean()
            print(f"{how:<11}{k:<7}{cov:>10.3f}{np.sqrt(cov * (1 - cov) / len(hit)):>8.3f}"
                  f"{se.mean() / est.std(ddof=1):>18.2f}")


if __name__ == "__main__":
    main()
