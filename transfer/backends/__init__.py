"""Backends turn texts into features and label-token log-probs. Heavy imports happen only when chosen: a backend's
module is imported by name (transfer/plugins.py) when a config selects it, and through `LazyBackend` only when some
cache shard is missing."""

from __future__ import annotations

from transfer.backends.base import Backend
from transfer.plugins import resolve


def load_backend(backend_cfg: dict, model_cfg: dict) -> Backend:
    return resolve("backend", backend_cfg["name"], base=Backend)(backend_cfg, model_cfg)


class LazyBackend:
    """Loads the model (or starts its server) only when a shard is missing; reused across datasets; closed once."""

    def __init__(self, backend_cfg: dict, model_cfg: dict):
        self.backend_cfg, self.model_cfg, self.backend = backend_cfg, model_cfg, None

    def _loaded(self):
        if self.backend is None:
            self.backend = load_backend(self.backend_cfg, self.model_cfg)
        return self.backend

    def features(self, texts):
        return self._loaded().features(texts)

    def label_logprobs(self, prompts, labels):
        return self._loaded().label_logprobs(prompts, labels)

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
