"""`make mlflow-ui`: the MLflow UI on 127.0.0.1, stopped whole on SIGTERM or Ctrl-C.

`mlflow ui` starts a server whose worker processes outlive the CLI process when only it is signalled (make forwards
SIGTERM to its child alone): here the server runs in its own process group, and a SIGTERM or SIGINT to this process
stops that group — the server and every worker — before it exits.

    python -m ops.mlflow_ui [--backend-store-uri URI] [--port 5000] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from ops import lifecycle
from transfer import env
from transfer.paths import default_tracking_uri
from transfer.store.view import ML, SHARE_TAG, VIEW_KEY, study_url


def studies(store_uri: str, base: str, limit: int = 10) -> list[tuple[str, str]]:
    """(name, address in the study's saved view) of the store's most recent studies; none if it cannot be read."""
    try:
        exps = MlflowClient(store_uri).search_experiments(max_results=200, order_by=["last_update_time DESC"])
    except Exception:  # noqa: BLE001  (the server reports an unreadable store itself, in its own words)
        return []
    return [(e.name, study_url(base, e.experiment_id)) for e in exps if SHARE_TAG + VIEW_KEY in e.tags][:limit]


def main(argv: list[str] | None = None) -> int:
    env.apply()  # the server inherits it: no telemetry

    ap = argparse.ArgumentParser(prog="python -m ops.mlflow_ui", description=__doc__.splitlines()[0])
    ap.add_argument("--backend-store-uri", default=os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri())
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback only)")
    a = ap.parse_args(argv)
    mlflow = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow), "ui", "--backend-store-uri", a.backend_store_uri, "--host", a.host, "--port", str(a.port),
           "--workers", "1"]
    proc = lifecycle.spawn(cmd, stdin=None)  # its own group, which dies with this launcher

    def stop(signum, _frame):
        lifecycle.stop(proc)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # MLflow 3.17's UI-wide GenAI/Model-training switch (default GenAI) decides which page an experiment opens on
    print(f"MLflow UI: http://{a.host}:{a.port}/#/experiments?{ML} "
          f"(store {a.backend_store_uri}); Ctrl-C stops it", flush=True)
    for name, url in studies(a.backend_store_uri, f"http://{a.host}:{a.port}"):
        print(f"  study {name}: {url}", flush=True)
    code = proc.wait()
    lifecycle.stop(proc)  # the server exited on its own: take any worker it left
    return code


if __name__ == "__main__":
    sys.exit(main())
