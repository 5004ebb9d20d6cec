"""Shared by the prompt and lora modes: label targets from a method, demonstrations, and scoring both orders."""

from __future__ import annotations

from typing import Callable

import numpy as np

from transfer.data.pairs import PairSet
from transfer.data.splits import Split
from transfer.label_tokens import LABELS
from transfer.modes.prompts import oriented_prompts, prob_a

Scorer = Callable[[list[str]], np.ndarray]  # prompts -> (n, 2) log P(" A"), log P(" B")


def score_split(score: Scorer, pairs: PairSet, split: Split, fmt: dict, orders: int, prefix: str = "",
                index: np.ndarray | None = None) -> np.ndarray:
    """P(A is better) for the split's pairs (or the positions `index` of it), averaged over `orders` (1 or 2)."""
    pos = np.arange(len(split)) if index is None else index
    idx, ab = split.index[pos], split.a_is_better[pos]
    by_order = [score([prefix + p for p in oriented_prompts(pairs, idx, ab, fmt, order)]) for order in range(orders)]
    return prob_a(*by_order)


def balanced_pick(labels: np.ndarray, confidence: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k positions, half labelled A and half B (as far as they go), most confident first, in a seeded order."""
    a, b = np.flatnonzero(labels > 0.5), np.flatnonzero(labels <= 0.5)
    rank = lambda pos: pos[np.argsort(-confidence[pos], kind="stable")]  # noqa: E731
    k_a = min(len(a), (k + 1) // 2)
    pick = np.concatenate([rank(a)[:k_a], rank(b)[:k - k_a]])
    return np.random.default_rng([seed, 0xDE70]).permutation(pick)


def demonstrations(pairs: PairSet, split: Split, pos: np.ndarray, labels: np.ndarray, fmt: dict) -> str:
    """Few-shot prefix: each pair at `pos` in (A, B) order followed by its label token (weak or gold: the caller's)."""
    prompts = oriented_prompts(pairs, split.index[pos], split.a_is_better[pos], fmt)
    return "".join(f"{p}{LABELS[0] if y > 0.5 else LABELS[1]}\n\n" for p, y in zip(prompts, labels))


def diag_positions(n: int, cap: int | None, seed: int) -> np.ndarray:
    """train_unlabel positions the student is scored on for the copying diagnostics (all, or a seeded sample)."""
    if cap is None or cap >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 0xD1A6]).choice(n, size=cap, replace=False))
