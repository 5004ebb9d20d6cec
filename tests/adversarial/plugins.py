"""ADVERSARIAL method plugins: each tries to cross the evaluation boundary one way (tests/adversarial/test_boundary.py).

They are real `transfer.methods.Method` subclasses, loaded by `impl:` like any plugin. `SEEN` records what an
attempt got hold of, so a test can tell "refused" from "succeeded quietly".
"""

from __future__ import annotations

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

    needs = ("sides",)  # every array a view can carry

    def fit(self, view):
        arrays = [getattr(view, name) for name in ("weak_probs", "x", "strong_a", "strong_b")]
        SEEN["behind"] = {id(a): a.base for a in arrays}
        behind = sum(memoryview(a.base).nbytes for a in arrays if a.base is not None)
        self.diagnostics["behind_excess_bytes"] = float(max(0, behind - sum(a.nbytes for a in arrays)))
        return _vanilla(view)
