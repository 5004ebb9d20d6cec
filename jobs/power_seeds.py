"""Seeds from the study's own power analysis (`grid.power_seeds`): after the pilot seeds, run as many seeds as the
lab verdicts need to reach a decision with the target power, up to a declared cap.

Only the per-seed SD of ΔPGR is taken from the pilot, never its effects or verdicts: re-estimating a nuisance
variance from an internal pilot leaves the tests' error rates essentially intact (for normal data the sample SD is
independent of the mean, as in Stein's two-stage design),
while stopping on interim effects would not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def seeds_needed(study: str, tracking_uri: str, grid: dict) -> tuple[int, list[str]]:
    """(seed count, lines explaining it) for the lab settings of the grid."""
    from analysis.config import load_config
    from analysis.estimates import estimate_group
    from analysis.load import load_study
    from analysis.power import lab_seeds_needed
    from analysis.search import family
    from analysis.verdicts import Margins

    spec, acfg = grid["power_seeds"], load_config()
    margins, pilot = Margins.from_config(acfg), len(grid["seeds"])
    s = load_study(study, tracking_uri, with_examples=False)
    rng, need, lines = np.random.default_rng(0), [], []
    for (setting, dataset), _ in s.cells.groupby(["setting", "dataset"]):
        if setting not in grid["settings"]:
            continue
        g = estimate_group(s, setting, dataset, {**acfg, "bootstrap": 100}, rng)
        if not g.defined:
            lines.append(f"{setting}/{dataset}: PGR undefined after {pilot} pilot seeds (gap CI includes 0): "
                         f"no ΔPGR SD to plan with, running the cap")
            need.append(None)
            continue
        # the lab-gain test's family is the lab's whole search (analysis/search.py): plan seeds at its level
        k = max(family(s.ledgers.get((setting, dataset)), g.methods, g.baseline, acfg["family"])["size"], 1)
        width = max([16] + [len(m) for m in g.delta])  # variant names are long: keep the columns aligned
        for m, d in g.delta.items():
            sd = float(pd.Series(d["per_seed"]).std(ddof=1))
            n = lab_seeds_needed(sd, float(spec["effect"]), margins, k)
            need.append(max(n["gain"] or 10 ** 6, n["no_gain"] or 10 ** 6))
            lines.append(f"{setting}/{dataset} {m:<{width}} per-seed ΔPGR SD {sd:.3f}: {_n(n['gain'])} seeds to "
                         f"establish ΔPGR {spec['effect']}, {_n(n['no_gain'])} to rule out >= SESOI "
                         f"{margins.sesoi} ({margins.power:.0%} power, alpha/2 over {k} variants tried on this "
                         f"lab)")
    cap = int(spec["max"])
    wanted = max((n if n is not None else cap for n in need), default=pilot)
    count = max(pilot, min(wanted, cap))
    lines.append(f"-> {count} seeds" + (f" (capped at grid.power_seeds.max={cap}: some verdicts may stay "
                                        f"inconclusive, with the seeds they need in the report)" if wanted > cap else ""))
    return count, lines


def _n(x) -> str:
    return str(x) if x else "out of reach"


def lab_verdict_lines(study: str, tracking_uri: str) -> list[str]:
    from analysis.analyze import analyze
    from analysis.config import load_config
    from analysis.load import load_study
    from jobs.ui_rows import log_rows

    s = load_study(study, tracking_uri, with_examples=False)
    res = analyze(s, {**load_config(), "bootstrap": 200})
    log_rows(res, [s], "sweep lab verdicts (make report for the full report)", tracking_uri)  # the UI's rows too
    width = max([16] + [len(m) for g in res["groups"] for m in g["lab_verdicts"]])
    return [f"{g['setting']}/{g['dataset']} {m:<{width}} {v['verdict']}: {v['reason']}"
            for g in res["groups"] for m, v in g["lab_verdicts"].items()]
