"""With RAY_ADDRESS set, a job entry point (jobs/sweep.py, jobs/replay.py) submits itself as a Ray Job.

The working tree is shipped as the job's runtime env (working_dir; venvs, caches, stores and outputs excluded) and
the job's logs are streamed here; the exit code is the job's. The job sees the submitter's TRANSFER_HOME,
TRANSFER_DATA, MLFLOW_TRACKING_URI and artifact root: on a cluster of several machines point them at shared storage
and a tracking server (docs/replay.md). Without RAY_ADDRESS the entry point runs here on an embedded local Ray.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import sys
import time

from transfer import paths

INSIDE = "TRANSFER_IN_RAY_JOB"  # set in the job's env: the entry point then runs instead of submitting again
EXCLUDES = [".git", ".venv", ".transfer", "mlruns.db", "mlartifacts", "outputs", "reports", "__pycache__",
            "*.pyc", ".pytest_cache", "*.egg-info"]
PASS_ENV = ("HF_HUB_OFFLINE", "MLFLOW_DISABLE_TELEMETRY", "TOKENIZERS_PARALLELISM", "RAY_USAGE_STATS_ENABLED",
            "VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_KVCACHE_SPACE", "CUDA_VISIBLE_DEVICES")


def job_env() -> dict[str, str]:
    env = {INSIDE: "1", "TRANSFER_HOME": str(paths.home()), "TRANSFER_DATA": str(paths.shared_data_dir()),
           "MLFLOW_TRACKING_URI": paths.default_tracking_uri(),
           "TRANSFER_ARTIFACT_ROOT": str(paths.default_artifact_root()),
           "TRANSFER_GIT_SHA": paths.git_sha(), "TRANSFER_SUBMIT_CWD": os.getcwd()}
    env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
    return env


def local_store_warning(address: str, tracking_uri: str) -> str | None:
    """A sqlite store is a file on the machine that opens it: a job on another machine's cluster writes its own copy
    there (or fails to), and this machine's store never sees the study. Said once, before submitting; not refused, as
    the head may mount the same path (shared storage)."""
    from urllib.parse import urlparse

    host = urlparse(address if "://" in address else f"ray://{address}").hostname or ""
    if not tracking_uri.startswith("sqlite:") or host in ("127.0.0.1", "localhost", "::1", socket.gethostname()):
        return None
    return (f"[submit] warning: MLFLOW_TRACKING_URI={tracking_uri} is a file on this machine; the job on {address} "
            f"writes to that path on the cluster, not here unless it is shared storage: use a tracking server "
            f"(make tracking-server, docs/cluster.md)")


def maybe_submit(module: str, argv: list[str] | None = None) -> None:
    """Submit `python -m module argv` to $RAY_ADDRESS and exit with the job's status; return if not wanted."""
    address = os.environ.get("RAY_ADDRESS")
    if not address or os.environ.get(INSIDE):
        return
    sys.exit(submit(address, module, sys.argv[1:] if argv is None else argv))


def submit(address: str, module: str, argv: list[str]) -> int:
    from ray.job_submission import JobStatus, JobSubmissionClient

    root = paths.repo_root()
    if root is None:
        print("error: Ray Job submission ships the checkout as working dir; run from a checkout", file=sys.stderr)
        return 2
    try:
        client = JobSubmissionClient(address)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        print(f"error: cannot reach the Ray cluster at RAY_ADDRESS={address} ({str(exc).splitlines()[0]}); "
              f"unset RAY_ADDRESS to run on a local Ray", file=sys.stderr)
        return 2
    warning = local_store_warning(address, job_env()["MLFLOW_TRACKING_URI"])
    if warning:
        print(warning, file=sys.stderr, flush=True)
    entry = shlex.join(["python", "-m", module, *argv])
    runtime_env = {"working_dir": str(root), "excludes": EXCLUDES, "env_vars": job_env()}
    for attempt in range(30):  # a head that just started answers "No available agent" until its agent is up
        try:
            job_id = client.submit_job(entrypoint=entry, runtime_env=runtime_env)
            break
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or attempt == 29:
                raise
            time.sleep(2)
    print(f"[submit] Ray Job {job_id} on {address}: {entry}  (stop: ray job stop {job_id})", flush=True)

    async def stream():
        async for chunk in client.tail_job_logs(job_id):
            print(chunk, end="", flush=True)

    try:
        asyncio.run(stream())
    except KeyboardInterrupt:
        client.stop_job(job_id)
        print(f"\n[submit] stopped Ray Job {job_id}", flush=True)
        return 130
    status = client.get_job_status(job_id)
    print(f"[submit] Ray Job {job_id}: {status}", flush=True)
    return 0 if status == JobStatus.SUCCEEDED else 1
