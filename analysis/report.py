"""`python -m analysis.report --study NAME [--lab LAB_STUDY]`: reports/<study>/ report.md, results.json,
tables/*.tex, figures/*.png|pdf; the verdict table is also logged to the study's parent MLflow run."""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from analysis import figures, tables
from analysis.analyze import analyze
from analysis.config import load_config
from analysis.estimates import GAP_TOO_SMALL
from analysis.format import ci, num, pval
from analysis.load import StudyError, load_study


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(x) or math.isinf(x) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def _summary(res: dict) -> list[str]:
    lines = []
    for c in res["comparisons"]:
        lines.append(f"- **{c['method']}** ({c['prod_dataset']}): **{c['verdict']}**. Lab ΔPGR "
                     f"{num(c['lab_delta']['estimate'])} {ci(c['lab_delta']['ci'])}, production ΔPGR "
                     f"{num(c['prod_delta']['estimate'])} {ci(c['prod_delta']['ci'])} (adj. p {pval(c['p_prod_adj'])}); "
                     f"{c['reason']}.")
    return lines


def markdown(res: dict, figs: list[str]) -> str:
    cfg, level = res["config"], int(round(100 * (1 - res["config"]["alpha"])))
    title = res["study"] + (f" (lab: {res['lab_study']})" if res["lab_study"] else "")
    out = [f"# Transfer report: {title}", "",
           f"Generated {res['generated_at']} by `python -m analysis.report` from the MLflow records alone. "
           f"Every number here is in `results.json`.", ""]
    if res.get("plan"):
        p = res["plan"]
        out += [f"**Pre-registered transfer plan** `{p['sha256']}` (lab study `{p['lab_study']}`): methods "
                + ", ".join(f"`{m}` ({r})" for m, r in p["methods"].items()) + f"; seeds {p['seeds']}; "
                f"alpha {cfg['alpha']}, SESOI {cfg['sesoi']} PGR, {cfg['correction']} correction. Tests, fixed "
                "before any production cell ran: " + "; ".join(p["tests"]) + ".", ""]
    if res["comparisons"]:
        out += ["## Summary", "", *_summary(res), ""]
    gaps = [[f"{g['setting']} / {g['dataset']}", g["study"], num(g["weak_acc"]), num(g["ceiling_acc"]),
             num(g["gap"]["estimate"]), ci(g["gap"]["ci"]), str(g["n_baseline_seeds"]), f"{g['n_test']:.0f}",
             "yes" if g["gap"]["defined"] else "**no: gap too small**"] for g in res["groups"]]
    out += ["## Results", "", "### Weak teacher, ceiling and gap", "",
            _md_table(["setting / dataset", "study", "weak acc", "ceiling acc", "gap", f"{level}% CI", "seeds",
                       "test n", "PGR defined"], gaps), "",
            f"PGR is reported only where the gap's {level}% CI excludes 0 (otherwise: {GAP_TOO_SMALL}).", "",
            f"### PGR per method ({level}% hierarchical-bootstrap CI)", "",
            _md_table(tables.PGR_HEAD, tables.pgr_rows(res)), ""]
    if any(g["delta"] for g in res["groups"]):
        out += [f"### Gain over `{cfg['baseline_method']}` (ΔPGR, paired by seed)", "",
                _md_table(tables.DELTA_HEAD, tables.delta_rows(res)), "",
                f"p-values: paired t-test and Wilcoxon signed-rank over seeds, adjusted across methods ({cfg['correction']}).",
                ""]
        mc = [(g, m, t) for g in res["groups"] for m, t in g["tests"].items() if t.get("mcnemar")]
        if mc:
            rows = [[f"{g['setting']} / {g['dataset']}", m,
                     f"{sum(r['p'] < cfg['alpha'] for r in t['mcnemar'])}/{len(t['mcnemar'])}",
                     ", ".join(pval(r["p"]) for r in t["mcnemar"])] for g, m, t in mc]
            out += ["McNemar tests on paired per-example predictions within each seed (unadjusted; they test that "
                    "seed's trained models on that test set, not the method across seeds):", "",
                    _md_table(["setting / dataset", "method", f"seeds with p < {cfg['alpha']}", "p per seed"], rows), ""]
    if res["comparisons"]:
        out += ["### Did the lab gains survive in production?", "",
                _md_table(tables.VERDICT_HEAD, tables.verdict_rows(res)), "",
                "Reasons:", "", *[f"- {c['method']}: {c['reason']}" for c in res["comparisons"]], "",
                "Shrinkage test used: " + "; ".join(sorted({c["shrinkage"].get("test", "") for c in res["comparisons"]}))
                + ".", ""]
    for f in figs:
        if f.endswith(".png"):
            out += [f"![{f}](figures/{f})", ""]
    out += ["## Methods", "",
            f"**Estimators.** Study-level PGR = (mean w2s acc - W) / (C - W), W and C the seed means of the weak "
            f"teacher and ceiling accuracies. {level}% CIs come from a hierarchical bootstrap ({cfg['bootstrap']} "
            f"replicates): resample seeds, then test examples within each drawn seed (rows of one seed share the "
            f"example resample, which keeps method-vs-baseline pairs paired). "
            + ("Intervals are estimate ± t(seeds - 1) × bootstrap SE. " if cfg["ci_method"] == "t" else
               "Intervals are bootstrap percentiles; on simulated studies with known truth they cover at the "
               "nominal rate (benchmarks/ci_coverage.py, docs/analysis.md). ")
            + "Per-seed PGR and ΔPGR use the pooled denominator C - W; the transfer ratio ΔPGR_production / "
            "ΔPGR_lab has a percentile CI from independent bootstraps and is reported only when the lab ΔPGR CI "
            "excludes 0.", "",
            f"**Tests.** Paired t-test and Wilcoxon signed-rank over seeds; McNemar within seed on per-example "
            f"predictions; the shrinkage test is the method × setting interaction of a per-example logit model with "
            f"seed fixed effects and two-way cluster-robust SEs (seed, example) when both settings have "
            f"predictions, else a seed-level Welch t-test of ΔPGR; TOST equivalence with bounds ±{cfg['sesoi']} PGR "
            f"(SESOI); power of a paired t-test to detect the lab ΔPGR at the production per-seed SD "
            f"(statsmodels), with the seeds that {cfg['power']:.0%} power needs. Multiplicity: "
            f"{cfg['correction']} across methods within each family. alpha = {cfg['alpha']}.", "",
            "**Verdict rules** (first match decides):", "", res["rules"], ""]
    if res["notes"]:
        out += ["## Limitations of these records", "", *[f"- {n}" for n in res["notes"]], ""]
    return "\n".join(out)


