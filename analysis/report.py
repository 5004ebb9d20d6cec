"""The report's text: a study's analysis (analysis/analyze.py) rendered as markdown, and as plain JSON values.
The job that loads a study, writes the report's files and logs the verdicts is jobs/report.py (`make report`)."""

from __future__ import annotations

import math

import numpy as np

from analysis import datasets, tables
from analysis.estimates import GAP_TOO_SMALL
from analysis.format import ci, num, pval
from analysis.ladder_outcome import outcome_markdown
from analysis.search import family_line
from analysis.headline import headline
from analysis.rules import NOT_TESTED
from analysis.verdicts import LAB_MEANINGS, LAB_RULES, TRANSFER_MEANINGS

# measured by benchmarks/ci_coverage.py; docs/analysis.md has the table
COVERAGE_NOTE = ("95% Fieller intervals of ΔPGR covered 0.946-0.953, of PGR 0.941-0.962, at 5, 10 and 20 seeds "
                 "(2,000-4,000 simulated studies per row), with each seed's own test split or one shared by all; "
                 "percentile intervals 0.82-0.95")


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(x) or math.isinf(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    return x


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def _summary(res: dict) -> list[str]:
    lines, flagged = [], {m for g in res["groups"] for m in g.get("data_issues", {})}
    for c in res["comparisons"]:
        lines.append(f"- **{c['method']}** ({c['prod_dataset']}): **{c['verdict']}** ({c['lab_verdict']}). Lab ΔPGR "
                     f"(confirmation seeds) {num(c['lab_effect']['mean'])}, production ΔPGR "
                     f"{num(c['prod_delta']['estimate'])} {ci(c['prod_delta']['ci'])}; {c['reason']}."
                     + (" *Caveat: its records are flagged (see Caveats).*" if c["method"] in flagged else ""))
    return lines


def _lab_summary(res: dict) -> list[str]:
    return [f"- **{m}** ({g['setting']} / {g['dataset']}): **{v['verdict']}**: {v['reason']}."
            + (" *Caveat: its records are flagged (see Caveats).*" if m in g.get("data_issues", {}) else "")
            for g in res["groups"] for m, v in g.get("lab_verdicts", {}).items()]


def _curse_section(res: dict, level: int) -> list[str]:
    """How big the lab's search was, and the naive best of it beside the estimates that were not selected on."""
    fams = [(g, g["family"]) for g in res["groups"] if g.get("family") and g.get("lab_verdicts")]
    lines = [f"- **{g['setting']} / {g['dataset']}**: best of {family_line(f)}; the lab-gain test is adjusted "
             f"across all {f['size']} ({res['config']['correction']})." for g, f in fams]
    return ["## The lab's search and the winner's curse", "", *lines, "",
            _md_table(tables.CURSE_HEAD, tables.curse_rows(res)), "",
            f"Per lab: every variant with an established lab gain (else the best on the discovery seeds, which the "
            f"harness would carry forward) and the naive pick, the best mean ΔPGR over all seeds (what a search "
            f"reports as its winner; rank = its place by that mean). Naive = that mean with its unadjusted {level}% "
            f"t interval; confirmation = the seeds that did not select it (not so for a naive pick only: it was "
            f"chosen on them too); production = the replay's estimate. A naive estimate well above the other two is "
            f"the winner's curse.", ""]


def _recipe_lines(res: dict) -> list[str]:
    """How the weak teacher and the ceiling were fitted: each role's L2 penalty, chosen per seed by CV on its own
    training gold (transfer/roles.py), so a reader can see the ceiling was the strong model's best, not a default."""
    rows = []
    for g in res["groups"]:
        r = g.get("recipe") or {}
        if r:
            rows.append([f"{g['setting']} / {g['dataset']}", *[
                f"{r[k]['median']:g} ({r[k]['min']:g}–{r[k]['max']:g})" if k in r else "—"
                for k in ("roles_teacher_l2", "roles_ceiling_l2")]])
    if not rows:
        return []
    return ["Each role's L2 penalty, chosen per seed by k-fold CV (`roles.cv`) on its own training gold (teacher: "
            "`train_label`, ceiling: `train_unlabel`; test never read), median (range) over seeds:", "",
            _md_table(["setting / dataset", "weak teacher l2", "ceiling l2"], rows), ""]


def _caveats(res: dict) -> list[str]:
    return [f"- **{m}** ({g['setting']} / {g['dataset']}, study {g['study']}): " + "; ".join(issues)
            for g in res["groups"] for m, issues in g.get("data_issues", {}).items()]


def _wilcoxon_notes(res: dict) -> list[str]:
    small = sorted({t["n_pairs"] for g in res["groups"] for t in g["tests"].values() if 0 < t["n_pairs"] < 6})
    return [f"With {n} paired seeds the exact Wilcoxon signed-rank test cannot give a two-sided p below "
            f"{2 / 2 ** n:.4f}." for n in small]


def _plan_lines(res: dict) -> list[str]:
    p, cfg = res["plan"], res["config"]
    where = f" on `{p['lab_dataset']}` -> production on {', '.join(f'`{d}`' for d in p['production_datasets'])}" \
        if p.get("production_datasets") else ""
    return [f"**Pre-registered transfer plan** `{p['sha256']}` (lab study `{p['lab_study']}`{where}): methods "
            + ", ".join(f"`{m}` ({r})" for m, r in p["methods"].items()) + f"; seeds {p['seeds']}; "
            f"alpha {cfg['alpha']}, SESOI {cfg['sesoi']} PGR, {cfg['correction']} correction. Tests, fixed "
            "before any production cell ran: " + "; ".join(p["tests"]) + ".", ""]


def _transfer_table(res: dict) -> list[str]:
    """The transfer verdicts; without a single tested method its p-value and power columns would be all dashes, so
    they are left out and one line says why."""
    cfg, level = res["config"], int(round(100 * (1 - res["config"]["alpha"])))
    head, rows = tables.VERDICT_HEAD, tables.verdict_rows(res)
    if not any(c["tests"] for c in res["comparisons"]):
        keep = [h for h in head if not h.startswith(("p ", "power", "ratio"))]
        head, rows = keep, [[r[head.index(h)] for h in keep] for r in rows]
        note = (f"No transfer test ran: no method had an established lab gain, so every verdict is '{NOT_TESTED}' "
                f"(p-values, ratio and power columns omitted). The production ΔPGR and its {level}% CI are "
                f"descriptive.")
    else:
        note = (f"One-sided p-values, adjusted across the methods with a lab gain ({cfg['correction']}), decided at "
                f"alpha/2 = {cfg['alpha'] / 2:g}: p gain (production ΔPGR > 0), p keep (ΔPGR_prod - "
                f"{cfg['ratio_floor']} x ΔPGR_lab > 0), p drop (ΔPGR_prod - ΔPGR_lab < 0), p < SESOI (ΔPGR_prod < "
                f"{cfg['sesoi']}). The ratio's interval is Fieller's ({level}%, unadjusted). Power S / A / V: the "
                f"probability that a study of these seed counts reaches survives / attenuated / vanishes if "
                f"production kept all / {cfg['ratio_floor']} / none of the lab effect; '--' where no test ran.")
    return ["### Did the lab gains survive in production?", "", _md_table(head, rows), "", note, ""]


def markdown(res: dict, figs: list[str]) -> str:
    """The answer first (analysis/headline.py), then the tables and figures, then the verdicts method by method,
    then the plan, what the verdicts mean and how they were reached."""
    cfg, level = res["config"], int(round(100 * (1 - res["config"]["alpha"])))
    title = res["study"] + (f" (lab: {res['lab_study']})" if res["lab_study"] else "")
    has_lab = any(g.get("lab_verdicts") for g in res["groups"])
    out = [f"# Transfer report: {title}", "", *headline(res),
           f"Generated {res['generated_at']} by `python -m jobs.report` from the MLflow records alone. "
           f"Every number here is in `results.json`; the plan, what each verdict means and the rules are at the end.",
           ""]
    gaps = [[f"{g['setting']} / {g['dataset']}", g["study"], num(g["weak_acc"]), num(g["ceiling_acc"]),
             num(g["gap"]["estimate"]), ci(g["gap"]["ci"]), str(g["n_baseline_seeds"]), f"{g['n_test']:.0f}",
             "yes" if g["gap"]["defined"] else "**no: gap too small**"] for g in res["groups"]]
    out += ["## Results", "", f"### PGR per method ({level}% CI over seeds, unadjusted)", "",
            _md_table(tables.PGR_HEAD, tables.pgr_rows(res)), "", tables.PGR_NOTE, ""]
    if any(g["delta"] for g in res["groups"]):
        out += [f"### Gain over `{cfg['baseline_method']}` (ΔPGR, paired by seed)", "",
                _md_table(tables.DELTA_HEAD, tables.delta_rows(res)), "",
                f"Two-sided p-values: paired t-test and Wilcoxon signed-rank over all seeds, adjusted across methods "
                f"({cfg['correction']}). The CIs are Fieller's {level}% intervals of the ratio (mean difference / gap, the "
                f"gap's noise counted), which exclude 0 exactly when the unadjusted paired t-test rejects; they are "
                f"*not* adjusted for multiplicity: a CI can exclude 0 while the adjusted p is above {cfg['alpha']}. These two-sided tests "
                f"describe; the verdicts use the one-sided tests below.", *_wilcoxon_notes(res), ""]
    if res["comparisons"]:
        out += _transfer_table(res)
    if has_lab:
        out += ["### Lab verdicts", "", _md_table(tables.LAB_HEAD, tables.lab_rows(res)), "",
                f"One-sided p-values, adjusted across the lab's search ({cfg['correction']}; its size: "
                f"'The lab's search' below), decided at alpha/2 = "
                f"{cfg['alpha'] / 2:g}: p gain on the discovery seeds, p < SESOI on all seeds. Power (gain): of the "
                f"discovery-seed test for the mean ΔPGR of all lab seeds; seeds for gain: lab seeds in all (half "
                f"decide) for {cfg['power']:.0%} power.", ""]
    out += ["### Weak teacher, ceiling and gap", "",
            _md_table(["setting / dataset", "study", "weak acc", "ceiling acc", "gap", f"{level}% CI", "seeds",
                       "test n", "PGR defined"], gaps), "",
            f"PGR is reported only where the gap's {level}% CI excludes 0 (otherwise: {GAP_TOO_SMALL}).", "",
            *_recipe_lines(res)]
    mc = [(g, m, t) for g in res["groups"] for m, t in g["tests"].items() if t.get("mcnemar")]
    if mc:
        rows = [[f"{g['setting']} / {g['dataset']}", m,
                 f"{sum(r['p'] < cfg['alpha'] for r in t['mcnemar'])}/{len(t['mcnemar'])}",
                 ", ".join(pval(r["p"]) for r in t["mcnemar"])] for g, m, t in mc]
        out += ["McNemar tests on paired per-example predictions within each seed (unadjusted; they test that "
                "seed's trained models on that test set, not the method across seeds):", "",
                _md_table(["setting / dataset", "method", f"seeds with p < {cfg['alpha']}", "p per seed"], rows), ""]
    out += datasets.markdown(res)  # method × dataset, and the meta-analysis across datasets
    for f in figs:
        if f.endswith(".png"):
            out += [f"![{f}](figures/{f})", ""]
    if res["comparisons"]:
        out += ["## Verdicts, method by method", "", *_summary(res), ""]
    if res.get("ladder"):  # a plan with a ladder forecast (docs/ladder.md): forecast beside outcome
        out += outcome_markdown(res["plan"]["ladder"], res["ladder"])
    if has_lab:
        out += ["## Lab verdicts, method by method", "", *_lab_summary(res), ""]
    if res.get("winners_curse"):
        out += _curse_section(res, level)
    if _caveats(res):
        out += ["## Caveats: data issues flagged on the records", "",
                "Every number of these methods below rests on records with these issues:", "", *_caveats(res), ""]
    out += ["## The plan and what the verdicts mean" if res.get("plan") else "## What the verdicts mean", ""]
    if res.get("plan"):
        out += _plan_lines(res)
    meanings = (TRANSFER_MEANINGS if res["comparisons"] else []) + (LAB_MEANINGS if has_lab else [])
    if meanings:
        out += ["Verdicts are on the PGR scale; what each means:", "", *[f"- {v}" for v in meanings], ""]
    out += ["## Methods", "",
            f"**Estimators.** Study-level PGR = (mean w2s acc - W) / (C - W), W and C the seed means of the weak "
            f"teacher and ceiling accuracies. Seeds are the unit of inference: each seed draws its own split, so its "
            f"test-sampling noise is in the seed-to-seed spread. ΔPGR vs {cfg['baseline_method']} = mean over seeds of "
            f"(w2s_method - w2s_baseline) / (C - W), paired by seed. "
            + ("CIs of PGR and ΔPGR are Fieller's: the ratios r that a seed-level t-test of numerator - r × gap "
               "= 0 does not reject, so the gap's own noise is in them (none when the gap's CI includes 0); the "
               "gap's CI is estimate ± t(seeds - 1) × its SE over seeds. "
               if cfg["ci_method"] == "t" else
               f"CIs are percentiles of a bootstrap over seeds ({cfg['bootstrap']} replicates). ")
            + f"Measured coverage on simulated studies is in docs/analysis.md ({COVERAGE_NOTE}).", "",
            f"**Verdict tests.** Per-seed ΔPGR, one-sided t-tests at alpha/2 = {cfg['alpha'] / 2:g} (a gain is "
            f"established exactly when the {level}% CI excludes 0; the tests against SESOI take the pooled gap as "
            f"known), adjusted across methods ({cfg['correction']}). "
            f"Lab seeds are split: discovery seeds (1st, 3rd, ... in sorted order) decide whether a lab gain is "
            f"established; confirmation seeds (2nd, 4th, ...) estimate the lab effect that production is compared "
            f"with, which is therefore not the winner's-curse estimate of the seeds that selected it. "
            + ("Lab and production seeds are independent samples: the comparisons are Welch t-tests. "
               if res["comparisons"] else "")
            + f"SESOI = {cfg['sesoi']} PGR"
            + (f", ratio floor = {cfg['ratio_floor']}" if res["comparisons"] else "") + ". Power is the rate at which the whole procedure reaches a "
            f"verdict on simulated samples of the study's sizes, at the Bonferroni level (never above Holm's), "
            f"corrected to second order for the noise in the lab effect it plugs in (analysis/power.py); "
            f"benchmarks/verdicts.py measures its calibration.", "",
            "**Verdict rules**:", "", res["rules"] if res["comparisons"] else LAB_RULES, ""]
    if res["notes"]:
        out += ["## Limitations of these records", "", *[f"- {n}" for n in res["notes"]], ""]
    return "\n".join(out)
