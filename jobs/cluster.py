"""What a sweep needs to know about the Ray cluster it runs on: its nodes, where a task ran, which nodes were lost,
and whether every node sees the driver's $TRANSFER_HOME.

Cells get their inputs (features, pairs) from the object store, so a cell on a node that did not extract them needs
no shared disk. What does read $TRANSFER_HOME on any node: the input-building task (model assets, the feature cache,
$TRANSFER_DATA), a managed vLLM server's actor (assets, logs) and cells that load a model themselves (prompt and
lora modes). Hence the check at start on a cluster of more than one node (docs/cluster.md).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from transfer.errors import TransferError

# a worker or node died under the task, or its result went with the node: the cell itself did not fail
LOST = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError,
        ray.exceptions.LocalRayletDiedError)
CHECK_DIR = ".cluster-check"


def where() -> dict[str, str]:
    """The node the calling task runs on (tags `ray_node_id`, `ray_node_ip`)."""
    ctx = ray.get_runtime_context()
    return {"ray_node_id": ctx.get_node_id(), "ray_node_ip": ray.util.get_node_ip_address()}


def alive_nodes() -> dict[str, dict]:
    """node id -> ray.nodes() entry, for the nodes alive now."""
    return {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}


def node_cpus() -> int:
    """The most CPUs one node offers: a task asking for more than that is never scheduled (the cluster's total is
    not a node's)."""
    return max([int(n["Resources"].get("CPU", 0)) for n in alive_nodes().values()] or [1]) or 1


def describe(node_id: str, node: dict | None = None) -> str:
    ip = (node or {}).get("NodeManagerAddress", "?")
    return f"{node_id[:12]} ({ip})"


class NodeWatch:
    """Remembers the alive nodes; `lost()` names the ones that died since the last call (once each)."""

    def __init__(self):
        self.known = alive_nodes()

    def lost(self) -> list[str]:
        now = alive_nodes()
        gone = [describe(nid, node) for nid, node in self.known.items() if nid not in now]
        self.known = now
        return gone


@ray.remote(num_cpus=0, max_retries=0)
def _sees(path: str) -> tuple[bool, str]:
    return Path(path).is_file(), ray.get_runtime_context().get_node_id()


def check_shared_home(home: Path, timeout_s: float = 120.0) -> int:
    """Every alive node reads a token the driver wrote under `home`; refuse in one line naming the first node that
    cannot. Returns the number of nodes checked (1: a single node, nothing to check)."""
    nodes = alive_nodes()
    if len(nodes) < 2:
        return len(nodes)
    token = Path(home) / CHECK_DIR / uuid.uuid4().hex
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text("written by the sweep driver; every node must see it\n")
    try:
        refs = {nid: _sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(nid, soft=False)).remote(
            str(token)) for nid in nodes}
        for nid, ref in refs.items():
            try:
                seen, ran_on = ray.get(ref, timeout=timeout_s)
            except ray.exceptions.GetTimeoutError:
                raise TransferError(f"node {describe(nid, nodes[nid])} did not answer the shared-home check within "
                                    f"{timeout_s:g} s") from None
            if not seen or ran_on != nid:
                raise TransferError(f"node {describe(nid, nodes[nid])} cannot see $TRANSFER_HOME={home} (no {token}):"
                                    f" mount it on every node, or set runtime.shared_home=false when each node has "
                                    f"its own copy of the assets and data (docs/cluster.md)")
    finally:
        token.unlink(missing_ok=True)
    return len(nodes)
