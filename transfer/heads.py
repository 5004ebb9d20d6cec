"""A linear head on frozen pair features, trained in torch.

The input of a pair is f(A) − f(B), scaled per dimension (no centering, no bias), so swapping A and B flips the
prediction exactly: the head cannot learn a position preference. Its output is the logit of "A is better".
Binary items (one text, a 0/1 label) have no such symmetry and unbalanced classes: their heads get an unpenalized
bias (`bias=True`, which the harness puts in the head config of binary tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

# loss(logits, targets, progress) -> scalar; progress = fraction of training done, in [0, 1)
LossFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


def soft_bce(logits: torch.Tensor, targets: torch.Tensor, progress: float) -> torch.Tensor:
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)


@dataclass
class LinearHead:
    weight: np.ndarray  # (dim,)
    scale: np.ndarray  # (dim,) feature scale fitted on the training inputs
    bias: float = 0.0  # binary tasks only; pair heads have none

    def logits(self, x: np.ndarray) -> np.ndarray:
        return (x / self.scale) @ self.weight + self.bias

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(A is better) for pair inputs x = f(A) − f(B)."""
        return 1.0 / (1.0 + np.exp(-self.logits(x)))


def fit_scale(x: np.ndarray) -> np.ndarray:
    scale = np.sqrt((x.astype(np.float64) ** 2).mean(axis=0))
    return np.where(scale > 1e-8, scale, 1.0).astype(np.float32)


def train_head(x: np.ndarray, targets: np.ndarray, *, seed: int, epochs: int, lr: float, l2: float,
               batch_size: int | None, loss_fn: LossFn = soft_bce, bias: bool = False) -> LinearHead:
    """Adam on `loss_fn` + l2·|w|²; `batch_size` None = full batch (the default: on these small, strongly
    regularized problems minibatch noise moved test accuracy by up to 10 points between seeds); a full batch is not
    shuffled (on the HH features: weights within 1e-6 relative, probabilities within 2e-7 of a shuffled run, 1.7x
    faster). `targets` are probabilities (hard labels are 0/1)."""
    if len(x) == 0:
        raise ValueError("cannot train a head on zero examples")
    gen = torch.Generator().manual_seed(int(seed))
    batch_size = int(batch_size or len(x))
    scale = fit_scale(x)
    xs = torch.from_numpy((x / scale).astype(np.float32))
    ys = torch.from_numpy(np.array(targets, dtype=np.float32))  # a copy: inputs may be read-only views
    w = torch.zeros(xs.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True) if bias else None  # not in the l2 term: the class prior is not shrunk
    opt = torch.optim.Adam([w] if b is None else [w, b], lr=lr)
    steps_per_epoch = max(1, (len(xs) + batch_size - 1) // batch_size)
    total = epochs * steps_per_epoch
    step = 0
    full = batch_size >= len(xs)
    for _ in range(epochs):
        if full:  # one batch of every example: shuffling it changes only the loss's rounding, and copying it was
            batches = [(xs, ys)]  # half of the head's training time
        else:
            perm = torch.randperm(len(xs), generator=gen)
            batches = [(xs[idx], ys[idx]) for idx in perm.split(batch_size)]
        for xb, yb in batches:
            logits = xb @ w if b is None else xb @ w + b
            loss = loss_fn(logits, yb, step / total) + l2 * (w * w).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    return LinearHead(weight=w.detach().numpy().astype(np.float32), scale=scale,
                      bias=float(b.detach()) if b is not None else 0.0)
