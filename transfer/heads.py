"""A linear head on frozen pair features, trained in torch.

The input of a pair is f(A) − f(B), scaled per dimension (no centering, no bias), so swapping A and B flips the
prediction exactly: the head cannot learn a position preference. Its output is the logit of "A is better".
Binary items (one text, a 0/1 label) have no such symmetry and unbalanced classes: their heads get an unpenalized
bias (`bias=True`, which the harness puts in the head config of binary tasks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

# loss(logits, targets, progress) -> scalar; progress = fraction of training done, in [0, 1)
LossFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]
# targets_fn(probs, targets, progress) -> this step's soft targets of the BCE loss (probs: the head's, no gradient)
TargetsFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


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
               batch_size: int | None, loss_fn: LossFn = soft_bce, bias: bool = False,
               targets_fn: TargetsFn | None = None) -> LinearHead:
    """Adam on `loss_fn` + l2·|w|²; `batch_size` None = full batch (the default: on these small, strongly
    regularized problems minibatch noise moved test accuracy by up to 10 points between seeds); a full batch is not
    shuffled (on the HH features: weights within 1e-6 relative, probabilities within 2e-7 of a shuffled run, 1.7x
    faster). `targets` are probabilities (hard labels are 0/1).

    `targets_fn` (with the default loss only): BCE against targets recomputed every step from the head's current
    probabilities, e.g. logconf's mix of weak and self labels (BCE is linear in its target, so a mix of BCE losses is
    the BCE of the mixed target); it keeps the closed-form gradient that any other `loss_fn` gives up."""
    if len(x) == 0:
        raise ValueError("cannot train a head on zero examples")
    gen = torch.Generator().manual_seed(int(seed))
    batch_size = int(batch_size or len(x))
    scale = fit_scale(x)
    xs = torch.from_numpy((x / scale).astype(np.float32))
    ys = torch.from_numpy(np.array(targets, dtype=np.float32))  # a copy: inputs may be read-only views
    total = epochs * max(1, (len(xs) + batch_size - 1) // batch_size)  # steps; progress = step / total
    if loss_fn is soft_bce:  # the common loss: its gradient in closed form, no autograd graph per step
        return _train_soft_bce(xs, ys, scale, gen=gen, epochs=epochs, total=total, lr=lr, l2=l2,
                               batch_size=batch_size, bias=bias, targets_fn=targets_fn)
    if targets_fn is not None:
        raise ValueError("train_head: targets_fn works with the default loss (soft_bce) only")
    w = torch.zeros(xs.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True) if bias else None  # not in the l2 term: the class prior is not shrunk
    opt = torch.optim.Adam([w] if b is None else [w, b], lr=lr)
    step = 0
    for _ in range(epochs):
        for xb, yb in _batches(xs, ys, batch_size, gen):
            logits = xb @ w if b is None else xb @ w + b
            loss = loss_fn(logits, yb, step / total) + l2 * (w * w).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    return LinearHead(weight=w.detach().numpy().astype(np.float32), scale=scale,
                      bias=float(b.detach()) if b is not None else 0.0)


def _batches(xs: torch.Tensor, ys: torch.Tensor, batch_size: int, gen: torch.Generator):
    """One epoch's batches: a seeded permutation, or the whole set unshuffled when it fits in one (shuffling it
    changes only the loss's rounding, and copying it was half of a head's training time)."""
    if batch_size >= len(xs):
        return [(xs, ys)]
    perm = torch.randperm(len(xs), generator=gen)
    return [(xs[idx], ys[idx]) for idx in perm.split(batch_size)]


class Adam:
    """torch.optim.Adam's default update (no weight decay, no amsgrad) for tensors whose gradient the caller writes
    out in closed form: the same arithmetic in the same order, without autograd's graph or the optimizer's
    per-step bookkeeping, which cost more than the arithmetic itself on heads this small."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params, self.lr, (self.beta1, self.beta2), self.eps = params, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        self.t += 1
        bc1, bc2_sqrt = 1 - self.beta1 ** self.t, math.sqrt(1 - self.beta2 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            p.addcdiv_(m, (v.sqrt() / bc2_sqrt).add_(self.eps), value=-self.lr / bc1)


@torch.no_grad()
def _train_soft_bce(xs: torch.Tensor, ys: torch.Tensor, scale: np.ndarray, *, gen: torch.Generator, epochs: int,
                    total: int, lr: float, l2: float, batch_size: int, bias: bool,
                    targets_fn: TargetsFn | None) -> LinearHead:
    """`train_head` for `soft_bce`: the same steps as torch.optim.Adam on mean BCE-with-logits + l2·|w|², with the
    gradient written out, (sigmoid(z) − y)ᵀX / n + 2·l2·w. On the HH heads (577–1,154 × 384–576) the autograd
    graph, the loss module and the optimizer's bookkeeping were 55–75% of a step: this path is 2.3–4.2× faster, its
    weights within 1.4e-6 of autograd's (tests/transfer/test_scoring_and_methods.py checks they agree)."""
    dim = xs.shape[1]
    params = torch.zeros(dim + 1 if bias else dim)  # [w, b]: one Adam state over both, as Adam treats each alike
    w, grad, opt = params[:dim], torch.empty_like(params), Adam([params], lr)
    for _ in range(epochs):
        for xb, yb in _batches(xs, ys, batch_size, gen):
            z = xb @ w
            if bias:
                z += params[dim]
            p = torch.sigmoid(z)
            if targets_fn is not None:
                yb = targets_fn(p, yb, opt.t / total)
            r = (p - yb).div_(len(yb))  # d mean-BCE / d logits (p stays as targets_fn saw it)
            torch.mv(xb.T, r, out=grad[:dim])
            grad[:dim].add_(w, alpha=2.0 * l2)
            if bias:
                grad[dim] = r.sum()
            opt.step([grad])
    return LinearHead(weight=w.numpy().astype(np.float32), scale=scale,
                      bias=float(params[dim]) if bias else 0.0)
