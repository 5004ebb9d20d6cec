"""What running method code in its own process costs a cell, side by side with the same calls in-process.

For `vanilla` on a view the size of the HH lab split (1,100 pairs x 576 features, random numbers: the cost of the
boundary does not depend on their values), it times, per repetition, through `transfer.sandbox.client.method_process`
under `runtime.sandbox=namespaces` and `=process`: start (fork from the zygote, confine, load the plugin, hello),
fit (the view over the socket + training), two predict_proba calls (1,100 rows each) and close (kill); and the same
fit and predictions in this process behind the same in-process guard (`transfer.boundary.guard_method`). The
per-cell cost of the process boundary is start + close + (fit + predict) through the process − the same in-process,
taken within each repetition (the three run back to back, in rotating order: load that drifts between repetitions
cancels); the median and interquartile range over repetitions are printed.

    python benchmarks/method_process.py [--reps 5]
    python benchmarks/method_process.py --confine-only [--reps 20]   # the OS confinement alone, in a forked child
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--confine-only", action="store_true", help="time transfer.sandbox.confine.confine alone")
    args = ap.parse_args()
    if args.confine_only:
        return confine_only(args.reps)
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

    modes = ("namespaces", "process")
    cells = {mode: {**cell, "runtime": {**cell["runtime"], "sandbox": mode}} for mode in modes}
    for c in cells.values():
        with client.method_process(c):
            pass  # the zygote starts once per harness process
    guarded = lambda: boundary.guard_method(load_method(cell["method"]), "bench", client.hidden_paths(cell))  # noqa
    calls(guarded())  # warm-up in this process too
    # paired: each repetition runs in-process and through both paths back to back (order rotating), and the cost is
    # taken within the repetition, so load that drifts between repetitions cancels
    rows, inside = {mode: [] for mode in modes}, []
    for rep in range(args.reps):
        order = ["inside", *modes][rep % 3:] + ["inside", *modes][:rep % 3]
        got = {}
        for what in order:
            if what == "inside":
                got[what] = calls(guarded())
                continue
            t0 = time.perf_counter()
            with client.method_process(cells[what]) as proxy:
                start = time.perf_counter() - t0
                fit, predict = calls(proxy)
                t1 = time.perf_counter()
            got[what] = (start, fit, predict, time.perf_counter() - t1)
        inside.append(got["inside"])
        for mode in modes:
            s_, f, p_, c = got[mode]
            rows[mode].append((s_, f, p_, c, s_ + c + (f - got["inside"][0]) + (p_ - got["inside"][1])))
    med = statistics.median
    print(f"method process vs in-process (vanilla, {n} x {d} view, median of {args.reps} paired repetitions, ms; "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"  {'':<12}{'start':>8}{'fit':>8}{'predict':>9}{'close':>8}{'boundary [IQR]':>20}")
    print(f"  {'in-process':<12}{'':>8}{med(t[0] for t in inside) * 1e3:>8.0f}"
          f"{med(t[1] for t in inside) * 1e3:>9.0f}{'':>8}")
    for mode, times in rows.items():
        s_, f, p_, c, cost = (med(t[i] for t in times) for i in range(5))
        q = statistics.quantiles([t[4] * 1e3 for t in times], n=4) if len(times) > 1 else [cost * 1e3] * 3
        print(f"  {mode:<12}{s_ * 1e3:>8.0f}{f * 1e3:>8.0f}{p_ * 1e3:>9.0f}{c * 1e3:>8.0f}"
              f"{cost * 1e3:>8.0f} [{q[0]:.0f}, {q[2]:.0f}]   (target <= 100)")

def confine_only(reps: int) -> None:
    """Fork this (torch-importing) process `reps` times; each child times confine() and reports it on a pipe."""
    import numpy  # noqa: F401  (the zygote's imports: the fork inside confine copies them)
    import torch  # noqa: F401

    from transfer import paths
    from transfer.sandbox import confine, seccomp

    seccomp.compiled()  # as the zygote does
    hidden = [str(paths.shared_data_dir()), str(paths.home())]
    times = []
    for _ in range(reps):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            t0 = time.perf_counter()
            confine.confine(hidden, max_pids=301)
            os.write(w, str(time.perf_counter() - t0).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            times.append(float(f.read()) * 1e3)
        os.waitpid(pid, 0)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else times * 3
    print(f"confine() in a forked child: median {statistics.median(times):.1f} ms [IQR {q[0]:.1f}, {q[2]:.1f}] over "
          f"{reps} (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
