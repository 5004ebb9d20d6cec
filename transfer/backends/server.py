"""A vLLM OpenAI-compatible server the harness starts, health-checks and stops itself.

One job: turn (model config, backend config, mode) into a running `python -m vllm.entrypoints.openai.api_server`
on 127.0.0.1 and a free port, logging to its own file, and make sure it is gone afterwards. The server runs in its
own process group; `stop()` signals that group and any descendant still alive, and nothing else.

mode "embed": the pooling runner (features), with a causal LM cut to its first `layer` layers and MEAN pooling.
mode "generate": the full model (label-token log-probs through /v1/completions).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ops import lifecycle
from transfer import paths
from transfer.errors import TransferError
from transfer.precision import compute_dtype

LIVE: dict[int, "ManagedServer"] = {}  # pid -> server, stopped at interpreter exit if the caller forgot


def server_command(model_dir: str, served_name: str, port: int, mode: str, cfg: dict, model_cfg: dict) -> list[str]:
    dtype = compute_dtype(cfg, "dtype" if mode == "embed" else "score_dtype")  # features vs label log-probs
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
           "--host", cfg.get("host") or "127.0.0.1", "--port", str(port), "--served-model-name", served_name,
           "--dtype", dtype, "--max-model-len", str(cfg["max_model_len"]),
           "--tensor-parallel-size", str(cfg.get("tensor_parallel_size") or 1),
           "--disable-uvicorn-access-log"]
    if cfg.get("gpu_memory_utilization") is not None:
        cmd += ["--gpu-memory-utilization", str(cfg["gpu_memory_utilization"])]
    if cfg.get("enforce_eager"):
        cmd.append("--enforce-eager")  # CUDA graphs / torch.compile: ~55 s of start-up on CPU for ~8 % speed
    if mode == "embed":
        how = {"mean": "MEAN", "last": "LAST"}[model_cfg.get("pooling", "mean")]
        # use_activation false: the raw pooled vector (no L2 norm), what the hf backend returns
        cmd += ["--runner", "pooling", "--convert", "embed",
                "--pooler-config", json.dumps({"pooling_type": how, "use_activation": False})]
    return cmd + [str(a) for a in cfg.get("extra_args") or []]


def server_env(cfg: dict, model_is_local: bool) -> dict:
    env = dict(os.environ)
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("VLLM_CACHE_ROOT", str(paths.home() / "vllm" / "cache"))
    if model_is_local:
        env.setdefault("HF_HUB_OFFLINE", "1")  # everything is on disk: never wait on the hub
    if cfg.get("kv_cache_gib") is not None:
        env["VLLM_CPU_KVCACHE_SPACE"] = str(int(cfg["kv_cache_gib"]))
    bind = cfg.get("cpu_threads_bind")
    if bind == "all":  # every core this process may use; vLLM-CPU binds its OpenMP threads to core 0 only otherwise
        cores = sorted(os.sched_getaffinity(0))
        contiguous = cores == list(range(cores[0], cores[-1] + 1))
        bind = f"{cores[0]}-{cores[-1]}" if contiguous else ",".join(map(str, cores))
    if bind:
        env["VLLM_CPU_OMP_THREADS_BIND"] = str(bind)
    return env


def tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in lines[-n:])


class ManagedServer:
    def __init__(self, model_dir: str, served_name: str, mode: str, cfg: dict, model_cfg: dict,
                 log_dir: str | None = None):
        self.model_dir, self.served_name, self.mode, self.cfg = model_dir, served_name, mode, cfg
        self.model_cfg = model_cfg
        self.port = lifecycle.free_port()
        self.url = f"http://{cfg.get('host') or '127.0.0.1'}:{self.port}"
        log_root = Path(log_dir or cfg.get("log_dir") or paths.home() / "logs")
        log_root.mkdir(parents=True, exist_ok=True)
        self.log_path = log_root / f"vllm-{served_name}-{mode}-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.family: list[int] = []  # the server and its descendants, recorded at stop() for leftover checks
        self.startup_s: float | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> "ManagedServer":
        cmd = server_command(self.model_dir, self.served_name, self.port, self.mode, self.cfg, self.model_cfg)
        env = server_env(self.cfg, Path(self.model_dir).is_dir())
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            self.proc = lifecycle.spawn(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        LIVE[self.proc.pid] = self
        try:
            self._wait_healthy(float(self.cfg.get("startup_timeout_s", 300)))
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        try:
            if lifecycle.wait_healthy(self.proc, lambda: lifecycle.http_ok(f"{self.url}/health"), timeout_s):
                return
        except lifecycle.Exited as exc:
            raise TransferError(f"vLLM server for {self.served_name} ({self.mode}) exited with code {exc.code} "
                                f"during start-up; last lines of {self.log_path}:\n{tail(self.log_path)}") from None
        raise TransferError(f"vLLM server for {self.served_name} ({self.mode}) not healthy at {self.url} after "
                            f"{timeout_s:g} s (startup_timeout_s); last lines of {self.log_path}:\n"
                            f"{tail(self.log_path)}")

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the server's process group and its descendants, SIGKILL what is left after `grace_s`."""
        if self.proc is None:
            return
        pid = self.proc.pid
        self.family = lifecycle.stop(self.proc, ((signal.SIGTERM, grace_s, True),
                                                 (signal.SIGKILL, 5.0, True)))
        LIVE.pop(pid, None)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@atexit.register
def _stop_all() -> None:
    for server in list(LIVE.values()):
        server.stop(grace_s=5.0)


def launch(model_cfg: dict, cfg: dict, mode: str, log_dir: str | None = None) -> ManagedServer:
    """Start a server for `model_cfg`: for layer-L features of a causal LM, a copy cut after layer L."""
    from transfer.backends.truncate import servable_model
    from transfer.models import resolve_path

    cut = mode == "embed" and model_cfg["kind"] == "causal_lm" and model_cfg.get("layer")
    path = servable_model(resolve_path(model_cfg), int(model_cfg["layer"]) if cut else None)
    return ManagedServer(path, model_cfg["name"], mode, cfg, model_cfg, log_dir).start()
