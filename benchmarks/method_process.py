"""What running method code in its own process costs a cell, side by side with the same calls in-process.

For `vanilla` on a view the size of the HH lab split (1,100 pairs x 576 features, random numbers: the cost of the
boundary does not depend on their values), it times, per repetition, through `transfer.sandbox.client.method_process`
under `runtime.sandbox=namespaces` and `=process`: start (fork from the zygote, confine, load the plugin, hello),
fit (the view over the socket + training), two predict_proba calls (1,100 rows each) and close (kill); and the same
fit and predictions in this process behind the same in-process guard (`transfer.boundary.guard_method`). The
per-cell cost of the process boundary is start + close + (fit + predict) through the process − the same in-process.

    python benchmarks/method_process.py [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    import numpy as np
    import torch
    from hydra import compose, initialize_config_dir

    import transfer.config
    from transfer import boundary, paths
    from transfer.methods import load_method
    from transfer.methods.base import StudentView
    from transfer.sandbox import client

    torch.set_num_threads(1)  # as in a Ray cell task
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        cell = transfer.config.to_plain(compose("config", overrides=["method=vanilla"]))
    rng = np.random.default_rng(0)
    n, d = 1100, 576
    arr = lambda: rng.standard_normal((n, d)).astype(np.float32)  # noqa: E731
    view = StudentView(x=arr(), strong_a=None, strong_b=None, weak_probs=rng.random(n),  # as vanilla gets it
                       example_ids=tuple(map(str, range(n))), seed=0, head=dict(cell["head"]))
    x_test = arr()

    def calls(method) -> tuple[float, float]:
        t0 = time.perf_counter()
        predictor = method.fit(view)
        t1 = time.perf_counter()
        predictor.predict_proba(x_test)
        predictor.predict_proba(view.x)
        return t1 - t0, time.perf_counter() - t1

    rows = {}
    for mode in ("namespaces", "process"):
        c = {**cell, "runtime": {**cell["runtime"], "sandbox": mode}}
        with client.method_process(c):
            pass  # the zygote starts once per harness process
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            with client.method_process(c) as proxy:
                start = time.perf_counter() - t0
                fit, predict = calls(proxy)
                t1 = time.perf_counter()
            times.append((start, fit, predict, time.perf_counter() - t1))
        rows[mode] = times
    inside = []
    for _ in range(args.reps):
        inside.append(calls(boundary.guard_method(load_method(cell["method"]), "bench", client.hidden_paths(cell))))
    med = statistics.median
    fit_in, pred_in = med(t[0] for t in inside), med(t[1] for t in inside)
    print(f"method process vs in-process (vanilla, {n} x {d} view, median of {args.reps}, ms)")
    print(f"  {'':<12}{'start':>8}{'fit':>8}{'predict':>9}{'close':>8}{'boundary':>10}")
    print(f"  {'in-process':<12}{'':>8}{fit_in * 1e3:>8.0f}{pred_in * 1e3:>9.0f}{'':>8}")
    for mode, times in rows.items():
        s, f, p, c = (med(t[i] for t in times) for i in range(4))
        cost = s + c + (f - fit_in) + (p - pred_in)
        print(f"  {mode:<12}{s * 1e3:>8.0f}{f * 1e3:>8.0f}{p * 1e3:>9.0f}{c * 1e3:>8.0f}{cost * 1e3:>10.0f}"
              f"   (target <= 100)")


if __name__ == "__main__":
    main()
