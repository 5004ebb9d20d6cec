"""A preference pair: one prompt, two replies, which one is better. Gold lives here and nowhere a method sees."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    example_id: str  # stable across runs: "<dataset>:<line or index>"
    prompt: str  # the text both replies answer (for HH: the final Human turn, for grouping: the whole history)
    group: str  # hash of the full shared history: pairs with one group never land in two splits
    better: str  # the preferred reply (gold)
    worse: str
    subset: str  # e.g. "harmless-base", or the HHH category


@dataclass(frozen=True)
class PairSet:
    name: str
    pairs: tuple[Pair, ...]
    kind = "pairwise"  # task kind (transfer/data/items.py has the other one, "binary")

    def __len__(self) -> int:
        return len(self.pairs)


def group_key(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).lower().encode()).hexdigest()[:16]
