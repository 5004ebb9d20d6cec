"""A backend loaded on first use: a cache that is complete never loads the model (or starts its server)."""

from __future__ import annotations

from transfer.backends import load_backend


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
