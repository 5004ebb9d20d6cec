"""The Ray side of a sweep: start or join a cluster, and the remote tasks (build inputs, a seed's shared work, a cell)."""

from __future__ import annotations

import os

import ray

from transfer import cluster, env
from transfer.cell import CellInputs, CellResult, run_cell
from transfer.seedwork import SeedWork, compute_seed_work


def init_ray(runtime: dict) -> None:
    """Join $RAY_ADDRESS / runtime.ray_address, else start a local Ray listening on 127.0.0.1 only."""
    if ray.is_initialized():
        return
    address = runtime.get("ray_address") or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
        return
    env.apply()  # Ray on 127.0.0.1 only, without this it also listens on the external interface (docs/install.md)
    ray.init(num_cpus=runtime.get("num_cpus") or os.cpu_count(), include_dashboard=False,
             _node_ip_address="127.0.0.1", log_to_driver=True, configure_logging=False)


def _threads(n: int) -> None:
    import torch
    torch.set_num_threads(max(1, n))  # a reused worker keeps torch's first thread count otherwise


@ray.remote
def build_inputs(setting: dict, shard_size: int) -> CellInputs:
    """Load the setting's data and extract (or load cached) features of its weak and strong models."""
    from transfer.data import load_dataset_from_config
    from transfer.features.extract import LazyBackend, extract_pair_features

    _threads(int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    pairs = load_dataset_from_config(setting["data"])
    ood = load_dataset_from_config(setting["ood"]) if setting.get("ood") else None
    fmt = setting["data"]["format"]
    features = {}
    for role in ("weak", "strong"):
        model, backend_cfg = setting[role], setting[f"{role}_backend"]
        with LazyBackend(backend_cfg, model) as backend:  # one model (or one server) for both datasets
            features[role] = extract_pair_features(pairs, model, backend_cfg, fmt, shard_size, backend)
            if ood is not None:
                features[f"{role}_ood"] = extract_pair_features(ood, model, backend_cfg, fmt, shard_size, backend)
    return CellInputs(pairs=pairs, ood=ood, features=features, built_on=ray.get_runtime_context().get_node_id())


@ray.remote(num_cpus=1)
def seed_work_task(cell: dict, inputs: CellInputs) -> SeedWork:
    """The weak teacher and (head mode) ceiling of a seed, once for all its methods' cells (small arrays)."""
    _threads(1)
    return compute_seed_work(cell, inputs)


# no retries by Ray: the sweep resubmits a cell lost with its node itself, and says so (transfer.sweep)
@ray.remote(num_cpus=1, max_retries=0)
def run_cell_task(cell: dict, inputs: CellInputs, shared: SeedWork | None = None) -> CellResult:
    _threads(1)
    result = run_cell(cell, inputs, shared)  # the method runs in its own process (transfer.sandbox)
    result.where = {**cluster.where(), "inputs_node_id": inputs.built_on}
    return result
