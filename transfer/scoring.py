"""Scoring: the only place that reads gold labels of train_unlabel, test and OOD. No method imports this module."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transfer.errors import BoundaryError


def check_probs(probs: object, n: int, who: str) -> np.ndarray:
    """Predictions must be n finite probabilities; anything else is rejected, never repaired."""
    arr = np.asarray(probs, dtype=np.float64)
    if arr.shape != (n,):
        raise BoundaryError(f"{who}: returned predictions of shape {arr.shape}, expected ({n},)")
    if not np.isfinite(arr).all():
        raise BoundaryError(f"{who}: returned {int((~np.isfinite(arr)).sum())} non-finite predictions")
    if (arr < 0).any() or (arr > 1).any():
        raise BoundaryError(f"{who}: returned probabilities outside [0, 1]")
    return arr


def correct(probs: np.ndarray, a_is_better: np.ndarray) -> np.ndarray:
    """A prediction of exactly 0.5 counts as wrong: a tie is no preference."""
    return np.where(a_is_better, probs > 0.5, probs < 0.5)


def accuracy(probs: np.ndarray, a_is_better: np.ndarray) -> float:
    return float(correct(probs, a_is_better).mean())


def pgr(weak: float, w2s: float, ceiling: float) -> float:
    """Performance gap recovered; NaN when there is no gap (the study-level analysis decides what is defined)."""
    gap = ceiling - weak
    return float((w2s - weak) / gap) if gap != 0 else float("nan")


def agreement(p: np.ndarray, q: np.ndarray) -> float:
    return float(((p > 0.5) == (q > 0.5)).mean()) if len(p) else float("nan")


def prediction_frame(blocks) -> pd.DataFrame:
    """Per-example predictions, one row per (split, role, example), from blocks of (split, role, ids, subsets,
    probs, a_is_better), built in one pass (a frame per block and a concat cost a cell more than its scoring)."""
    sizes = [len(b[4]) for b in blocks]
    probs = np.concatenate([np.asarray(b[4], dtype=np.float64) for b in blocks])
    gold = np.concatenate([np.asarray(b[5], dtype=bool) for b in blocks])
    return pd.DataFrame({"example_id": np.concatenate([np.asarray(b[2], dtype=object) for b in blocks]),
                         "split": np.repeat([b[0] for b in blocks], sizes).astype(object),
                         "subset": np.concatenate([np.asarray(b[3], dtype=object) for b in blocks]),
                         "role": np.repeat([b[1] for b in blocks], sizes).astype(object),
                         "prob_a": probs, "a_is_better": gold, "correct": correct(probs, gold)})


def ece(probs: np.ndarray, a_is_better: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of P(predicted side is better), equal-width confidence bins."""
    conf = np.maximum(probs, 1 - probs)
    hit = correct(probs, a_is_better).astype(np.float64)
    edges = np.minimum(((conf - 0.5) * 2 * bins).astype(int), bins - 1)
    return float(sum(abs(hit[edges == k].mean() - conf[edges == k].mean()) * (edges == k).mean()
                     for k in range(bins) if (edges == k).any()))


def copying_diagnostics(w2s: np.ndarray, weak: np.ndarray, a_is_better: np.ndarray) -> dict[str, float]:
    """Does the student copy the teacher's mistakes? Needs gold, so only the harness computes it (train_unlabel)."""
    weak_wrong = ~correct(weak, a_is_better)
    disagree = (w2s > 0.5) != (weak > 0.5)
    if not len(w2s):
        return {}
    return {"student_weak_agreement": agreement(w2s, weak),
            "agreement_where_weak_wrong": agreement(w2s[weak_wrong], weak[weak_wrong]),
            "agreement_where_weak_right": agreement(w2s[~weak_wrong], weak[~weak_wrong]),
            # EleutherAI's "confident disagreement": the student contradicts the teacher with P >= 0.75
            "confident_disagreement": float((disagree & (np.abs(w2s - 0.5) >= 0.25)).mean()),
            "w2s_train_unlabel_acc": accuracy(w2s, a_is_better), "w2s_ece_train_unlabel": ece(w2s, a_is_better)}