def log_to_mlflow(res: dict, study, out: Path) -> str | None:
    """Verdict table (+ report and results) on the study's parent run, visible next to its cells in the UI."""
    if study.parent_run_id is None:
        return "no parent run (tag transfer.role=study): verdicts not logged to MLflow"
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient(res["tracking_uri"])
    rows = [{"dataset": c["prod_dataset"], "method": c["method"], "verdict": c["verdict"],
             "lab_delta_pgr": c["lab_delta"]["estimate"], "prod_delta_pgr": c["prod_delta"]["estimate"],
             "p_prod_adj": c["p_prod_adj"], "p_shrink_adj": c["p_shrink_adj"], "p_equiv_adj": c["p_equiv_adj"],
             "power": c["power"]["achieved"], "reason": c["reason"]} for c in res["comparisons"]]
    mlflow.set_tracking_uri(res["tracking_uri"])
    if rows:
        mlflow.log_table(_jsonable({k: [r[k] for r in rows] for k in rows[0]}), "analysis/verdicts.json",
                         run_id=study.parent_run_id)
        client.set_tag(study.parent_run_id, "analysis.verdicts",
                       ", ".join(f"{r['method']}={r['verdict']}" for r in rows)[:5000])
    for f in ("report.md", "results.json"):
        client.log_artifact(study.parent_run_id, str(out / f), "analysis")
    return None


