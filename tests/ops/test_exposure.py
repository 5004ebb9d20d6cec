"""The services the harness starts listen on loopback only: local Ray (init_ray), the MLflow UI (`make mlflow-ui`'s
own command line) and a managed vLLM server. Checked on the real listening sockets of each service's processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from ops.lifecycle import free_port
from tests.helpers.scripts import console_scripts
from tests.helpers.sockets import listening, family, loopback, assert_loopback
from transfer import paths


def test_local_ray_listens_on_loopback_only(ray_local):
    ray = ray_local
    if os.environ.get("RAY_ADDRESS"):
        pytest.skip("RAY_ADDRESS set: this session joined a cluster, not the embedded local Ray")
    ray.get(ray.remote(lambda: 1).remote())  # a worker process too
    node = ray._private.worker._global_node
    pids = {os.getpid()} | {info.process.pid for infos in node.all_processes.values() for info in infos}
    pids |= {d for p in list(pids) if p != os.getpid() for d in family(p)}
    socks = listening(sorted(pids))
    assert_loopback(socks, "local Ray")
    assert len({p for p, _, _ in socks}) >= 3  # GCS, raylet, workers: every process was looked at


def test_make_mlflow_ui_listens_on_loopback_only_and_sigterm_stops_every_process(tmp_path):
    """`make mlflow-ui` for real; then SIGTERM to make alone (not its group) must leave no server or worker behind."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # CI: inside make
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'ui.db'}", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    from transfer.store.writer import StudyWriter

    exp = StudyWriter("ui-study", env["MLFLOW_TRACKING_URI"]).experiment_id  # a study whose address it must print
    port = free_port()
    stamp = tmp_path / "venv-stamp"
    stamp.touch()  # newer than pyproject.toml: make's venv rule has nothing to do (this interpreter, nothing installed)
    proc = subprocess.Popen(["make", "--no-print-directory", "mlflow-ui", f"MLFLOW_PORT={port}", f"PY={sys.executable}",
                             f"STAMP={stamp}", f"BIN={console_scripts(tmp_path / 'bin')}"],
                            cwd=paths.repo_root(), env=env, start_new_session=True,
                            stdout=open(tmp_path / "ui.log", "w"), stderr=subprocess.STDOUT)
    seen: set[int] = set()
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-2000:]
            seen |= set(family(proc.pid))
            if any(p == port for _, _, p in listening(family(proc.pid))):
                break
            time.sleep(0.5)
        seen |= set(family(proc.pid))
        socks = listening(family(proc.pid))
        assert any(p == port for _, _, p in socks), (tmp_path / "ui.log").read_text()[-2000:]
        assert_loopback(socks, "make mlflow-ui")
        base = f"http://127.0.0.1:{port}"
        assert f"study ui-study: {base}/transfer/open?experiment={exp}" in (tmp_path / "ui.log").read_text(), \
            (tmp_path / "ui.log").read_text()[-2000:]
        # the printed address stores the UI's model-training choice, then opens the study's saved view
        opened = urllib.request.urlopen(f"{base}/transfer/open?experiment={exp}", timeout=30).read().decode()
        assert 'localStorage.setItem("mlflow.workflowType_v1", "\\"machine_learning\\"")' in opened, opened
        assert f'"/#/experiments/{exp}/runs?viewStateShareKey=transfer&workflowType=machine_learning"' in opened
        for path in ("/", "/health", "/ajax-api/2.0/mlflow/experiments/search?max_results=5") * 5:
            urllib.request.urlopen(base + path, timeout=30).read()
        time.sleep(1)
        # quiet: the addresses and nothing else (no access log, no start-up banner or INFO lines)
        lines = (tmp_path / "ui.log").read_text().splitlines()
        assert lines and all(x.startswith(("MLflow UI: http://", "  study ")) for x in lines), lines
        os.kill(proc.pid, signal.SIGTERM)  # make alone, as `kill <pid of make>` would
        proc.wait(30)
        deadline = time.time() + 30
        while time.time() < deadline and any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                                             for p in seen - {proc.pid}):
            time.sleep(0.5)
        left = [p for p in seen - {proc.pid} if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        assert not left, f"processes left after SIGTERM to make: {left}"
    finally:  # whatever a failed assertion left: only the processes this test started (seen as make's family)
        for p in seen | {proc.pid}:
            try:
                psutil.Process(p).kill()
            except psutil.Error:
                pass


@pytest.mark.slow
def test_managed_vllm_server_listens_on_loopback_only(tmp_path):
    from tests.helpers.backends import model_cfg, vllm_cfg
    from transfer.backends.server import launch

    server = launch(model_cfg("minilm_l6"), vllm_cfg(), "embed", log_dir=str(tmp_path))
    try:
        assert_loopback(listening(family(server.pid)), "vLLM server")
    finally:
        server.stop()
