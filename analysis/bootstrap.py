"""Bootstrap of accuracies over seeds, the paired unit: a drawn seed brings every row (weak, ceiling, each method's
student) it has, so method - baseline differences stay paired.

A seed is a `Block`: each row's accuracy on that seed's test set, and, where the records have them, the per-example
correctness. The report resamples seeds only (`within=False`): each seed draws its own test split, so test-sampling
noise is already in the seed-to-seed spread, and resampling examples again would count it twice (measured in
benchmarks/ci_coverage.py). `within=True` adds the second stage (examples within each drawn seed, shared by the
rows of the seed; a binomial draw per row where no per-example data exist); it is kept for that benchmark.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class Block:
    seed: int
    n: int
    acc: np.ndarray                 # (k,) accuracy per row, NaN where the row is absent for this seed
    matrix: np.ndarray | None = None  # (k, n) 0/1 correctness, NaN rows where absent; None -> binomial


def seed_accuracies(blocks: list[Block]) -> np.ndarray:
    """(seeds, k) accuracies as recorded (no resampling)."""
    return np.vstack([b.acc for b in blocks])


def _within(block: Block, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` resamples of the block's test examples -> (size, k) accuracies."""
    k = len(block.acc)
    if block.matrix is not None:
        idx = rng.integers(0, block.n, size=(size, block.n))  # one resample of example indices for all rows
        return np.stack([row[idx].mean(axis=1) for row in block.matrix], axis=1)  # NaN rows stay NaN
    present = ~np.isnan(block.acc)
    out = np.full((size, k), np.nan)
    out[:, present] = rng.binomial(block.n, block.acc[present], size=(size, int(present.sum()))) / block.n
    return out


def with_deltas(acc: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Append columns acc[..., i] - acc[..., j] (NaN unless both rows exist in that seed)."""
    if not pairs:
        return acc
    return np.concatenate([acc, np.stack([acc[..., i] - acc[..., j] for i, j in pairs], axis=-1)], axis=-1)


def nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():  # all-NaN slices (a row absent from every drawn seed) are NaN on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def point(blocks: list[Block], pairs: list[tuple[int, int]]) -> np.ndarray:
    """Seed means of each row and of each paired difference (over seeds having both rows)."""
    return nanmean(with_deltas(seed_accuracies(blocks), pairs), axis=0)


def hierarchical(blocks: list[Block], pairs: list[tuple[int, int]], reps: int,
                 rng: np.random.Generator, chunk: int = 500, within: bool = True) -> np.ndarray:
    """(reps, k + len(pairs)) bootstrap replicates of `point(blocks, pairs)`; within=False resamples seeds only."""
    n_seeds, k = len(blocks), len(blocks[0].acc)
    out = []
    for start in range(0, reps, chunk):  # chunks bound memory: (chunk, seeds, n) counts per block at most
        size = min(chunk, reps - start)
        idx = rng.integers(0, n_seeds, size=(size, n_seeds))
        acc = np.full((size, n_seeds, k), np.nan)
        for s, block in enumerate(blocks):
            where = idx == s
            hits = int(where.sum())
            if hits and within:  # every drawn copy of a seed gets its own resample of examples
                acc[where] = _within(block, hits, rng)
            elif hits:
                acc[where] = block.acc
        out.append(nanmean(with_deltas(acc, pairs), axis=1))
    return np.vstack(out)