def build(study_name: str, lab: str | None = None, tracking_uri: str | None = None, out: str = "reports",
          overrides: list[str] | None = None, log: bool = True, plan: dict | None = None) -> Path:
    """A study with a transfer plan (tag plan_sha256, docs/replay.md) is analysed with the plan's settings only."""
    if tracking_uri is None:
        from transfer.paths import default_tracking_uri

        tracking_uri = default_tracking_uri()
    study = load_study(study_name, tracking_uri)
    plan, sha = _plan(study, tracking_uri, plan)
    cfg = load_config(overrides if plan is None else _plan_settings(plan, sha, overrides))
    lab_study = load_study(lab or (plan or {}).get("lab_study"), tracking_uri) if lab or plan else None
    res = analyze(study, cfg, lab_study)
    res["tracking_uri"] = tracking_uri
    if plan is not None:
        res["plan"] = {"sha256": sha, "methods": {m["name"]: m["role"] for m in plan["methods"]},
                       "seeds": plan["seeds"], "tests": plan["tests"], "lab_study": plan["lab_study"]}
    dest = Path(out) / study_name
    figs = figures.forest(res, dest / "figures") + figures.scatter(res, dest / "figures") + \
        figures.strip(res, dest / "figures")
    res["files"] = {"tables": tables.write_tables(res, dest / "tables"), "figures": figs}
    (dest / "report.md").write_text(markdown(res, figs))
    (dest / "results.json").write_text(json.dumps(_jsonable(res), indent=1, allow_nan=False))
    if log:
        msg = log_to_mlflow(res, study, dest)
        if msg:
            print(msg, file=sys.stderr)
    return dest


def _plan(study, tracking_uri: str, plan: dict | None) -> tuple[dict | None, str | None]:
    """The plan given, else the one stored on the study's parent run; its hash must match the study's tag."""
    from transfer import plan as plans

    tag = study.tags.get(plans.PLAN_TAG)
    if plan is None and tag and study.parent_run_id:
        from mlflow.tracking import MlflowClient

        plan = plans.stored(MlflowClient(tracking_uri), study.parent_run_id)
    if plan is None:
        return None, None
    sha = plans.sha256(plan)
    if tag and tag != sha:
        raise ValueError(f"study {study.name!r} ran under plan {tag}, not the given plan {sha}")
    return plan, sha


def _plan_settings(plan: dict, sha: str, overrides: list[str] | None) -> list[str]:
    """The plan's analysis settings as overrides; a --set that contradicts the plan is an error."""
    fixed = {k: "null" if v is None else str(v) for k, v in plan["analysis"].items()}
    for o in overrides or []:
        k, _, v = o.partition("=")
        if k in fixed and v != fixed[k]:
            raise ValueError(f"{o!r} contradicts the transfer plan {sha[:12]} ({k}={fixed[k]}); the plan decides")
    return [f"{k}={v}" for k, v in fixed.items()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analysis.report", description=__doc__)
    ap.add_argument("--study", required=True, help="MLflow experiment name of the study (production or both)")
    ap.add_argument("--lab", help="a separate lab study to compare against (e.g. the imported AAR study)")
    ap.add_argument("--lab-dataset", help="which lab dataset to compare with when the lab study has several")
    ap.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI or sqlite:///<repo>/mlruns.db")
    ap.add_argument("--out", default="reports", help="output root; the report goes to OUT/<study>/")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override conf/analysis/default.yaml, e.g. --set alpha=0.1")
    ap.add_argument("--no-mlflow-log", action="store_true", help="do not log the verdicts to the parent run")
    a = ap.parse_args(argv)
    overrides = a.set + ([f"lab_dataset={a.lab_dataset}"] if a.lab_dataset else [])
    try:
        dest = build(a.study, a.lab, a.tracking_uri, a.out, overrides, log=not a.no_mlflow_log)
    except (StudyError, KeyError, ValueError, FileNotFoundError) as e:
        print(f"analysis.report: {e}", file=sys.stderr)
        return 2
    print(f"report: {dest / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
