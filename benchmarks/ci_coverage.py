"""Coverage of the report's 95% CIs on SIMULATED studies with known truth (analysis.simulate).  (`make ci-coverage`)

    .venv/bin/python benchmarks/ci_coverage.py [--sims 400] [--seeds 5 10 20] [--n-test 500] [--bootstrap 1000]
        [--generators seed-split fixed-test] [--kinds native imported] [--intervals t percentile]

Two generators: *seed-split* (analysis.simulate.simulate: each seed draws its own test split; gap .18, ΔPGR .15) and
*fixed-test* (analysis.simulate.planted with fixed_test: every seed is scored on the same items, so seeds are
correlated through the test split; gap .10, ΔPGR .25, where the gap's noise matters). Two kinds of records:
*native* (teacher, ceiling and students share seeds) and *imported* (the teacher and ceiling have their own 16
seeds, as the AAR records do). For each simulated study the CIs of PGR
(vanilla), ΔPGR (treated - vanilla, paired by seed) and the gap are checked against the truth, for both interval
methods (t and percentile); "known gap" is the paired t interval of per-seed ΔPGR that takes the pooled gap as known
(the report's interval before issue 24), for comparison. Prints coverage with its binomial SE and the mean bootstrap
SE relative to the estimator's true spread.

Each row has its own random stream, and a row's first k studies are the same whatever --sims, --workers, the other
rows or --intervals (`--intervals t` skips the percentile intervals, whose bootstrap is most of the time; the t
intervals do not use the bootstrap, so `--bootstrap 100` then changes no coverage). Judging a 94-96% band needs its
SE: at 600 studies (SE 0.009) a row whose coverage is exactly 0.950 reads outside 0.94-0.96 with probability 0.26;
at 4,000 (SE 0.0034), 0.004.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import numpy as np
import pandas as pd
from scipy import stats

from analysis.config import load_config
from analysis.estimates import estimate_group
from analysis.load import Study
from analysis.simulate import DEFAULT, PLANTED, as_study, planted, simulate

TRUTH = {"seed-split": {"pgr": DEFAULT["pgr"]["vanilla"], "delta": DEFAULT["pgr"]["better"] - DEFAULT["pgr"]["vanilla"],
                        "gap": DEFAULT["ceiling"] - DEFAULT["weak"]},
         "fixed-test": {"pgr": PLANTED["vanilla_pgr"], "delta": PLANTED["delta"],
                        "gap": PLANTED["ceiling"] - PLANTED["weak"]}}
QUANTITIES = ("pgr", "delta", "gap")
BASELINE_SEEDS = 16  # imported records: the AAR's teacher/ceiling seeds


def generate(rng, seeds: list[int], n_test: int, generator: str) -> pd.DataFrame:
    if generator == "seed-split":
        cells, _ = simulate({"lab": {}}, seeds, n_test, rng, with_examples=False)
        return cells.replace({"method": {"better": "treated"}})
    return planted({"lab": {}}, {"lab": seeds}, n_test, rng, fixed_test=True)[0]


def make_study(rng, seeds: int, n_test: int, kind: str, generator: str) -> Study:
    """Per-example records are left out: the report's seed bootstrap (within=False) and its t intervals use per-seed
    accuracies only, which the examples reproduce exactly, and pivoting them took 80% of the time."""
    if kind == "native":
        return as_study(generate(rng, list(range(seeds)), n_test, generator), pd.DataFrame())
    cells = generate(rng, list(range(max(BASELINE_SEEDS, seeds))), n_test, generator)
    base = cells[cells.seed < BASELINE_SEEDS].groupby(["setting", "dataset", "seed"], as_index=False)[
        ["weak_acc", "ceiling_acc", "n_test"]].first()
    return Study(name="imported", experiment_id="", parent_run_id=None, cells=cells[cells.seed < seeds],
                 baselines=base, examples=pd.DataFrame())


def one(rng, seeds: int, kind: str, generator: str, args, cfgs) -> dict:
    study = make_study(rng, seeds, args.n_test, kind, generator)
    true, out = TRUTH[generator], {}
    for how, cfg in cfgs.items():
        seed = rng.integers(1 << 31)  # drawn for every interval method: the row's stream does not depend on --intervals
        if how not in args.intervals:
            continue
        g = estimate_group(study, "lab", "sim", cfg, np.random.default_rng(seed))
        vals = {"pgr": g.pgr["vanilla"], "delta": g.delta["treated"],
                "gap": {"estimate": g.gap["estimate"], "ci": g.gap["ci"], "se_boot": g.gap["se_boot"]}}
        for k, v in vals.items():
            lo, hi = v["ci"]
            out[how, k] = (lo <= true[k] <= hi, v["estimate"], v["se_boot"])
    d = pd.Series(g.delta["treated"]["per_seed"])  # the known-gap interval: the paired t-test's own
    known = stats.ttest_1samp(d, 0).confidence_interval(1 - cfgs["t"]["alpha"])
    out["known"] = known.low <= true["delta"] <= known.high
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=400)
    ap.add_argument("--seeds", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--kinds", nargs="+", default=["native", "imported"], choices=["native", "imported"])
    ap.add_argument("--generators", nargs="+", default=list(TRUTH), choices=list(TRUTH))
    ap.add_argument("--intervals", nargs="+", default=["t", "percentile"], choices=["t", "percentile"])
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--rng", type=int, default=2024)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="rows in parallel (same numbers)")
    args = ap.parse_args()
    t0 = time.time()
    print(f"{args.sims} simulated studies per row, {args.n_test} test examples per seed, B={args.bootstrap}; "
          f"truth {TRUTH}\n")
    print("| generator | records | seeds | interval | PGR | ΔPGR | ΔPGR, known gap | gap | "
          "bootstrap SE / true SD (PGR, ΔPGR, gap) |")
    print("|---|---|---|---|---|---|---|---|---|")
    jobs = [(g, k, n, args) for g in args.generators for k in args.kinds for n in args.seeds]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for lines in pool.imap(_row, jobs):  # each row has its own random stream: same numbers for any --workers
            print("\n".join(lines), flush=True)
    print(f"\n{time.time() - t0:.0f} s on {args.workers} worker(s)")


def _row(job: tuple) -> list[str]:
    generator, kind, seeds, args = job
    cfgs = {how: load_config([f"ci_method={how}", f"bootstrap={args.bootstrap}"]) for how in ("t", "percentile")}
    rng = np.random.default_rng([args.rng, seeds, len(kind), len(generator)])
    rows = [one(rng, seeds, kind, generator, args, cfgs) for _ in range(args.sims)]
    lines = []
    for how in [h for h in cfgs if h in args.intervals]:
        cov, ratio = [], []
        for k in QUANTITIES:
            hit = np.array([r[how, k][0] for r in rows])
            est = np.array([r[how, k][1] for r in rows])
            se = np.array([r[how, k][2] for r in rows])
            cov.append(_rate(hit))
            ratio.append(f"{se.mean() / est.std(ddof=1):.2f}")
        cov.insert(2, _rate(np.array([r["known"] for r in rows])) if how == "t" else "")
        base = f"{BASELINE_SEEDS} + " if kind == "imported" else ""
        lines.append(f"| {generator} | {kind} | {base}{seeds} | {how} | " + " | ".join(cov) + " | "
                     + ", ".join(ratio) + " |")
    return lines


def _rate(hit: np.ndarray) -> str:
    c = hit.mean()
    return f"{c:.3f} ± {np.sqrt(c * (1 - c) / len(hit)):.3f}"


if __name__ == "__main__":
    main()
