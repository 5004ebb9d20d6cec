"""Printed transfer power vs the rate reached, on enough planted studies to tell a few points apart (no make
target; the calibration lines of `make verdict-check` at 200-300 studies have an SE of 0.02-0.04 on that difference).

    .venv/bin/python benchmarks/power_model.py [--studies 3000] [--prod-seeds 10] [--cases survives halves vanishes]
        [--check 10] [--workers 1]

The studies are verdict-check's own (benchmarks/verdicts.py: its cases, analysis.simulate.planted, the same random
stream per study, so study i of a case is study i there), and each is decided by the harness's own code:
per-seed ΔPGR over the pooled gap as analysis.estimates computes it, verdicts.lab_stage, verdicts.transfer_stage.
Left out, because neither enters a verdict or the printed power: the bootstrap intervals, and the production_power's
seeds-needed search (transfer_stage runs with a production_power that returns the printed power alone,
power.scenario_power). `--check K` runs the first K studies of each case through analysis.analyze as well and fails
unless verdicts and printed powers agree exactly.

Printed per case: the lab-established rate, the rate the right transfer verdict is reached given a lab gain, the
mean printed power of that verdict over the same studies, their paired difference (each with its SE), and the
power model at the truth: production_rates at the planted lab effect and the generator's per-seed ΔPGR SDs (the
root mean square of the studies' SDs). Bar (issue 24): printed within 0.05 of reached.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from unittest import mock

import numpy as np
import pandas as pd

from analysis import power as pw
from analysis import verdicts as vd
from analysis.analyze import analyze
from analysis.config import load_config
from analysis.simulate import as_study, planted
from benchmarks.verdicts import CASES, LAB_GAP

TRANSFER_CASES = [c for c, (_, prod_d, _, right) in CASES.items() if right and prod_d >= 0]


def _share(verdict: str, margins) -> float:
    share = pw.SCENARIOS[verdict][1]
    return margins.ratio_floor if share is None else share


def _printed_only(lab_mean, lab_sd, n_lab, sd, n, margins, k, rng_seed=0, sd_df=None, lab_sd_df=None) -> dict:
    """production_power's 'achieved' entries, without the seeds-needed search."""
    out = {}
    for v, (name, _) in pw.SCENARIOS.items():
        ok = (np.isfinite(lab_mean) and lab_mean > 0) or v == "vanishes"
        out[v] = {"scenario": name, "seeds_needed": None,
                  "achieved": pw.scenario_power(v, lab_mean, lab_sd, n_lab, sd, n, margins, k, sd_df, lab_sd_df)
                  if ok and n >= 2 else float("nan")}
    return out


def _cells(case: str, i: int, lab_seeds: int, prod_seeds: int, n_test: int) -> pd.DataFrame:
    lab_d, prod_d, prod_gap, _ = CASES[case]
    rng = np.random.default_rng([i, list(CASES).index(case)])  # benchmarks/verdicts.py one_study's stream
    return planted({"lab": {**LAB_GAP, "delta": lab_d}, "production": {**prod_gap, "delta": prod_d}},
                   {"lab": list(range(lab_seeds)), "production": list(range(prod_seeds))}, n_test, rng)[0]


def _per_seed_delta(cells: pd.DataFrame, setting: str) -> pd.Series:
    """analysis.estimates' per-seed ΔPGR: (treated_s - vanilla_s) / (C - W), C and W the seed means."""
    c = cells[cells.setting == setting]
    acc = c.pivot(index="seed", columns="method", values="w2s_acc")
    base = c.groupby("seed")[["weak_acc", "ceiling_acc"]].first()
    return (acc["treated"] - acc["vanilla"]) / (base["ceiling_acc"].mean() - base["weak_acc"].mean())


