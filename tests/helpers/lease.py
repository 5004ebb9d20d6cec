"""A real driver process that takes a study's lease (jobs/lease.py) and holds it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

DRIVER = """
import sys, time
from jobs.lease import StudyLease
from transfer.store.writer import StudyWriter
t = StudyWriter("leased", sys.argv[1])
with StudyLease(t.client, t.parent_id, "leased", wait=sys.argv[2] == "wait", stale_s=60):
    print("HOLDING", flush=True)
    time.sleep(float(sys.argv[3]))
print("RELEASED", flush=True)
"""


def driver(store: str, mode: str, hold_s: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DRIVER, store, mode, str(hold_s)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})


def wait_holding(proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if "HOLDING" in line:
            return
        assert line or proc.poll() is None, f"driver exited with {proc.returncode}"
    pytest.fail("driver never took the lease")
