"""`python -m jobs.report --study NAME [--lab LAB_STUDY]`: reports/<study>/ report.md, results.json,
tables/*.tex, figures/*.png|pdf; the verdict table is also logged to the study's parent MLflow run.

The job: load the study from the store, analyse it (analysis/), write the files and annotate the parent run. What the
report says is analysis/report.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from analysis import figures, tables
from analysis.analyze import analyze
from analysis.config import AnalysisError, load_config
from analysis.headline import plain
from analysis.ladder_outcome import outcome_rows
from analysis.ladder_report import outcome_figure
from analysis.load import StudyError, load_study
from analysis.report import jsonable, markdown
from jobs.ui_rows import log_rows
from transfer import store


def log_to_mlflow(res: dict, study, out: Path, lab_study=None) -> str | None:
    """Verdict table (+ report and results) on the study's parent run, visible next to its cells in the UI; the
    report's table as summary runs (jobs/ui_rows.py) in the study and, with a separate lab study, in that one too."""
    if study.parent_run_id is None:
        return "no parent run (tag transfer.role=study): verdicts not logged to MLflow"
    rows = [{"dataset": c["prod_dataset"], "method": c["method"], "lab_verdict": c["lab_verdict"],
             "verdict": c["verdict"], "lab_delta_pgr": c["lab_effect"]["mean"],
             "prod_delta_pgr": c["prod_delta"]["estimate"],
             **{f"p_{k}_adj": (c["tests"].get(k) or {}).get("p_adj") for k in ("gain", "keep", "drop", "vanish")},
             **{f"power_{v}": c["power"][v]["achieved"] for v in ("survives", "attenuated", "vanishes")},
             "reason": c["reason"]} for c in res["comparisons"]]
    tags = {store.NOTE: _note(res)}  # the run's description in the UI
    if rows:
        tags["analysis.verdicts"] = ", ".join(f"{r['method']}={r['verdict']}" for r in rows)
    lab = {f"{g['setting']}/{g['dataset']}/{m}": v["verdict"] for g in res["groups"]
           for m, v in g.get("lab_verdicts", {}).items()}
    if lab:
        tags["analysis.lab_verdicts"] = ", ".join(f"{k}={v}" for k, v in lab.items())
    store.annotate(store.client(res["tracking_uri"]), study.parent_run_id, tags, _summary_metrics(res),
                   [out / "report.md", out / "results.json"], "analysis",
                   {"analysis/verdicts.json": jsonable({k: [r[k] for r in rows] for k in rows[0]})} if rows else {})
    log_rows(res, [study, lab_study], f"make report STUDY={res['study']}", res["tracking_uri"])
    return None


def _summary_metrics(res: dict) -> dict[str, float]:
    """Per (setting, dataset, method): study-level PGR and ΔPGR as parent-run metrics (`summary.<...>`), so the
    parent run's chart and compare views show the study's result, not bookkeeping counts."""
    out = {}
    for g in res["groups"]:
        for m in g["methods"]:
            for name, est in (("pgr", g["pgr"][m]["estimate"]), ("delta_pgr", (g["delta"].get(m) or {}).get("estimate"))):
                if est is not None and math.isfinite(est):
                    out[f"summary.{g['setting']}.{g['dataset']}.{m}.{name}"] = float(est)
    return out


def _note(res: dict) -> str:
    lines = [f"**{res['study']}**: lab and transfer verdicts from `make report` ({res['generated_at']}).", ""]
    for g in res["groups"]:
        for m, v in g.get("lab_verdicts", {}).items():
            lines.append(f"- {g['setting']}/{g['dataset']} **{m}**: {v['verdict']}")
    lines += [f"- {c['prod_dataset']} **{c['method']}**: transfer **{c['verdict']}**" for c in res["comparisons"]]
    return "\n".join(lines)[:5000]


