"""bootstrap (strong-to-strong): train on the weak labels, then let the student relabel `train_unlabel` and retrain,
for `rounds` rounds.

A head relabelling the very pairs it was fit on mostly repeats itself, so by default each fold is relabelled by a
head trained on the other folds (`folds` ≥ 2: cross-fitting). The final head trains on all pairs with the last
labels. Diagnostics: the fraction of hard labels that changed in each round, and the final labels' agreement
with the weak ones.
"""

from __future__ import annotations

import numpy as np

from transfer.errors import ConfigError
from transfer.heads import train_head
from transfer.methods.base import Method, StudentView, hard


class Bootstrap(Method):
    kinds = ("pairwise", "binary")  # binary: the same relabelling of items
    def fit(self, view: StudentView):
        rounds, folds = int(self.cfg["rounds"]), int(self.cfg["folds"])
        if rounds < 1 or folds < 1:
            raise ConfigError(f"method bootstrap: need rounds >= 1 and folds >= 1, got {rounds}, {folds}")
        soft = self.cfg.get("labels") == "soft"
        labels = np.array(view.weak_probs if soft else hard(view.weak_probs), dtype=np.float32)
        fold = np.random.default_rng([view.seed, 0xB007]).permutation(len(labels)) % folds
        for r in range(1, rounds + 1):
            new = np.empty_like(labels)
            for k in range(folds):
                train = fold != k if folds > 1 else np.ones(len(labels), bool)
                head = train_head(view.x[train], labels[train], seed=view.seed + r, **view.head)
                new[fold == k] = head.predict_proba(view.x[fold == k])
            new = new if soft else hard(new)
            self.diagnostics[f"labels_changed_round{r}"] = float(((new > 0.5) != (labels > 0.5)).mean())
            labels = new.astype(np.float32)
        self.diagnostics["final_labels_weak_agreement"] = float(((labels > 0.5) == (view.weak_probs > 0.5)).mean())
        return train_head(view.x, labels, seed=view.seed, **view.head)
