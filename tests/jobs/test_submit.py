"""Submitting to a Ray cluster with a tracking store the cluster cannot share is said before the job is submitted."""

from __future__ import annotations

import socket

import pytest

from jobs.submit import local_store_warning


@pytest.mark.parametrize("address", ["http://10.1.2.3:8265", "ray://head.cluster:10001", "head.cluster:6379"])
def test_a_sqlite_store_with_a_remote_cluster_is_warned_about(address):
    msg = local_store_warning(address, "sqlite:////home/me/transfer/mlruns.db")
    assert msg and "sqlite:////home/me/transfer/mlruns.db" in msg and address in msg and "tracking-server" in msg


@pytest.mark.parametrize("address", ["http://127.0.0.1:8265", "http://localhost:8265", f"{socket.gethostname()}:6379"])
def test_a_local_cluster_or_a_tracking_server_is_not(address):
    assert local_store_warning(address, "sqlite:////home/me/transfer/mlruns.db") is None
    assert local_store_warning("http://10.1.2.3:8265", "http://10.1.2.3:5000") is None
