"""Safe environment defaults for the services a run starts, in one place (a value already set always wins).

Used by the entry points (jobs/, ops.mlflow_ui), by the store before it opens a client, by the tests
(tests/conftest.py) and by the Makefile, which exports what `python3 transfer/env.py` prints. Standard library only:
the Makefile runs it before any environment is installed.
"""

from __future__ import annotations

import os

DEFAULTS = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # Ray listens on 127.0.0.1 only, not on every interface
    "RAY_AUTH_MODE": "disabled",  # no token written under ~/.ray
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # one progress line per artifact read otherwise
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # two "View run" lines per cell against a tracking server
    "HF_HUB_OFFLINE": "1",  # models come from .transfer/assets; nothing is fetched from a hub at run time
    "TOKENIZERS_PARALLELISM": "false",  # tokenizers' threads and Ray's forked workers do not mix
    # OpenMP threads sleep instead of spinning while they wait: on cores shared with other work a spinning thread
    # burns the slice its partner needs (SmolLM2's forward 1.76x and 2.04x faster at load 9-14: benchmarks/omp_wait.py)
    "OMP_WAIT_POLICY": "PASSIVE",
    # Ray starts its workers at niceness 15: on cores shared with anything at 0 (another job, a test suite) a study's
    # extraction and cells got a few percent of them (Gemma-3 at 2-4 texts/s in a Ray task at load 8-15, 20-24
    # idle). A local study is the user's foreground work: its workers run at the user's niceness
    # (benchmarks/omp_wait.py --compare nice)
    "RAY_worker_niceness": "0",
}


def apply(environ: dict | None = None) -> None:
    """Set each default that is not set yet (in os.environ, or the mapping given)."""
    target = os.environ if environ is None else environ
    for key, value in DEFAULTS.items():
        target.setdefault(key, value)


if __name__ == "__main__":  # for the Makefile: KEY=VALUE words
    print(" ".join(f"{k}={v}" for k, v in DEFAULTS.items()))
