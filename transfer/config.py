"""Config helpers: the OmegaConf resolvers, resolving to plain containers, a cell's mode, and the content hash that
identifies a cell."""

from __future__ import annotations

import copy
import hashlib
import json

from omegaconf import DictConfig, OmegaConf

from transfer import paths
from transfer.precision import compute_dtype

# keys that say where/how a cell runs, not what it computes: left out of config_hash
NON_SEMANTIC_KEYS = ("runtime", "grid", "study", "hydra")

RESOLVERS = {"transfer_data": lambda: str(paths.shared_data_dir())}  # ${transfer_data:} in conf/data/*.yaml


def register_resolvers() -> None:
    """The harness's OmegaConf resolvers, registered once; called by whatever composes or resolves a config."""
    for name, fn in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)


def mode_name(cell: dict) -> str:
    """A cell's training mode (transfer/modes/); a config without a mode group is a head cell."""
    return (cell.get("mode") or {}).get("name", "head")


def to_plain(cfg: DictConfig | dict) -> dict:
    """Resolve every interpolation: what crosses into Ray workers is a plain dict."""
    register_resolvers()
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    return copy.deepcopy(cfg)


def group_config(group: str, name: str, **overrides) -> dict:
    """One config group's yaml (conf/<group>/<name>.yaml), resolved, outside a Hydra composition: for benchmarks and
    tests that build a single backend or model, e.g. group_config("backend", "vllm", dtype="bfloat16")."""
    register_resolvers()
    cfg = OmegaConf.to_container(OmegaConf.load(paths.config_dir() / group / f"{name}.yaml"), resolve=True)
    return {**cfg, **overrides}


# backend fields that say how to reach or supervise a server, not what it computes
NON_SEMANTIC_BACKEND_KEYS = ("url", "score_url", "retries", "backoff_s", "request_timeout_s", "startup_timeout_s",
                             "log_dir", "ray_actor", "resources", "host", "request_batch", "threads", "cpu_threads_bind",
                             "device", "batch_size")


def _semantic_backend(backend: dict) -> dict:
    """A backend's fields that change results, with `dtype: auto` resolved as the feature cache key resolves it:
    hf float32 and vLLM score_dtype float32 are what every cell computed before these fields existed (old hashes)."""
    out = {k: v for k, v in backend.items() if k not in NON_SEMANTIC_BACKEND_KEYS}
    if "dtype" in out and "name" in out:
        out["dtype"] = compute_dtype(backend)
        if out["name"] == "hf" and out["dtype"] == "float32":
            del out["dtype"]
    if out.get("score_dtype") == "float32":
        del out["score_dtype"]
    return out


# model fields that describe a model, not what a cell computes with it (a corrected parameter count reruns nothing)
NON_SEMANTIC_MODEL_KEYS = ("params_m",)


def config_hash(cell: dict) -> str:
    semantic = {k: v for k, v in cell.items() if k not in NON_SEMANTIC_KEYS}
    if isinstance(semantic.get("mode"), dict):  # the CPUs/GPUs a cell task holds change where it runs, not results
        semantic["mode"] = {k: v for k, v in semantic["mode"].items() if k != "resources"}
    if isinstance(semantic.get("method"), dict) and semantic["method"].get("student_l2", 0) is None:
        # null = head.l2, as every cell computed before the knob existed: their hashes stay
        semantic["method"] = {k: v for k, v in semantic["method"].items() if k != "student_l2"}
    setting = semantic.get("setting")
    if isinstance(setting, dict):
        setting = dict(setting)
        for role in ("weak_backend", "strong_backend"):
            if isinstance(setting.get(role), dict):
                setting[role] = _semantic_backend(setting[role])
        for role in ("weak", "strong"):
            if isinstance(setting.get(role), dict):
                setting[role] = {k: v for k, v in setting[role].items() if k not in NON_SEMANTIC_MODEL_KEYS}
        semantic["setting"] = setting
    return hashlib.sha256(json.dumps(semantic, sort_keys=True, default=str).encode()).hexdigest()


def flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
