"""The same study on one Ray node vs two, on this machine, and the time to ship a study's inputs to another node.

Layouts (tests/helpers/cluster.py: real raylets, 127.0.0.1 only, own temp dir): one node with `--cpus` CPUs, and a
head plus a worker node sharing those CPUs (ceil/floor). The same total CPUs on the same cores: a second node adds
processes (raylet, agents, its own idle workers), not compute, so no speed-up is expected here; the point is the
cost of the extra node and that nothing breaks. Each layout runs the study into a fresh sqlite store (features come
from $TRANSFER_HOME's cache, warmed by a first run) with the driver connected by `runtime.ray_address`.

Shipping: the study's CellInputs (pairs + weak/strong features) put into the head's object store, then fetched by
a task pinned to the worker node (a copy over the object manager) and by one on the head (local, no copy).

    python benchmarks/cluster.py [--methods vanilla,logconf,bootstrap] [--seeds 20] [--cpus 2] [--max-pairs N]
                                 [--layouts 1,2]
"""

from __future__ import annotations

import argparse
import math
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def node_rss_mb(node) -> float:
    """RSS of a node's raylet, its agents and the workers it started (the processes a node adds)."""
    import psutil

    procs = []
    for p in (p for ps in node.all_processes.values() for p in ps):
        try:
            root = psutil.Process(p.process.pid)
            procs += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    total = 0
    for p in {p.pid: p for p in procs}.values():
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def run_layout(nodes: int, cpus: int, overrides: list[str], study: str) -> dict:
    import ray
    from hydra import initialize_config_dir
    from mlflow.tracking import MlflowClient

    from tests.helpers.cluster import two_nodes
    from transfer import paths
    from jobs.sweep import main as sweep_main

    head_cpus = cpus if nodes == 1 else math.ceil(cpus / 2)
    t0 = time.perf_counter()
    with two_nodes(head_cpus=head_cpus, worker_cpus=cpus - head_cpus, nodes=nodes) as c, \
            tempfile.TemporaryDirectory() as tmp:
        up_s = time.perf_counter() - t0
        ray.init(address=c.address, log_to_driver=False)
        uri = f"sqlite:///{tmp}/mlruns.db"
        t1 = time.perf_counter()
        with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
            code = sweep_main([*overrides, f"study={study}", f"runtime.ray_address={c.address}",
                               f"runtime.tracking_uri={uri}", "runtime.progress=false"])
        wall = time.perf_counter() - t1
        client = MlflowClient(uri)
        runs = client.search_runs([client.get_experiment_by_name(study).experiment_id],
                                  "tags.`transfer.role` = 'cell'", max_results=5000)
        per_node = {}
        for r in runs:
            who = "head" if r.data.tags.get("ray_node_id") == c.head_id else "worker"
            per_node[who] = per_node.get(who, 0) + 1
        worker_mb = node_rss_mb(c.worker) if c.worker is not None else 0.0
        head_mb = node_rss_mb(c.cluster.head_node)
        ship = ship_inputs(c, overrides) if nodes > 1 else None
    return {"nodes": nodes, "cpus": f"{head_cpus}+{cpus - head_cpus}" if nodes > 1 else str(cpus), "exit": code,
            "cells": len(runs), "finished": sum(r.info.status == "FINISHED" for r in runs), "wall_s": wall,
            "per_node": per_node, "cluster_up_s": up_s, "worker_node_rss_mb": worker_mb, "head_node_rss_mb": head_mb,
            "ship": ship}


def ship_inputs(c, overrides: list[str], reps: int = 3) -> dict:
    """Build one study's inputs on the head (cache hit), then time fetching them on the worker and on the head."""
    import ray
    from hydra import initialize_config_dir
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from jobs import raytasks
    from transfer import paths
    from jobs.grid import expand

    @ray.remote(num_cpus=0)
    def fetch(box: list) -> float:
        t = time.perf_counter()
        ray.get(box[0])  # the copy into this node's object store (none on the node that holds it)
        return time.perf_counter() - t

    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        sweep = expand(overrides)
    setting = sweep.cells[0].cell()["setting"]
    on = {name: NodeAffinitySchedulingStrategy(nid, soft=False) for name, nid in
          (("head", c.head_id), ("worker", c.worker_id))}
    inputs = ray.get(raytasks.build_inputs.options(num_cpus=1, scheduling_strategy=on["head"]).remote(
        setting, sweep.base["runtime"]["feature_shard_size"]))
    size = len(pickle.dumps(inputs, protocol=5))
    out = {"bytes": size}
    for where in ("worker", "head"):
        times = []
        for _ in range(reps):  # a fresh object each time: the worker has no copy of it yet
            ref = ray.put(inputs)
            times.append(ray.get(fetch.options(scheduling_strategy=on[where]).remote([ref])))
            del ref
        out[f"{where}_s"] = statistics.median(times)
    return out


def warm(overrides: list[str]) -> float:
    """Build the study's inputs once (extracting whatever the feature cache lacks), so both layouts read the cache."""
    import ray
    from hydra import initialize_config_dir

    from tests.helpers.cluster import two_nodes
    from jobs import raytasks
    from transfer import paths
    from jobs.grid import expand

    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        sweep = expand(overrides)
    with two_nodes(head_cpus=2, nodes=1) as c:
        ray.init(address=c.address, log_to_driver=False)
        t = time.perf_counter()
        ray.get(raytasks.build_inputs.options(num_cpus=2).remote(sweep.cells[0].cell()["setting"],
                                                                  sweep.base["runtime"]["feature_shard_size"]))
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="vanilla,logconf,bootstrap")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--max-pairs", type=int, default=None)
    ap.add_argument("--layouts", default="1,2", help="node counts, in the order to run them (e.g. 2,1)")
    args = ap.parse_args()
    from transfer import env

    env.apply()
    overrides = [f"grid.methods=[{args.methods}]", f"grid.seeds=[{','.join(map(str, range(args.seeds)))}]"]
    if args.max_pairs:
        overrides.append(f"setting.data.max_pairs={args.max_pairs}")
    n_cells = len(args.methods.split(",")) * args.seeds
    print(f"study: {n_cells} cells ({args.methods} x {args.seeds} seeds), {args.cpus} CPUs in all", flush=True)
    print(f"input stage before the layouts (fills the feature cache if needed): {warm(overrides):.1f} s", flush=True)
    results = [run_layout(n, args.cpus, overrides, f"bench-{n}-node") for n in map(int, args.layouts.split(","))]
    for r in results:
        print(f"{r['nodes']} node(s), CPUs {r['cpus']}: {r['finished']}/{r['cells']} cells finished "
              f"(exit {r['exit']}) in {r['wall_s']:.1f} s = {r['wall_s'] / max(r['cells'], 1):.2f} s/cell; "
              f"cells per node {r['per_node']}; cluster up in {r['cluster_up_s']:.1f} s; node RSS after the "
              f"study: head {r['head_node_rss_mb']:.0f} MB, worker {r['worker_node_rss_mb']:.0f} MB", flush=True)
    ship = next((r["ship"] for r in results if r["ship"]), None)
    if ship:
        print(f"inputs of the study: {ship['bytes'] / 2**20:.1f} MiB pickled; fetched on the worker node in "
              f"{ship['worker_s']:.3f} s ({ship['bytes'] / 2**20 / ship['worker_s']:.0f} MiB/s), on the head "
              f"(local) in {ship['head_s']:.3f} s (median of 3)")


if __name__ == "__main__":
    main()
