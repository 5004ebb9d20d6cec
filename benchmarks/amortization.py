"""Amortization: what does a whole study cost once features are cached, relative to a single cell?

Runs the real sweep (`python -m jobs.sweep`, real Ray, real sqlite MLflow, real models) side by side on the same
data, each in a fresh study of a throwaway tracking store:
  cold   1 method x 1 seed, empty feature cache (extraction included)
  warm   1 method x 1 seed, features cached
  study  the given methods x seeds (default: the 6 head methods x 10 seeds), features cached
and prints wall times and the ratios study/warm (target <= 1.5) and cold/warm.

Then, in this process (one torch thread, like a Ray cell task), it runs one seed's cells of every method (the
seed's shared work computed once, as the sweep does, and counted in) and prints where a cell's time goes: the
harness's head training (weak teacher, ceiling), method code (in its own process, transfer/sandbox), the rest of
`run_cell`, and the driver's MLflow logging as the sweep does it: handed to the store's background writer
(transfer/store/background.py), whose writes (`transfer.store.writer.StudyWriter.log_cell`) run on their own thread
and are timed apart; the rest plus the hand-over is the per-cell overhead on the critical path; then what the method
process itself adds. `--profile N` then runs them again under cProfile
(every thread) and prints the top N entries.

    python benchmarks/amortization.py --max-pairs null --skip-cold          # all pairs, this home's feature cache
    python benchmarks/amortization.py --max-pairs 200 --skip-cold --seeds 3 --profile 25
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from transfer import paths  # noqa: E402

HEAD_METHODS = "vanilla,confident_only,logconf,bootstrap,knn_relabel,ccs"  # ue_consistency needs zero-shot LM log-probs


def run_sweep(name: str, overrides: list[str], env: dict) -> float:
    cmd = [sys.executable, "-m", "jobs.sweep", f"study={name}", *overrides]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    print(f"[bench] {name}: {wall:.1f} s", flush=True)
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}\n{proc.stdout[-3000:]}")
    return wall


def breakdown(overrides: list[str], methods: list[str], tracking_uri: str, profile: int,
              passes: int = 3) -> dict[str, float]:
    """Per-cell seconds (one seed, every method, in-process, 1 torch thread): head training, the rest, logging;
    from the median of `passes` passes over the seed's cells."""
    import torch

    from transfer import cell as cell_mod, heads
    from transfer.data import load_dataset_from_config
    from transfer.features.extract import extract_pair_features
    from jobs.grid import expand
    from transfer.methods import load_method
    from jobs.driver import cell_tags
    try:
        from transfer.store.background import BackgroundWriter
        from transfer.store.writer import StudyWriter as StudyTracker
    except ImportError:  # before the background writer, cells were written where they landed
        BackgroundWriter = None
        try:
            from transfer.store import StudyWriter as StudyTracker
        except ImportError:  # before the store module, the tracker had its own module
            from transfer.tracking import StudyTracker

    torch.set_num_threads(1)
    sweep = expand([*overrides, f"grid.methods=[{','.join(methods)}]", "grid.seeds=[0]", "study=breakdown"])
    cells = [spec.cell() for spec in sweep.cells]
    s = cells[0]["setting"]
    pairs, ood = load_dataset_from_config(s["data"]), load_dataset_from_config(s["ood"]) if s.get("ood") else None
    feats = {}
    for role in ("weak", "strong"):
        feats[role] = extract_pair_features(pairs, s[role], s[f"{role}_backend"], s["data"]["format"])
        if ood is not None:
            feats[f"{role}_ood"] = extract_pair_features(ood, s[role], s[f"{role}_backend"], s["data"]["format"])
    inputs = cell_mod.CellInputs(pairs=pairs, ood=ood, features=feats)

    try:  # the seed's shared work (weak teacher, head ceiling), once for all its cells, as the sweep does
        from transfer.seedwork import compute_seed_work
    except ImportError:  # before it existed, every cell trained its own
        compute_seed_work = None
    tracker = StudyTracker("breakdown", tracking_uri)
    background = BackgroundWriter() if BackgroundWriter else None
    written = {"s": 0.0}  # seconds the writes took on the background thread

    def write(result, tags):
        t = time.perf_counter()
        tracker.log_cell(result, tags)
        written["s"] += time.perf_counter() - t

    def one_seed() -> tuple[float, float]:
        run_s = log_s = 0.0
        t0 = time.perf_counter()
        shared = compute_seed_work(cells[0], inputs) if compute_seed_work else None
        run_s += time.perf_counter() - t0
        for c in cells:
            t0 = time.perf_counter()
            result = cell_mod.run_cell(c, inputs, shared) if shared else cell_mod.run_cell(c, inputs)
            t1 = time.perf_counter()
            if background:  # the sweep's hand-over: the write itself happens on the writer's thread
                background.put(lambda r=result, t=cell_tags(c, "bench"): write(r, t))
            else:
                write(result, cell_tags(c, "bench"))
            run_s, log_s = run_s + t1 - t0, log_s + time.perf_counter() - t1
        if background:
            t0 = time.perf_counter()
            background.flush()  # the study closes once its writes have landed
            flush_s["s"] += time.perf_counter() - t0
        return run_s, log_s

    flush_s = {"s": 0.0}

    cell_mod.run_cell(cells[0], inputs)  # warm-up: imports, first-call costs
    for c in cells:  # import every method now, so the timing patch below reaches (and leaves) its train_head
        load_method(c["method"])
    from transfer.sandbox import client
    original, ask, spent = heads.train_head, client.MethodProxy._ask, {"harness heads": 0.0, "method": 0.0}

    def timed(fn, what):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                key = what or "harness heads"  # method code trains its heads in its own process
                spent[key] += time.perf_counter() - t
        return wrapper

    patched = [m for name, m in list(sys.modules.items())  # every transfer module that imported train_head
               if name.split(".")[0] == "transfer" and getattr(m, "train_head", None) is original]
    for m in patched:
        m.train_head = timed(original, None)
    # the roles' heads (weak teacher, ceiling: their penalty chosen by CV, transfer/roles.py) train through
    # scikit-learn, not train_head: timed as harness heads too, where the harness imported them
    role_head = getattr(sys.modules.get("transfer.roles"), "role_head", None)
    role_users = [m for name, m in list(sys.modules.items())
                  if name.split(".")[0] == "transfer" and role_head and getattr(m, "role_head", None) is role_head
                  and name != "transfer.roles"]
    for m in role_users:
        m.role_head = timed(role_head, None)
    client.MethodProxy._ask = timed(ask, "method")  # method code (its own process): fit, targets, predict_proba
    spent["process"] = 0.0
    process = cell_mod.method_process

    @contextlib.contextmanager
    def timed_process(cell):  # the method process's start (fork, confine, load, hello) and its kill
        t = time.perf_counter()
        with process(cell) as proxy:
            spent["process"] += time.perf_counter() - t
            yield proxy
            t = time.perf_counter()
        spent["process"] += time.perf_counter() - t

    cell_mod.method_process = timed_process
    n, measured = len(cells), []
    try:
        for _ in range(passes):  # one pass is six cells: on a shared 2-core machine its noise is ±30%
            for key in spent:
                spent[key] = 0.0
            written["s"] = flush_s["s"] = 0.0
            run_s, log_s = one_seed()
            measured.append((run_s, log_s, {**spent, "written": written["s"], "flush": flush_s["s"]}))
    finally:
        for m in patched:
            m.train_head = original
        for m in role_users:
            m.role_head = role_head
        client.MethodProxy._ask = ask
        cell_mod.method_process = process
    # the pass of median overhead (the rest of run_cell plus logging), all its parts from that pass
    measured.sort(key=lambda m: m[0] - m[2]["method"] - m[2]["harness heads"] + m[1])
    run_s, log_s, parts = measured[len(measured) // 2]
    boundary_s = boundary_overhead(cells, inputs, compute_seed_work(cells[0], inputs))
    if profile:
        print_profile(one_seed, profile, f"{n} cells + their MLflow logging (one seed, all threads)")
    return {"cells": n, "passes": passes, "run_cell": run_s / n, "log_cell": log_s / n,
            **{k: v / n for k, v in parts.items()}, "boundary": boundary_s}


def boundary_overhead(cells: list[dict], inputs, shared, reps: int = 3) -> dict[str, float]:
    """Seconds the method process adds to a cell: the same method calls (fit, predict_proba on test, train_unlabel
    and OOD, diagnostics) through `method_process` (fork from the zygote, confine, load, send the view, kill) and
    in this process behind the same in-process guard, best of `reps` each, per method; and the zygote's start."""
    import numpy as np

    from transfer import boundary
    from transfer.cell import student_view
    from transfer.methods import load_method
    from transfer.sandbox import client
    from transfer.seedwork import cell_splits, pair_x

    t0 = time.perf_counter()
    with client.method_process(cells[0]):
        pass
    first = time.perf_counter() - t0  # includes the zygote's start if this process had none yet
    extra = []
    for c in cells:
        splits, ood = cell_splits(c, inputs)
        tu, te = splits["train_unlabel"], splits["test"]
        xs = [pair_x(inputs.features["strong"], te), pair_x(inputs.features["strong"], tu)]
        xs += [pair_x(inputs.features["strong_ood"], ood)] if ood is not None else []
        needs = tuple(load_method(c["method"]).needs)  # e.g. ccs asks for the two sides
        view = student_view(c, inputs, tu, np.array(shared.weak["train_unlabel"]), needs)

        def calls(method):
            predictor = method.fit(view)
            for x in xs:
                predictor.predict_proba(x)
            return method.diagnostics

        inside, outside = [], []
        for _ in range(reps):
            t = time.perf_counter()
            # the same guard as inside the method process (audit hook, call tracer, guarded thread): the difference
            # is the process boundary alone
            calls(boundary.guard_method(load_method(c["method"]), "bench", client.hidden_paths(c)))
            inside.append(time.perf_counter() - t)
            t = time.perf_counter()
            with client.method_process(c) as proxy:
                calls(proxy)
            outside.append(time.perf_counter() - t)
        extra.append(min(outside) - min(inside))
    return {"per_cell_median": float(np.median(extra)), "per_cell_max": float(np.max(extra)), "first": first,
            "per_method": {c["method"]["name"]: e for c, e in zip(cells, extra)}}


def print_profile(fn, top: int, what: str) -> None:
    """cProfile `fn()` in this thread and every thread it starts (method code runs in guarded threads)."""
    profs, thread_run = [cProfile.Profile()], threading.Thread.run

    def profiled_run(self):
        p = cProfile.Profile()
        profs.append(p)
        p.enable()
        try:
            thread_run(self)
        finally:
            p.disable()

    threading.Thread.run = profiled_run
    profs[0].enable()
    try:
        fn()
    finally:
        profs[0].disable()
        threading.Thread.run = thread_run
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profs[0], stream=out)
        for p in profs[1:]:
            stats.add(p)
        stats.strip_dirs().sort_stats(key).print_stats(top)
        print(f"\n--- cProfile of {what}, by {key} ---\n" + out.getvalue().split("\n", 4)[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-pairs", default="1200", help="data size (pairs), 'null' for all")
    ap.add_argument("--setting", default="lab")
    ap.add_argument("--methods", default=HEAD_METHODS, help="comma list (default: the 6 head methods)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--skip-cold", action="store_true",
                    help="no cold run: reuse this home's feature cache (content-addressed, safe to share)")
    ap.add_argument("--breakdown-only", action="store_true", help="no sweeps: only the in-process per-cell breakdown")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N cProfile entries")
    ap.add_argument("--passes", type=int, default=3, help="passes over the seed's cells; the median one is shown")
    args = ap.parse_args()
    methods = args.methods.split(",")

    with tempfile.TemporaryDirectory(prefix="transfer-bench-") as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        home.mkdir()
        (home / "assets").symlink_to(paths.home() / "assets")  # models are shared; features start empty
        if args.skip_cold:
            (home / "features").symlink_to(paths.home() / "features")
        env = {**os.environ, "TRANSFER_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'bench.db'}",
               "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        common = [f"setting.data.max_pairs={args.max_pairs}", f"grid.settings=[{args.setting}]",
                  "runtime.progress=false"]
        one = [*common, f"grid.methods=[{methods[0]}]", "grid.seeds=[0]"]
        study = [*common, f"grid.methods=[{args.methods}]", f"grid.seeds=[{','.join(map(str, range(args.seeds)))}]"]
        times = {}
        if not args.skip_cold and not args.breakdown_only:
            times["cold"] = run_sweep("cold", one, env)
        if not args.breakdown_only:
            times["warm"] = run_sweep("warm", one, env)
            times["study"] = run_sweep("study", study, env)
        os.environ["TRANSFER_HOME"] = str(home)
        per_cell = breakdown(common[:2], methods, f"sqlite:///{tmp / 'breakdown.db'}", args.profile, args.passes)

    n = len(methods) * args.seeds
    print(f"\namortization ({args.setting}, max_pairs={args.max_pairs}, {os.cpu_count()} CPUs)")
    print(f"  {'run':<8}{'cells':>6}{'wall s':>9}")
    for name, cells in (("cold", 1), ("warm", 1), ("study", n)):
        if name in times:
            print(f"  {name:<8}{cells:>6}{times[name]:>9.1f}")
    if times:
        print(f"\n  {n} cells / 1 cell, features cached : {times['study'] / times['warm']:.2f}x  (target <= 1.5)")
    if "cold" in times:
        print(f"  1 cell cold / 1 cell warm          : {times['cold'] / times['warm']:.2f}x")
        print(f"  {n} cells warm / 1 cell cold        : {times['study'] / times['cold']:.2f}x")
    p = per_cell
    harness = p["run_cell"] - p["method"] - p["harness heads"] + p["log_cell"]
    print(f"\n  per cell, in-process, 1 torch thread, mean of {p['cells']} (seed 0, every method; the seed's shared "
          f"work spread over its cells), the pass of median overhead of {p['passes']}:")
    print(f"    run_cell {p['run_cell']:.3f} s = harness heads (teacher, ceiling) {p['harness heads']:.3f} "
          f"+ method code, its heads included, in its own process {p['method']:.3f} + the rest")
    print(f"    MLflow log_cell on the critical path (the driver's hand-over to the store's writer) {p['log_cell']:.4f} s; "
          f"the write itself, on the writer's thread {p['written']:.3f} s; left to flush at the seed's end "
          f"{p['flush']:.3f} s")
    print(f"    per-cell overhead beyond head training and method code (rest of run_cell + log_cell): {harness:.3f} s")
    print(f"      of which the method process's start and kill {p['process']:.3f} s; the harness's own "
          f"(splits, view, scoring, predictions, the MLflow hand-over): {harness - p['process']:.3f} s (target <= 0.050)")
    b = p["boundary"]
    print(f"    method process (fork, confine, load, view and predictions over the socket, kill), beyond the same "
          f"guarded calls in-process: median {b['per_cell_median'] * 1000:.0f} ms, max {b['per_cell_max'] * 1000:.0f} ms "
          f"per cell (target <= 100 ms); first cell of a process {b['first']:.2f} s (the zygote starts)")
    print("      per method: " + ", ".join(f"{m} {e * 1000:.0f} ms" for m, e in b["per_method"].items()))

if __name__ == "__main__":
    main()
