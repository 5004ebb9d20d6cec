"""The Ray side of a sweep: start or join a cluster, and the remote tasks (build inputs, a seed's shared work, a cell)."""

from __future__ import annotations

import contextlib
import os
import warnings

import ray

from jobs import cluster
from transfer import env
from jobs.progress import report_to
from transfer.cell import CellResult, run_cell
from transfer.errors import DataWarning
from transfer.features.cache import reporting
from transfer.inputs import CellInputs
from transfer.seedwork import SeedWork, compute_seed_work
from transfer.stage import build_cell_inputs


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
def build_inputs(setting: dict, shard_size: int, zero_shot_formats: list[dict] = (), progress=None) -> CellInputs:
    """The setting's data, features and (if asked) zero-shot log-probs: transfer/stage.py, on all its CPUs. Rows
    computed are reported to `progress` (a ray.util.queue.Queue: the driver's bar, jobs/progress.py)."""
    _threads(int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    listen = reporting(report_to(progress)) if progress is not None else contextlib.nullcontext()  # a Queue is falsy
    with warnings.catch_warnings(), listen:
        warnings.simplefilter("ignore", DataWarning)  # the sweep's pre-flight said it once (jobs/preflight.py)
        inputs = build_cell_inputs(setting, shard_size, zero_shot_formats)
    inputs.built_on = ray.get_runtime_context().get_node_id()  # a cell elsewhere gets them through the object store
    return inputs


# a worker's inputs, deserialized once: Ray would rebuild a setting's CellInputs (thousands of Pair objects) for
# every task it is passed to, so tasks get its ref inside a list (not resolved) and read it through this cache
_INPUTS: dict[str, CellInputs] = {}
_KEEP = 2  # settings a worker keeps (a study's settings run one after another)


def worker_inputs(ref: list) -> CellInputs:
    """`[ref]` of a build_inputs result, as this worker's one deserialized copy (zero-copy arrays included)."""
    key = ref[0].hex()
    if key not in _INPUTS:
        _INPUTS[key] = ray.get(ref[0])
        while len(_INPUTS) > _KEEP:
            _INPUTS.pop(next(iter(_INPUTS)))
    return _INPUTS[key]


@ray.remote(num_cpus=1)
def seed_work_task(cell: dict, inputs_ref: list) -> SeedWork:
    """The weak teacher and (head mode) ceiling of a seed, once for all its methods' cells (small arrays)."""
    _threads(1)
    return compute_seed_work(cell, worker_inputs(inputs_ref))


# no retries by Ray: the sweep resubmits a cell lost with its node itself, and says so (jobs.driver)
@ray.remote(num_cpus=1, max_retries=0)
def run_cell_task(cell: dict, inputs_ref: list, shared: SeedWork | None = None) -> CellResult:
    _threads(int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))  # mode.resources.cpus
    inputs = worker_inputs(inputs_ref)
    result = run_cell(cell, inputs, shared)  # the method runs in its own process (transfer.sandbox)
    result.where = {**cluster.where(), "inputs_node_id": inputs.built_on}
    return result
