"""`make replay LAB=<lab study> SETTING=<production setting>`: lab winners -> plan -> production sweep -> report.

1. Read the lab study (analysis/) and select winners by the declared rule; write the transfer plan (transfer/plan.py).
2. Attach the plan to the production study's parent run (refused if results exist under another plan).
3. Build the production cells from the plan (transfer.grid.from_plan: its exact method configs, the lab's head and
   splits) and run them through transfer.sweep (finished cells are skipped: a rerun runs nothing new).
4. Build the report with the plan's tests, alpha and SESOI; it shows the plan's sha256.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from transfer import paths, plan as plans
from transfer.errors import ConfigError, TransferError


def lab_cells(client, runs) -> list[dict]:
    """Lab cells with their cell_config.json (None for imported studies, which have none)."""
    import tempfile

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in runs.itertuples():
            names = {a.path for a in client.list_artifacts(r.run_id)}
            cfg = None
            if "cell_config.json" in names:
                cfg = json.loads(Path(client.download_artifacts(r.run_id, "cell_config.json", tmp)).read_text())
                cfg = cfg if isinstance(cfg, dict) and "method" in cfg else None  # not a harness cell config
            out.append({"method": r.method, "seed": int(r.seed), "config": cfg})
    return out


def make_plan(rcfg: dict, uri: str) -> tuple[dict, object]:
    from mlflow.tracking import MlflowClient

    from analysis.analyze import analyze
    from analysis.config import load_config
    from analysis.load import load_study

    acfg = load_config(list(rcfg["analysis"]) + [f"lab_setting={rcfg['lab_setting']}",
                                                 f"production_setting={rcfg['setting']}"])
    lab = load_study(rcfg["lab"], uri)
    res = analyze(lab, acfg)
    groups = [g for g in res["groups"] if g["setting"] == rcfg["lab_setting"]]
    if rcfg.get("lab_dataset"):
        groups = [g for g in groups if g["dataset"] == rcfg["lab_dataset"]]
    if len(groups) != 1:
        raise ConfigError(f"lab study {rcfg['lab']!r}: {len(groups)} (setting={rcfg['lab_setting']}) groups "
                          f"{[g['dataset'] for g in groups]}; pick one with replay.lab_dataset=<dataset>")
    g = groups[0]
    cells = lab.cells[(lab.cells.setting == g["setting"]) & (lab.cells.dataset == g["dataset"])]
    acfg["lab_dataset"] = g["dataset"]
    return plans.build_plan(rcfg, acfg, g, lab_cells(MlflowClient(uri), cells)), lab


def summary(plan: dict, sha: str) -> str:
    lines = [f"[replay] plan {sha} (lab {plan['lab_study']} / {plan['lab_dataset']} -> {plan['production_setting']})"]
    for m in plan["methods"]:
        lab = m["lab"] or {}
        eff = f"{lab['verdict']}; confirmation-seed dPGR {lab['delta_pgr']:+.3f}" \
            if lab.get("delta_pgr") is not None else "lab dPGR undefined" if m["lab"] else ""
        lines.append(f"[replay]   {m['name']:<16} {m['role']:<24} {eff}")
    a = plan["analysis"]
    lines.append(f"[replay]   seeds {plan['seeds']} ({plan['power']['why']}); alpha {a['alpha']}, SESOI "
                 f"{a['sesoi']}, ratio floor {a['ratio_floor']}, {a['correction']}")
    lines += [f"[replay]   note: {n}" for n in plan["notes"]]
    return "\n".join(lines)


def run_replay(rcfg: dict) -> int:
    """rcfg: the `replay` section of conf/replay/default.yaml, resolved. Returns a process exit code."""
    from transfer.data.check import check_datasets
    from transfer.grid import from_plan
    from transfer.sweep import run_sweep
    from transfer.tracking import StudyTracker

    rcfg = {**rcfg, "study": rcfg.get("study") or f"{rcfg['lab']}-replay-{rcfg['setting']}"}
    uri = rcfg.get("tracking_uri") or paths.default_tracking_uri()
    plan, lab = make_plan(rcfg, uri)
    if "stop" in plan:
        print(f"[replay] stopped: {plan['stop']} (replay.select.if_none=stop)", flush=True)
        return 3
    sha = plans.sha256(plan)
    print(summary(plan, sha), flush=True)
    sweep = from_plan(plan, rcfg["study"], uri, rcfg.get("runtime", []))  # the plan's exact configs, validated here
    print(f"[replay] datasets: lab {plan['lab_dataset']!r} -> production "
          f"{sorted({c.dataset for c in sweep.cells})} ({plan['production_setting']})", flush=True)
    check_datasets(sweep.cells)  # bad data: one line before the tracker, Ray or a vLLM server start
    tracker = StudyTracker(rcfg["study"], uri)
    retry = (f"make replay LAB={rcfg['lab']} SETTING={rcfg['setting']} REPLAY_ARGS='replay.study=<new name>'")
    plans.register(tracker.client, tracker.experiment_id, tracker.parent_id, rcfg["study"], plan, retry)
    sweep.base["runtime"]["plan_sha256"] = sha
    failures = run_sweep(sweep)
    if failures:  # a method that fails on some seed (e.g. too few confident labels) must not hide the others
        print(f"[replay] {failures} cells failed (above): the report covers the finished cells and shows each "
              f"method's seed count; rerunning the same command retries only the failed ones", flush=True)
    from analysis.report import build

    out = Path(rcfg["report_dir"])
    if not out.is_absolute() and os.environ.get("TRANSFER_SUBMIT_CWD"):  # inside a Ray Job: the submitter's folder
        out = Path(os.environ["TRANSFER_SUBMIT_CWD"]) / out
    dest = build(rcfg["study"], lab=rcfg["lab"], tracking_uri=uri, out=str(out), plan=plan)
    res = json.loads((dest / "results.json").read_text())
    for c in res["comparisons"]:
        print(f"[replay] verdict {c['method']:<16} {c['verdict']:<12} {c['reason']}", flush=True)
    print(f"[replay] report: {dest / 'report.md'} (plan {sha})", flush=True)
    return 1 if failures else 0


def main(rcfg: dict) -> int:
    try:
        return run_replay(rcfg)
    except (TransferError, ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
