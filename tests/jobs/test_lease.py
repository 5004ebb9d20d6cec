"""One driver per study (jobs/lease.py), with real processes on a real sqlite MLflow store: a second driver
refuses in one line or waits; a dead owner's lease is taken over. No models: the drivers hold the lease only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from jobs.lease import OWNER
from tests.helpers.lease import DRIVER, driver, wait_holding


@pytest.fixture
def store(tmp_path):
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_a_second_driver_refuses_in_one_line_then_takes_over_from_a_dead_one(store):
    first = driver(store, "refuse", 600)
    try:
        wait_holding(first)
        second = subprocess.run([sys.executable, "-c", DRIVER, store, "refuse", "0"], capture_output=True, text=True,
                                timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
        assert second.returncode != 0
        last = second.stderr.strip().splitlines()[-1]
        assert "LeaseHeld: study 'leased' is being run by another driver" in last and "runtime.lease_wait" in last
        os.kill(first.pid, signal.SIGKILL)  # dies holding the lease
        first.wait(30)
        third = subprocess.run([sys.executable, "-c", DRIVER, store, "refuse", "0"], capture_output=True, text=True,
                               timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
        assert third.returncode == 0, third.stderr[-2000:]
        assert "took over study 'leased' from a driver that is gone" in third.stdout
        exp = MlflowClient(store).get_experiment_by_name("leased").experiment_id
        parent = MlflowClient(store).search_runs([exp])[0]
        assert OWNER not in parent.data.tags  # released on exit
    finally:
        first.kill()


def test_a_waiting_driver_queues_behind_a_live_one(store):
    first = driver(store, "refuse", 30)  # longer than the second takes to start on a loaded machine
    try:
        wait_holding(first)
        second = driver(store, "wait", 0)
        out, _ = second.communicate(timeout=180)
        first_out, _ = first.communicate(timeout=60)
        assert "waiting" in out and "HOLDING" in out and second.returncode == 0
        assert "RELEASED" in first_out  # the first finished its block before the second held the lease
    finally:
        first.kill()
