"""A real tracking server for tests: `make tracking-server` on free loopback ports with its own TRANSFER_HOME, and
its stop by PID (tests/ops/test_tracking_server.py, tests/transfer/store/test_study_race.py)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from ops.lifecycle import free_port
from tests.helpers.scripts import console_scripts
from transfer import paths

ROOT = paths.repo_root()
START_TIMEOUT_S = 300  # PostgreSQL + MLflow's server on a loaded 2-core machine


@dataclass
class Server:
    home: Path
    port: int
    pg_port: int
    uri: str = ""
    log: str = ""
    proc: subprocess.Popen | None = None
    pids: list[psutil.Process] = field(default_factory=list)


def start(s: Server) -> None:
    """`make tracking-server` until it prints the URI (PY, STAMP, BIN: this interpreter, nothing installed)."""
    stamp = s.home / "venv-stamp"
    stamp.touch()  # newer than pyproject.toml: make's venv rule has nothing to do
    # ARGS= on the command line: under `make test ARGS=...` (CI) make exports ARGS to this process's environment,
    # and the inner make would hand pytest's options to the tracking server
    cmd = ["make", "--no-print-directory", "tracking-server", f"TRACKING_PORT={s.port}",
           f"TRACKING_PG_PORT={s.pg_port}", f"PY={sys.executable}", f"STAMP={stamp}", "ARGS=",
           f"BIN={console_scripts(s.home / 'bin')}"]
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # CI: `make test`'s
    env["TRANSFER_HOME"] = str(s.home)
    log = s.home / f"server-{time.time():.0f}.log"
    with open(log, "w") as out:
        s.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + START_TIMEOUT_S
    while True:
        s.log = log.read_text()
        found = re.search(r"^export MLFLOW_TRACKING_URI=(\S+)$", s.log, re.M)
        if found:
            s.uri = found.group(1)
            break
        assert s.proc.poll() is None, f"make tracking-server exited {s.proc.returncode}:\n{s.log[-3000:]}"
        assert time.time() < deadline, f"no URI within {START_TIMEOUT_S} s:\n{s.log[-3000:]}"
        time.sleep(0.5)
    s.pids = psutil.Process(s.proc.pid).children(recursive=True)  # the module, PostgreSQL, MLflow's processes


def stop(s: Server) -> list[str]:
    """SIGTERM to make's group (what Ctrl-C in a terminal does); returns what is still alive after 120 s."""
    if s.proc is not None and s.proc.poll() is None:
        os.killpg(s.proc.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(s.pids, timeout=120)
    left = [f"{p.pid} {' '.join(p.cmdline()[:3])}" for p in alive if p.is_running()]
    for p in alive:  # a failed stop must not leave a database behind: ours, by PID
        p.kill()
    s.proc = None
    return left


def serve():
    """For a module-scoped fixture: `yield from serve()` gives a started Server, stopped (and checked) after."""
    home = Path(tempfile.mkdtemp(prefix="ts", dir="/tmp"))  # short: the database socket path has a length limit
    home.chmod(0o755)  # as root, PostgreSQL runs as `postgres`, which must enter it
    s = Server(home, free_port(), free_port())
    try:
        start(s)
        yield s
    finally:
        left = stop(s)
        shutil.rmtree(home, ignore_errors=True)
        assert not left, f"still running after SIGTERM: {left}"
