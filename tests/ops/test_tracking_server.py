"""`make tracking-server` for real: PostgreSQL (initdb under $TRANSFER_HOME/tracking) and `mlflow server` with served
artifacts, started through make on free loopback ports. Against it: docs/cluster.md's smoke commands (two real
sweeps into two studies at once, then a report), the study lease and paginated reads over HTTP, and a restart that
keeps the data. Everything started is stopped by PID; the finalizer checks that nothing is left.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ops.lifecycle import free_port
from tests.helpers.tracking import serve, start, stop
from transfer import paths, store

pytestmark = pytest.mark.slow
ROOT = paths.repo_root()


@pytest.fixture(scope="module")
def server():
    yield from serve()


def smoke_commands() -> list[list[str]]:
    """The concurrent `make sweep ARGS=...` lines of docs/cluster.md's smoke test, as jobs.sweep arguments."""
    text = (ROOT / "docs" / "cluster.md").read_text()
    lines = re.findall(r'^make sweep ARGS="(study=smoke-[^"]*)" &$', text, re.M)
    assert len(lines) == 2, "docs/cluster.md lost its two concurrent smoke sweeps"
    return [shlex.split(x) for x in lines]


@pytest.fixture(scope="module")
def smoke(server, tmp_path_factory):
    """Both smoke sweeps started at once (what `make sweep` runs: python -m jobs.sweep ARGS), each with its own Ray;
    runtime.* does not change results: one CPU each on this 2-core machine, no progress bars."""
    tmp = tmp_path_factory.mktemp("smoke")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(MLFLOW_TRACKING_URI=server.uri, TRANSFER_ARTIFACT_ROOT=str(tmp / "local-artifacts"))
    procs, rays = {}, []
    for args in smoke_commands():
        ray_tmp = tempfile.mkdtemp(prefix="rs", dir="/tmp")
        rays.append(ray_tmp)
        study = args[0].split("=", 1)[1]
        log = open(tmp / f"{study}.log", "w")  # noqa: SIM115
        procs[study] = (args, subprocess.Popen([sys.executable, "-m", "jobs.sweep", *args, "runtime.num_cpus=1",
                                                "runtime.progress=false"], cwd=ROOT, env={**env, "RAY_TMPDIR": ray_tmp},
                                               stdout=log, stderr=subprocess.STDOUT), log, time.time())
    try:
        spans = {}
        for study, (args, proc, log, t0) in procs.items():
            proc.wait(1200)
            spans[study] = (t0, time.time())  # polled in start order: an upper bound on the first one's end
            log.close()
            out = (tmp / f"{study}.log").read_text()
            assert proc.returncode == 0, f"{study}: exit {proc.returncode}\n{out[-4000:]}"
            print(f"{study}: {spans[study][1] - t0:.0f} s")
        yield {study: args for study, (args, *_rest) in procs.items()}, tmp, spans
    finally:
        for _, proc, _, _ in procs.values():
            if proc.poll() is None:
                proc.kill()
        for ray_tmp in rays:
            shutil.rmtree(ray_tmp, ignore_errors=True)


def expected_hashes(args: list[str]) -> list[str]:
    from jobs.grid import expand

    return sorted(c.config_hash for c in expand(args).cells)


def test_postgres_and_mlflow_listen_on_loopback_only(server):
    from tests.helpers.sockets import assert_loopback, listening

    socks = listening([p.pid for p in server.pids])
    assert {port for _, _, port in socks} >= {server.port, server.pg_port}
    assert_loopback(socks, "make tracking-server")


def test_two_sweeps_at_once_lose_nothing(server, smoke):
    studies = smoke[0]
    c = store.client(server.uri)
    for study, args in studies.items():
        exp = store.find_experiment(c, study).experiment_id
        parents = store.runs(c, exp, store.STUDY)
        assert len(parents) == 1 and parents[0].info.status == "FINISHED", study
        cells = store.runs(c, exp, store.CELL)
        assert sorted(r.data.tags["config_hash"] for r in cells) == expected_hashes(args)  # all there, once each
        for r in cells:
            assert r.info.status == "FINISHED" and r.data.tags[store.PARENT] == parents[0].info.run_id
            assert r.data.tags["study"] == study
            assert {"weak_acc", "ceiling_acc", "w2s_acc", "gap", "pgr", "n_test"} <= set(r.data.metrics), r.info.run_id
            assert 0 <= r.data.metrics["w2s_acc"] <= 1
    (a0, a1), (b0, b1) = smoke[2].values()
    assert max(a0, b0) < min(a1, b1), "the two sweeps did not run at the same time"


