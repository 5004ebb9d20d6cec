"""knn_relabel: relabel (or drop) weak labels that disagree with their k nearest neighbours in strong feature space
(EleutherAI's kNN filtering on strong activations).

Neighbours are the other pairs, each in the A/B order closer to the pair: f(A) − f(B) with its label, or the mirror
−(f(A) − f(B)) with the mirrored label 1 − p, so a neighbourhood cannot be lopsided by the random A/B order.
Nearness is |cosine| on per-dimension scaled inputs; a pair is never its own neighbour in either order. A pair
whose own hard weak label loses to the neighbours' mean label by more than `margin` is relabelled to the neighbours'
vote (`action: relabel`) or dropped (`drop`).
Binary items have no A/B order to swap: there nearness is plain cosine and labels are the items' own.
"""

from __future__ import annotations

import numpy as np

from transfer.errors import ConfigError
from transfer.heads import fit_scale, train_head
from transfer.methods.base import Method, StudentView, hard


def neighbour_vote(x: np.ndarray, probs: np.ndarray, k: int, mirror: bool = True) -> np.ndarray:
    """Mean hard weak label of each pair's k nearest other pairs, each seen in the A/B order closer to the pair.

    Pair j in the order of pair i is x_j with its label when cos(x_i, x_j) >= 0, else its mirror −x_j with the
    mirrored label: nearness is |cos|, and each other pair counts once. The pair itself is excluded in both orders:
    its mirror is as near as it is (|cos| = 1) and would vote its own label back to it. `mirror=False` (binary
    items): plain cosine, the items' own labels, the item itself excluded."""
    z = x / fit_scale(x)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    own = hard(probs)
    sim = z @ z.T
    if mirror:
        aligned = np.where(sim >= 0, own[None, :], 1 - own[None, :])  # pair j's label in pair i's order
        far = -np.abs(sim)
    else:
        aligned = np.broadcast_to(own[None, :], sim.shape)
        far = -sim
    np.fill_diagonal(far, np.inf)  # the pair itself (and its mirror)
    nearest = np.argpartition(far, k - 1, axis=1)[:, :k]
    return np.take_along_axis(aligned, nearest, axis=1).mean(axis=1)


class KnnRelabel(Method):
    modes = ("head", "prompt", "lora")
    kinds = ("pairwise", "binary")  # binary: neighbours among the items themselves (no mirrors)

    def targets(self, view: StudentView) -> tuple[np.ndarray, np.ndarray]:
        k, margin, action = int(self.cfg["k"]), float(self.cfg["margin"]), self.cfg["action"]
        if action not in ("relabel", "drop"):
            raise ConfigError(f"method knn_relabel: action={action!r} is unknown (relabel | drop)")
        if not 0 < k < len(view.x):
            raise ConfigError(f"method knn_relabel: k={k} must be in 1..{len(view.x) - 1} (the other examples)")
        vote = neighbour_vote(view.x, view.weak_probs, k, mirror=view.kind == "pairwise")
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
