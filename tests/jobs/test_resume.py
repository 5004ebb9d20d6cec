"""kill -9 of a real sweep mid-run, then the same command again: only the missing cells run, no duplicate child
runs, orphans are marked FAILED, and the Ray processes the killed driver left are found and stopped (by PID).

A real subprocess `python -m jobs.sweep` on 40 real HH pairs (MiniLM -> SmolLM2) with a throwaway sqlite store, its
own TRANSFER_HOME (assets shared through a symlink, features extracted afresh) and its own Ray temp dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.cluster import ray_processes, stop
from transfer import paths

pytestmark = pytest.mark.slow
SEEDS = list(range(5))
CELLS = 2 * len(SEEDS)


def cell_status(db: Path) -> dict[str, list[str]]:
    """status -> config hashes of the cell runs, read straight from the sqlite file (fast enough to poll)."""
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        rows = con.execute("select r.status, h.value from runs r join tags t on t.run_uuid = r.run_uuid "
                           "and t.key = 'transfer.role' and t.value = 'cell' left join tags h on "
                           "h.run_uuid = r.run_uuid and h.key = 'config_hash'").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return {}
    finally:
        con.close()
    out: dict[str, list[str]] = {}
    for status, h in rows:
        out.setdefault(status, []).append(h)
    return out


def test_kill_9_mid_sweep_then_rerun_runs_only_the_missing_cells(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "assets").symlink_to(paths.home() / "assets")
    ray_tmp = tempfile.mkdtemp(prefix="rk", dir="/tmp")  # short: Ray's socket paths have a length limit
    db = tmp_path / "mlruns.db"
    env = {**os.environ, "TRANSFER_HOME": str(home), "RAY_TMPDIR": ray_tmp,
           "TRANSFER_ARTIFACT_ROOT": str(tmp_path / "artifacts")}
    for key in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "jobs.sweep", "study=killed", "setting.data.max_pairs=40", "~setting.ood",
           "grid.methods=[vanilla,logconf]", f"grid.seeds=[{','.join(map(str, SEEDS))}]", "head.epochs=20",
           "runtime.num_cpus=1", "runtime.progress=false", f"runtime.tracking_uri=sqlite:///{db}"]
    root = paths.repo_root()
    left: list[psutil.Process] = []
    try:
        with open(tmp_path / "first.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline, caught_running = time.time() + 240, False
        while time.time() < deadline and proc.poll() is None:
            st = cell_status(db)
            done, running = len(st.get("FINISHED", [])), len(st.get("RUNNING", []))
            if done >= 1 and running:  # inside log_cell: the worst moment to die
                caught_running = True
                break
            if done >= 3:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the sweep ended before it could be killed:\n" + (tmp_path / "first.log").read_text()[-3000:]
        family = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        time.sleep(2)
        left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] + ray_processes(ray_tmp)
        stop(left)  # the killed driver's Ray (raylet, GCS, workers): ours, by PID
        assert not [p for p in ray_processes(ray_tmp) if p.is_running()]

        before = cell_status(db)
        done, orphans = before.get("FINISHED", []), before.get("RUNNING", [])
        assert 1 <= len(done) < CELLS, before
        # SIMULATED orphan, in addition to any the kill left: a cell run RUNNING as a driver killed inside
        # log_cell leaves it (the kill above lands there only sometimes)
        client = MlflowClient(f"sqlite:///{db}")
        exp = client.get_experiment_by_name("killed").experiment_id
        client.create_run(exp, run_name="simulated-orphan", tags={"transfer.role": "cell", "config_hash": "sim"})
        n_orphans = len(orphans) + 1

        rerun = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
        assert (f"{CELLS} cells, {len(done)} already finished, {CELLS - len(done)} to run "
                f"({n_orphans} orphaned runs marked FAILED)") in rerun.stdout
        after = cell_status(db)
        assert len(after["FINISHED"]) == CELLS == len(set(after["FINISHED"]))  # every cell once: no duplicates
        assert set(done) <= set(after["FINISHED"])  # the finished ones were kept, not rerun
        assert len(after.get("FAILED", [])) == n_orphans and not after.get("RUNNING")
        again = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert f"{CELLS} cells, {CELLS} already finished, 0 to run" in again.stdout
        print(f"killed with {len(done)}/{CELLS} finished; caught inside log_cell: {caught_running}; "
              f"orphans {n_orphans} (1 simulated)")
    finally:
        stop([p for p in ray_processes(ray_tmp) if p.is_running()] + [p for p in left if p.is_running()])
        shutil.rmtree(ray_tmp, ignore_errors=True)
