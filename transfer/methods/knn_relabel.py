"""knn_relabel: relabel (or drop) weak labels that disagree with their k nearest neighbours in strong feature space
(EleutherAI's kNN filtering on strong activations).

Neighbours are found among the pair inputs f(A) − f(B) and their mirrors −(f(A) − f(B)) with the mirrored label
1 − p: the same pair seen with A and B swapped, so a neighbourhood cannot be lopsided by the random A/B order.
Distances are cosine on per-dimension scaled inputs. A pair whose own hard weak label loses to the neighbours'
mean label by more than `margin` is relabelled to the neighbours' vote (`action: relabel`) or dropped (`drop`).
Binary items have no A/B to swap: there the bank is the items alone (`mirror=False`).
"""

from __future__ import annotations

import numpy as np

from transfer.errors import ConfigError
from transfer.heads import fit_scale, train_head
from transfer.methods.base import Method, StudentView, hard


def neighbour_vote(x: np.ndarray, probs: np.ndarray, k: int, mirror: bool = True) -> np.ndarray:
    """Mean hard weak label of each pair's k nearest neighbours (itself and its own mirror excluded)."""
    z = x / fit_scale(x)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    n = len(z)
    bank, labels = (np.concatenate([z, -z]), np.concatenate([hard(probs), 1 - hard(probs)])) if mirror \
        else (z, hard(probs))
    sim = z @ bank.T
    sim[np.arange(n), np.arange(n)] = -np.inf
    if mirror:
        sim[np.arange(n), np.arange(n) + n] = -np.inf
    nearest = np.argpartition(-sim, k, axis=1)[:, :k]
    return labels[nearest].mean(axis=1)


class KnnRelabel(Method):
    modes = ("head", "prompt", "lora")
    kinds = ("pairwise", "binary")  # binary: neighbours among the items themselves (no mirrors)

    def targets(self, view: StudentView) -> tuple[np.ndarray, np.ndarray]:
        k, margin, action = int(self.cfg["k"]), float(self.cfg["margin"]), self.cfg["action"]
        if action not in ("relabel", "drop"):
            raise ConfigError(f"method knn_relabel: action={action!r} is unknown (relabel | drop)")
        mirror = view.kind == "pairwise"
        bank = (2 if mirror else 1) * len(view.x) - (2 if mirror else 1)
        if not 0 < k < bank + 1:
            raise ConfigError(f"method knn_relabel: k={k} must be in 1..{bank}")
        vote = neighbour_vote(view.x, view.weak_probs, k, mirror)
        own = hard(view.weak_probs)
        disagree = np.abs(vote - own) > 0.5 + margin  # the neighbours' majority is against the pair's own label
        self.diagnostics["disagree_fraction"] = float(disagree.mean())
        if action == "drop":
            keep = np.flatnonzero(~disagree)
            return keep, own[keep]
        return np.arange(len(own)), np.where(disagree, 1 - own, own).astype(np.float32)

    def fit(self, view: StudentView):
        index, targets = self.targets(view)
        return train_head(view.x[index], targets, seed=view.seed, **view.head)
