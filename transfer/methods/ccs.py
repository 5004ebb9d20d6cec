"""ccs: Contrast-Consistent Search (Burns et al. 2022) on the pair, with no labels.

The two statements are "A is the better reply" (read from f(A)) and its negation "B is the better reply" (f(B)).
A probe p(s) = σ(w·s + c) on centred features, projected onto their top `components` principal directions (CCS
overfits the raw ~600 dimensions of a few hundred pairs), minimises
    (p(A) − (1 − p(B)))²  +  min(p(A), p(B))²        (consistency + confidence)
over `restarts` random starts, keeping the lowest loss. No label enters the search. The predictor is the probe on
the difference, σ(w·(f(A) − f(B)) / 2), which is antisymmetric in A/B and ≈ p(A) when the probe is consistent.

CCS is sign-blind: w and −w are equally consistent. `sign: weak` keeps the sign that agrees more with the weak
teacher's hard labels (one bit of weak supervision, no gold); `sign: zero_shot` takes it from the strong model's own
zero-shot preference (no teacher at all; the harness then computes the view's zero_shot log-probs).

Pairwise only: the two statements are the pair's two sides. Binary items have one text and no contrast pair (a
contrast-prompt variant, "text + yes" vs "text + no", would be a different method), so the harness refuses it there.
"""

from __future__ import annotations

import numpy as np
import torch

from transfer.errors import ConfigError
from transfer.heads import Adam, LinearHead
from transfer.label_tokens import two_order_logit
from transfer.methods.base import Method, StudentView


def ccs_direction(a: np.ndarray, b: np.ndarray, *, components: int, restarts: int, steps: int, lr: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(weight in the scaled input space, scale, best loss) of the CCS probe. Takes no labels."""
    both = np.concatenate([a, b]).astype(np.float64)
    scale = both.std(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)
    z = (both - both.mean(axis=0)) / scale
    k = min(components, z.shape[1], len(z) - 1)
    basis = np.linalg.svd(z, full_matrices=False)[2][:k].T  # (dim, k)
    n = len(a)
    za = torch.tensor(z[:n] @ basis, dtype=torch.float32)
    zb = torch.tensor(z[n:] @ basis, dtype=torch.float32)
    gen = torch.Generator().manual_seed(int(seed))
    starts = [torch.randn(k, generator=gen) for _ in range(restarts)]  # drawn one at a time, in order
    # every restart at once, one column each: Adam is elementwise and each column's gradient is its own loss's, so
    # this is `restarts` independent searches in one loop (5x fewer steps of torch overhead)
    w = torch.stack([v / v.norm() for v in starts], dim=1)  # (k, restarts)
    c = torch.zeros(restarts)
    opt = Adam([w, c], lr)
    for _ in range(steps):
        losses, grad_w, grad_c = _ccs_loss_and_grad(za, zb, w, c)
        opt.step([grad_w, grad_c])
    best = int(torch.argmin(losses))  # the first of equal losses, as a strict < over restarts in order would keep
    return basis @ w[:, best].numpy().astype(np.float64), scale.astype(np.float32), float(losses[best])


def _ccs_loss_and_grad(za: torch.Tensor, zb: torch.Tensor, w: torch.Tensor, c: torch.Tensor):
    """Per restart (column): loss = mean (p(A) − (1 − p(B)))² + mean min(p(A), p(B))², and its gradient in w and c,
    written out (what autograd gave, ties of the min split half and half as torch.minimum's backward does, at a
    fifth of the time: tests/transfer/methods/test_ccs.py checks the two agree)."""
    n = len(za)
    pa, pb = torch.sigmoid(za @ w + c), torch.sigmoid(zb @ w + c)  # (n, restarts)
    gap, low = pa + pb - 1, torch.minimum(pa, pb)
    losses = (gap ** 2).mean(dim=0) + (low ** 2).mean(dim=0)
    share_a = (pa < pb).float() + 0.5 * (pa == pb).float()  # which side the min's gradient goes to
    da = (2 / n) * (gap + low * share_a) * pa * (1 - pa)  # d loss / d logit of A
    db = (2 / n) * (gap + low * (1 - share_a)) * pb * (1 - pb)
    return losses, za.T @ da + zb.T @ db, da.sum(dim=0) + db.sum(dim=0)


def zero_shot_preference(zero_shot: np.ndarray) -> np.ndarray:
    """The strong LM's position-debiased zero-shot logit for "A is better", from both presentation orders."""
    return two_order_logit(zero_shot)


class CCS(Method):
    def __init__(self, cfg: dict):
        super().__init__(cfg)
        if cfg.get("sign") not in ("weak", "zero_shot"):
            raise ConfigError(f"method ccs: sign={cfg.get('sign')!r} is unknown (weak | zero_shot)")
        self.needs = ("sides", "zero_shot") if cfg["sign"] == "zero_shot" else ("sides",)

    def fit(self, view: StudentView):
        w, scale, loss = ccs_direction(view.strong_a, view.strong_b, components=int(self.cfg["components"]),
                                       restarts=int(self.cfg["restarts"]), steps=int(self.cfg["steps"]),
                                       lr=float(self.cfg["lr"]), seed=view.seed)
        head = LinearHead(weight=(w / 2).astype(np.float32), scale=scale)
        says_a = head.logits(view.x) > 0
        if self.cfg["sign"] == "weak":
            reference = view.weak_probs > 0.5
        else:
            if view.zero_shot is None:
                raise ConfigError("method ccs: sign=zero_shot needs the view's zero_shot log-probs")
            reference = zero_shot_preference(view.zero_shot) > 0
        agree = float((says_a == reference).mean())
        if agree < 0.5:
            head, agree = LinearHead(weight=-head.weight, scale=scale), 1 - agree
        self.diagnostics.update(ccs_loss=loss, sign_agreement=agree)
        return head