WRITER = """
import sys, time
from pathlib import Path
import pandas as pd
from transfer.store.writer import StudyWriter
uri, study, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
w = StudyWriter(study, uri)
Path(f"{go}.{study}").touch()  # ready: MLflow imported, the study created
while not go.exists():
    time.sleep(0.01)
for i in range(n):
    w.log_run(f"cell{i}", {"config_hash": f"{study}-{i}", "seed": str(i)}, {"w2s_acc": i / n},
              files={"predictions.parquet": pd.DataFrame({"i": range(100)}), "cell_config.json": {"i": i}})
w.finish()
"""


def test_two_writers_hammering_two_studies_at_once_lose_nothing(server, tmp_path):
    """The sweeps above log their cells in about a second each, so their logging may not overlap: here two drivers
    (the store's own StudyWriter, in two processes) released at the same instant each log 40 cells with artifacts."""
    n, go = 40, tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, server.uri, study, str(n), str(go)], env=env,
                              stderr=subprocess.PIPE, text=True) for study in ("hammer-a", "hammer-b")]
    deadline = time.time() + 300
    while not all(Path(f"{go}.{study}").exists() for study in ("hammer-a", "hammer-b")):
        assert time.time() < deadline and all(p.poll() is None for p in procs), "a writer never got ready"
        time.sleep(0.1)
    go.touch()  # both released at once
    for p in procs:
        assert p.wait(600) == 0, p.stderr.read()[-3000:]
    c = store.client(server.uri)
    windows = []
    for study in ("hammer-a", "hammer-b"):
        exp = store.find_experiment(c, study).experiment_id
        parent = store.runs(c, exp, store.STUDY)
        cells = store.runs(c, exp, store.CELL, page_size=7)
        assert len(parent) == 1 and parent[0].info.status == "FINISHED"
        assert sorted(r.data.tags["config_hash"] for r in cells) == sorted(f"{study}-{i}" for i in range(n))
        for r in cells:
            assert r.info.status == "FINISHED" and r.data.tags[store.PARENT] == parent[0].info.run_id
            assert r.data.metrics["w2s_acc"] == int(r.data.tags["seed"]) / n
            assert {a.path for a in c.list_artifacts(r.info.run_id)} == {store.PREDICTIONS, store.CELL_CONFIG}
        windows.append((min(r.info.start_time for r in cells), max(r.info.end_time for r in cells)))
    (a0, a1), (b0, b1) = windows
    assert max(a0, b0) < min(a1, b1), f"the writers did not overlap: {windows}"
    print(f"two writers x {n} cells: {(max(a1, b1) - min(a0, b0)) / 1000:.1f} s, overlap "
          f"{(min(a1, b1) - max(a0, b0)) / 1000:.1f} s")


def test_artifacts_are_served_not_written_locally(server, smoke, tmp_path):
    studies, tmp, _ = smoke
    c = store.client(server.uri)
    served = server.home / "tracking" / "artifacts"
    for study in studies:
        exp = store.find_experiment(c, study)
        assert exp.artifact_location.startswith("mlflow-artifacts:"), exp.artifact_location
        for r in store.runs(c, exp.experiment_id, store.CELL):
            assert r.info.artifact_uri.startswith("mlflow-artifacts:")
            on_disk = served / exp.experiment_id / r.info.run_id / "artifacts"
            assert {p.name for p in on_disk.iterdir()} >= {store.PREDICTIONS, store.CELL_CONFIG}
            got = store.artifact(c, r.info.run_id, store.PREDICTIONS, str(tmp_path / r.info.run_id))
            assert got.read_bytes() == (on_disk / store.PREDICTIONS).read_bytes()
    assert not (tmp / "local-artifacts").exists()  # the client wrote nothing beside itself


