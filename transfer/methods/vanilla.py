"""vanilla: train the student head on the weak labels (soft probabilities, or hardened at 0.5)."""

from __future__ import annotations

from transfer.heads import train_head
from transfer.methods.base import Method, StudentView, hard


class Vanilla(Method):
    def fit(self, view: StudentView):
        targets = hard(view.weak_probs) if self.cfg.get("labels") == "hard" else view.weak_probs
        return train_head(view.x, targets, seed=view.seed, **view.head)
