"""The tracking server's one-line errors, with real sockets, real folders and the real CLI (no server starts), and
the client's: a tracking URI nothing answers at is one line, before MLflow's minutes of retries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from ops.lifecycle import free_port
from transfer import paths, store

ROOT = paths.repo_root()


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ops.tracking_server", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def one_error_line(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


@pytest.mark.parametrize("which", ["--port", "--pg-port"])
def test_a_port_in_use_is_one_line(tmp_path, which):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(cli(which, str(port), "--port" if which == "--pg-port" else "--pg-port",
                                  str(free_port()), "--dir", str(tmp_path / "t")))
    what = "the MLflow server" if which == "--port" else "PostgreSQL"
    assert line.startswith(f"error: port 127.0.0.1:{port} for {what} is in use") and "pick another port" in line
    assert not (tmp_path / "t" / "pg").exists()  # nothing was created


def test_initdb_missing_is_one_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    line = one_error_line(cli("--port", str(free_port()), "--pg-port", str(free_port()), "--dir", str(tmp_path / "t"),
                              "--pg-bin", str(empty)))
    assert line == (f"error: PostgreSQL's initdb not found (looked in {empty}): install PostgreSQL "
                    f"(Debian: apt-get install postgresql) or pass --pg-bin DIR")


def test_an_unreachable_database_is_one_line(tmp_path):
    port = free_port()  # nothing listens there
    line = one_error_line(cli("--port", str(free_port()), "--dir", str(tmp_path / "t"),
                              "--database-uri", f"postgresql://mlflow:secret@127.0.0.1:{port}/mlflow"))
    assert line.startswith(f"error: database unreachable: postgresql://mlflow:***@127.0.0.1:{port}/mlflow (")
    assert "secret" not in line


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: PostgreSQL then runs as another user")
def test_a_folder_postgres_cannot_enter_is_one_line(tmp_path):
    closed = tmp_path / "closed"  # pytest's tmp folders are 0700: the `postgres` user cannot enter them
    closed.mkdir(mode=0o700)
    line = one_error_line(cli("--port", str(free_port()), "--pg-port", str(free_port()), "--dir", str(closed / "t")))
    assert "PostgreSQL runs as user 'postgres' (it refuses root) and cannot enter" in line and "chmod o+x" in line


def test_a_tracking_server_that_does_not_answer_is_one_line():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(store.StudyError) as err:
        store.client(uri)
    assert str(err.value).startswith(f"tracking server {uri} does not answer (")
    assert "make tracking-server" in str(err.value) and "\n" not in str(err.value)


def test_a_sweep_against_a_dead_tracking_server_fails_in_one_line_before_ray(capsys):
    from hydra import initialize_config_dir

    from jobs.sweep import main as sweep_main

    uri = f"http://127.0.0.1:{free_port()}"
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        code = sweep_main(["grid.methods=[vanilla]", "grid.seeds=[0]", f"runtime.tracking_uri={uri}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [err[0]] and err[0].startswith(f"error: tracking server {uri} does not answer")
    import ray

    assert not ray.is_initialized()


def test_the_database_uri_is_printed_without_its_password():
    from ops.pg import libpq_uri, redact, sqlalchemy_uri

    assert redact("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://u@h:5432/db") == "postgresql://u@h:5432/db"
    assert sqlalchemy_uri("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert libpq_uri("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"
