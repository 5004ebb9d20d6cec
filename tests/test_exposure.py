"""The services the harness starts listen on loopback only: local Ray (init_ray), the MLflow UI (`make mlflow-ui`'s
own command line) and a managed vLLM server. Checked on the real listening sockets of each service's processes."""

from __future__ import annotations

import ipaddress
import os
import shlex
import signal
import subprocess
import time

import psutil
import pytest

from transfer import paths
from transfer.backends.server import free_port


def listening(pids: list[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket in LISTEN state held by these processes."""
    out = []
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        out += [(pid, c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    return out


def family(pid: int) -> list[int]:
    try:
        return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is IPv4 loopback on a dual-stack socket
    return (mapped or addr).is_loopback


def assert_loopback(socks, what: str) -> None:
    assert socks, f"{what}: no listening socket found (is it up?)"
    exposed = [s for s in socks if not loopback(s[1])]
    assert not exposed, f"{what} listens beyond loopback: {exposed}"



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


def test_mlflow_ui_as_make_starts_it_listens_on_loopback_only(tmp_path):
    env_make = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # CI: inside make
    out = subprocess.run(["make", "--no-print-directory", "-n", "mlflow-ui"], cwd=paths.repo_root(), env=env_make,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    line = next((ln for ln in out if "mlflow ui" in ln), out[-1])
    assert "mlflow ui" in line, line
    port = free_port()
    cmd = line.replace("--port 5000", f"--port {port}")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'ui.db'}",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(["bash", "-c", "exec " + cmd], cwd=paths.repo_root(), env=env, start_new_session=True,
                            stdout=open(tmp_path / "ui.log", "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-2000:]
            if any(p == port for _, _, p in listening(family(proc.pid))):
                break
            time.sleep(0.5)
        assert_loopback(listening(family(proc.pid)), f"mlflow ui ({shlex.split(cmd)[0]})")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the session we started (start_new_session: pgid == its pid)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.slow
def test_managed_vllm_server_listens_on_loopback_only(tmp_path):
    from tests.backends.conftest import model_cfg, vllm_cfg
    from transfer.backends.server import launch

    server = launch(model_cfg("minilm_l6"), vllm_cfg(), "embed", log_dir=str(tmp_path))
    try:
        assert_loopback(listening(family(server.pid)), "vLLM server")
    finally:
        server.stop()
