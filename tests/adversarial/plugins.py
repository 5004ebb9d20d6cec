"""ADVERSARIAL method plugins: each tries to cross the evaluation boundary one way (tests/adversarial/test_boundary.py).

They are real `transfer.methods.Method` subclasses, loaded by `impl:` like any plugin. `SEEN` records what an
attempt got hold of, so a test can tell "refused" from "succeeded quietly".
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import subprocess
import sys

import numpy as np

from transfer import paths
from transfer.heads import train_head
from transfer.methods.base import Method, StudentView, hard

SEEN: dict[str, object] = {}


def _vanilla(view: StudentView):
    return train_head(view.x, hard(view.weak_probs), seed=view.seed, **view.head)


class GoldFromView(Method):
    """Looks for gold labels on the view itself."""

    def fit(self, view):
        for name in ("gold", "a_is_better", "labels", "y"):
            SEEN[name] = getattr(view, name)  # AttributeError: the view does not carry them
        return _vanilla(view)


class GoldFromStack(Method):
    """Walks up the call stack looking for the harness's splits (objects with `a_is_better`), then predicts them."""

    def fit(self, view):
        frame, found = sys._getframe(), []
        while frame is not None:
            found += [k for k, v in frame.f_locals.items() if hasattr(v, "a_is_better") or k in ("te", "inputs")]
            frame = frame.f_back
        SEEN["stack"] = found
        self.diagnostics["stack_hits"] = float(len(found))
        return _vanilla(view)


class GoldFromHeap(Method):
    """Scans every object of the process for gold arrays (gc)."""

    def fit(self, view):
        SEEN["heap"] = [o for o in gc.get_objects() if hasattr(o, "a_is_better")][:1]
        return _vanilla(view)


class ReadsDataFile(Method):
    """Opens the data file through the harness's own path helper, and swallows the refusal."""

    def fit(self, view):
        path = paths.shared_data_dir() / "hh-rlhf" / "harmless-base-test.jsonl.gz"
        try:
            SEEN["data"] = open(path, "rb").read(10)
        except Exception as exc:  # noqa: BLE001  (a cheater hides the failure; the harness still flags it)
            SEEN["data_error"] = repr(exc)
        return _vanilla(view)


class ShellsOut(Method):
    """Reads the data file through a child process (outside any in-process guard)."""

    def fit(self, view):
        path = paths.shared_data_dir() / "hh-rlhf" / "harmless-base-test.jsonl.gz"
        SEEN["shell"] = subprocess.run(["head", "-c", "10", str(path)], capture_output=True).stdout
        return _vanilla(view)


class LogsToMlflow(Method):
    """Writes a metric to the tracking store named by the cell's config (or the default one)."""

    def fit(self, view):
        import mlflow

        mlflow.set_tracking_uri(self.cfg["store"])
        with mlflow.start_run(run_name="cheat"):
            mlflow.log_metric("w2s_acc", 1.0)
        SEEN["mlflow"] = True
        return _vanilla(view)


class SetsTrackingEnv(Method):
    """Points MLFLOW_TRACKING_URI elsewhere for whoever reads it next."""

    def fit(self, view):
        os.environ["MLFLOW_TRACKING_URI"] = "sqlite:////tmp/elsewhere.db"
        return _vanilla(view)


class CallsHome(Method):
    """Opens a network connection (an evaluation server, a tracking server)."""

    def fit(self, view):
        socket.create_connection(("127.0.0.1", int(self.cfg.get("port", 5000))), timeout=1)
        return _vanilla(view)


class BadPredictions(Method):
    """Returns invalid predictions of the kind named by cfg.kind: nan | short | above_one | negative."""

    def fit(self, view):
        kind = self.cfg["kind"]

        class Bad:
            def predict_proba(self, x):
                p = np.full(len(x), 0.5)
                if kind == "nan":
                    p[0] = np.nan
                elif kind == "short":
                    p = p[:-1]
                elif kind == "above_one":
                    p[0] = 1.5
                elif kind == "negative":
                    p[0] = -0.1
                return p
        return Bad()


class AsksForTest(Method):
    """Asks the harness to put test data into its view."""

    needs = ("test",)

    def fit(self, view):
        return _vanilla(view)


class Honest(Method):
    """Control: plain vanilla behind the same guard."""

    def fit(self, view):
        return _vanilla(view)


class LogsViaClient(Method):
    """Writes to the tracking store through MlflowClient (no environment change on the way)."""

    def fit(self, view):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(self.cfg["store"])
        run = client.create_run("0", run_name="cheat")
        client.log_metric(run.info.run_id, "w2s_acc", 1.0)
        SEEN["mlflow"] = True
        return _vanilla(view)


class ReachesBehindWeakLabels(Method):
    """Follows the view's arrays to whatever memory holds them (a seed's shared work arrives as one buffer, with
    the weak teacher's and the ceiling's test/OOD predictions beside the weak labels)."""

    def fit(self, view):
        arrays = [getattr(view, name) for name in ("weak_probs", "x", "strong_a", "strong_b")]
        SEEN["behind"] = {id(a): a.base for a in arrays}
        behind = sum(memoryview(a.base).nbytes for a in arrays if a.base is not None)
        self.diagnostics["behind_excess_bytes"] = float(max(0, behind - sum(a.nbytes for a in arrays)))
        return _vanilla(view)


# --- attacks on the harness itself (issue 11): each runs in the method's own process and must change no number ---

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
        from transfer import store
        for name in dir(store.StudyWriter):
            if name.startswith("log"):
                setattr(store.StudyWriter, name, lambda *a, **k: None)
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
