"""Which float type a backend computes features in: bfloat16 where the hardware runs it natively, else float32.

`dtype: auto` (the default) picks bfloat16 on CUDA GPUs that support it and on CPUs with AMX-BF16 or AVX512-BF16
(this machine: bf16 matmuls ~3x float32), float32 elsewhere: without those instructions PyTorch and vLLM emulate
bf16, slower than float32. `float32` / `bfloat16` force one. The resolved name enters the feature cache key.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from transfer.errors import ConfigError

CHOICES = ("auto", "float32", "bfloat16")
BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux); empty where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_bf16_fast() -> bool:
    if cpu_flags():
        return bool(cpu_flags() & BF16_CPU_FLAGS)
    import torch  # no /proc/cpuinfo (macOS, ...): ask torch's own CPU probe

    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(probe and probe())


def cuda_bf16_fast() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def bf16_fast(device: str) -> bool:
    return cuda_bf16_fast() if device.startswith("cuda") else cpu_bf16_fast()


def resolve_dtype(requested: str | None, device: str = "cpu", field: str = "backend.dtype") -> str:
    """'float32' or 'bfloat16' for a configured `dtype` (null = auto) on `device`."""
    requested = requested or "auto"
    if requested not in CHOICES:
        raise ConfigError(f"{field}={requested!r} is unknown; choose one of {list(CHOICES)}")
    if requested == "auto":
        return "bfloat16" if bf16_fast(device) else "float32"
    return requested


def resolve_device(requested: str | None) -> str:
    """'cuda' or 'cpu' for a configured `device` (null = auto: a GPU if torch sees one)."""
    requested = requested or "auto"
    if requested == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.split(":")[0] not in ("cpu", "cuda"):
        raise ConfigError(f"backend.device={requested!r} is unknown; choose auto, cpu, cuda or cuda:N")
    return requested


def compute_dtype(backend_cfg: dict, key: str = "dtype") -> str:
    """The dtype a backend computes in (`key`: dtype for features, score_dtype for a vLLM scoring server), as
    resolved on this machine: the one that extracts, or starts the server."""
    field = f"backend {backend_cfg['name']}: {key}"
    if backend_cfg["name"] == "hf":
        return resolve_dtype(backend_cfg.get(key), resolve_device(backend_cfg.get("device")), field)
    if backend_cfg.get("num_gpus") and (backend_cfg.get(key) or "auto") == "auto":
        return "bfloat16"  # its server runs on a GPU node, maybe not this one; vLLM refuses bf16 on GPUs without it
    return resolve_dtype(backend_cfg.get(key), "cpu", field)
