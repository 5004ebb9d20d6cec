"""What the shared tracking server costs: its start (first, with initdb, and again), its memory, its stop, and how
fast drivers log cells to it compared with the embedded sqlite store, one driver and two at once.

A cell is logged as the sweep logs one (`transfer.store.writer.StudyWriter.log_run`: create, metrics, params, the
`predictions.parquet` and `cell_config.json` artifacts, terminate), with a predictions frame of the lab study's size
(3 roles x 577 test pairs). Each writer is its own process with its own study, released at the same instant.

    python benchmarks/tracking_server.py [--cells 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WRITER = """
import sys, time
from pathlib import Path
import numpy as np, pandas as pd
from transfer.store.writer import StudyWriter
uri, study, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
w = StudyWriter(study, uri)
rng = np.random.default_rng(0)
frame = pd.DataFrame({"example_id": [f"hh:{i}" for i in range(1731)], "split": "test", "subset": "",
                      "role": ["weak", "ceiling", "w2s"] * 577, "prob_a": rng.random(1731),
                      "a_is_better": rng.random(1731) < .5, "correct": rng.random(1731) < .6})
Path(f"{go}.{study}").touch()
while not go.exists():
    time.sleep(0.01)
t0 = time.time()
for i in range(n):
    w.log_run(f"cell{i}", {"config_hash": str(i)}, {f"m{k}": k / 10 for k in range(12)},
              {f"p{k}": k for k in range(20)}, files={"predictions.parquet": frame, "cell_config.json": {"i": i}})
print(time.time() - t0)
"""


def start_server(home: str) -> tuple[subprocess.Popen, str, float]:
    from ops.lifecycle import free_port

    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "ops.tracking_server", "--port", str(free_port()),
                             "--pg-port", str(free_port()), "--dir", f"{home}/tracking"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("export MLFLOW_TRACKING_URI="):
            return proc, line.strip().split("=", 1)[1], time.time() - t0
    raise SystemExit(f"the tracking server exited with {proc.wait()}")


def stop_server(proc: subprocess.Popen) -> float:
    family = psutil.Process(proc.pid).children(recursive=True)
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)
    psutil.wait_procs(family, timeout=60)
    return time.time() - t0


def rss_mib(proc: subprocess.Popen) -> tuple[float, float]:
    """Resident memory of the server's processes (total, PostgreSQL's part), shared pages counted once (USS)."""
    total = pg = 0.0
    for p in psutil.Process(proc.pid).children(recursive=True):
        uss = p.memory_full_info().uss / 2**20
        total += uss
        pg += uss if "postgres" in p.name() else 0
    return total, pg


def log_cells(uri: str, writers: int, cells: int, tmp: str) -> float:
    """Cells per second over all writers, from the first release to the last writer's end."""
    go = Path(tmp) / f"go-{time.time()}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, uri, f"bench-{go.name}-{i}", str(cells), str(go)],
                              env=env, stdout=subprocess.PIPE, text=True) for i in range(writers)]
    while not all(Path(f"{go}.bench-{go.name}-{i}").exists() for i in range(writers)):
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a writer failed")
        time.sleep(0.05)
    go.touch()
    spans = [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return writers * cells / max(spans)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=40, help="cells each writer logs")
    a = ap.parse_args()
    load = os.getloadavg()[0]
    home = tempfile.mkdtemp(prefix="tb", dir="/tmp")
    os.chmod(home, 0o755)  # as root, PostgreSQL runs as `postgres`
    try:
        rows = []
        for label in ("first start (initdb)", "second start"):
            proc, uri, ready = start_server(home)
            time.sleep(3)
            total, pg = rss_mib(proc)
            if label == "second start":
                speeds = {w: log_cells(uri, w, a.cells, home) for w in (1, 2)}
            rows.append(f"| {label} | {ready:.1f} s | {total:.0f} MiB ({pg:.0f} MiB PostgreSQL) | "
                        f"{stop_server(proc):.1f} s |")
        sqlite = {w: log_cells(f"sqlite:///{home}/bench.db", w, a.cells, home) for w in (1, 2)}
        print(f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
        print("| start | ready | memory (USS) | stop (SIGTERM) |\n|---|---|---|---|\n" + "\n".join(rows))
        print(f"\n| store | 1 writer | 2 writers at once |\n|---|---|---|\n"
              f"| tracking server (PostgreSQL) | {speeds[1]:.1f} cells/s | {speeds[2]:.1f} cells/s |\n"
              f"| sqlite file | {sqlite[1]:.1f} cells/s | {sqlite[2]:.1f} cells/s |")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
