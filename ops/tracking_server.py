"""`make tracking-server`: a shared MLflow tracking server on PostgreSQL, with served artifacts (docs/cluster.md).

Everything lives under one folder, $TRANSFER_HOME/tracking by default: `pg/` (the PostgreSQL cluster, created by
initdb on first start; its unix socket in it), `pgpass` (its generated password, mode 0600), `artifacts/` (what runs
log: clients upload and download through the server, they need no access to this folder), `postgres.log` and
`mlflow-server.log` (the server's output, a line per request: a terminal or pipe nobody reads would block it).
PostgreSQL listens on 127.0.0.1 only; the MLflow server on --host (127.0.0.1 by default; a cluster's head node
passes its address or 0.0.0.0). With --database-uri an existing PostgreSQL is used instead of starting one.

Prints the MLFLOW_TRACKING_URI to export. SIGTERM or Ctrl-C stops both processes it started, by PID: the MLflow
server (its whole process group) first, then PostgreSQL (fast shutdown). If either exits on its own, the other is
stopped and the exit code is 1.

    python -m ops.tracking_server [--port 5001] [--pg-port 5433] [--host 127.0.0.1] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ops import lifecycle
from ops.pg import (Postgres, TrackingServerError, check_database, check_port_free, find_bin, redact,
                    sqlalchemy_uri)
from transfer import env, paths

READY_TIMEOUT_S = 300  # a loaded 2-core machine takes ~10-60 s to import MLflow's server


class _Stop(Exception):
    def __init__(self, signum: int):
        self.signum = signum


def _raise_stop(signum, _frame):
    raise _Stop(signum)


def _client_host(host: str) -> str:
    """The address clients use: a wildcard bind is reached by this machine's name."""
    return socket.getfqdn() if host in ("0.0.0.0", "::", "") else host


def _start_mlflow(backend_uri: str, artifacts: Path, host: str, port: int, pgpass: Path | None,
                  log: Path) -> subprocess.Popen:
    """Its output (a line per request) goes to `log`: a terminal or pipe nobody reads would block the server."""
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # 1 process, not 15 (docs/install.md)
    if pgpass is not None:
        env["PGPASSFILE"] = str(pgpass)  # libpq reads the password here: none in the URI or on a command line
    mlflow = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow), "server", "--backend-store-uri", backend_uri, "--artifacts-destination", str(artifacts),
           "--serve-artifacts", "--host", host, "--port", str(port), "--workers", "1"]
    with open(log, "ab") as out:  # its own group, which dies with this launcher
        return lifecycle.spawn(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def _last_line(log: Path) -> str:
    lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()] if log.exists() else []
    return lines[-1] if lines else "no output"


def _wait_healthy(proc: subprocess.Popen, url: str, timeout_s: float, log: Path) -> None:
    try:
        if lifecycle.wait_healthy(proc, lambda: lifecycle.http_ok(f"{url}/health", 5), timeout_s, interval_s=1):
            return
    except lifecycle.Exited as exc:
        raise TrackingServerError(f"the MLflow server exited with code {exc.code} before answering: "
                                  f"{_last_line(log)} (log: {log})") from None
    raise TrackingServerError(f"the MLflow server did not answer {url}/health within {timeout_s:.0f} s "
                              f"(log: {log})")


def serve(a: argparse.Namespace) -> int:
    tracking = Path(a.dir).expanduser().resolve()
    check_port_free(a.host if a.host not in ("", "::") else "0.0.0.0", a.port, "the MLflow server")
    pg = None
    if a.database_uri:
        check_database(a.database_uri)
        backend, where = sqlalchemy_uri(a.database_uri), redact(a.database_uri)
    else:
        check_port_free("127.0.0.1", a.pg_port, "PostgreSQL")
        tracking.mkdir(parents=True, exist_ok=True)
        pg = Postgres(tracking / "pg", a.pg_port, find_bin(a.pg_bin), tracking / "postgres.log")
    artifacts = tracking / "artifacts"
    mlflow = None
    try:
        if pg is not None:
            if pg.init():
                print(f"[tracking] created the PostgreSQL cluster in {pg.folder}", flush=True)
            pg.start()
            backend, where = pg.uri, f"PostgreSQL 127.0.0.1:{a.pg_port}, data in {pg.folder}"
        artifacts.mkdir(parents=True, exist_ok=True)
        log = tracking / "mlflow-server.log"
        mlflow = _start_mlflow(backend, artifacts, a.host, a.port, pg.pgpass if pg else None, log)
        url = f"http://{_client_host(a.host)}:{a.port}"
        _wait_healthy(mlflow, f"http://127.0.0.1:{a.port}" if a.host in ("0.0.0.0", "") else url,
                      READY_TIMEOUT_S, log)
        print(f"[tracking] MLflow tracking server {url} ({where}; artifacts served from {artifacts}; "
              f"log {log}); Ctrl-C stops it\nexport MLFLOW_TRACKING_URI={url}", flush=True)
        while True:
            if mlflow.poll() is not None:
                raise TrackingServerError(f"the MLflow server exited with code {mlflow.returncode}: "
                                          f"{_last_line(log)} (log: {log})")
            if pg is not None and pg.proc is not None and pg.proc.poll() is not None:
                raise TrackingServerError(f"PostgreSQL exited with code {pg.proc.returncode}: {pg.last_log()}")
            time.sleep(1)
    except _Stop as stop:
        print(f"[tracking] stopping (signal {stop.signum})", flush=True)
        return 128 + stop.signum
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if mlflow is not None:
            lifecycle.stop(mlflow)
        if pg is not None:
            pg.stop()


def main(argv: list[str] | None = None) -> int:
    env.apply()  # the server inherits it: no telemetry
    ap = argparse.ArgumentParser(prog="python -m ops.tracking_server", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=5001, help="the MLflow server's port (default 5001)")
    ap.add_argument("--host", default="127.0.0.1", help="the MLflow server's address (default 127.0.0.1)")
    ap.add_argument("--pg-port", type=int, default=5433, help="PostgreSQL's port on 127.0.0.1 (default 5433)")
    ap.add_argument("--dir", default=str(paths.home() / "tracking"), help="default $TRANSFER_HOME/tracking")
    ap.add_argument("--pg-bin", default=os.environ.get("TRANSFER_PG_BIN"),
                    help="folder of initdb and postgres (default: PATH, then /usr/lib/postgresql/*/bin)")
    ap.add_argument("--database-uri", help="use this PostgreSQL (postgresql://user@host:port/db) instead of "
                                           "starting one; its password from $PGPASSFILE")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_stop)  # before anything starts: a stop mid-start cleans up too
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        return serve(a)
    except TrackingServerError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1 if "exited with code" in str(exc) else 2
    except _Stop as stop:  # a signal before serve's own handler scope
        return 128 + stop.signum


if __name__ == "__main__":
    sys.exit(main())
