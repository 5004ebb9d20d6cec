"""A private PostgreSQL cluster for the tracking server: found, initialised once, started, checked, stopped by PID.

The cluster lives in one folder (`pg/` under the tracking dir): data, its unix socket, nothing in /var/run. It
listens on 127.0.0.1 only: the MLflow server beside it is its one client, so the database never faces the network.
Its password is generated at initdb and kept in a 0600 pgpass file that libpq (and so the server) reads through
$PGPASSFILE; no password appears on a command line or in a URI.

PostgreSQL refuses to run as root: as root, initdb and postgres run as an unprivileged user (`postgres`, which
Debian's package creates), who owns the data folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
from pathlib import Path

import psutil

from ops import lifecycle
from transfer.errors import TransferError

DB_USER, DB_NAME = "transfer", "mlflow"
SEARCH = "/usr/lib/postgresql/*/bin"  # Debian/Ubuntu keep the server binaries off PATH
SOCKET_MAX = 107  # sun_path limit for the socket's full path


class TrackingServerError(TransferError):
    """The tracking server or its database cannot start; the message names what to fix."""


def find_bin(explicit: str | None = None) -> Path:
    """The folder holding initdb and postgres: --pg-bin, else PATH, else the newest /usr/lib/postgresql/*/bin."""
    if explicit:
        where = [Path(explicit)]
    else:
        on_path = shutil.which("initdb")
        versions = sorted(glob.glob(SEARCH), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                          else 0, reverse=True)
        where = ([Path(on_path).resolve().parent] if on_path else []) + [Path(p) for p in versions]
    for d in where:
        if (d / "initdb").is_file() and (d / "postgres").is_file():
            return d
    looked = str(explicit) if explicit else f"PATH and {SEARCH}"
    raise TrackingServerError(f"PostgreSQL's initdb not found (looked in {looked}): install PostgreSQL "
                              f"(Debian: apt-get install postgresql) or pass --pg-bin DIR")


def check_port_free(host: str, port: int, what: str) -> None:
    """Fail in one line when something already listens there (SO_REUSEADDR: a socket in TIME_WAIT is no owner)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise TrackingServerError(f"port {host}:{port} for {what} is in use ({exc.strerror}): another tracking "
                                      f"server? stop it or pick another port") from None


def run_as() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when we are root (it refuses root); None: as ourselves."""
    if os.geteuid() != 0:
        return None
    user = os.environ.get("TRANSFER_PG_USER", "postgres")
    try:
        return pwd.getpwnam(user)
    except KeyError:
        raise TrackingServerError(f"PostgreSQL refuses to run as root and there is no user {user!r} to run it as: "
                                  f"install PostgreSQL's package (it creates 'postgres') or set TRANSFER_PG_USER") \
            from None


def _check_reachable(folder: Path, who: pwd.struct_passwd) -> None:
    """Every folder above the data folder must be searchable by the user PostgreSQL runs as."""
    groups = set(os.getgrouplist(who.pw_name, who.pw_gid))
    for p in [folder, *folder.parents]:
        st = p.stat()
        bit = stat.S_IXUSR if st.st_uid == who.pw_uid else stat.S_IXGRP if st.st_gid in groups else stat.S_IXOTH
        if not st.st_mode & bit:
            raise TrackingServerError(f"PostgreSQL runs as user {who.pw_name!r} (it refuses root) and cannot enter "
                                      f"{p} (mode {stat.S_IMODE(st.st_mode):o}): chmod o+x {p}, or put the "
                                      f"tracking dir elsewhere (--dir or TRANSFER_HOME)")


def _as(who: pwd.struct_passwd | None) -> dict:
    return {"user": who.pw_uid, "group": who.pw_gid, "extra_groups": []} if who else {}


class Postgres:
    """The cluster in `folder` (created by initdb if absent), served on 127.0.0.1:port while started."""

    def __init__(self, folder: Path, port: int, bindir: Path, log: Path):
        self.folder, self.port, self.bindir, self.log = folder, port, bindir, log
        self.pgpass = folder.parent / "pgpass"
        self.who = run_as()
        self.proc: subprocess.Popen | None = None
        sock = folder / f".s.PGSQL.{port}"
        if len(str(sock)) > SOCKET_MAX:
            raise TrackingServerError(f"the database socket path {sock} is longer than {SOCKET_MAX} characters: "
                                      f"use a shorter tracking dir (--dir or TRANSFER_HOME)")

    @property
    def uri(self) -> str:
        return sqlalchemy_uri(f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}")

    def init(self) -> bool:
        """initdb on first use (False: the cluster already exists)."""
        if (self.folder / "PG_VERSION").exists():
            if not self.pgpass.exists():
                raise TrackingServerError(f"{self.pgpass} (the database password) is missing for the cluster in "
                                          f"{self.folder}: restore it, or delete {self.folder} to start afresh")
            return False
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(self.folder.iterdir()):
            raise TrackingServerError(f"{self.folder} is not empty and holds no PostgreSQL cluster: move it away")
        if self.who:
            _check_reachable(self.folder.parent, self.who)
        password = secrets.token_urlsafe(24)
        pwfile = self.folder.parent / ".initdb-password"
        try:
            fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(password + "\n")
            if self.who:
                for p in (self.folder, pwfile):
                    os.chown(p, self.who.pw_uid, self.who.pw_gid)
            out = subprocess.run([str(self.bindir / "initdb"), "-D", str(self.folder), "-U", DB_USER, "-E", "UTF8",
                                  "--locale=C", "--auth=scram-sha-256", f"--pwfile={pwfile}"],
                                 capture_output=True, text=True, cwd=self.folder.parent, timeout=300, **_as(self.who))
        finally:
            pwfile.unlink(missing_ok=True)
        if out.returncode != 0:
            last = (out.stderr.strip() or out.stdout.strip() or "no output").splitlines()[-1]
            raise TrackingServerError(f"initdb failed in {self.folder}: {last}")
        fd = os.open(self.pgpass, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:  # libpq ignores a pgpass file others can read
            f.write(f"*:*:*:{DB_USER}:{password}\n")
        return True

    def password(self) -> str:
        return self.pgpass.read_text().strip().rsplit(":", 1)[1]

    def start(self, timeout_s: float = 120) -> None:
        pid_file = self.folder / "postmaster.pid"
        if pid_file.exists():  # a stale one (its process gone) postgres replaces itself
            pid = int(pid_file.read_text().split()[0])
            if psutil.pid_exists(pid) and "postgres" in psutil.Process(pid).name():
                raise TrackingServerError(f"a PostgreSQL (pid {pid}) already runs on {self.folder}: stop it first "
                                          f"(a tracking server still running?)")
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = lifecycle.spawn(
                [str(self.bindir / "postgres"), "-D", str(self.folder), "-p", str(self.port), "-c",
                 "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.folder}"],
                dies_with_parent=False, stdout=log, stderr=log, stdin=None, cwd=self.folder.parent, **_as(self.who))
        self.wait_ready(timeout_s)
        self._ensure_database()

    def connect(self, dbname: str = DB_NAME, timeout_s: int = 5):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=DB_USER, password=self.password(),
                                dbname=dbname, connect_timeout=timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        import psycopg

        last = ["no answer"]

        def answers() -> bool:
            try:
                self.connect("postgres").close()
                return True
            except psycopg.OperationalError as exc:
                last[0] = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
                return False
        try:
            if lifecycle.wait_healthy(self.proc, answers, timeout_s):
                return
        except lifecycle.Exited as exc:
            raise TrackingServerError(f"PostgreSQL exited with code {exc.code}: {self.last_log()} "
                                      f"(log: {self.log})") from None
        raise TrackingServerError(f"database unreachable: PostgreSQL on 127.0.0.1:{self.port} did not accept a "
                                  f"connection within {timeout_s:.0f} s ({last[0]}); log: {self.log}")

    def _ensure_database(self) -> None:
        con = self.connect("postgres")
        try:
            con.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with con.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {DB_NAME}")
        finally:
            con.close()

    def last_log(self) -> str:
        try:
            lines = [x for x in self.log.read_text(errors="replace").splitlines() if x.strip()]
        except OSError:
            return "no log"
        return lines[-1] if lines else "empty log"

    def stop(self, grace_s: float = 60) -> None:
        """Fast shutdown (SIGINT: clients are cut, data is flushed), then SIGQUIT, then SIGKILL to its group."""
        lifecycle.stop(self.proc, ((signal.SIGINT, grace_s, False), (signal.SIGQUIT, 10, False),
                                   (signal.SIGKILL, 10, True)))
        self.proc = None


def check_database(uri: str, timeout_s: int = 10) -> None:
    """An external database given by URI answers (its password from the URI or $PGPASSFILE), else one line."""
    import psycopg

    try:
        psycopg.connect(libpq_uri(uri), connect_timeout=timeout_s).close()
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or ["no answer"])[0]
        raise TrackingServerError(f"database unreachable: {redact(uri)} ({reason}): start it, or fix "
                                  f"--database-uri") from None


def redact(uri: str) -> str:
    """A database URI without its password, for printing."""
    head, sep, tail = uri.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return uri
    scheme, _, cred = head.partition("//")
    return f"{scheme}//{cred.split(':', 1)[0]}:***@{tail}"


def sqlalchemy_uri(uri: str) -> str:
    """The URI MLflow's server gets: psycopg 3 named as the driver (SQLAlchemy < 2.1 would pick psycopg2)."""
    scheme, sep, rest = uri.partition("://")
    return f"postgresql+psycopg://{rest}" if sep and scheme in ("postgresql", "postgres") else uri


def libpq_uri(uri: str) -> str:
    """The same URI without a SQLAlchemy driver suffix (postgresql+psycopg:// -> postgresql://), for libpq."""
    scheme, sep, rest = uri.partition("://")
    return f"{scheme.split('+')[0]}://{rest}" if sep else uri