def build(study_name: str, lab: str | None = None, tracking_uri: str | None = None, out: str = "reports",
          overrides: list[str] | None = None, log: bool = True, plan: dict | None = None) -> Path:
    """A study with a transfer plan (tag plan_sha256, docs/replay.md) is analysed with the plan's settings only."""
    tracking_uri = store.uri(tracking_uri)
    study = load_study(study_name, tracking_uri)
    plan, sha = _plan(study, tracking_uri, plan)
    cfg = load_config(overrides if plan is None else _plan_settings(plan, sha, overrides))
    lab_study = load_study(lab or (plan or {}).get("lab_study"), tracking_uri) if lab or plan else None
    res = analyze(study, cfg, lab_study)
    res["tracking_uri"] = tracking_uri
    if plan is not None:
        res["plan"] = {"sha256": sha, "methods": {m["name"]: m["role"] for m in plan["methods"]},
                       "seeds": plan["seeds"], "tests": plan["tests"], "lab_study": plan["lab_study"],
                       "lab_dataset": plan.get("lab_dataset"), "production_datasets": plan.get("production_datasets")}
        if plan.get("ladder"):
            res["plan"]["ladder"] = plan["ladder"]
            res["ladder"] = outcome_rows(plan["ladder"], res)
    dest = Path(out) / study_name
    figs = figures.forest(res, dest / "figures") + figures.scatter(res, dest / "figures") + \
        figures.strip(res, dest / "figures") + figures.curse(res, dest / "figures")
    if res.get("ladder"):
        figs += outcome_figure(res["plan"]["ladder"], res["ladder"], dest / "figures")
    res["files"] = {"tables": tables.write_tables(res, dest / "tables"), "figures": figs}
    (dest / "report.md").write_text(markdown(res, figs))
    (dest / "results.json").write_text(json.dumps(jsonable(res), indent=1, allow_nan=False))
    if log:
        msg = log_to_mlflow(res, study, dest, lab_study)
        if msg:
            print(msg, file=sys.stderr)
    return dest


def _plan(study, tracking_uri: str, plan: dict | None) -> tuple[dict | None, str | None]:
    """The plan given, else the one stored on the study's parent run; its hash must match the study's tag."""
    tag = study.tags.get(store.PLAN_TAG)
    if plan is None and tag and study.parent_run_id:
        plan = store.stored_plan(store.client(tracking_uri), study.parent_run_id)
    if plan is None:
        return None, None
    sha = store.plan_sha256(plan)
    if tag and tag != sha:
        raise AnalysisError(f"study {study.name!r} ran under plan {tag}, not the given plan {sha}")
    return plan, sha


def _plan_settings(plan: dict, sha: str, overrides: list[str] | None) -> list[str]:
    """The plan's analysis settings as overrides; a --set that contradicts the plan is an error."""
    fixed = {k: "null" if v is None else str(v) for k, v in plan["analysis"].items()}
    for o in overrides or []:
        k, _, v = o.partition("=")
        if k in fixed and v != fixed[k]:
            raise AnalysisError(f"{o!r} contradicts the transfer plan {sha[:12]} ({k}={fixed[k]}); the plan decides")
    return [f"{k}={v}" for k, v in fixed.items()]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m jobs.report", description=__doc__)
    ap.add_argument("--study", required=True, help="MLflow experiment name of the study (production or both)")
    ap.add_argument("--lab", help="a separate lab study to compare against (e.g. the imported AAR study)")
    ap.add_argument("--lab-dataset", help="which lab dataset to compare with when the lab study has several")
    ap.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI or sqlite:///<repo>/mlruns.db")
    ap.add_argument("--out", default="reports", help="output root; the report goes to OUT/<study>/")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override conf/analysis/default.yaml, e.g. --set alpha=0.1")
    ap.add_argument("--no-mlflow-log", action="store_true", help="do not log the verdicts to the parent run")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    overrides = a.set + ([f"lab_dataset={a.lab_dataset}"] if a.lab_dataset else [])
    try:
        dest = build(a.study, a.lab, a.tracking_uri, a.out, overrides, log=not a.no_mlflow_log)
    except (StudyError, AnalysisError, FileNotFoundError) as e:  # a bug keeps its traceback
        print(f"jobs.report: {e}", file=sys.stderr)
        return 2
    answer = next((x for x in (dest / "report.md").read_text().splitlines() if x.startswith("**Answer.**")), None)
    if answer:  # the report's first screen, here too
        print(plain(answer))
    print(f"report: {dest / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
