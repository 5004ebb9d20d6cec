"""Helpers shared by several test files (one place: test files do not import one another)."""

from __future__ import annotations

import pandas as pd


def predictions() -> pd.DataFrame:
    """A cell's predictions.parquet in miniature: train_unlabel, test and OOD rows for the weak and w2s roles."""
    rows = [("train_unlabel", f"tu{i}", "harmless-base") for i in range(6)]
    rows += [("test", f"te{i}", "harmless-base") for i in range(4)]
    rows += [("ood", f"ood{i}", "honest") for i in range(3)]
    return pd.DataFrame([{"example_id": e, "split": s, "subset": sub, "role": role, "prob_a": 0.7,
                          "a_is_better": True, "correct": True} for s, e, sub in rows for role in ("weak", "w2s")])
