"""Verdicts on the PGR scale: is there a lab gain over the baseline, and did it survive in production?

Every decision is a one-sided seed-level t-test at level alpha/2 on per-seed ΔPGR (method - baseline, pooled
denominator); a test against 0 agrees with whether the two-sided (1 - alpha) Fieller interval excludes 0 (tests
against SESOI take the pooled gap as known, the interval does not). p-values are adjusted across the methods of a
family (Holm by default; the lab's family is its whole search, analysis/search.py). Lab seeds are split in two
(sorted; 1st, 3rd, ... seeds are *discovery*, 2nd, 4th, ... *confirmation*): the discovery seeds decide whether a
lab gain is established (the selection), the confirmation seeds estimate the lab effect that production is compared
with, so that estimate is not the winner's-curse estimate of the seeds that selected it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import power as pw
from analysis import significance as sig
from analysis.rules import NOT_TESTED, classify


TRANSFER_MEANINGS = [
    "**survives**: production shows a gain, and it kept more than the declared share (ratio_floor) of the lab gain.",
    "**attenuated**: production shows a gain, but significantly smaller than the lab's.",
    "**vanishes**: the production gain is shown to be below the smallest effect of interest (SESOI), or reversed.",
    "**inconclusive**: none of these is shown; the report gives the power and the seeds each would need.",
    f"**{NOT_TESTED}**: no transfer test ran: the method had no established lab gain, so there was nothing to "
    "transfer, whatever production shows.",
]
LAB_MEANINGS = [
    "**lab gain established**: ΔPGR > 0 on the lab's discovery seeds; **no lab gain >= SESOI**: ΔPGR shown below "
    "the smallest effect of interest (SESOI); **lab inconclusive**: neither, with the seeds each would need.",
]
VERDICT_MEANINGS = TRANSFER_MEANINGS + LAB_MEANINGS

LAB_RULES = """\
Lab (per method; discovery seeds decide, confirmation seeds estimate):
- **lab gain established**: ΔPGR > 0 on the discovery seeds (one-sided t, level alpha/2, adjusted across every
  variant tried on this lab (setting, dataset) in the store, earlier studies' too; analysis.family=study: this study's).
  The lab effect carried forward is the mean ΔPGR of the confirmation seeds.
