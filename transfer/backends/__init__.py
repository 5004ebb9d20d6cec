"""Backends turn texts into features and label-token log-probs. Heavy imports happen only when chosen."""

from __future__ import annotations

import importlib

from transfer.backends.base import Backend
from transfer.errors import ConfigError

# name -> "module:Class"; a backend's dependencies are imported only when it is selected
REGISTRY = {
    "hf": "transfer.backends.hf:HFBackend",
    "vllm": "transfer.backends.vllm:VLLMBackend",
}


def load_backend(backend_cfg: dict, model_cfg: dict) -> Backend:
    name = backend_cfg["name"]
    if name not in REGISTRY:
        raise ConfigError(f"backend={name!r} is unknown; choose one of {sorted(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(backend_cfg, model_cfg)
