"""logconf: the auxiliary confidence loss of Burns et al. (2023).

loss = (1 − α)·CE(student, weak) + α·CE(student, student hardened), where the student's own predictions are
hardened at the batch quantile that reproduces the weak labels' positive rate. α ramps linearly from 0 to
`alpha_max` over the first `warmup_frac` of training and then stays there. (OpenAI's reference ramps to 0.1×
its target and then jumps; EleutherAI fixed it. This is the fixed schedule.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from transfer.heads import train_head
from transfer.methods.base import Method, StudentView


def alpha_schedule(progress: float, alpha_max: float, warmup_frac: float) -> float:
    if warmup_frac <= 0:
        return alpha_max
    return alpha_max * min(1.0, progress / warmup_frac)


def self_labels(probs: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """The student's predictions hardened at the quantile that reproduces the weak labels' positive rate."""
    pos_rate = (weak > 0.5).float().mean()
    return (probs > torch.quantile(probs, 1.0 - pos_rate)).float()


def logconf_loss(logits: torch.Tensor, weak: torch.Tensor, alpha: float) -> torch.Tensor:
    probs = torch.sigmoid(logits).detach()
    return (1 - alpha) * F.binary_cross_entropy_with_logits(logits, weak) + \
        alpha * F.binary_cross_entropy_with_logits(logits, self_labels(probs, weak))


def logconf_targets(probs: torch.Tensor, weak: torch.Tensor, alpha: float) -> torch.Tensor:
    """The one target whose BCE is `logconf_loss` (BCE is linear in its target), for the closed-form head."""
    return (1 - alpha) * weak + alpha * self_labels(probs, weak)


class LogConf(Method):
    kinds = ("pairwise", "binary")  # binary: the same loss; the positive rate is the weak labels' class-1 rate

    def fit(self, view: StudentView):
        alpha_max, warmup = float(self.cfg["alpha_max"]), float(self.cfg["warmup_frac"])

        def targets(probs, weak, progress):
            return logconf_targets(probs, weak, alpha_schedule(progress, alpha_max, warmup))

        return train_head(view.x, view.weak_probs, seed=view.seed, targets_fn=targets, **view.head)
