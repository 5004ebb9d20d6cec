"""OpenMP's wait policy under contention: SmolLM2's forward pass with OMP_WAIT_POLICY unset vs PASSIVE, side by side.
`--compare nice`: the same forward at niceness 15 (what Ray gives its workers unless RAY_worker_niceness says
otherwise) vs 0 (transfer/env.py's default for it), both PASSIVE.

With the default policy, torch's OpenMP threads spin while they wait for each other; when other processes hold the
cores (a test suite, another study, Ray workers), a spinning thread burns the slice its partner needed. PASSIVE
threads sleep instead. Each round runs both settings in fresh processes, back to back, and reports texts/s and the
ratio; `--load N` adds N busy processes for the duration (contention you can reproduce), 0 = the machine as it is.

    python benchmarks/omp_wait.py --rounds 3            # the machine as it is
    python benchmarks/omp_wait.py --rounds 3 --load 4   # with 4 busy processes beside it
    python benchmarks/omp_wait.py --rounds 3 --load 2 --compare nice
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys

from transfer import paths

CHILD = """
import time, torch
from transformers import AutoModel, AutoTokenizer
d = {model!r}
tok = AutoTokenizer.from_pretrained(d)
m = AutoModel.from_pretrained(d, dtype=torch.float32).eval()
enc = tok(["The quick brown fox jumps over the lazy dog again and again. " * 8] * 16, return_tensors="pt",
          truncation=True, max_length=96)
with torch.no_grad():
    m(**enc)
    t = time.perf_counter()
    for _ in range({reps}):
        m(**enc)
print(16 * {reps} / (time.perf_counter() - t))
"""


def busy() -> None:
    while True:
        pass


def texts_per_s(policy: str | None, reps: int, niceness: int = 0) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    code = CHILD.format(model=str(paths.home() / "assets" / "smollm2_135m"), reps=reps)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         preexec_fn=(lambda: os.nice(niceness)) if niceness else None)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=4, help="forward passes of 16 texts per measurement")
    ap.add_argument("--load", type=int, default=0, help="busy processes to run beside it")
    ap.add_argument("--compare", choices=["wait", "nice"], default="wait",
                    help="wait: OMP_WAIT_POLICY unset vs PASSIVE; nice: niceness 15 vs 0 (both PASSIVE)")
    args = ap.parse_args()
    hogs = [mp.Process(target=busy, daemon=True) for _ in range(args.load)]
    for h in hogs:
        h.start()
    try:
        ratios = []
        names = ("default", "PASSIVE") if args.compare == "wait" else ("nice 15", "nice 0")
        for r in range(args.rounds):
            if args.compare == "wait":
                before, after = texts_per_s(None, args.reps), texts_per_s("PASSIVE", args.reps)
            else:
                before, after = texts_per_s("PASSIVE", args.reps, 15), texts_per_s("PASSIVE", args.reps, 0)
            ratios.append(after / before)
            print(f"round {r}: {names[0]} {before:.2f} texts/s, {names[1]} {after:.2f} texts/s, "
                  f"ratio {ratios[-1]:.2f}", flush=True)
        print(f"median ratio {names[1]} / {names[0]}: {statistics.median(ratios):.2f} ({args.rounds} rounds, "
              f"load {args.load} busy processes, os.getloadavg {os.getloadavg()[0]:.1f})")
    finally:
        for h in hogs:
            h.terminate()


if __name__ == "__main__":
    main()
