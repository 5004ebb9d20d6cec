"""The harness's side of the method process: `method_process(cell)` yields a proxy that training modes use like a
`Method` (`modes`, `needs`, `fit`, `targets`, `diagnostics`); every call is a request to the cell's own process.

What comes back is checked here: arrays only (transfer.sandbox.wire), `targets` positions inside the view, and the
cell scores probabilities itself (transfer.scoring.check_probs); diagnostics are sanitized (transfer.sandbox.replies).
Every call has one deadline (`runtime.method_timeout_s`) and a reply-size limit fixed by what the call may return. A
method process serves one cell, is killed with every process it started when the cell ends, and shares nothing
with other cells. The confinement a cell ran under is what the harness asked for and was told before any method
code ran: never the method's word.
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
from transfer.sandbox import reap, replies, wire

log = logging.getLogger(__name__)
# auto: namespaces, refused where the kernel cannot give them; namespaces: the same; process: no OS confinement, an
# explicit opt-in for trusted code only
MODES = ("auto", "namespaces", "process")
TRUSTED_OPT_IN = "runtime.sandbox=process (trusted method code only: it then runs without OS confinement)"
DEFAULT_TIMEOUT_S = 300.0
LIMITS = {"memory_mb": 4096, "nproc": 301, "file_mb": 1024}  # runtime.method_<name> overrides each
ZYGOTE_ENV = ("PATH", "LANG", "LC_", "TZ", "HOME", "USER", "TERM", "OMP_", "MKL_", "OPENBLAS_", "CUDA_", "NVIDIA_",
              "TORCH", "PYTORCH_", "PYTHONHASHSEED")
_lock = threading.Lock()
_zygote: _Zygote | None = None
_said_trusted = False


class _Zygote:
    def __init__(self):
        self.control, theirs = socket.socketpair()
        # an allow-list: what the method process can read in /proc/self/environ names no store, home or cluster
        env = {k: v for k, v in os.environ.items() if k.startswith(ZYGOTE_ENV)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen([sys.executable, "-m", "transfer.sandbox.zygote", str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
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

    def __init__(self, sock: socket.socket, who: str, hello: dict, timeout: float | None, cfg: dict,
                 confinement: str):
        self._sock, self.who, self._timeout, self.cfg = sock, who, timeout, cfg
        self.modes, self.needs, self.kinds = tuple(hello["modes"]), tuple(hello["needs"]), tuple(hello["kinds"])
        self.confinement = confinement  # the harness's own knowledge (method_process), not the method's
        self.dropped: list[str] = []  # diagnostics refused by the harness (replies.diagnostics)
        self._diagnostics: dict[str, float] | None = None

    def _ask(self, op: str, array_limit: int = 0, **payload) -> tuple[dict, list[np.ndarray]]:
        deadline = wire.Deadline(self._timeout)  # one for the whole call
        try:
            self._sock.settimeout(self._timeout)
            wire.send_request(self._sock, {"op": op, **payload})
            header, arrays = wire.recv_reply(self._sock, deadline, array_limit)
        except TimeoutError:
            raise MethodError(f"{self.who}: {op} took longer than runtime.method_timeout_s={self._timeout}") from None
        except (EOFError, OSError, ValueError, RecursionError) as exc:
            raise MethodError(f"{self.who}: its process failed during {op} ({str(exc)[:200]})") from None
        _raise_if_error(header, self.who, op)
        return header, arrays

    def fit(self, view) -> RemotePredictor:
        self._ask("fit", view=view)
        return RemotePredictor(self)

    def targets(self, view) -> tuple[np.ndarray, np.ndarray]:
        n = len(view.weak_probs)
        _, arrays = self._ask("targets", replies.array_bytes(n), view=view)
        if len(arrays) != 2:
            raise BoundaryError(f"{self.who}: targets must return (index, targets)")
        index, targets = arrays
        if index.ndim != 1 or index.shape != targets.shape or (len(index) and (index.min() < 0 or index.max() >= n)):
            raise BoundaryError(f"{self.who}: targets must be positions in the view (0..{n - 1}) and one target each")
        if not np.all(np.isfinite(targets)) or np.any((targets < 0) | (targets > 1)):
            raise BoundaryError(f"{self.who}: targets must be probabilities in [0, 1]")
        return index, targets

    @property
    def diagnostics(self) -> dict[str, float]:
        if self._diagnostics is None:
            header, _ = self._ask("diagnostics")
            self._diagnostics, self.dropped = replies.diagnostics(header.get("diagnostics"), self.who)
        return self._diagnostics


class RemotePredictor:
    def __init__(self, proxy: MethodProxy):
        self._proxy = proxy

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        _, arrays = self._proxy._ask("predict", replies.array_bytes(len(x)), x=np.ascontiguousarray(x))
        if len(arrays) != 1:
            raise BoundaryError(f"{self._proxy.who}: predict_proba must return one array")
        return arrays[0]


def _raise_if_error(header: dict, who: str, op: str, mode: str = "") -> None:
    if header.get("ok") is True:
        return
    message, remote = str(header.get("message", "?"))[:2000], str(header.get("traceback", ""))[-8000:]
    if header.get("kind") == "boundary":
        raise BoundaryError(message if message.startswith(who) else f"{who}: {message}")
    if header.get("kind") == "config" and op == "confinement":  # the kernel refused (before any method code)
        raise ConfigError(f"{who}: runtime.sandbox={mode or 'auto'} needs Linux user namespaces, and the kernel "
                          f"refused {message}; run where they work, or set {TRUSTED_OPT_IN}")
    log.error("%s failed in %s; its traceback:\n%s", who, op, remote)
    raise MethodError(f"{who} failed in {op}: {header.get('type', 'Error')}: {message}")


def confinement_of(mode: str) -> str:
    """What a cell under `runtime.sandbox=mode` runs under, as the harness knows it: `auto` and `namespaces` run
    confined or not at all."""
    return "process" if mode == "process" else "namespaces"


@contextlib.contextmanager
def method_process(cell: dict):
    """The cell's method, loaded and run in its own confined process (unless the config opts out); killed on exit,
    with every process it started."""
    global _said_trusted
    runtime = cell.get("runtime") or {}
    mode = runtime.get("sandbox") or "auto"
    if mode not in MODES:
        raise ConfigError(f"runtime.sandbox={mode!r} is unknown; choose one of {list(MODES)}")
    who = f"method {cell['method']['name']!r}"
    timeout = runtime.get("method_timeout_s", DEFAULT_TIMEOUT_S)
    limits = {k: runtime.get(f"method_{k}", v) for k, v in LIMITS.items()}
    scratch = tempfile.mkdtemp(prefix="transfer-method-")
    pid, sock = _fork()
    pidfd = os.pidfd_open(pid)  # the child waits for its spec: it cannot have exited and its pid been reused
    reap.LIVE.add(pid)
    try:
        hidden = hidden_paths(cell)
        spec = {"method": cell["method"], "who": who, "protected": hidden, "hidden": hidden, "sandbox": mode,
                "scratch": scratch, "limits": limits}
        deadline = wire.Deadline(timeout)
        sock.settimeout(timeout)
        try:
            wire.send_request(sock, spec)
            confined, _ = wire.recv_reply(sock, deadline, 0)  # sent before any method code is loaded
            _raise_if_error(confined, who, "confinement", mode)
            if confined.get("confined") != confinement_of(mode):
                raise BoundaryError(f"{who}: its process reported confinement {confined.get('confined')!r}")
            hello, _ = wire.recv_reply(sock, deadline, 0)
        except TimeoutError:
            raise MethodError(f"{who}: loading it took longer than runtime.method_timeout_s={timeout}") from None
        except (EOFError, OSError, ValueError, RecursionError) as exc:
            raise MethodError(f"{who}: its process failed to start ({str(exc)[:200]})") from None
        _raise_if_error(hello, who, "load")
        if not all(isinstance(hello.get(k), list) and all(isinstance(v, str) for v in hello[k])
                   for k in ("modes", "needs", "kinds")):
            raise BoundaryError(f"{who}: malformed hello from its process")
        proxy = MethodProxy(sock, who, hello, timeout, cell["method"], confinement_of(mode))
        if mode == "process" and not _said_trusted:
            _said_trusted = True
            log.warning("runtime.sandbox=process: method code runs WITHOUT OS confinement (trusted code only); "
                        "only the process boundary and the audit hook apply (docs/replay.md)")
        yield proxy
    finally:
        sock.close()
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        os.close(pidfd)
        reap.LIVE.discard(pid)
        # namespaces: the PID namespace dies with its PID 1; process: this finds what the method left (reap)
        reap.kill_strays(pid, _zygote.pid if _zygote is not None else None)
        shutil.rmtree(scratch, ignore_errors=True)


_described: dict[str, MethodProxy | Exception] = {}


def describe(method: dict, runtime: dict | None = None) -> MethodProxy:
    """What a method declares (modes, needs, task kinds), asked of its own process: the driver checks a grid
    without importing method code into itself. The process is gone when this returns; only the answers remain,
    kept per method config (the driver asks once per method, however many datasets and seeds its cells span). A
    method that fails or hangs here raises its error, kept too: it is asked once."""
    key = json.dumps([method, (runtime or {}).get("sandbox")], sort_keys=True, default=str)
    if key not in _described:
        try:
            with method_process({"method": method, "runtime": runtime or {}}) as proxy:
                _described[key] = proxy
        except (MethodError, BoundaryError, ConfigError) as exc:
            _described[key] = exc
    if isinstance(_described[key], Exception):
        raise _described[key]
    return _described[key]