def one(job: tuple) -> dict:
    case, i, lab_seeds, prod_seeds, n_test, check = job
    margins = vd.Margins.from_config(load_config())
    cells = _cells(case, i, lab_seeds, prod_seeds, n_test)
    lab_d, prod_d = _per_seed_delta(cells, "lab"), _per_seed_delta(cells, "production")
    lab = vd.lab_stage({"treated": lab_d}, margins, family=1)
    out = {"lab_sd": float(lab_d.std(ddof=1)), "prod_sd": float(prod_d.std(ddof=1)),
           "established": lab["treated"]["verdict"] == "lab gain established", "verdict": None, "printed": None}
    if out["established"]:
        with mock.patch.object(vd.pw, "production_power", _printed_only):
            r = vd.transfer_stage(lab, {"treated": prod_d}, margins)["treated"]
        right = CASES[case][3]
        out.update(verdict=r["verdict"], printed=r["power"][right]["achieved"])
    if check:
        res = analyze(as_study(cells, pd.DataFrame()), load_config(["bootstrap=200"]))
        lab_v = next(g for g in res["groups"] if g["setting"] == "lab")["lab_verdicts"]["treated"]["verdict"]
        c = res["comparisons"][0]
        got = (lab_v, c["verdict"] if out["established"] else None,
               c["power"][CASES[case][3]]["achieved"] if out["established"] else None)
        if got[:2] != (lab["treated"]["verdict"], out["verdict"]) or (
                out["established"] and not np.isclose(got[2], out["printed"], rtol=0, atol=1e-12, equal_nan=True)):
            raise AssertionError(f"{case} study {i}: analyze gives {got}, this benchmark "
                                 f"{(lab['treated']['verdict'], out['verdict'], out['printed'])}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=3000, help="studies per case")
    ap.add_argument("--lab-seeds", type=int, default=20)
    ap.add_argument("--prod-seeds", type=int, default=10)
    ap.add_argument("--n-test", type=int, default=600)
    ap.add_argument("--cases", nargs="*", default=TRANSFER_CASES, choices=TRANSFER_CASES, metavar="CASE")
    ap.add_argument("--check", type=int, default=10, help="studies per case also run through analysis.analyze")
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()
    margins = vd.Margins.from_config(load_config())
    t0 = time.time()
    jobs = [(c, i, a.lab_seeds, a.prod_seeds, a.n_test, i < a.check) for c in a.cases for i in range(a.studies)]
    with mp.get_context("spawn").Pool(a.workers) as pool:
        rows = pool.map(one, jobs, chunksize=16)
    print(f"{a.studies} studies per case (verdict-check's), lab {a.lab_seeds} seeds, production {a.prod_seeds}, "
          f"{a.n_test} items per seed; the first {a.check} of each case checked against analysis.analyze; "
          f"{time.time() - t0:.0f} s on {a.workers} worker(s)\n")
    print("| case | verdict | lab gain | reached (given a lab gain) | mean printed power | printed - reached | "
          "model at the truth (SDs lab, production) |\n|---|---|---|---|---|---|---|")
    failures = []
    for case in a.cases:
        d = pd.DataFrame([r for (c, *_), r in zip(jobs, rows) if c == case])
        lab_eff, prod_eff, _, right = CASES[case]
        e = d[d.established]
        hit = (e.verdict == right).astype(float)
        printed = e.printed.astype(float)
        ok = printed.notna()
        diff = printed[ok] - hit[ok]
        sd_l, sd_p = np.sqrt((d.lab_sd ** 2).mean()), np.sqrt((d.prod_sd ** 2).mean())
        model = pw.production_rates(_share(right, margins) * lab_eff, sd_p, a.prod_seeds, lab_eff, sd_l,
                                    a.lab_seeds // 2, margins, 1, draw_lab=True)[right]
        se = lambda x: x.std(ddof=1) / np.sqrt(len(x))  # noqa: E731
        print(f"| {case} | {right} | {len(e) / len(d):.3f} | {hit.mean():.3f} ± {se(hit):.3f} | "
              f"{printed[ok].mean():.3f} ± {se(printed[ok]):.3f} | {diff.mean():+.3f} ± {se(diff):.3f} | "
              f"{model:.3f} ({sd_l:.3f}, {sd_p:.3f}) |", flush=True)
        if abs(diff.mean()) > 0.05:
            failures.append(f"{case}: printed - reached {diff.mean():+.3f}, beyond 0.05")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
