"""Amortization: what does a whole study cost once features are cached, relative to a single cell?

Runs the real sweep (`python -m jobs.sweep`, real Ray, real sqlite MLflow, real models) three times, side by side
on the same data, each in a fresh study of a throwaway tracking store:
  cold   1 method x 1 seed, empty feature cache (extraction included)
  warm   1 method x 1 seed, features cached
  study  3 methods x 10 seeds, features cached
and prints wall times and the ratios study/warm (target <= 1.5) and cold/warm.

    python benchmarks/amortization.py                  # demo data size (1,200 pairs)
    python benchmarks/amortization.py --max-pairs 300 --skip-cold
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
sys.path.insert(0, str(ROOT))
from transfer import paths  # noqa: E402


def run_sweep(name: str, overrides: list[str], env: dict) -> float:
    cmd = [sys.executable, "-m", "jobs.sweep", f"study={name}", *overrides]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-pairs", default="1200", help="data size (pairs), 'null' for all")
    ap.add_argument("--setting", default="lab")
    ap.add_argument("--skip-cold", action="store_true",
                    help="no cold run: reuse this checkout's feature cache (content-addressed, safe to share)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="transfer-bench-") as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        home.mkdir()
        (home / "assets").symlink_to(paths.home() / "assets")  # models are shared; features start empty
        if args.skip_cold:
            (home / "features").symlink_to(paths.home() / "features")
        env = {**os.environ, "TRANSFER_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'bench.db'}",
               "MLFLOW_DISABLE_TELEMETRY": "true", "HF_HUB_OFFLINE": "1"}
        common = [f"setting.data.max_pairs={args.max_pairs}", f"grid.settings=[{args.setting}]",
                  "runtime.progress=false"]
        one = [*common, "grid.methods=[vanilla]", "grid.seeds=[0]"]
        study = [*common, "grid.methods=[vanilla,confident_only,logconf]", "grid.seeds=[0,1,2,3,4,5,6,7,8,9]"]
        times = {}
        if not args.skip_cold:
            times["cold"] = run_sweep("cold", one, env)
        times["warm"] = run_sweep("warm", one, env)
        times["study"] = run_sweep("study", study, env)

    print(f"\namortization ({args.setting}, max_pairs={args.max_pairs}, {os.cpu_count()} CPUs)")
    print(f"  {'run':<8}{'cells':>6}{'wall s':>9}")
    for name, cells in (("cold", 1), ("warm", 1), ("study", 30)):
        if name in times:
            print(f"  {name:<8}{cells:>6}{times[name]:>9.1f}")
    print(f"\n  30 cells / 1 cell, features cached : {times['study'] / times['warm']:.2f}x  (target <= 1.5)")
    if "cold" in times:
        print(f"  1 cell cold / 1 cell warm          : {times['cold'] / times['warm']:.2f}x")
        print(f"  30 cells warm / 1 cell cold        : {times['study'] / times['cold']:.2f}x")


if __name__ == "__main__":
    main()