def test_a_report_builds_from_the_server(server, smoke, tmp_path):
    """What `make report STUDY=smoke-a` runs, reading the store over HTTP and logging its results back."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.uri}
    out = subprocess.run([sys.executable, "-m", "jobs.report", "--study", "smoke-a", "--out", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    md = (tmp_path / "smoke-a" / "report.md").read_text()
    assert "vanilla" in md and "logconf" in md
    c = store.client(server.uri)
    parent = store.parent_run(c, store.find_experiment(c, "smoke-a").experiment_id)
    assert {a.path for a in c.list_artifacts(parent.info.run_id)} - {store.STUDY_CONFIG}, "nothing logged back"


def test_paging_and_the_study_lease_work_over_http(server, smoke):
    from tests.helpers.lease import DRIVER, driver, wait_holding

    c = store.client(server.uri)
    exp = store.find_experiment(c, "smoke-a").experiment_id
    every = store.runs(c, exp, store.CELL)
    paged = store.runs(c, exp, store.CELL, page_size=2)  # several pages, each a REST call with a page token
    assert len(every) > 2 and sorted(r.info.run_id for r in paged) == sorted(r.info.run_id for r in every)
    first = driver(server.uri, "refuse", 600)
    try:
        wait_holding(first)
        second = subprocess.run([sys.executable, "-c", DRIVER, server.uri, "refuse", "0"], capture_output=True,
                                text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert second.returncode != 0
        assert "LeaseHeld: study 'leased' is being run by another driver" in second.stderr.strip().splitlines()[-1]
        first.kill()  # dies holding the lease
        first.wait(30)
        third = subprocess.run([sys.executable, "-c", DRIVER, server.uri, "refuse", "0"], capture_output=True,
                               text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert third.returncode == 0 and "took over study 'leased'" in third.stdout, third.stderr[-2000:]
    finally:
        first.kill()


def test_a_second_server_on_an_existing_database_sees_the_same_runs(server, smoke, tmp_path):
    """--database-uri (a lab's own PostgreSQL; here the first server's, password through $PGPASSFILE): no cluster is
    created, the runs are there, and stopping this server leaves that database running."""
    port = free_port()
    uri = f"postgresql://transfer@127.0.0.1:{server.pg_port}/mlflow"
    env = {**os.environ, "PGPASSFILE": str(server.home / "tracking" / "pgpass")}
    proc = subprocess.Popen([sys.executable, "-m", "ops.tracking_server", "--port", str(port), "--dir",
                             str(tmp_path / "t"), "--database-uri", uri], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        for line in proc.stdout:  # ends when the process does
            lines.append(line)
            if line.startswith("export MLFLOW_TRACKING_URI="):
                break
        assert lines and lines[-1].strip() == f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{port}", "".join(lines)
        assert f"({uri};" in "".join(lines) and not (tmp_path / "t" / "pg").exists()
        c, mine = store.client(server.uri), store.client(f"http://127.0.0.1:{port}")
        ids = [sorted(r.info.run_id for r in store.runs(cl, store.find_experiment(cl, "smoke-b").experiment_id))
               for cl in (mine, c)]
        assert ids[0] == ids[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    assert store.runs(c, store.find_experiment(c, "smoke-b").experiment_id)  # the database still serves the first


def test_a_second_server_on_the_same_folder_is_refused_in_one_line(server):
    run = subprocess.run([sys.executable, "-m", "ops.tracking_server", "--port", str(free_port()), "--pg-port",
                          str(free_port()), "--dir", str(server.home / "tracking")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert f"already runs on {server.home / 'tracking' / 'pg'}: stop it first" in run.stderr


def test_stop_then_restart_keeps_the_studies(server, smoke):
    """Last in this module: SIGTERM stops PostgreSQL and MLflow (by PID, nothing left); a second start reuses the
    cluster (no initdb) and serves the same runs."""
    assert "created the PostgreSQL cluster" in server.log
    c = store.client(server.uri)
    before = len(store.runs(c, store.find_experiment(c, "smoke-b").experiment_id, store.CELL))
    assert stop(server) == []
    assert not (server.home / "tracking" / "pg" / "postmaster.pid").exists()  # PostgreSQL shut down cleanly
    store._ANSWERED.clear()
    with pytest.raises(store.StudyError, match="does not answer"):
        store.client(server.uri)
    start(server)
    assert "created the PostgreSQL cluster" not in server.log
    c = store.client(server.uri)
    assert len(store.runs(c, store.find_experiment(c, "smoke-b").experiment_id, store.CELL)) == before
