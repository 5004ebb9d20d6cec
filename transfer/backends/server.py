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
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from transfer import paths
from transfer.backends.precision import compute_dtype
from transfer.errors import TransferError

LIVE: dict[int, "ManagedServer"] = {}  # pid -> server, stopped at interpreter exit if the caller forgot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """All live processes below `pid` (vLLM's engine core and its helpers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; it only waits to be reaped


def _signal(pgid: int, family: list[int], sig: int) -> None:
    """The process group we created (start_new_session: pgid == the server's pid), and any descendant that moved
    to a group of its own: all of them started by us."""
    targets = [lambda: os.killpg(pgid, sig)] + [lambda p=p: os.kill(p, sig) for p in family[1:] if alive(p)]
    for send in targets:
        try:
            send()
        except ProcessLookupError:
            pass


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if the harness dies (even by SIGKILL), so no server is orphaned."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


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
        self.port = free_port()
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
            # only the main thread: PDEATHSIG fires when the *thread* that forked exits, not the process
            pre = _die_with_parent if threading.current_thread() is threading.main_thread() else None
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True, preexec_fn=pre)
        LIVE[self.proc.pid] = self
        try:
            self._wait_healthy(float(self.cfg.get("startup_timeout_s", 300)))
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise TransferError(f"vLLM server for {self.served_name} ({self.mode}) exited with code {code} "
                                    f"during start-up; last lines of {self.log_path}:\n{tail(self.log_path)}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet
            time.sleep(0.5)
        raise TransferError(f"vLLM server for {self.served_name} ({self.mode}) not healthy at {self.url} after "
                            f"{timeout_s:g} s (startup_timeout_s); last lines of {self.log_path}:\n"
                            f"{tail(self.log_path)}")

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the server's process group and its descendants, SIGKILL what is left after `grace_s`."""
        if self.proc is None:
            return
        pid = self.proc.pid
        family = [pid] + _descendants(pid)
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            _signal(pid, family, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and any(alive(p) for p in family):
                self.proc.poll()  # reap the server itself
                time.sleep(0.2)
            if not any(alive(p) for p in family):
                break
        self.proc.poll()
        LIVE.pop(pid, None)
        self.family = family
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
