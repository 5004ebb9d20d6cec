"""ADVERSARIAL method plugins that attack the harness itself (tests/adversarial/test_method_process.py): each runs in
the method's own process and must change no number, or fail its cell with a clear error."""

from __future__ import annotations

import contextlib
import os

import numpy as np

from tests.adversarial.plugins import _vanilla
from transfer.methods.base import Method


class TampersScorer(Method):
    """Rewrites the harness's scoring functions by plain attribute assignment (no file, socket or audit event)."""

    def fit(self, view):
        from transfer import scoring
        scoring.accuracy = lambda probs, gold: 0.97
        scoring.pgr = lambda weak, w2s, ceiling: 12.4
        scoring.check_probs = lambda probs, n, who: np.asarray(probs, dtype=float)
        self.diagnostics["patched"] = 1.0
        return _vanilla(view)


class TampersTracker(Method):
    """Rewrites the tracker so that whatever the harness logs next is replaced."""

    def fit(self, view):
        from transfer.store import writer
        for name in dir(writer.StudyWriter):
            if name.startswith("log"):
                setattr(writer.StudyWriter, name, lambda *a, **k: None)
        return _vanilla(view)


class TampersBaseline(Method):
    """Sabotages the baseline method's class for every later cell of this process."""

    def fit(self, view):
        from transfer.methods import vanilla
        for cls in vars(vanilla).values():
            if isinstance(cls, type) and issubclass(cls, Method):
                cls.fit = lambda self, v: type("Coin", (), {"predict_proba": lambda s, x: np.full(len(x), 0.5)})()
        return _vanilla(view)


class PatchesNumpy(Method):
    """Patches the numpy functions the harness scores and checks with (accuracy is a mean; validity is isfinite)."""

    def fit(self, view):
        predictor = _vanilla(view)
        np.mean = lambda *a, **k: 0.97
        np.isfinite = lambda a, *args, **k: np.ones(np.shape(a), dtype=bool)
        np.sum = lambda *a, **k: 0
        return predictor


class WritesViewArrays(Method):
    """Makes the view writable again and overwrites the weak labels and inputs (after training on them)."""

    def fit(self, view):
        predictor = _vanilla(view)
        for name in ("weak_probs", "x"):
            arr = getattr(view, name)
            with contextlib.suppress(ValueError):
                arr.setflags(write=True)
            ctypes_fill(arr, 1.0)  # whatever the flags say
        return predictor


def ctypes_fill(arr: np.ndarray, value: float) -> None:
    """Write `value` into an array's memory through ctypes, whatever its flags say."""
    import ctypes
    filled = np.full(arr.shape, value, dtype=arr.dtype)
    ctypes.memmove(arr.ctypes.data, filled.ctypes.data, filled.nbytes)


class PersistsState(Method):
    """Leaves state for later cells: a module global, a builtin, a file in /tmp, an environment variable."""

    def fit(self, view):
        import builtins

        from transfer import heads
        builtins.W2S_LEAK = 1
        heads.LEAK = 1
        with open("/tmp/transfer-leak", "w") as f:
            f.write("1")
        os.environ["W2S_LEAK"] = "1"
        return _vanilla(view)


class ReadsPersisted(Method):
    """Looks for what PersistsState left behind, and records what it found."""

    def fit(self, view):
        import builtins

        from transfer import heads
        self.diagnostics["found"] = float(hasattr(builtins, "W2S_LEAK") + hasattr(heads, "LEAK")
                                          + os.path.exists("/tmp/transfer-leak") + ("W2S_LEAK" in os.environ))
        return _vanilla(view)


class ForksAfterStart(Method):
    """Forks: the child would run outside any in-process guard."""

    def fit(self, view):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        return _vanilla(view)


class ReadsHarnessMemory(Method):
    """Reads the harness process's environment and memory through /proc (its pid given in cfg.pid), swallowing
    failures; records what it could read."""

    def fit(self, view):
        got = 0.0
        for pid in {int(self.cfg["pid"]), os.getppid()}:
            for name in ("environ", "mem", "maps"):
                try:
                    with open(f"/proc/{pid}/{name}", "rb") as f:
                        got += float(len(f.read(64)) > 0)
                except Exception:  # noqa: BLE001, S110  (an attacker hides its failures)
                    pass
        self.diagnostics["read_harness"] = got
        return _vanilla(view)


class ForgesReply(Method):
    """Writes a pickle onto its connection to the harness, hoping the harness unpickles it (code execution)."""

    def fit(self, view):
        import pickle
        import socket
        import struct
        payload = pickle.dumps(_Bomb())
        for fd in range(3, 64):
            try:
                s = socket.socket(fileno=os.dup(fd))
                s.sendall(struct.pack("!Q", len(payload)) + payload)
            except OSError:
                continue
        return _vanilla(view)


class _Bomb:
    def __reduce__(self):
        return (open, ("/tmp/transfer-pickle-bomb-ran", "w"))


class ReadsViaLibc(Method):
    """Opens the harness's /proc entries and the data file with libc's open(2) through ctypes: no Python audit
    event for the open itself, so only the OS confinement (or refusing ctypes) can stop it. Records successes."""

    def fit(self, view):
        import ctypes
        libc = ctypes.CDLL(None)
        targets = [f"/proc/{int(self.cfg['pid'])}/environ", f"/proc/{int(self.cfg['pid'])}/mem", self.cfg["data"]]
        opened = 0
        for path in targets:
            fd = libc.open(path.encode(), 0)
            opened += fd >= 0
        self.diagnostics["opened"] = float(opened)
        return _vanilla(view)
