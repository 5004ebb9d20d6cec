"""Verdict rates on planted-truth studies: does `analysis.analyze` reach the right verdict, and does the power it
prints match how often it does?  (`make verdict-check`)

    .venv/bin/python benchmarks/verdicts.py [--studies 200] [--lab-seeds 20] [--prod-seeds 20] [--n-test 600]
        [--variants 5 20 48]

Each study is SIMULATED by analysis.simulate.planted (latent item difficulty, students sharing half their error
noise, a fresh test set per seed, gaps that differ between settings) with a planted lab and production ΔPGR of
`treated` over `vanilla`, and analysed exactly as a report is (analysis.analyze.analyze). Printed per case: the
rates of each lab and transfer verdict, the wrong rate (a decisive verdict the truth contradicts), and calibration:
the mean power the report printed for the verdict the truth calls for vs the rate it was reached.

The winner's-curse case (`--variants N ...`, default 20; `--variants` alone skips it): lab searches of N variants,
none better than vanilla (analysis.simulate.planted_search); printed: how often the naive best-of-N "wins" (its
unadjusted one-sided t on all seeds, p < alpha/2), its mean ΔPGR, the confirmation mean of the variant the harness
would carry forward (best on discovery seeds) and the harness's false "lab gain established" rate.

Bars (issue 9, issue 24): wrong <= 5% in every case; right >= 80% where the printed power says >= 80%; false "lab
gain established" under no gain <= alpha, in a single method's study and in searches of N. The exit code is 1 when
a bar fails.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import pandas as pd

from analysis.analyze import analyze
from analysis.config import load_config
from analysis import significance as sig
from analysis.simulate import as_study, planted, planted_search

LAB_GAP, PROD_GAP = {"weak": 0.60, "ceiling": 0.70}, {"weak": 0.60, "ceiling": 0.75}
# name: (lab ΔPGR, production ΔPGR, production gap, the right transfer verdict)
CASES = {
    "survives": (0.25, 0.25, PROD_GAP, "survives"),
    "vanishes": (0.25, 0.0, PROD_GAP, "vanishes"),
    "halves": (0.25, 0.125, PROD_GAP, "attenuated"),
    "reversal": (0.25, -0.15, PROD_GAP, "vanishes"),
    "no gain": (0.0, 0.0, PROD_GAP, None),
    "survives, smaller prod gap": (0.25, 0.25, {"weak": 0.60, "ceiling": 0.65}, "survives"),
    "survives, larger prod gap": (0.25, 0.25, {"weak": 0.55, "ceiling": 0.80}, "survives"),
}
# the decisive verdicts each truth contradicts
WRONG = {"survives": {"attenuated", "vanishes"}, "vanishes": {"survives", "attenuated"},
         "attenuated": {"survives", "vanishes"}}


def one_study(args: tuple) -> dict:
    case, seed, lab_seeds, prod_seeds, n_test, overrides = args
    lab_d, prod_d, prod_gap, _ = CASES[case]
    rng = np.random.default_rng([seed, list(CASES).index(case)])
    cells, ex = planted({"lab": {**LAB_GAP, "delta": lab_d}, "production": {**prod_gap, "delta": prod_d}},
                        {"lab": list(range(lab_seeds)), "production": list(range(prod_seeds))}, n_test, rng)
    res = analyze(as_study(cells, ex), load_config(overrides))
    lab = next(g for g in res["groups"] if g["setting"] == "lab")["lab_verdicts"]["treated"]
    out = {"lab": lab["verdict"], "lab_power_gain": lab["power"]["gain"]["achieved"],
           "lab_power_none": lab["power"]["no_gain"]["achieved"], "verdict": None}
    if res["comparisons"]:
        c = res["comparisons"][0]
        out.update(verdict=c["verdict"], power={v: e["achieved"] for v, e in c["power"].items()})
    return out


def search_study(args: tuple) -> dict:
    """One lab search with no true gain (analysis.simulate.planted_search): the naive best-of-N vs the harness."""
    n_variants, seed, lab_seeds, n_test, overrides = args
    rng = np.random.default_rng([seed, 1000 + n_variants])
    cells = planted_search(n_variants, list(range(lab_seeds)), n_test, rng, **LAB_GAP)
    cfg = load_config(overrides)
    res = analyze(as_study(cells, pd.DataFrame()), cfg)
    lab = next(g for g in res["groups"] if g["setting"] == "lab")["lab_verdicts"]
    best = max(lab, key=lambda m: lab[m]["all"]["mean"])  # what a search reports: its best, on all seeds
    naive = sig.mean_test(pd.Series(lab[best]["all"]["values"]), 0.0, "greater")  # unadjusted
    picked = max(lab, key=lambda m: lab[m]["discovery"]["mean"])  # the harness picks on discovery seeds only
    return {"naive_win": bool(naive["p"] < cfg["alpha"] / 2), "naive_best": lab[best]["all"]["mean"],
            "picked_confirmation": lab[picked]["confirmation"]["mean"],
            "false_gain": any(v["verdict"] == "lab gain established" for v in lab.values())}


def search_table(rows_by_n: dict[int, list[dict]], alpha: float) -> tuple[list[str], list[str]]:
    """The winner's-curse table (Markdown lines) and the bars it fails."""
    lines = ["| variants tried (no true gain) | naive best-of-N 'wins' | mean ΔPGR of the naive best (all seeds) | "
             "mean confirmation ΔPGR of the discovery-best | false 'lab gain established' |", "|---|---|---|---|---|"]
    failures = []
    for n, rows in rows_by_n.items():
        k = len(rows)
        win, false = sum(r["naive_win"] for r in rows) / k, sum(r["false_gain"] for r in rows) / k
        lines.append(f"| {n} | {win:.3f} | {np.mean([r['naive_best'] for r in rows]):+.3f} | "
                     f"{np.mean([r['picked_confirmation'] for r in rows]):+.3f} | {false:.3f} |")
        if false > alpha:
            failures.append(f"best of {n}, no gain: false 'lab gain established' {false:.3f} > alpha")
    return lines, failures


