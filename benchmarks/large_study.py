"""A study of about 1,000 cells: does it run and get summarized, how long, and how big is the store?

Runs the real sweep (`python -m jobs.sweep`: real Ray, a fresh sqlite MLflow store in a temporary folder, real
features from this home's cache) for methods x seeds cells, then `make report`'s analysis (jobs.report.build)
on that store, and prints: cells, wall time of each step, cells per second, and the store's size (the sqlite file
and the artifacts beside it).

    python benchmarks/large_study.py                       # 6 head methods x 167 seeds = 1,002 cells, all pairs
    python benchmarks/large_study.py --seeds 20 --override setting.strong_backend.dtype=float32
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAD_METHODS = "vanilla,confident_only,logconf,bootstrap,knn_relabel,ccs"


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def timed(cmd: list[str], env: dict, what: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{what} failed ({proc.returncode}):\n{proc.stderr[-3000:]}\n{proc.stdout[-3000:]}")
    tail = [line for line in proc.stdout.splitlines() if line.strip()][-12:]
    print(f"[large] {what}: {wall:.0f} s\n" + "\n".join(f"    {line}" for line in tail), flush=True)
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=HEAD_METHODS)
    ap.add_argument("--seeds", type=int, default=167)
    ap.add_argument("--max-pairs", default="null", help="pairs of the lab data ('null': all, as cached by make demo)")
    ap.add_argument("--override", action="append", default=[], help="a further Hydra override (repeatable)")
    args = ap.parse_args()
    n = len(args.methods.split(",")) * args.seeds
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "mlruns.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}", "PYTHONPATH": str(ROOT)}
        print(f"[large] {n} cells ({args.methods} x {args.seeds} seeds, {args.max_pairs} pairs), store {db}; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        sweep_s = timed([sys.executable, "-m", "jobs.sweep", "study=large", "runtime.progress=false",
                         f"grid.methods=[{args.methods}]", f"seed=range(0,{args.seeds})",
                         f"setting.data.max_pairs={args.max_pairs}", *args.override], env, "sweep (cells + summary)")
        report_s = timed([sys.executable, "-m", "jobs.report", "--study", "large", "--out", str(Path(tmp) / "reports")],
                         env, "report")
        print(f"[large] {n} cells: sweep {sweep_s:.0f} s ({n / sweep_s:.2f} cells/s), report {report_s:.0f} s; "
              f"store {size_mb(db):.1f} MiB sqlite + {size_mb(Path(tmp) / 'mlartifacts'):.1f} MiB artifacts; "
              f"load average after {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
