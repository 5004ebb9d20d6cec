"""vanilla: train the student on the weak labels (soft probabilities, or hardened at 0.5)."""

from __future__ import annotations

import numpy as np

from transfer.heads import train_head
from transfer.methods.base import Method, StudentView, hard


class Vanilla(Method):
    modes = ("head", "prompt", "lora")
    kinds = ("pairwise", "binary")  # binary: the same head on f(text), trained on P(label = 1)

    def targets(self, view: StudentView):
        probs = hard(view.weak_probs) if self.cfg.get("labels") == "hard" else view.weak_probs
        return np.arange(len(probs)), np.asarray(probs, dtype=np.float32)

    def fit(self, view: StudentView):
        return train_head(view.x, self.targets(view)[1], seed=view.seed, **view.head)