def summarize(case: str, rows: list[dict], alpha: float) -> dict:
    lab_d, _, _, right = CASES[case]
    n = len(rows)
    lab = collections.Counter(r["lab"] for r in rows)
    est = [r for r in rows if r["lab"] == "lab gain established"]
    tv = collections.Counter(r["verdict"] for r in est)
    s = {"case": case, "n": n, "lab": {k: v / n for k, v in lab.items()},
         "transfer": {k: v / n for k, v in tv.items()}}
    if right is None:  # no lab gain: the lab stage is the answer
        s["right"] = lab["no lab gain >= SESOI"] / n
        s["wrong"] = lab["lab gain established"] / n
        s["printed_power"] = float(np.nanmean([r["lab_power_none"] for r in rows]))
        s["false_lab_gain"] = s["wrong"]
        return s
    s["right"] = tv[right] / n
    s["wrong"] = (sum(tv[v] for v in WRONG[right]) + lab["no lab gain >= SESOI"]) / n
    # printed power = P(lab established) x P(this verdict | established), each as the report printed it
    s["lab_established"] = len(est) / n
    s["printed_lab_power"] = float(np.nanmean([r["lab_power_gain"] for r in rows]))
    s["right_given_lab"] = tv[right] / len(est) if est else float("nan")
    s["printed_transfer_power"] = float(np.nanmean([r["power"][right] for r in est])) if est else float("nan")
    s["printed_power"] = s["printed_lab_power"] * s["printed_transfer_power"]
    return s


