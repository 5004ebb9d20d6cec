"""`make mlflow-ui`: the MLflow UI on 127.0.0.1, quiet, in model-training mode, stopped whole on SIGTERM or Ctrl-C.

`mlflow ui` starts a server whose worker processes outlive the CLI process when only it is signalled (make forwards
SIGTERM to its child alone): here the server runs in its own process group, and a SIGTERM or SIGINT to this process
stops that group — the server and every worker — before it exits.

It prints the addresses and nothing else on a good day: no access log (uvicorn's `--no-access-log`; ten page views
were ~900 lines), MLflow's own loggers at WARNING, and its start-up banner dropped; warnings and errors still show.
The server is MLflow's app plus ops/mlflow_app.py's page (`mlflow server --app-name transfer`, an entry point
declared for the server's process only), which keeps the browser's UI in model-training mode.

    python -m ops.mlflow_ui [--backend-store-uri URI] [--port 5000] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from mlflow.tracking import MlflowClient

from ops import lifecycle
from transfer import env, paths
from transfer.paths import default_tracking_uri
from transfer.store.view import SHARE_TAG, VIEW_KEY, open_url

APP = "transfer"  # the `mlflow.app` entry point name `--app-name` looks up
QUIET_ENV = {"MLFLOW_LOGGING_LEVEL": "WARNING",  # MLflow's INFO lines (job executor, store set-up)
             "PYTHONWARNINGS": "ignore:starlette.middleware.wsgi is deprecated"}  # MLflow's own import, not ours
BANNER = ("[MLflow] Security middleware enabled",)  # printed on every start; the defaults it names are what we want


def studies(store_uri: str, base: str, limit: int = 10) -> list[tuple[str, str]]:
    """(name, address of the study's saved view) of the store's most recent studies; none if it cannot be read."""
    try:
        exps = MlflowClient(store_uri).search_experiments(max_results=200, order_by=["last_update_time DESC"])
    except Exception:  # noqa: BLE001  (the server reports an unreadable store itself, in its own words)
        return []
    return [(e.name, open_url(base, e.experiment_id)) for e in exps if SHARE_TAG + VIEW_KEY in e.tags][:limit]


def entry_point(folder: Path) -> str:
    """A distribution folder declaring ops.mlflow_app as MLflow's app `transfer` (what a package's pyproject would
    declare), for the server's PYTHONPATH: MLflow finds `--app-name` apps by entry point only, and this works
    whatever was installed. Returns the PYTHONPATH entries (it, then this checkout)."""
    dist = folder / "transfer_mlflow_app-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: transfer-mlflow-app\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[mlflow.app]\n{APP} = ops.mlflow_app:app\n")
    return os.pathsep.join([str(folder), str(paths.repo_root())])


def pump(stream, out) -> None:
    """The server's output, less its start-up banner."""
    for line in stream:
        if not line.startswith(BANNER):
            out.write(line)
            out.flush()


def main(argv: list[str] | None = None) -> int:
    env.apply()  # the server inherits it: no telemetry

    ap = argparse.ArgumentParser(prog="python -m ops.mlflow_ui", description=__doc__.splitlines()[0])
    ap.add_argument("--backend-store-uri", default=os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri())
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback only)")
    a = ap.parse_args(argv)
    mlflow = Path(sys.executable).with_name("mlflow")
    uri = a.backend_store_uri
    tmp = tempfile.TemporaryDirectory(prefix="mlflow-ui-")
    pythonpath = entry_point(Path(tmp.name)) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH")
                                                 else "")
    cmd = [str(mlflow), "server", "--app-name", APP, "--backend-store-uri", uri, "--registry-store-uri", uri,
           "--host", a.host, "--port", str(a.port), "--workers", "1",
           "--uvicorn-opts", "--no-access-log --log-level warning"]  # uvicorn's own start-up lines are INFO
    proc = lifecycle.spawn(cmd, stdin=None, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, **QUIET_ENV, "PYTHONPATH": pythonpath})  # its own group
    threading.Thread(target=pump, args=(proc.stdout, sys.stderr), daemon=True).start()

    def stop(signum, _frame):
        lifecycle.stop(proc)
        tmp.cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    base = f"http://{a.host}:{a.port}"
    print(f"MLflow UI: {open_url(base)} (store {uri}); Ctrl-C stops it", flush=True)
    for name, url in studies(uri, base):
        print(f"  study {name}: {url}", flush=True)
    code = proc.wait()
    lifecycle.stop(proc)  # the server exited on its own: take any worker it left
    tmp.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