- **no lab gain >= SESOI**: otherwise, if ΔPGR < SESOI on all lab seeds (one-sided t, alpha/2, adjusted).
- **lab inconclusive**: otherwise; the report gives the lab seeds each test would need."""

TRANSFER_RULES = """\
Transfer (first match decides; only methods with an established lab gain are tested, the others are
**not tested (no lab gain)**):
1. **inconclusive** if PGR is undefined in either setting (the ceiling - weak gap's CI includes 0).
2. **vanishes** if the production ΔPGR is below SESOI (one-sided t, alpha/2, adjusted): the gain is gone or reversed.
3. **survives** if the production ΔPGR is > 0 *and* production kept more than `ratio_floor` of the lab effect:
   ΔPGR_prod - ratio_floor x ΔPGR_lab > 0 (one-sided Welch t, alpha/2, adjusted; non-inferiority of the transfer).
4. **attenuated** if the production ΔPGR is > 0 *and* smaller than the lab's: ΔPGR_prod - ΔPGR_lab < 0
   (one-sided Welch t, alpha/2, adjusted).
5. **inconclusive** otherwise; the report gives the power of this replay for each verdict and the production seeds
   each would need."""

RULES = LAB_RULES + "\n\n" + TRANSFER_RULES


@dataclass(frozen=True)
class Margins:
    alpha: float        # two-sided; every directional test runs at alpha / 2
    sesoi: float        # smallest effect of interest, PGR units
    ratio_floor: float  # the share of the lab effect production must keep to "survive"
    power: float        # target power when asking for seeds
    correction: str     # statsmodels multipletests method

    @classmethod
    def from_config(cls, cfg: dict) -> "Margins":
        return cls(cfg["alpha"], cfg["sesoi"], cfg["ratio_floor"], cfg["power"], cfg["correction"])

    @property
    def level(self) -> float:
        return self.alpha / 2


def split_seeds(seeds) -> tuple[list[int], list[int]]:
    """(discovery, confirmation): alternate over the sorted seeds, so both halves span the seed range."""
    s = sorted(int(x) for x in seeds)
    return s[0::2], s[1::2]


def _sig(p, level: float) -> bool:
    return p is not None and np.isfinite(p) and p < level


def _sample(x: pd.Series) -> dict:
    x = x.dropna()
    return {"n": len(x), "mean": float(x.mean()) if len(x) else float("nan"),
            "sd": float(x.std(ddof=1)) if len(x) > 1 else float("nan"),
            "values": {int(s): float(v) for s, v in x.items()}}


def _adjust(rows: dict, key: str, correction: str, family: int = 0) -> None:
    """Adjust across the family: rows, plus (family - len(rows)) hypotheses tested elsewhere (the lab's earlier
    variants), entered with p = 1. Holm and BH only get stricter as p-values grow, so this keeps the error rate of
    the whole family whatever those p-values were."""
    ps = {m: r[key]["p"] for m, r in rows.items()}
    ps.update({("untested here", i): 1.0 for i in range(max(0, family - len(rows)))})
    adj = sig.adjust(ps, correction)
    for m in rows:
        rows[m][key]["p_adj"] = adj[m]


def lab_stage(per_seed: dict[str, pd.Series], margins: Margins, undefined: str | None = None,
              family: int = 0) -> dict[str, dict]:
    """per_seed: method -> the lab's per-seed ΔPGR vs the baseline. One family: every method here, and `family` in
    all when the lab's search tried more variants than this study holds (analysis.search)."""
    rows = {}
    for m, d in per_seed.items():
        d = pd.Series(d, dtype=float).dropna()
        disc, conf = split_seeds(d.index)
        rows[m] = {"discovery": _sample(d.loc[disc]), "confirmation": _sample(d.loc[conf]), "all": _sample(d),
                   "gain": sig.mean_test(d.loc[disc], 0.0, "greater"),
                   "futility": sig.mean_test(d, margins.sesoi, "less")}
    for key in ("gain", "futility"):
        _adjust(rows, key, margins.correction, family)
    k = max(len(rows), family, 1)
    for m, r in rows.items():
        r["power"] = _lab_power(r, margins, k)
        r["verdict"], r["reason"] = _lab_decide(r, margins, undefined)
    return rows


def _lab_power(r: dict, margins: Margins, k: int) -> dict:
    # The lab test's own power is not a selected quantity: the mean of all lab seeds is its least noisy input.
    level, sd, eff = margins.level / k, r["all"]["sd"], r["all"]["mean"]
    se = sd / np.sqrt(r["all"]["n"]) if r["all"]["n"] > 1 else float("nan")
    need = pw.lab_seeds_needed(sd, eff, margins, k) if np.isfinite(sd) and sd > 0 else {"gain": None, "no_gain": None}
    gain = {"effect": eff, "achieved": pw.debiased(lambda e: pw.t_power(e, sd, r["discovery"]["n"], level), eff, se),
            "seeds_needed": need["gain"], "note": "effect = mean ΔPGR of all lab seeds; seeds = all (half decide)"}
    futility = {"effect": 0.0, "achieved": pw.t_power(margins.sesoi, sd, r["all"]["n"], level),
                "seeds_needed": need["no_gain"]}
    return {"gain": gain, "no_gain": futility}


def _lab_decide(r: dict, margins: Margins, undefined: str | None) -> tuple[str, str]:
    lvl = margins.level
    if undefined:
        return "lab inconclusive", undefined
    if r["discovery"]["n"] < 2 or r["confirmation"]["n"] < 2:
        return "lab inconclusive", (f"{r['all']['n']} lab seeds: the discovery/confirmation split needs at least 4")
    g, f, c = r["gain"], r["futility"], r["confirmation"]
    if _sig(g["p_adj"], lvl):
        below = "; below SESOI on all seeds" if _sig(f["p_adj"], lvl) else ""
        return "lab gain established", (
            f"discovery seeds: ΔPGR {g['mean']:+.3f}, one-sided adj. p {g['p_adj']:.3g} < {lvl:g}; confirmation "
            f"seeds: ΔPGR {c['mean']:+.3f} (the lab effect carried forward){below}")
    if _sig(f["p_adj"], lvl):
        return "no lab gain >= SESOI", (f"all {r['all']['n']} seeds: ΔPGR {f['mean']:+.3f} < SESOI {margins.sesoi:g} "
                                        f"(one-sided adj. p {f['p_adj']:.3g})")
    pg, pf = r["power"]["gain"], r["power"]["no_gain"]
    return "lab inconclusive", (
        f"discovery ΔPGR {g['mean']:+.3f} (adj. p {g['p_adj']:.3g}), all seeds {f['mean']:+.3f} vs SESOI "
        f"(adj. p {f['p_adj']:.3g}); lab seeds for {margins.power:.0%} power: {_n(pg['seeds_needed'], pg['effect'])} "
        f"to establish the observed effect, {_n(pf['seeds_needed'])} to rule out a gain >= SESOI")


def _n(x, effect: float = 1.0) -> str:
    return str(x) if x else ("out of reach" if effect > 0 else "none (no positive effect to establish)")


def transfer_stage(lab: dict[str, dict], prod: dict[str, pd.Series], margins: Margins,
                   undefined: str | None = None, rng_seed: int = 0) -> dict[str, dict]:
    """lab: lab_stage rows; prod: method -> production per-seed ΔPGR. The family: methods with a lab gain."""
    rows = {}
    for m, d in prod.items():
        d = pd.Series(d, dtype=float).dropna()
        rows[m] = {"lab": lab[m], "production": _sample(d)}
        if lab[m]["verdict"] != "lab gain established":
            continue
        conf = pd.Series(lab[m]["confirmation"]["values"], dtype=float)
        rows[m].update(gain=sig.mean_test(d, 0.0, "greater"), vanish=sig.mean_test(d, margins.sesoi, "less"),
                       keep=sig.contrast_test(d, conf, margins.ratio_floor, "greater"),
                       drop=sig.contrast_test(d, conf, 1.0, "less"))
    tested = {m: r for m, r in rows.items() if "gain" in r}
    for key in ("gain", "vanish", "keep", "drop"):
        _adjust(tested, key, margins.correction)
    k = max(len(tested), 1)
    for m, r in rows.items():
        c, p = r["lab"]["confirmation"], r["production"]
        if m in tested:  # the lab SD from all lab seeds: 2x the seeds are less noisy; the selection lowers it a
            # little (RMS 0.213 where a lab gain was established vs 0.240 where not: docs/analysis.md, issue 24)
            r["power"] = pw.production_power(c["mean"], r["lab"]["all"]["sd"], c["n"], p["sd"], p["n"], margins, k,
                                             rng_seed, sd_df=p["n"] - 1, lab_sd_df=r["lab"]["all"]["n"] - 1)
        else:
            r["power"] = {v: {"scenario": s[0], "achieved": float("nan"), "seeds_needed": None,
                              "note": "no lab gain to transfer"} for v, s in pw.SCENARIOS.items()}
        r["verdict"], r["reason"] = _transfer_decide(r, margins, undefined)
    return rows


def _transfer_decide(r: dict, margins: Margins, undefined: str | None) -> tuple[str, str]:
    lvl = margins.level
    if undefined:
        return "inconclusive", f"rule 1: {undefined}"
    if "gain" not in r:
        return NOT_TESTED, f"no lab gain to transfer ({r['lab']['verdict']}: {r['lab']['reason']})"
    flags = {k: _sig(r[k]["p_adj"], lvl) for k in ("vanish", "gain", "keep", "drop")}
    verdict = str(classify(flags["vanish"], flags["gain"], flags["keep"], flags["drop"]))
    p, lab_mean = r["production"]["mean"], r["lab"]["confirmation"]["mean"]
    ps = {k: f"{r[k]['p_adj']:.3g}" for k in flags}
    if verdict == "vanishes":
        return verdict, (f"rule 2: production ΔPGR {p:+.3f} < SESOI {margins.sesoi:g} (one-sided adj. p "
                         f"{ps['vanish']})")
    if verdict == "survives":
        return verdict, (f"rule 3: production ΔPGR {p:+.3f} > 0 (adj. p {ps['gain']}) and kept more than "
                         f"{margins.ratio_floor:g} x the lab effect {lab_mean:+.3f} (adj. p {ps['keep']})")
    if verdict == "attenuated":
        return verdict, (f"rule 4: production ΔPGR {p:+.3f} > 0 (adj. p {ps['gain']}) but below the lab effect "
                         f"{lab_mean:+.3f} (adj. p {ps['drop']})")
    need = "; ".join(f"{v} {_pct(e['achieved'])} (for {margins.power:.0%}: {_seeds(e)})" for v, e in r["power"].items())
    return verdict, (f"rule 5: production ΔPGR {p:+.3f}; gain adj. p {ps['gain']}, below-SESOI adj. p {ps['vanish']}, "
                     f"keep adj. p {ps['keep']}, drop adj. p {ps['drop']}; power of this replay if production had "
                     f"full / floor / no transfer: {need}")


def _seeds(e: dict) -> str:
    if e["seeds_needed"]:
        return f"{e['seeds_needed']} production seeds"
    both = e.get("seeds_needed_lab_and_production")
    return (f"out of reach with these lab seeds; {both} confirmation + {both} production seeds" if both
            else "out of reach")


def _pct(x) -> str:
    return "--" if x is None or not np.isfinite(x) else f"{x:.2f}"
