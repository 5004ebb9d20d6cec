"""The one process lifecycle (ops/lifecycle.py) on real processes: a server started in its own group, waited on until
it answers, stopped by the ladder with nothing left — its workers included, even one that left the group."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from ops import lifecycle

# a "server" with a worker in its group and one that moved to a session of its own; TERM is ignored by the worker
# that left, so only the ladder's SIGKILL ends it
SERVER = """
import os, signal, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  "time.sleep(600)"], start_new_session=True)
open(sys.argv[1], "w").close()
time.sleep(600)
"""


def test_spawn_wait_and_stop_leave_nothing(tmp_path):
    ready = tmp_path / "ready"
    proc = lifecycle.spawn([sys.executable, "-c", SERVER, str(ready)])
    assert lifecycle.wait_healthy(proc, ready.exists, timeout_s=60, interval_s=0.1)
    deadline = time.monotonic() + 30
    while len(lifecycle.family(proc.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    t0 = time.monotonic()
    pids = lifecycle.stop(proc, ((signal.SIGTERM, 2.0, True), (signal.SIGKILL, 5.0, True)))
    assert len(pids) == 3 and not [p for p in pids if lifecycle.alive(p)]
    assert time.monotonic() - t0 < 15 and proc.returncode is not None


def test_a_process_that_exits_while_awaited_is_reported_with_its_code():
    proc = lifecycle.spawn([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(lifecycle.Exited) as exc:
        lifecycle.wait_healthy(proc, lambda: False, timeout_s=60, interval_s=0.1)
    assert exc.value.code == 3


def test_a_process_that_never_answers_times_out():
    proc = lifecycle.spawn([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert lifecycle.wait_healthy(proc, lambda: False, timeout_s=0.5, interval_s=0.1) is False
    finally:
        assert not [p for p in lifecycle.stop(proc) if lifecycle.alive(p)]


def test_a_leader_only_step_signals_the_leader_alone(tmp_path):
    """PostgreSQL's fast shutdown is SIGINT to the postmaster only: its group gets nothing until the last step."""
    ready = tmp_path / "ready"
    proc = lifecycle.spawn([sys.executable, "-c", "import signal, sys, time; signal.signal(signal.SIGINT, "
                            "lambda *a: sys.exit(0)); open(sys.argv[1], 'w').close(); time.sleep(600)", str(ready)])
    assert lifecycle.wait_healthy(proc, ready.exists, timeout_s=60, interval_s=0.1)  # its handler is installed
    pids = lifecycle.stop(proc, ((signal.SIGINT, 10.0, False), (signal.SIGKILL, 5.0, True)))
    assert proc.returncode == 0 and not [p for p in pids if lifecycle.alive(p)]


def test_http_ok_is_false_where_nothing_listens():
    assert lifecycle.http_ok(f"http://127.0.0.1:{lifecycle.free_port()}/health", 1) is False
