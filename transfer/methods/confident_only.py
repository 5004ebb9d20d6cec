"""confident_only: drop pairs whose weak probability lies strictly between `low` and `high` (AAR: 0.25 / 0.75),
train on the hard weak labels of the rest."""

from __future__ import annotations

import numpy as np

from transfer.errors import ConfigError
from transfer.heads import train_head
from transfer.methods.base import Method, StudentView, hard


class ConfidentOnly(Method):
    modes = ("head", "prompt", "lora")
    kinds = ("pairwise", "binary")  # binary: keeps items whose weak P(label = 1) is outside (low, high)

    def fit(self, view: StudentView):
        keep, targets = self.targets(view)
        return train_head(view.x[keep], targets, seed=view.seed, **view.head)

    def targets(self, view: StudentView):
        low, high = float(self.cfg["low"]), float(self.cfg["high"])
        if not 0.0 <= low <= 0.5 <= high <= 1.0:
            raise ConfigError(f"method confident_only: need 0 <= low <= 0.5 <= high <= 1, got {low}, {high}")
        keep = (view.weak_probs <= low) | (view.weak_probs >= high)
        self.diagnostics["kept_fraction"] = float(keep.mean())
        if keep.sum() < int(self.cfg["min_examples"]):
            raise ConfigError(f"method confident_only: only {int(keep.sum())} of {len(keep)} weak labels are outside "
                              f"({low}, {high}); widen the band (method.low / method.high)")
        return np.flatnonzero(keep), hard(view.weak_probs[keep])
