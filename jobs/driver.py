"""Run a sweep's cells (built by jobs.grid) as Ray tasks, skip finished ones, log each to MLflow as it lands."""

from __future__ import annotations

import sys
import time
import traceback

from tqdm.auto import tqdm

from jobs.grid import CellSpec, Sweep
from jobs.lease import StudyLease
from jobs.progress import InputsBar
from jobs.variants import base_of, short_hash
from transfer import paths
from transfer.errors import TransferError
from transfer.store.background import BackgroundWriter
from transfer.store.view import open_url
from transfer.store.writer import StudyWriter


def cell_tags(cell: dict, git_sha: str) -> dict[str, str]:
    s, mode = cell["setting"], (cell.get("mode") or {}).get("name", "head")  # a config without a mode group is a head cell
    return {"setting": s["name"], "method": cell["method"]["name"], "seed": str(cell["seed"]),
            "dataset": s["data"]["name"], "ood_dataset": (s.get("ood") or {}).get("name", ""),
            "weak_model": s["weak"]["name"], "strong_model": s["strong"]["name"], "training_mode": mode,
            "config_hash": cell["config_hash"], "git_sha": git_sha,
            # how the method's code was confined, from the config the harness enforces (transfer/sandbox/client.py)
            "boundary.sandbox": str((cell.get("runtime") or {}).get("sandbox") or "auto"),
            # the ledger of a lab's variants (analysis/ledger.py) counts distinct method configs, not just names
            "method_base": base_of(cell["method"]["name"]), "method_hash": short_hash(cell["method"]),
            # one run-name scheme for native and imported runs (analysis/import_aar.py writes the same)
            "run_name": f"{s['name']}/{s['data']['name']}/{cell['method']['name']}"
                        + (f"/{mode}" if mode != "head" else "") + f"/seed{cell['seed']}"}


def run_sweep(sweep: Sweep) -> int:
    """Run the cells not yet finished in this study; return the number that failed."""
    base = sweep.base
    runtime = base["runtime"]
    if any(cell_options(spec.config)["num_gpus"] for spec in sweep.cells):
        import ray  # a cell Ray could never place is refused before anything is written to the store

        from jobs.raytasks import init_ray
        init_ray(runtime)
        check_placeable([spec.config for spec in sweep.cells], ray.cluster_resources())
    tracker = StudyWriter(base["study"], runtime.get("tracking_uri"))
    tracker.check_plan(runtime.get("plan_sha256"))  # planned studies take cells from `make replay` only
    with StudyLease(tracker.client, tracker.parent_id, base["study"], wait=bool(runtime.get("lease_wait")),
                    stale_s=float(runtime.get("lease_stale_s") or 60)):  # one driver per study
        return _run_leased(sweep, tracker)


def _run_leased(sweep: Sweep, tracker) -> int:
    base, cells = sweep.base, sweep.cells
    runtime = base["runtime"]
    sha = paths.git_sha()
    tracker.start(base, base["grid"]["settings"], base["grid"]["methods"], sha)
    orphans = tracker.fail_orphans()
    done = tracker.finished_hashes()
    todo = [c for c in cells if c.config_hash not in done]
    print(f"[sweep] study {base['study']!r}: {len(cells)} cells, {len(cells) - len(todo)} already finished, "
          f"{len(todo)} to run" + (f" ({orphans} orphaned runs marked FAILED)" if orphans else "")
          + f"\n[sweep] tracking {tracker.uri} (experiment {tracker.experiment_id}, parent run {tracker.parent_id})",
          flush=True)
    failures, writer = 0, BackgroundWriter()  # cells are written off the loop that waits for them
    try:
        if todo:
            failures = _run_on_ray(todo, runtime, tracker, writer, sha)
    except BaseException:  # the study's parent run is never left RUNNING by a driver that stops
        writer.close()  # the cells received so far are written first
        tracker.finish("FAILED")
        raise
    writer.close()
    tracker.finish("FINISHED" if failures == 0 else "FAILED")
    print(f"[sweep] browse: make mlflow-ui, then {open_url('http://127.0.0.1:5000', tracker.experiment_id)}  "
          f"(tracking {tracker.uri})", flush=True)  # jobs/ print the table
    return failures


