"""Prompt-grouped splits and seeded A/B assignment.

A pair's two replies become "A" and "B" at random (seeded), so the label "A is better" is balanced and a model
cannot win by position. Splits are made over prompt groups, so no prompt history lands in two splits. Binary items
(transfer/data/items.py) have no sides: their gold is the item's own label, and `a_is_better` holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transfer.data.pairs import PairSet
from transfer.errors import DataError

SPLITS = ("train_label", "train_unlabel", "test")


@dataclass(frozen=True)
class Split:
    name: str
    index: np.ndarray  # positions in the PairSet (ItemSet)
    a_is_better: np.ndarray  # gold (bool): A is better (pairwise) or the item's label is 1 (binary); harness only
    # each example's group (None: each its own): a head's cross-validation keeps a group in one fold, as the splits do
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class SplitData:
    dataset: str
    splits: dict[str, Split]

    def __getitem__(self, name: str) -> Split:
        return self.splits[name]


def assign_ab(n: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly balanced A/B (up to one pair), in random order."""
    flags = np.arange(n) < (n + 1) // 2
    return rng.permutation(flags)


def make_splits(pairs: PairSet, fractions: dict[str, float], seed: int) -> SplitData:
    """Split `pairs` by prompt group into the named fractions (they must sum to 1)."""
    # canonical order: the same fractions must give the same split whatever order a config (or JSON) lists them in
    names = sorted(fractions, key=lambda n: (SPLITS.index(n) if n in SPLITS else len(SPLITS), n))
    total = float(sum(fractions.values()))
    if abs(total - 1.0) > 1e-6 or any(f <= 0 for f in fractions.values()):
        raise DataError(f"split fractions {dict(fractions)} must be positive and sum to 1")
    rng = np.random.default_rng([seed, 0x5B1])
    groups = np.array([p.group for p in pairs.pairs])
    unique = rng.permutation(np.unique(groups))
    sizes = {g: 0 for g in unique}
    for g in groups:
        sizes[g] += 1
    # walk the shuffled groups, filling each split up to its share of pairs
    bounds = np.cumsum([fractions[n] for n in names]) * len(pairs)
    member: dict[str, list[str]] = {n: [] for n in names}
    filled, k = 0, 0
    for g in unique:
        while k < len(names) - 1 and filled >= bounds[k]:
            k += 1
        member[names[k]].append(g)
        filled += sizes[g]
    ab_rng = np.random.default_rng([seed, 0xAB])
    out = {}
    for n in names:
        index = np.flatnonzero(np.isin(groups, member[n]))
        if len(index) == 0:
            raise DataError(f"dataset {pairs.name!r}: split {n!r} is empty "
                            f"({len(pairs)} pairs, fractions {dict(fractions)}): use more data or larger fractions")
        out[n] = Split(name=n, index=index, a_is_better=_gold(pairs, index, ab_rng), groups=groups[index])
    return SplitData(dataset=pairs.name, splits=out)


def whole(pairs: PairSet, name: str, seed: int) -> Split:
    """All pairs as one evaluation split (out-of-distribution sets)."""
    rng = np.random.default_rng([seed, 0x00D])
    return Split(name=name, index=np.arange(len(pairs)), a_is_better=_gold(pairs, np.arange(len(pairs)), rng))


def _gold(data, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pairs: a seeded, balanced A/B assignment. Binary items: their labels (nothing to assign)."""
    if getattr(data, "kind", "pairwise") == "binary":
        return np.array([data.items[i].label for i in index], dtype=bool)
    return assign_ab(len(index), rng)
