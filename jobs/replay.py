"""Ray job entry point: replay a lab study's winners on a production setting under a pre-registered plan.

    python -m jobs.replay replay.lab=demo replay.setting=production
    python -m jobs.replay replay.lab=aar replay.lab_dataset=chat replay.setting=production
    python -m jobs.replay replay.lab=bb-epi replay.production_dataset=hh_harmless   # not the lab's own dataset
The arguments are Hydra overrides of conf/replay/default.yaml. With RAY_ADDRESS set, the command submits itself as a
Ray Job (jobs/submit.py) and streams its logs.

1. Read the lab study (analysis/) and select winners by the declared rule; write the transfer plan (jobs/plan.py).
   Production runs on the lab's dataset unless replay.production_dataset names another (jobs/plan.production_data).
2. Attach the plan to the production study's parent run (transfer.store; refused if results exist under another
   plan).
3. Build the production cells from the plan (jobs.grid.from_plan: its exact method configs, the lab's head and
   splits) and run them through jobs.driver (finished cells are skipped: a rerun runs nothing new).
4. Build the report (jobs.report) with the plan's tests, alpha and SESOI; it shows the plan's sha256.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from analysis.config import AnalysisError
from analysis.ladder_outcome import verdict_line
from jobs.driver import run_sweep
from jobs.compose import replay_config
from jobs.grid import from_plan
from jobs.plan import make_plan
from jobs.names import check_study
from jobs.preflight import check_datasets
from jobs.report import build
from jobs.submit import maybe_submit
from jobs.summary import summarize
from transfer import env, paths, store
from transfer.errors import TransferError
from transfer.store.writer import StudyWriter


def summary(plan: dict, sha: str) -> str:
    lines = [f"[replay] plan {sha} (lab {plan['lab_study']} / {plan['lab_dataset']} -> {plan['production_setting']} / "
             f"{', '.join(plan['production_datasets'])})"]
    width = max([16] + [len(m["name"]) for m in plan["methods"]])  # variant names (vanilla[student_l2=0.03]) are long
    for m in plan["methods"]:
        lab = m["lab"] or {}
        eff = f"{lab['verdict']}; confirmation-seed dPGR {lab['delta_pgr']:+.3f}" \
            if lab.get("delta_pgr") is not None else "lab dPGR undefined" if m["lab"] else ""
        lines.append(f"[replay]   {m['name']:<{width}} {m['role']:<24} {eff}")
    a = plan["analysis"]
    lines.append(f"[replay]   seeds {plan['seeds']} ({plan['power']['why']}); alpha {a['alpha']}, SESOI "
                 f"{a['sesoi']}, ratio floor {a['ratio_floor']}, {a['correction']}")
    lines += [f"[replay]   note: {n}" for n in plan["notes"]]
    for m, f in (plan.get("ladder") or {}).get("methods", {}).items():  # the ladder's forecast, fixed in the plan
        lines.append(f"[replay]   ladder forecast {m:<{width}} dPGR {f['delta_pgr']:+.3f} [{f['pi'][0]:+.3f}, "
                     f"{f['pi'][1]:+.3f}]; {verdict_line(f['verdicts'])}")
    return "\n".join(lines)


def replay(rcfg: dict) -> int:
    """rcfg: the `replay` section of conf/replay/default.yaml, resolved. Returns a process exit code."""
    rcfg = {**rcfg, "study": check_study(rcfg.get("study") or f"{rcfg['lab']}-replay-{rcfg['setting']}",
                                         "replay.study")}
    uri = rcfg.get("tracking_uri") or paths.default_tracking_uri()
    plan, lab = make_plan(rcfg, uri)
    if "stop" in plan:
        print(f"[replay] stopped: {plan['stop']} (replay.select.if_none=stop)", flush=True)
        return 3
    sha = store.plan_sha256(plan)
    print(summary(plan, sha), flush=True)
    sweep = from_plan(plan, rcfg["study"], uri, rcfg.get("runtime", []))  # the plan's exact configs, validated here
    ran = sorted({c.dataset for c in sweep.cells})
    if ran != plan["production_datasets"]:  # only runtime.* overrides reach here: a mismatch is a harness bug
        raise TransferError(f"production datasets {ran} differ from the plan's {plan['production_datasets']}")
    check_datasets(sweep.cells)  # bad data: one line before the tracker, Ray or a vLLM server start
    retry = (f"make replay LAB={rcfg['lab']} SETTING={rcfg['setting']} REPLAY_ARGS='replay.study=<new name>'")
    StudyWriter(rcfg["study"], uri).register_plan(plan, retry)
    sweep.base["runtime"]["plan_sha256"] = sha
    failures = run_sweep(sweep)
    print(summarize(rcfg["study"], uri), flush=True)
    if failures:  # a method that fails on some seed (e.g. too few confident labels) must not hide the others
        print(f"[replay] {failures} cells failed (above): the report covers the finished cells and shows each "
              f"method's seed count; rerunning the same command retries only the failed ones", flush=True)
    out = Path(rcfg["report_dir"])
    if not out.is_absolute() and os.environ.get("TRANSFER_SUBMIT_CWD"):  # inside a Ray Job: the submitter's folder
        out = Path(os.environ["TRANSFER_SUBMIT_CWD"]) / out
    dest = build(rcfg["study"], lab=rcfg["lab"], tracking_uri=uri, out=str(out), plan=plan)
    res = json.loads((dest / "results.json").read_text())
    width = max([16] + [len(c["method"]) for c in res["comparisons"]])
    for c in res["comparisons"]:
        print(f"[replay] verdict {c['method']:<{width}} {c['verdict']:<12} {c['reason']}", flush=True)
    print(f"[replay] report: {dest / 'report.md'} (plan {sha})", flush=True)
    return 1 if failures else 0


def run(rcfg: dict) -> int:
    try:
        return replay(rcfg)
    except (TransferError, AnalysisError, FileNotFoundError) as exc:  # a bug keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """The process exit code: 0 done, 1 some cells failed, 2 a one-line error, 3 stopped by the plan's rule."""
    argv = sys.argv[1:] if argv is None else list(argv)
    env.apply()
    if {"-h", "--help"} & set(argv):
        print(__doc__)
        return 0
    maybe_submit("jobs.replay", argv)  # with RAY_ADDRESS set: run as a Ray Job on that cluster, logs streamed here
    try:
        rcfg = replay_config(argv)
    except TransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,  # what @hydra.main's job logging showed
                        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    return run(rcfg)


if __name__ == "__main__":
    sys.exit(main())