def _calibration(s: dict, case: str) -> list[tuple[str, float, float]]:
    """(stage, mean printed power, realized rate) per stage. A reversal is reached more often than the power printed
    for 'no transfer' (a production ΔPGR of 0) says: that power is a floor there, not a prediction."""
    if CASES[case][3] is None:
        return [("no lab gain", s["printed_power"], s["right"])]
    out = [("lab", s["printed_lab_power"], s["lab_established"])]
    if CASES[case][1] >= 0:
        out.append(("transfer", s["printed_transfer_power"], s["right_given_lab"]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=200, help="studies per case")
    ap.add_argument("--lab-seeds", type=int, default=20)
    ap.add_argument("--prod-seeds", type=int, default=20)
    ap.add_argument("--n-test", type=int, default=600)
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES), metavar="CASE")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="analysis setting override")
    ap.add_argument("--variants", type=int, nargs="*", default=[20], metavar="N",
                    help="the winner's-curse case: lab searches of N variants with no true gain (none: skip it)")
    ap.add_argument("--verbose", action="store_true", help="print the lab and transfer stages' calibration apart")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    overrides = ["bootstrap=200", *a.set]  # the bootstrap does not enter any verdict; 200 keeps it quick
    cfg = load_config(overrides)
    t0 = time.time()
    jobs = [(c, i, a.lab_seeds, a.prod_seeds, a.n_test, overrides) for c in a.cases for i in range(a.studies)]
    searches = [(n, i, a.lab_seeds, a.n_test, overrides) for n in a.variants for i in range(a.studies)]
    with mp.get_context("spawn").Pool(a.workers) as pool:
        results = pool.map(one_study, jobs, chunksize=8)
        search_results = pool.map(search_study, searches, chunksize=8)
    by_case = collections.defaultdict(list)
    for (c, *_), r in zip(jobs, results):
        by_case[c].append(r)
    print(f"{a.studies} studies per case; lab {a.lab_seeds} seeds (half discovery, half confirmation), production "
          f"{a.prod_seeds} seeds, {a.n_test} test items per seed; alpha {cfg['alpha']}, SESOI {cfg['sesoi']}, "
          f"ratio floor {cfg['ratio_floor']}; {time.time() - t0:.0f} s on {a.workers} worker(s)\n")
    head = ["case (lab → prod ΔPGR)", "lab gain", "no lab gain", "survives", "attenuated", "vanishes",
            "inconclusive", "wrong", "right", "printed power"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    failures = []
    for c in a.cases:
        s = summarize(c, by_case[c], cfg["alpha"])
        lab_d, prod_d, gap, right = CASES[c]
        tr = s["transfer"]
        cells = [f"{c} ({lab_d:+.3g} → {prod_d:+.3g}, prod gap {gap['ceiling'] - gap['weak']:.2f})",
                 f"{s['lab'].get('lab gain established', 0):.2f}", f"{s['lab'].get('no lab gain >= SESOI', 0):.2f}",
                 *[f"{tr.get(v, 0):.2f}" for v in ("survives", "attenuated", "vanishes", "inconclusive")],
                 f"{s['wrong']:.3f}", f"{s['right']:.2f}", f"{s['printed_power']:.2f}"]
        print("| " + " | ".join(cells) + " |")
        if a.verbose and right is not None:
            print("    " + "; ".join(f"{n}: printed power {p:.2f}, rate {g:.2f}" for n, p, g in _calibration(s, c)))
        se = np.sqrt(max(s["wrong"], 0.01) * (1 - s["wrong"]) / s["n"])
        if s["wrong"] > 0.05:
            failures.append(f"{c}: wrong {s['wrong']:.3f} > 0.05 (± {se:.3f})")
        if s["printed_power"] >= 0.8 and s["right"] < 0.8:
            failures.append(f"{c}: printed power {s['printed_power']:.2f} >= 0.8 but right {s['right']:.2f}")
        for name, printed, got in _calibration(s, c):
            if abs(printed - got) > 0.10:
                failures.append(f"{c}: printed {name} power {printed:.2f} vs rate {got:.2f}: off by > 0.10")
        if right is None and s["false_lab_gain"] > cfg["alpha"]:
            failures.append(f"{c}: false 'lab gain established' {s['false_lab_gain']:.3f} > alpha")
    if searches:
        by_n = collections.defaultdict(list)
        for (n, *_), r in zip(searches, search_results):
            by_n[n].append(r)
        lines, bad = search_table(by_n, cfg["alpha"])
        failures += bad
        print(f"\nThe winner's curse: lab searches of N variants, none better than vanilla ({a.lab_seeds} seeds). "
              f"Naive: the best variant by mean ΔPGR over all seeds, 'wins' if its unadjusted one-sided t p < "
              f"alpha/2; the harness: discovery seeds decide, adjusted across the N ({cfg['correction']}).\n")
        print("\n".join(lines))
    print("\nTransfer verdict columns are shares of all studies (a study without a lab gain gets none). "
          "'printed power' = mean printed lab power x mean printed power of the right transfer verdict (given a lab "
          "gain); for 'no gain', the printed power to show no lab gain >= SESOI.")
    for f in failures:
        print("FAIL", f)
    print("all bars met" if not failures else f"{len(failures)} bar(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