def _run_on_ray(specs: list[CellSpec], runtime: dict, tracker, writer: BackgroundWriter, sha: str) -> int:
    import ray

    from jobs import cluster, raytasks
    from transfer.seedwork import seed_key

    raytasks.init_ray(runtime)
    if runtime.get("shared_home", True):  # several nodes: each must see $TRANSFER_HOME (jobs/cluster.py)
        nodes = cluster.check_shared_home(paths.home())
        if nodes > 1:
            print(f"[cluster] {nodes} nodes, each sees $TRANSFER_HOME={paths.home()}", flush=True)
    todo = [spec.cell() for spec in specs]
    resources = {id(cell): cell_options(cell) for cell in todo}
    by_setting: dict[tuple, list[dict]] = {}
    for cell in todo:  # one input set per (setting, dataset): grid.datasets gives a setting several
        by_setting.setdefault(_inputs_key(cell), []).append(cell)
    # one input-building task per setting (it extracts or loads features); cells start as soon as theirs is ready
    # extraction gets every CPU of a node (the largest: one task runs on one node): it is the one heavy step, and
    # settings run it one after another
    cpus = cluster.node_cpus()
    extract = raytasks.build_inputs.options(num_cpus=min(cpus, int(runtime.get("extract_cpus") or cpus)))
    inputs = InputsBar(bool(runtime.get("progress", True)))  # texts embedded, as the input tasks report them
    input_refs = {name: extract.remote(cs[0]["setting"], runtime["feature_shard_size"], zero_shot_formats(cs),
                                       inputs.queue) for name, cs in by_setting.items()}
    # one task per seed for what every method of it shares (weak teacher, head ceiling): its result, a few small
    # arrays, goes to the seed's cells by reference (transfer/seedwork.py)
    seed_refs: dict[str, object] = {}

    def submit(cell: dict):  # the task's name shows in `ray list tasks` and the dashboard
        key = seed_key(cell)
        if key not in seed_refs:
            seed_refs[key] = raytasks.seed_work_task.remote(cell, [input_refs[_inputs_key(cell)]])
        task = raytasks.run_cell_task.options(name=f"cell {cell_tags(cell, sha)['run_name']}", **resources[id(cell)])
        # the inputs' ref in a list: the task reads it through its worker's cache, not deserialized per cell
        return task.remote(cell, [input_refs[_inputs_key(cell)]], seed_refs[key])

    pending = {submit(cell): (cell, 0) for cell in todo}
    retries, watch, failures = int(runtime.get("cell_retries", 2)), cluster.NodeWatch(), 0
    bar = None

    def cells_bar():  # after the inputs' bar: once every input set is ready, or the first cell lands
        nonlocal bar
        if bar is None:
            inputs.close()
            bar = tqdm(total=len(todo), desc="cells", unit="cell", disable=not runtime.get("progress", True),
                       file=sys.stdout)
        return bar

    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=2.0)
        if inputs.poll(list(input_refs.values())):
            cells_bar()
        for node in watch.lost():
            tqdm.write(f"[cluster] node {node} lost: cells that ran there are resubmitted to the nodes left")
        failures += _unwritten(writer)
        if not ready:
            continue
        cell, attempt = pending.pop(ready[0])
        tags = cell_tags(cell, sha)
        try:
            result = ray.get(ready[0])
        except cluster.LOST as exc:  # its worker or node died: not the cell's fault, run it again elsewhere
            if attempt < retries:
                tqdm.write(f"[cluster] cell {tags['run_name']} lost with its worker or node "
                          f"({type(exc).__name__}): retry {attempt + 1}/{retries}")
                pending[submit(cell)] = (cell, attempt + 1)
                continue
            failures += _failed(cells_bar(), tracker, writer, tags, exc)
            continue
        except Exception as exc:  # a failed cell is reported; finished cells are already safe in MLflow
            failures += _failed(cells_bar(), tracker, writer, tags, exc)
            continue
        # written in the background, in order; a cell that cannot be written fails alone: the sweep goes on
        run_tags, end_ms = {**tags, **result.where, **result.tags, "ray_attempt": str(attempt + 1)}, _now_ms()
        writer.put(lambda r=result, t=run_tags, e=end_ms: tracker.log_cell(r, t, e), what=tags,
                   fallback=lambda exc, t=tags: tracker.log_failure(t, _error(exc)))
        m = result.metrics
        tqdm.write(f"[cell] {tags['run_name']:<32} weak {m['weak_acc']:.3f}  ceiling {m['ceiling_acc']:.3f}  "
                  f"w2s {m['w2s_acc']:.3f}  pgr {m['pgr']:+.2f}")
        cells_bar().update(1)
    writer.flush()
    failures += _unwritten(writer)
    if bar is not None:
        bar.close()
    inputs.close()
    return failures


