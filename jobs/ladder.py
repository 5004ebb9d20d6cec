"""The scale ladder: run a lab study's methods on strong models of increasing size (conf/ladder/<name>.yaml), then
forecast each method's production ΔPGR and transfer verdict before production runs (analysis/ladder.py).

    python -m jobs.ladder --lab demo --ladder cpu
    python -m jobs.ladder --lab demo --ladder cpu --methods vanilla,logconf --seeds 10 --override setting.data.max_pairs=300
    make ladder LAB=demo LADDER=cpu LADDER_ARGS="--methods vanilla,logconf"

1. Read and check the ladder (>= 3 rungs, sizes increasing, production larger still): one line naming the fix,
   before Ray or MLflow start.
2. Select the methods as a replay would (jobs/plan.py: the lab's winners, else its methods as controls, or
   --methods), with the lab's exact configs, head and data subset; every rung runs on the lab's dataset.
3. Register the ladder's plan (rungs, overrides, methods, seeds: hashed) on the ladder study's parent run: a study
   under a plan is no part of the lab's search (analysis/search.py), and a changed ladder is refused once results
   exist. Run every rung's cells in one sweep (jobs.driver): finished cells are skipped on a rerun.
4. Fit the forecast (analysis.ladder.forecast) and write reports/<study>/ladder.md, ladder.json and
   figures/ladder.png|pdf; the same files go to the parent run. `make replay ... REPLAY_ARGS=replay.ladder=<study>`
   puts the forecast into the replay's plan (jobs/plan.py), before any production cell runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from analysis.config import AnalysisError
from analysis.ladder import SHAPES
from analysis.ladder_outcome import verdict_line
from analysis.ladder_report import write
from jobs.driver import run_sweep
from jobs.grid import Sweep, from_plan
from jobs.ladder_plan import forecast_study
from jobs.plan import make_plan
from jobs.names import check_study
from jobs.preflight import check_datasets
from transfer import env, paths, store
from transfer.config import register_resolvers
from transfer.errors import ConfigError, TransferError
from transfer.store.writer import StudyWriter


def ladder_names() -> list[str]:
    return sorted(p.stem for p in (paths.config_dir() / "ladder").glob("*.yaml"))


def load_ladder(name: str) -> dict:
    """conf/ladder/<name>.yaml, checked, with each rung's and production's params from its model yaml."""
    path = paths.config_dir() / "ladder" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown ladder {name!r}; known: {ladder_names()} (conf/ladder/<name>.yaml)")
    lad = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    return check_ladder(lad, name)


def check_ladder(lad: dict, name: str) -> dict:
    where = f"conf/ladder/{name}.yaml"
    settings = sorted(p.stem for p in (paths.config_dir() / "setting").glob("*.yaml"))
    if lad.get("setting") not in settings:
        raise ConfigError(f"{where}: setting {lad.get('setting')!r} is not a conf/setting name; known: {settings}")
    rungs = list(lad.get("rungs") or [])
    if len(rungs) < 3:
        raise ConfigError(f"{where}: {len(rungs)} rung(s); a forecast needs at least 3 strong models of increasing "
                          f"size under `rungs:`")
    if not isinstance(lad.get("production"), dict) or not lad["production"].get("model"):
        raise ConfigError(f"{where}: no `production: {{model: <conf/model name>}}`: the size the forecast is for")
    for r in rungs + [lad["production"]]:
        r["params_m"] = r.get("params_m") or _params(r.get("model"), where)
    sizes = [r["params_m"] for r in rungs]
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        listed = ", ".join(f"{r['model']} {r['params_m']:g} M" for r in rungs)
        raise ConfigError(f"{where}: rungs must increase in size, in order; got {listed}")
    if lad["production"]["params_m"] <= sizes[-1]:
        raise ConfigError(f"{where}: production {lad['production'].get('model')} ({lad['production']['params_m']:g} M) "
                          f"must be larger than the last rung ({sizes[-1]:g} M): a forecast extrapolates upward")
    names = [r.get("name") for r in rungs]
    if len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"{where}: every rung needs its own `name` (its cells' setting tag); got {names}")
    if lad.setdefault("shape", "auto") not in SHAPES:
        raise ConfigError(f"{where}: shape {lad['shape']!r}: one of {list(SHAPES)} (auto: the line and a bend; "
                          f"line: the line alone, for rungs that differ in more than size)")
    lad.setdefault("overrides", [])
    lad.setdefault("seeds", 10)
    lad["production"].setdefault("seeds", 10)
    return lad


def _params(model: str | None, where: str) -> float:
    known = sorted(p.stem for p in (paths.config_dir() / "model").glob("*.yaml"))
    if model not in known:
        raise ConfigError(f"{where}: model {model!r} is not a conf/model name; known: {known}")
    p = OmegaConf.load(paths.config_dir() / "model" / f"{model}.yaml").get("params_m")
    if not p:
        raise ConfigError(f"{where}: conf/model/{model}.yaml has no params_m (the ladder's x axis)")
    return float(p)


def rung_overrides(lad: dict, rung: dict) -> list[str]:
    return [f"model@setting.strong={rung['model']}", f"setting.name={rung['name']}", *lad["overrides"],
            *rung.get("overrides", [])]


def ladder_plan(lad: dict, plan: dict) -> dict:
    """What the ladder study runs and how it is forecast: hashed before any rung's cell runs."""
    return {"version": 1, "kind": "ladder", "ladder": lad["name"], "lab_study": plan["lab_study"],
            "lab_dataset": plan["lab_dataset"], "base_setting": lad["setting"],
            "rungs": [{**r, "overrides": rung_overrides(lad, r)} for r in lad["rungs"]],
            "production": lad["production"], "shape": lad["shape"], "overrides": plan["overrides"],
            "methods": plan["methods"],
            "harness": plan["harness"], "seeds": plan["seeds"], "analysis": plan["analysis"],
            "notes": plan["notes"]}


