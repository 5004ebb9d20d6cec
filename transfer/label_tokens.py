"""The label tokens " A" / " B" and the arithmetic on their log-probs, once: backends and the lora mode turn logits
into label log-probs here; prompt mode and the zero-shot methods (ccs, ue_consistency) read a preference from them.

Orders: a pair is shown as (A, B) [order 0] and swapped, (B, A) [order 1]. In order 1 reply A is shown as "Answer B",
so "A is better" is log P(" B") − log P(" A") there. Averaging the two orders' logits cancels the model's position
bias and makes the prediction antisymmetric in A and B.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from transfer.errors import ConfigError

LABELS = (" A", " B")


def single_token_ids(encode: Callable[[str], list[int]], labels: Sequence[str], model: str) -> list[int]:
    """Each label's one token id under `encode` (a tokenizer without special tokens); a label of several tokens has
    no single next-token log-prob: a one-line error."""
    out = []
    for label in labels:
        ids = list(encode(label))
        if len(ids) != 1:
            raise ConfigError(f"label {label!r} is {len(ids)} tokens for {model}; label log-probs need single-token "
                              "labels (e.g. ' A', ' B')")
        out.append(ids[0])
    return out


def label_logprobs(last_logits, label_ids: list[int], dtype=None):
    """(n, len(label_ids)) log P(label) from each prompt's last-position logits (a torch tensor): log-softmax over the
    whole vocabulary, not over the labels alone, in `dtype` (default: float32; a half-precision model's logits are
    upcast first)."""
    import torch

    return torch.log_softmax(last_logits.to(dtype or torch.float32), -1)[:, label_ids]


def order_logits(logprobs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2 orders, 2 labels) log-probs -> the logit for "A is better" read from order 0 and from order 1."""
    return logprobs[:, 0, 0] - logprobs[:, 0, 1], logprobs[:, 1, 1] - logprobs[:, 1, 0]


def two_order_logit(logprobs: np.ndarray) -> np.ndarray:
    """The position-debiased logit for "A is better": the mean of both orders' logits."""
    first, second = order_logits(logprobs)
    return (first + second) / 2