def cell_options(cell: dict) -> dict:
    """Ray options of a cell task, from its training mode's `resources` (not in its config hash)."""
    res = (cell.get("mode") or {}).get("resources") or {}
    return {"num_cpus": float(res.get("cpus") or 1), "num_gpus": float(res.get("gpus") or 0)}


def check_placeable(cells: list[dict], available: dict) -> None:
    """A cell asking for more GPUs than the cluster has is refused here, in one line, rather than left pending."""
    for cell in cells:
        gpus = cell_options(cell)["num_gpus"]
        if gpus > float(available.get("GPU", 0)):
            raise TransferError(f"mode {cell['mode']['name']!r} asks for {gpus:g} GPU per cell and this Ray cluster "
                                f"has {available.get('GPU', 0):g}: run it on a GPU cluster, or use mode=lora_cpu "
                                f"(or mode.resources.gpus=0 to train on CPU)")


def zero_shot_formats(cells: list[dict]) -> list[dict]:
    """The prompt formats in which some cell's method reads zero-shot log-probs (asked of the method's process;
    the answers are kept), for the input stage to compute once, instead of each cell loading the strong LM."""
    from transfer.inputs import zero_shot_format, zero_shot_key
    from transfer.sandbox.client import describe

    formats, said = {}, set()
    for cell in cells:
        try:
            needs = describe(cell["method"], cell.get("runtime")).needs
        except TransferError as exc:  # its own cells fail when they run, with this error; the others go on
            if str(exc) not in said:
                said.add(str(exc))
                print(f"[sweep] {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", flush=True)
            continue
        if "zero_shot" in needs:
            fmt = zero_shot_format(cell)
            formats.setdefault(zero_shot_key(fmt), fmt)
    return list(formats.values())


def _failed(bar, tracker, writer: BackgroundWriter, tags: dict, exc: Exception) -> int:
    """A cell that raised: said here, and a FAILED run with its error written in turn."""
    _say_failed(tags, exc)
    writer.put(lambda: tracker.log_failure(tags, _error(exc)))  # already counted: `what` None
    bar.update(1)
    return 1


def _unwritten(writer: BackgroundWriter) -> int:
    """Cells whose run could not be written (their FAILED run, with the error, was written instead)."""
    count = 0
    for tags, exc in writer.failures():
        if tags is None:
            tqdm.write(f"[store] a failed cell's FAILED run could not be written: {_error(exc)}")
            continue
        _say_failed(tags, exc)
        count += 1
    return count


def _cause(exc: BaseException) -> BaseException:
    import ray

    return exc.cause if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause else exc


def _error(exc: BaseException) -> str:
    """The one line a failed run keeps: the exception's type and its last line."""
    cause = _cause(exc)
    msg = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
    return f"{type(cause).__name__}: {msg}"


def _say_failed(tags: dict, exc: BaseException) -> None:
    cause = _cause(exc)
    tqdm.write(f"[cell FAILED] {tags['run_name']}: {_error(exc)}")
    if not isinstance(cause, TransferError):
        tqdm.write("".join(traceback.format_exception(cause))[-2000:])


def _now_ms() -> int:
    return int(time.time() * 1000)


def _inputs_key(cell: dict) -> tuple[str, str]:
    return cell["setting"]["name"], cell["setting"]["data"]["name"]


def run(sweep: Sweep) -> int:
    """Run a sweep; the exit code: 0 all cells finished, 1 some failed, 2 a one-line error (printed once)."""
    try:
        return 1 if run_sweep(sweep) else 0
    except TransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