def rung_sweeps(lplan: dict, study: str, uri: str):
    """One sweep over every rung's cells (jobs.grid.from_plan per rung, merged)."""
    merged = None
    for r in lplan["rungs"]:
        rp = {"production_setting": lplan["base_setting"], "overrides": [*lplan["overrides"], *r["overrides"]],
              "methods": lplan["methods"], "harness": lplan["harness"], "seeds": lplan["seeds"]}
        s = from_plan(rp, study, uri)
        if merged is None:
            merged = Sweep(s.base, list(s.cells), dict(s.templates))
        else:
            merged.cells += s.cells
            merged.templates.update({(r["name"], *k[1:]): v for k, v in s.templates.items()})
    merged.base["grid"]["settings"] = [r["name"] for r in lplan["rungs"]]
    return merged


def run(a: argparse.Namespace) -> int:
    t0 = time.time()
    lad = load_ladder(a.ladder)  # bad input: one line, before Ray or MLflow
    if a.seeds:
        lad["seeds"] = a.seeds
    lad["overrides"] = [*lad["overrides"], *a.override]
    study = check_study(a.study or f"{a.lab}-ladder-{a.ladder}", "--study")
    uri = a.tracking_uri or paths.default_tracking_uri()
    rcfg = OmegaConf.to_container(OmegaConf.load(paths.config_dir() / "replay" / "default.yaml"))["replay"]
    rcfg.update(lab=a.lab, setting=lad["setting"], study=study, overrides=list(lad["overrides"]),
                seeds={"min": lad["seeds"], "max": lad["seeds"], "first": 0})
    if a.methods:
        rcfg["select"] = {**rcfg["select"], "rule": "explicit", "methods": [m for m in a.methods.split(",") if m]}
    plan, _ = make_plan(rcfg, uri)
    if "stop" in plan:
        print(f"[ladder] stopped: {plan['stop']}", flush=True)
        return 3
    lplan = ladder_plan(lad, plan)
    sha = store.plan_sha256(lplan)
    print(f"[ladder] {lad['name']}: lab {a.lab} / {plan['lab_dataset']}; rungs "
          + ", ".join(f"{r['model']} ({r['params_m']:g} M)" for r in lad["rungs"])
          + f" -> production {lad['production']['model']} ({lad['production']['params_m']:g} M, "
          f"{lad['production']['seeds']} seeds); methods {[m['name'] for m in plan['methods']]}; seeds "
          f"{plan['seeds']}; overrides {plan['overrides']}; plan {sha}", flush=True)
    sweep = rung_sweeps(lplan, study, uri)
    check_datasets(sweep.cells)
    StudyWriter(study, uri).register_plan(lplan, f"make ladder LAB={a.lab} LADDER={a.ladder} "
                                                       f"LADDER_ARGS='--study <new name>'")
    sweep.base["runtime"]["plan_sha256"] = sha
    failures = run_sweep(sweep)
    res = forecast_study(study, uri, lplan)
    res["wall_s"] = round(time.time() - t0, 1)
    dest = write(res, Path(a.report_dir) / study, uri)
    for m, e in res["methods"].items():
        p = e["delta"].get("predict")
        if p:
            print(f"[ladder] {m:<28} production ΔPGR {p['mean']:+.3f} [{p['pi'][0]:+.3f}, {p['pi'][1]:+.3f}] at "
                  f"{p['n_prod']} seeds; verdicts {verdict_line(e['verdicts'])}", flush=True)
    print(f"[ladder] report: {dest / 'ladder.md'} (plan {sha}; {res['wall_s']:.0f} s)", flush=True)
    return 1 if failures else 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m jobs.ladder", description=__doc__.splitlines()[0])
    ap.add_argument("--lab", required=True, help="the lab study (MLflow experiment) whose methods climb the ladder")
    ap.add_argument("--ladder", default="cpu", help="conf/ladder/<name>.yaml")
    ap.add_argument("--study", help="the ladder study; default <lab>-ladder-<ladder>")
    ap.add_argument("--methods", help="comma-separated methods (explicit selection); default: as a replay selects")
    ap.add_argument("--seeds", type=int, help="seeds on every rung (default: the ladder's)")
    ap.add_argument("--override", action="append", default=[], help="Hydra override of every rung's cells")
    ap.add_argument("--tracking-uri")
    ap.add_argument("--report-dir", default="reports")
    return ap


def main(argv: list[str] | None = None) -> int:
    env.apply()
    register_resolvers()  # the ladder's and the rungs' yamls may read ${transfer_data:}
    a = parser().parse_args(argv)
    try:
        return run(a)
    except (TransferError, AnalysisError, FileNotFoundError) as exc:  # a bug keeps its traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
