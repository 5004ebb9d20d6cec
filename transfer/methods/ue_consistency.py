"""ue_consistency: unsupervised elicitation from the strong model's zero-shot label log-probs. No teacher.

The harness gives the view the strong LM's log P(" A"), log P(" B") with each pair shown in both orders.
1. Per order, the score for "A is better" is centred at its median: small LMs say " A" (or " B") for almost every
   prompt, and centring removes that position / label-token bias.
2. Consistency: "A better" in the (A, B) order and "B better" in the swapped order must be the same judgement;
   pairs where the two centred orders disagree are dropped.
3. Rebalance: the majority class is cut, least confident first, to the minority's size.
4. The student head trains on what is left (hard labels). The weak teacher's labels are never read.
Pairwise only: the zero-shot prompt compares two replies; binary items have none to compare (refused there).
"""

from __future__ import annotations

import numpy as np

from transfer.errors import ConfigError
from transfer.heads import train_head
from transfer.label_tokens import order_logits
from transfer.methods.base import Method, StudentView


def consistent_labels(zero_shot: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """(kept positions, hard labels "A is better", diagnostics) from (n, 2 orders, 2 labels) log-probs."""
    first, second = order_logits(zero_shot)  # "A is better" read from order (A, B) and from (B, A)
    first, second = first - np.median(first), second - np.median(second)
    agree = np.sign(first) == np.sign(second)
    agree &= (first != 0)
    score = (first + second) / 2
    kept = np.flatnonzero(agree)
    says_a = score[kept] > 0
    n_a, n_b = int(says_a.sum()), int((~says_a).sum())
    if min(n_a, n_b) > 0:  # rebalance: keep the most confident `minority` of each class
        m = min(n_a, n_b)
        pick = [kept[says_a][np.argsort(-np.abs(score[kept][says_a]))[:m]],
                kept[~says_a][np.argsort(-np.abs(score[kept][~says_a]))[:m]]]
        kept = np.sort(np.concatenate(pick))
    diag = {"raw_a_rate_first_order": float((zero_shot[:, 0, 0] > zero_shot[:, 0, 1]).mean()),
            "consistent_fraction": float(agree.mean()), "kept_fraction": len(kept) / len(first),
            "a_fraction_before_rebalance": n_a / max(1, n_a + n_b)}
    return kept, (score[kept] > 0).astype(np.float32), diag


class UEConsistency(Method):
    modes = ("head", "prompt", "lora")
    needs = ("zero_shot",)

    def targets(self, view: StudentView) -> tuple[np.ndarray, np.ndarray]:
        if view.zero_shot is None:
            raise ConfigError("method ue_consistency: the view has no zero_shot log-probs (the harness fills them "
                              "for methods whose `needs` lists zero_shot)")
        kept, labels, diag = consistent_labels(np.asarray(view.zero_shot, dtype=np.float64))
        self.diagnostics.update(diag)
        if len(kept) < int(self.cfg["min_examples"]) or len(np.unique(labels)) < 2:
            raise ConfigError(f"method ue_consistency: only {len(kept)} of {len(view.x)} pairs are consistent and "
                              f"balanced (min_examples={self.cfg['min_examples']})")
        return kept, labels

    def fit(self, view: StudentView):
        kept, labels = self.targets(view)
        return train_head(view.x[kept], labels, seed=view.seed, **view.head)
