"""With RAY_ADDRESS set, `python -m jobs.sweep` (what `make sweep` runs) submits itself as a Ray Job: the working
tree is shipped, the job's logs stream back, results land in the submitter's tracking store.

A real Ray head started here (`ray start --head`, loopback, own temp dir and ports) and stopped by PID afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

import psutil
import pytest
from mlflow.tracking import MlflowClient

from ops.lifecycle import free_port
from tests.helpers.cluster import ray_processes, stop
from transfer import paths

pytestmark = pytest.mark.slow



def test_sweep_with_ray_address_runs_as_a_ray_job(tmp_path):
    ray_tmp = tempfile.mkdtemp(prefix="rj", dir="/tmp")
    gcs, dash = free_port(), free_port()
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    # the job's entrypoint runs `python` on the head's PATH: start the head as a user would, from the environment
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    try:
        subprocess.run([ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}", "--num-cpus=2",
                        "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", f"--temp-dir={ray_tmp}",
                        "--include-dashboard=true", "--disable-usage-stats",
                        f"--dashboard-agent-listen-port={free_port()}"],  # Ray's default 52365 may be taken
                       env=env, check=True, capture_output=True, text=True, timeout=120)
        uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
        job_env = {**env, "RAY_ADDRESS": f"http://127.0.0.1:{dash}", "MLFLOW_TRACKING_URI": uri,
                   "TRANSFER_ARTIFACT_ROOT": str(tmp_path / "artifacts")}
        t0 = time.time()
        out = subprocess.run([sys.executable, "-m", "jobs.sweep", "study=as-job", "setting.data.max_pairs=40",
                              "~setting.ood", "grid.methods=[vanilla]", "grid.seeds=[0,1]", "head.epochs=5",
                              "runtime.progress=false"], cwd=paths.repo_root(), env=job_env, capture_output=True,
                             text=True, timeout=300)
        log = out.stdout + out.stderr
        assert out.returncode == 0, log[-4000:]
        assert "[submit] Ray Job" in log and "SUCCEEDED" in log
        assert "2 cells, 0 already finished, 2 to run" in log  # the job's own output, streamed back
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name("as-job")
        runs = client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'cell'")
        assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
        assert runs[0].data.tags["git_sha"] == paths.git_sha()  # the submitter's code version, not "unknown"
        assert exp.artifact_location.startswith((tmp_path / "artifacts").as_uri())  # not the job's temp copy
        print(f"ray job round trip {time.time() - t0:.0f} s")
    finally:
        stop([p for p in ray_processes(ray_tmp) if p.is_running()])
        assert not [p for p in ray_processes(ray_tmp) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        shutil.rmtree(ray_tmp, ignore_errors=True)
