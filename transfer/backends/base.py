"""The one contract every backend keeps (transformers in-process, a vLLM server, ...)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np


class Backend(ABC):
    """Features for texts, and log-probabilities of label tokens after a prompt, from one model."""

    name: str = "base"

    def __init__(self, backend_cfg: dict, model_cfg: dict):
        self.backend_cfg = backend_cfg
        self.model_cfg = model_cfg

    @abstractmethod
    def features(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32: the configured layer, pooled as configured."""

    def label_logprobs(self, prompts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        """(len(prompts), len(labels)): log P(label token | prompt)."""
        raise NotImplementedError(f"backend {self.name!r} does not score label tokens")

    def close(self) -> None:
        """Release the model or the server this backend holds."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
