"""A real two-node Ray cluster on this machine: a head and a worker node, separate raylets (ray.cluster_utils), every
socket on 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, transfer/env.py), its own RAY_TMPDIR so no other Ray on
the machine can find it. The worker node offers the custom resource {"worker_node": 1}.

Used by tests/jobs/test_cluster*.py and benchmarks/cluster.py. Stopped in the context manager's exit, by the PIDs its
nodes started; anything left under its temp dir is killed by PID (`stop`, below).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

import psutil

from transfer import env

WORKER_RESOURCE = "worker_node"
FAST_HEALTH = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}  # a lost node seen in ~3 s


@dataclass
class TwoNodes:
    cluster: object  # ray.cluster_utils.Cluster
    worker: object   # ray._private.node.Node of the worker node
    tmp: str
    dashboard: str | None  # http://127.0.0.1:PORT (Ray Jobs, state API) or None

    @property
    def address(self) -> str:
        return self.cluster.address

    @property
    def head_id(self) -> str:
        return self.cluster.head_node.node_id

    @property
    def worker_id(self) -> str:
        return self.worker.node_id

    def kill_worker(self) -> list[int]:
        """SIGKILL the worker node's raylet and the processes it started (by PID), as a crashed machine would."""
        pids = [p.process.pid for procs in self.worker.all_processes.values() for p in procs]
        self.cluster.remove_node(self.worker, allow_graceful=False)
        return pids


def cluster_processes(tmp: str) -> list:
    return [p for p in ray_processes(tmp) if p.is_running()]


@contextlib.contextmanager
def two_nodes(head_cpus: int = 1, worker_cpus: int = 1, dashboard: bool = False, nodes: int = 2):
    """`nodes=1`: the head alone (the one-node baseline of benchmarks/cluster.py), same settings."""
    import ray
    from ray.cluster_utils import Cluster

    from ops.lifecycle import free_port

    env.apply()
    tmp = tempfile.mkdtemp(prefix="r2n", dir="/tmp")  # short: Ray's socket paths have a length limit
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "PATH", "RAY_ADDRESS")}
    os.environ["RAY_TMPDIR"] = tmp  # the cluster's address file goes here, not into /tmp/ray (other sessions)
    os.environ.pop("RAY_ADDRESS", None)
    # a Ray Job's entrypoint runs `python` from the head's PATH: this interpreter's
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    ray_dir = os.path.join(tmp, "ray")  # Ray's temp dir: where it also looks for the address file
    os.makedirs(ray_dir)
    dash = free_port() if dashboard else None
    cluster = None
    try:
        cluster = Cluster(initialize_head=True, head_node_args=dict(
            num_cpus=head_cpus, node_ip_address="127.0.0.1", temp_dir=ray_dir, include_dashboard=dashboard,
            dashboard_host="127.0.0.1", dashboard_port=dash, _system_config=FAST_HEALTH,
            dashboard_agent_listen_port=free_port()))  # Ray's default 52365 may be another Ray's on this machine
        worker = cluster.add_node(num_cpus=worker_cpus, resources={WORKER_RESOURCE: 1}, node_ip_address="127.0.0.1",
                                  temp_dir=ray_dir) if nodes > 1 else None
        cluster.wait_for_nodes()
        yield TwoNodes(cluster, worker, tmp, f"http://127.0.0.1:{dash}" if dash else None)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
        left = cluster_processes(tmp)
        stop(left)  # ours: their command lines name our temp dir
        still = [p for p in cluster_processes(tmp) if p.status() != psutil.STATUS_ZOMBIE]
        shutil.rmtree(tmp, ignore_errors=True)
        atexit.register(shutil.rmtree, tmp, True)  # Ray recreates an empty session dir there after shutdown
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        assert not still, f"cluster processes left behind: {[p.pid for p in still]}"


def ray_processes(ray_tmp: str) -> list[psutil.Process]:
    """Processes of the Ray session under our own temp dir (their command lines name it)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(ray_tmp in a for a in p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def stop(procs: list[psutil.Process]) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=20)
