"""Expand the grid (settings × methods × seeds), run each cell as a Ray task, log each to MLflow as it lands."""

from __future__ import annotations

import os
import sys
import traceback

from hydra import compose
from hydra.errors import HydraException
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from transfer import paths
from transfer.config import config_hash, to_plain
from transfer.errors import ConfigError, TransferError

GRID_KEYS = ("setting", "method", "seed")


def compose_cells(overrides: list[str]) -> tuple[dict, list[dict]]:
    """The sweep config and one fully composed, resolved config per cell (Hydra must be initialized)."""
    user = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in GRID_KEYS]
    base = to_plain(_compose([o for o in user if not o.startswith("method.")]))
    grid = base["grid"]
    for group, names in (("setting", grid["settings"]), ("method", grid["methods"])):
        known = sorted(p.stem for p in (paths.config_dir() / group).glob("*.yaml"))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"grid.{group}s: unknown {group} {unknown}; known: {known} (conf/{group}/)")
    per_method = _method_overrides(user, grid["methods"])
    cells = []
    for setting in grid["settings"]:
        for method in grid["methods"]:
            for seed in grid["seeds"]:
                cell = to_plain(_compose([*per_method[method], f"setting={setting}", f"method={method}",
                                          f"seed={seed}"]))
                cell["config_hash"] = config_hash(cell)
                cells.append(cell)
    return base, cells


def _compose(overrides: list[str]):
    try:
        return compose(config_name="config", overrides=overrides)
    except HydraException as exc:  # unknown group option, key or malformed override: one line that names it
        raise ConfigError(" ".join(str(exc).split("\n")[:2])) from None


def _method_overrides(user: list[str], methods: list[str]) -> dict[str, list[str]]:
    """`method.<key>=v` applies to the grid's methods that have <key>; one that none has is an error (a typo)."""
    keys = {m: set(OmegaConf.load(paths.config_dir() / "method" / f"{m}.yaml")) for m in methods}
    out = {m: [] for m in methods}
    for o in user:
        key = o.split("=", 1)[0]
        if key.startswith("method."):
            field = key.split(".")[1]
            takers = [m for m in methods if field in keys[m]]
            if not takers:
                raise ConfigError(f"override {o!r}: no method in the grid {methods} has a field {field!r}")
            for m in takers:
                out[m].append(o)
        else:
            for m in methods:
                out[m].append(o)
    return out


def cell_tags(cell: dict, git_sha: str) -> dict[str, str]:
    s, mode = cell["setting"], (cell.get("mode") or {}).get("name", "head")  # a config without a mode group is a head cell
    return {"setting": s["name"], "method": cell["method"]["name"], "seed": str(cell["seed"]),
            "dataset": s["data"]["name"], "ood_dataset": (s.get("ood") or {}).get("name", ""),
            "weak_model": s["weak"]["name"], "strong_model": s["strong"]["name"], "training_mode": mode,
            "config_hash": cell["config_hash"], "git_sha": git_sha,
            "run_name": f"{s['name']}/{cell['method']['name']}" + (f"/{mode}" if mode != "head" else "")
                        + f"/seed{cell['seed']}"}


def run_sweep(base: dict, cells: list[dict]) -> int:
    """Run the cells not yet finished in this study; return the number that failed."""
    from transfer.summary import summarize
    from transfer.tracking import StudyTracker

    runtime = base["runtime"]
    tracker = StudyTracker(base["study"], runtime.get("tracking_uri"))
    from transfer.plan import check_sweep

    check_sweep(tracker.client, tracker.parent_id, runtime.get("plan_sha256"), base["study"])  # planned studies
    sha = paths.git_sha()
    tracker.start(base, base["grid"]["settings"], base["grid"]["methods"], sha)
    orphans = tracker.fail_orphans()
    done = tracker.finished_hashes()
    todo = [c for c in cells if c["config_hash"] not in done]
    print(f"[sweep] study {base['study']!r}: {len(cells)} cells, {len(cells) - len(todo)} already finished, "
          f"{len(todo)} to run" + (f" ({orphans} orphaned runs marked FAILED)" if orphans else "")
          + f"\n[sweep] tracking {tracker.uri} (experiment {tracker.experiment_id}, parent run {tracker.parent_id})",
          flush=True)
    failures = 0
    if todo:
        failures = _run_on_ray(todo, runtime, tracker, sha)
    tracker.finish("FINISHED" if failures == 0 else "FAILED")
    print(summarize(base["study"], tracker.uri), flush=True)
    print(f"\n[sweep] browse: make mlflow-ui  (tracking {tracker.uri})", flush=True)
    return failures


def _run_on_ray(todo: list[dict], runtime: dict, tracker, sha: str) -> int:
    import ray

    from transfer import raytasks

    raytasks.init_ray(runtime)
    by_setting: dict[str, list[dict]] = {}
    for cell in todo:
        by_setting.setdefault(cell["setting"]["name"], []).append(cell)
    # one input-building task per setting (it extracts or loads features); cells start as soon as theirs is ready
    # extraction gets every CPU of a node: it is the one heavy step, and settings run it one after another
    cpus = int(ray.cluster_resources().get("CPU", 1))
    extract = raytasks.build_inputs.options(num_cpus=min(cpus, int(runtime.get("extract_cpus") or cpus)))
    input_refs = {name: extract.remote(cs[0]["setting"], runtime["feature_shard_size"])
                  for name, cs in by_setting.items()}
    pending = {raytasks.run_cell_task.remote(cell, input_refs[cell["setting"]["name"]]): cell for cell in todo}
    failures = 0
    bar = tqdm(total=len(todo), desc="cells", unit="cell", disable=not runtime.get("progress", True), file=sys.stdout)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        cell = pending.pop(ready[0])
        tags = cell_tags(cell, sha)
        try:
            result = ray.get(ready[0])
        except Exception as exc:  # a failed cell is reported; finished cells are already safe in MLflow
            failures += 1
            cause = exc.cause if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause else exc
            msg = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
            bar.write(f"[cell FAILED] {tags['run_name']}: {type(cause).__name__}: {msg}")
            if not isinstance(cause, TransferError):
                bar.write("".join(traceback.format_exception(cause))[-2000:])
            bar.update(1)
            continue
        tracker.log_cell(result, tags)
        m = result.metrics
        bar.write(f"[cell] {tags['run_name']:<32} weak {m['weak_acc']:.3f}  ceiling {m['ceiling_acc']:.3f}  "
                  f"w2s {m['w2s_acc']:.3f}  pgr {m['pgr']:+.2f}")
        bar.update(1)
    bar.close()
    return failures


def main(overrides: list[str]) -> int:
    """Entry used by jobs/sweep.py (inside @hydra.main) and by tests/benchmarks (after initialize_config_dir)."""
    try:
        base, cells = compose_cells(overrides)
        return 1 if run_sweep(base, cells) else 0
    except TransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def env_defaults() -> None:
    """Safe defaults for the services a sweep starts (user settings win)."""
    for key, value in {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
                       "RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1",
                       "TOKENIZERS_PARALLELISM": "false"}.items():
        os.environ.setdefault(key, value)
