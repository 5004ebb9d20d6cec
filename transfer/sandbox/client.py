"""The harness's side of the method process: `method_process(cell)` yields a proxy that training modes use like a
`Method` (`modes`, `needs`, `fit`, `targets`, `diagnostics`); every call is a request to the cell's own process.

What comes back is checked here: arrays only (transfer.sandbox.wire), `targets` positions inside the view, and the
cell scores probabilities itself (transfer.scoring.check_probs). A method process serves one cell, is killed when
the cell ends, and shares nothing with other cells: state a method leaves behind dies with its process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from transfer import boundary, paths
from transfer.errors import BoundaryError, ConfigError, MethodError
from transfer.sandbox import wire

log = logging.getLogger(__name__)
MODES = ("auto", "namespaces", "process")
_lock = threading.Lock()
_zygote: _Zygote | None = None
_said_fallback = False


class _Zygote:
    def __init__(self):
        self.control, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen([sys.executable, "-m", "transfer.sandbox.zygote", str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        if self.control.recv(1) != b"R":
            raise MethodError(f"the method-process zygote failed to start (exit code {self.proc.wait()})")

    def fork(self) -> tuple[int, socket.socket]:
        ours, theirs = socket.socketpair()
        socket.send_fds(self.control, [b"f"], [theirs.fileno()])
        theirs.close()
        (pid,) = struct.unpack("!q", wire.recv_exact(self.control, 8))
        return pid, ours


def _fork() -> tuple[int, socket.socket]:
    global _zygote
    with _lock:
        for attempt in (0, 1):
            if _zygote is None or _zygote.proc.poll() is not None:
                _zygote = _Zygote()
            try:
                return _zygote.fork()
            except (OSError, EOFError):
                if attempt:
                    raise
                _zygote = None  # died between cells: start a fresh one


def hidden_paths(cell: dict) -> list[str]:
    """What the method process must not see: data folders, the harness home, the tracking store."""
    s = cell.get("setting") or {}
    data = [Path(p).parent for p in ((s.get(k) or {}).get("path") for k in ("data", "ood")) if p]
    default_data = (paths.repo_root() or Path.cwd()).parent / "shared" / "data"
    repo_home = (paths.repo_root() / ".transfer") if paths.repo_root() else None
    store = (cell.get("runtime") or {}).get("tracking_uri")
    return [str(p) for p in [*data, *boundary.protected_paths(cell), paths.shared_data_dir(), default_data,
                             paths.home(), repo_home, *boundary.store_roots(), paths.default_artifact_root(store)]
            if p]


class MethodProxy:
    """A method running in its own process, as the training modes see it."""

    def __init__(self, sock: socket.socket, who: str, hello: dict, timeout: float | None, cfg: dict):
        self._sock, self.who, self._timeout, self.cfg = sock, who, timeout, cfg
        self.modes, self.needs, self.kinds = tuple(hello["modes"]), tuple(hello["needs"]), tuple(hello["kinds"])
        self.confinement: str = hello["confinement"]
        self._diagnostics: dict[str, float] | None = None

    def _ask(self, op: str, **payload) -> tuple[dict, list[np.ndarray]]:
        self._sock.settimeout(self._timeout)
        try:
            wire.send_request(self._sock, {"op": op, **payload})
            header, arrays = wire.recv_reply(self._sock)
        except TimeoutError:
            raise MethodError(f"{self.who}: {op} took longer than runtime.method_timeout_s={self._timeout}") from None
        except (EOFError, OSError, ValueError) as exc:
            raise MethodError(f"{self.who}: its process failed during {op} ({exc})") from None
        _raise_if_error(header, self.who, op)
        return header, arrays

    def fit(self, view) -> RemotePredictor:
        self._ask("fit", view=view)
        return RemotePredictor(self)

    def targets(self, view) -> tuple[np.ndarray, np.ndarray]:
        _, (index, targets) = self._ask("targets", view=view)
        n = len(view.weak_probs)
        if index.ndim != 1 or index.shape != targets.shape or (len(index) and (index.min() < 0 or index.max() >= n)):
            raise BoundaryError(f"{self.who}: targets must be positions in the view (0..{n - 1}) and one target each")
        if not np.all(np.isfinite(targets)) or np.any((targets < 0) | (targets > 1)):
            raise BoundaryError(f"{self.who}: targets must be probabilities in [0, 1]")
        return index, targets

    @property
    def diagnostics(self) -> dict[str, float]:
        if self._diagnostics is None:
            header, _ = self._ask("diagnostics")
            diag = header.get("diagnostics")
            if not isinstance(diag, dict) or not all(isinstance(v, (int, float)) for v in diag.values()):
                raise BoundaryError(f"{self.who}: diagnostics must be numbers")
            self._diagnostics = {str(k): float(v) for k, v in diag.items()}
        return self._diagnostics


class RemotePredictor:
    def __init__(self, proxy: MethodProxy):
        self._proxy = proxy

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        _, (probs,) = self._proxy._ask("predict", x=np.ascontiguousarray(x))
        return probs


def _raise_if_error(header: dict, who: str, op: str) -> None:
    if header.get("ok") is True:
        return
    message, remote = str(header.get("message", "?")), str(header.get("traceback", ""))
    if header.get("kind") == "boundary":
        raise BoundaryError(message if message.startswith(who) else f"{who}: {message}")
    if header.get("kind") == "config":  # the platform, not the method (e.g. namespaces required but refused)
        raise ConfigError(f"{who}: {message}")
    log.error("%s failed in %s; its traceback:\n%s", who, op, remote)
    raise MethodError(f"{who} failed in {op}: {header.get('type', 'Error')}: {message}")


@contextlib.contextmanager
def method_process(cell: dict):
    """The cell's method, loaded and run in its own (confined where possible) process; killed on exit."""
    global _said_fallback
    runtime = cell.get("runtime") or {}
    mode = runtime.get("sandbox", "auto")
    if mode not in MODES:
        raise ConfigError(f"runtime.sandbox={mode!r} is unknown; choose one of {list(MODES)}")
    who = f"method {cell['method']['name']!r}"
    scratch = tempfile.mkdtemp(prefix="transfer-method-")
    pid, sock = _fork()
    pidfd = os.pidfd_open(pid)  # the child waits for its spec: it cannot have exited and its pid been reused
    try:
        hidden = hidden_paths(cell)
        spec = {"method": cell["method"], "who": who, "protected": hidden, "hidden": hidden, "sandbox": mode,
                "scratch": scratch}
        wire.send_request(sock, spec)
        sock.settimeout(runtime.get("method_timeout_s"))
        try:
            hello, _ = wire.recv_reply(sock)
        except (EOFError, OSError, ValueError) as exc:
            raise MethodError(f"{who}: its process failed to start ({exc})") from None
        _raise_if_error(hello, who, "load")
        if not all(isinstance(hello.get(k), list) and all(isinstance(v, str) for v in hello[k])
                   for k in ("modes", "needs", "kinds")):
            raise BoundaryError(f"{who}: malformed hello from its process")
        proxy = MethodProxy(sock, who, hello, runtime.get("method_timeout_s"), cell["method"])
        if proxy.confinement != "namespaces" and not _said_fallback:
            _said_fallback = True
            log.warning("method processes run without OS namespaces: %s; the process boundary and the audit hook "
                        "still apply (docs/replay.md)", proxy.confinement)
        yield proxy
    finally:
        sock.close()
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        os.close(pidfd)
        shutil.rmtree(scratch, ignore_errors=True)


_described: dict[str, MethodProxy] = {}


def describe(method: dict, runtime: dict | None = None) -> MethodProxy:
    """What a method declares (modes, needs, task kinds), asked of its own process: the driver checks a grid
    without importing method code into itself. The process is gone when this returns; only the answers remain,
    kept per method config (the driver asks once per method, however many datasets and seeds its cells span)."""
    key = json.dumps([method, (runtime or {}).get("sandbox")], sort_keys=True, default=str)
    if key not in _described:
        with method_process({"method": method, "runtime": runtime or {}}) as proxy:
            _described[key] = proxy
    return _described[key]
