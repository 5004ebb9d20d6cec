"""One lifecycle for every server the harness starts (a vLLM server, the MLflow UI, the tracking server and its
PostgreSQL): start it in a process group of its own that dies with us, wait until it answers, stop it by a ladder of
signals until none of its processes is left.

Standard library and psutil only: the compute package's vLLM server (transfer/backends/server.py) uses it too.
Everything here acts on processes this interpreter started, by PID or by the process group it created for them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence

import psutil

PR_SET_PDEATHSIG = 1
# (signal, seconds to wait for the processes to go, whole group): a server's workers first get SIGTERM, then SIGKILL
TERM_THEN_KILL = ((signal.SIGTERM, 15.0, True), (signal.SIGKILL, 5.0, True))


class Exited(Exception):
    """The process exited while we waited for it to answer."""

    def __init__(self, code: int):
        super().__init__(f"exited with code {code}")
        self.code = code


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the thread that started it ends, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(cmd: Sequence[str], *, dies_with_parent: bool = True, **popen) -> subprocess.Popen:
    """`cmd` in a new session (its process group id is its pid: one signal reaches it and its workers). With
    `dies_with_parent`, from the main thread only: the death signal fires when the *thread* that forked ends."""
    main = threading.current_thread() is threading.main_thread()
    pre = die_with_parent if dies_with_parent and main else None
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(list(cmd), start_new_session=True, preexec_fn=pre, **popen)


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """True when `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return r.status == 200
    except OSError:
        return False


def wait_healthy(proc: subprocess.Popen, probe: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    """Poll `probe` until it is true (True), or `timeout_s` passes (False); raises Exited if `proc` ends first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise Exited(code)
        if probe():
            return True
        time.sleep(interval_s)
    return False


def alive(pid: int) -> bool:
    """A process that has not exited (a zombie has; it only waits to be reaped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def family(pid: int) -> list[int]:
    """`pid`, its descendants, and what else is in the process group it leads (a worker whose parent is gone)."""
    out = [pid]
    try:
        out += [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
    for p in psutil.process_iter():
        try:
            if p.pid not in out and os.getpgid(p.pid) == pid:
                out.append(p.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def _send(proc: subprocess.Popen, members: list[int], sig: int, whole: bool) -> None:
    """The leader alone, or its group and every member that moved to a group of its own (all started by us)."""
    if whole:
        targets = [lambda: os.killpg(proc.pid, sig)] + [lambda p=p: os.kill(p, sig) for p in members[1:] if alive(p)]
    else:
        targets = [lambda: proc.send_signal(sig)]
    for send in targets:
        try:
            send()
        except ProcessLookupError:
            pass


def stop(proc: subprocess.Popen | None, ladder: Sequence[tuple[int, float, bool]] = TERM_THEN_KILL) -> list[int]:
    """Walk the ladder until none of the process's family is alive; returns the family's pids (for checks that
    nothing is left). `proc` must lead its own group (spawn) when a step signals the whole group."""
    if proc is None:
        return []
    members = family(proc.pid)
    for sig, wait_s, whole in ladder:
        if not any(alive(p) for p in members):
            break
        _send(proc, members, sig, whole)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, so only live members count
            if not any(alive(p) for p in members):
                break
            time.sleep(0.1)
    proc.poll()
    return members
