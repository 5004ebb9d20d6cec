"""A sweep submitted as a Ray Job to a real two-node cluster (tests/helpers/cluster.py): cells run on both nodes,
fed by inputs built on one of them (the object store, no shared disk needed for them), and the worker node killed
mid-sweep loses no cell and duplicates none. Results are read from the real sqlite MLflow store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.cluster import two_nodes
from transfer import paths

pytestmark = pytest.mark.slow
SMALL = ["setting.data.max_pairs=40", "~setting.ood", "runtime.progress=false"]


@pytest.fixture(scope="module")
def nodes():
    import ray

    with two_nodes(dashboard=True) as n:
        ray.init(address=n.address, log_to_driver=False)  # this test process reads the state API
        yield n


def sweep_cmd(tmp_path, study: str, *overrides: str) -> tuple[list[str], dict]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}",
           "TRANSFER_ARTIFACT_ROOT": str(tmp_path / "artifacts")}
    return [sys.executable, "-m", "jobs.sweep", f"study={study}", *SMALL, *overrides], env


def cell_runs(tmp_path, study: str) -> list:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlruns.db'}")
    exp = client.get_experiment_by_name(study)
    return client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'cell'")


def submit(nodes, cmd, env, **kw):
    return subprocess.run(cmd, cwd=paths.repo_root(), env={**env, "RAY_ADDRESS": nodes.dashboard},
                          capture_output=True, text=True, timeout=600, **kw)


def test_a_ray_job_runs_cells_on_both_nodes_with_inputs_from_one(nodes, tmp_path):
    cmd, env = sweep_cmd(tmp_path, "two-nodes", "grid.methods=[vanilla,logconf]", "grid.seeds=[0,1,2,3]",
                         "head.epochs=50")
    out = submit(nodes, cmd, env)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert "[submit] Ray Job" in log and "SUCCEEDED" in log
    assert f"[cluster] 2 nodes, each sees $TRANSFER_HOME={paths.home()}" in log  # the start-time check ran
    runs = cell_runs(tmp_path, "two-nodes")
    assert len(runs) == 8 and all(r.info.status == "FINISHED" for r in runs)
    ran_on = {r.data.tags["ray_node_id"] for r in runs}
    assert ran_on == {nodes.head_id, nodes.worker_id}, ran_on  # both nodes ran cells
    built_on = {r.data.tags["inputs_node_id"] for r in runs}
    assert len(built_on) == 1 and built_on <= ran_on  # one input-building task, on one of the nodes
    # cells on the other node read features they did not extract, through the object store
    assert any(r.data.tags["ray_node_id"] not in built_on for r in runs)
    assert {r.data.tags["ray_node_ip"] for r in runs} == {"127.0.0.1"}
    assert {r.data.tags["ray_attempt"] for r in runs} == {"1"}


def running_cells_on(node_id: str) -> list[str]:
    from ray.util.state import list_tasks

    tasks = list_tasks(filters=[("node_id", "=", node_id), ("state", "=", "RUNNING")], timeout=30,
                       raise_on_missing_output=False)
    return [t.name.removeprefix("cell ") for t in tasks if t.name.startswith("cell ")]


def test_worker_node_killed_mid_sweep_its_cells_rerun_elsewhere_once(nodes, tmp_path):
    """Last in the module: it kills the worker node (SIGKILL to its raylet and its processes, by PID)."""
    cmd, env = sweep_cmd(tmp_path, "node-loss", "grid.methods=[vanilla,logconf]",
                         "grid.seeds=[0,1,2,3,4,5,6,7,8]", "head.epochs=20000")  # cells long enough to be caught running
    with open(tmp_path / "job.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=paths.repo_root(), env={**env, "RAY_ADDRESS": nodes.dashboard},
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        lost, deadline = [], time.time() + 400
        while not lost and time.time() < deadline and proc.poll() is None:  # a cell busy on the worker node
            lost = running_cells_on(nodes.worker_id)
            time.sleep(0.2)
        assert lost, "no cell ever ran on the worker node:\n" + (tmp_path / "job.log").read_text()[-3000:]
        killed = nodes.kill_worker()
        assert proc.wait(timeout=500) == 0, (tmp_path / "job.log").read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "job.log").read_text()
    print(f"\nkilled the worker node (pids {killed}) while it ran {lost}")
    assert f"[cluster] node {nodes.worker_id[:12]} (127.0.0.1) lost" in text, text[-3000:]
    for name in lost:  # what it was running is named and run again
        assert f"[cluster] cell {name} lost with its worker or node" in text, text[-3000:]
    runs = cell_runs(tmp_path, "node-loss")
    hashes = [r.data.tags["config_hash"] for r in runs]
    assert len(runs) == 18 and len(set(hashes)) == 18  # every cell once: no duplicates, none missing
    assert all(r.info.status == "FINISHED" for r in runs)
    retried = {r.info.run_name: r.data.tags for r in runs if r.data.tags["ray_attempt"] != "1"}
    assert set(lost) <= set(retried), (lost, retried)
    assert all(t["ray_node_id"] == nodes.head_id for t in retried.values())  # the node that was left
