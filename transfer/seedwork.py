"""Work shared by every method's cell of a seed: the weak teacher's soft labels and, in head mode, the ceiling.

Neither depends on the method. The weak teacher is a head on the weak model's features trained on `train_label`
gold; it is fixed by the setting (data, weak model and its features), the split fractions, `seeds.split` and
`seeds.teacher`, and the roles' config (`roles:`, transfer/roles.py: each role's penalty chosen by cross-validation on
its own gold). The head-mode ceiling (a head on the strong features trained on
`train_unlabel` gold) is fixed by the same plus the strong model and `seeds.student`. `seed_key` hashes exactly
these fields, so a sweep computes one `SeedWork` per key (a Ray task, jobs/raytasks.py) and hands it to all
that seed's cells, instead of each cell retraining both. Other modes (prompt, lora) define their own ceiling in
`run_mode`; for them only the weak teacher is shared (`ceiling` is None).

A `SeedWork` holds harness data (the splits with their gold, gold-derived predictions on test and OOD):
`transfer.cell` copies the one part a method may see, the weak labels of train_unlabel, into the StudentView, and
nothing else reaches the view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from transfer.config import config_hash, mode_name
from transfer.data.splits import Split, SplitData, make_splits, whole
from transfer.roles import role_config, role_head


@dataclass(frozen=True)
class SeedWork:
    key: str  # seed_key of the cells it serves
    weak: dict[str, np.ndarray]  # weak teacher's P(A is better): "train_unlabel", "test", "ood" (if any)
    ceiling: dict[str, np.ndarray] | None  # head mode: the ceiling's P(A is better) on "test", "ood"; else None
    # the seed's splits (seed_key covers what makes them), so its cells do not remake them; None: each cell makes them
    splits: tuple[SplitData, Split | None] | None = None
    # what the roles' cross-validation chose (transfer/roles.py): roles_teacher_l2, roles_teacher_cv_acc (+ roles_ceiling_* in head
    # mode), logged with every cell of the seed
    recipe: dict[str, float] = field(default_factory=dict)


def seed_key(cell: dict) -> str:
    """Hash of the fields that determine a cell's weak teacher and (head mode) ceiling; not the method."""
    head_mode = mode_name(cell) == "head"
    return config_hash({"setting": cell["setting"], "splits": cell["splits"], "roles": cell["roles"],
                        "seeds": {k: int(v) for k, v in cell["seeds"].items()
                                  if k in ("split", "teacher") or (head_mode and k == "student")},
                        "ceiling": "head" if head_mode else None})


def cell_splits(cell: dict, inputs) -> tuple[SplitData, Split | None]:
    """The cell's splits of the data and its OOD split (the whole OOD set, seeded A/B)."""
    seed = int(cell["seeds"]["split"])
    splits = make_splits(inputs.pairs, dict(cell["splits"]), seed)
    return splits, (whole(inputs.ood, "ood", seed) if inputs.ood is not None else None)


def pair_x(feats, split: Split) -> np.ndarray:
    """A head's inputs of a split: f(A) − f(B) of pairs, f(text) of binary items."""
    return feats.head_input(split.index, split.a_is_better)


def head_config(cell: dict, kind: str) -> dict:
    """The cell's head settings; binary heads get a bias (transfer/heads.py), pair heads must not."""
    head = dict(cell["head"])
    if kind == "binary":
        head.setdefault("bias", True)
    return head


def role_fit(cell: dict, role: str, x: np.ndarray, split: Split, kind: str, seed: int):
    """A role's head on its split's gold (transfer/roles.py: CV folds keep the split's groups whole) and its choice
    as `roles_<role>_l2`, `roles_<role>_cv_acc`."""
    head, chosen = role_head(x, split.a_is_better, role_config(cell, role), seed=seed, bias=kind == "binary",
                             groups=split.groups)
    return head, {f"roles_{role}_{k}": v for k, v in chosen.items()}


def weak_teacher(cell: dict, inputs, splits: SplitData, ood: Split | None) -> tuple[dict[str, np.ndarray], dict]:
    """Weak features + head on train_label gold -> P(A is better) on train_unlabel, test and OOD, and the
    teacher's cross-validated choice."""
    tl, weak_f = splits["train_label"], inputs.features["weak"]
    teacher, chosen = role_fit(cell, "teacher", pair_x(weak_f, tl), tl,
                               getattr(weak_f, "kind", "pairwise"), int(cell["seeds"]["teacher"]))
    weak = {"train_unlabel": teacher.predict_proba(pair_x(weak_f, splits["train_unlabel"])),
            "test": teacher.predict_proba(pair_x(weak_f, splits["test"]))}
    if ood is not None:
        weak["ood"] = teacher.predict_proba(pair_x(inputs.features["weak_ood"], ood))
    return weak, chosen


def head_ceiling(cell: dict, features: dict, tu: Split, te: Split, ood: Split | None,
                 xs_tu: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Strong features + head on train_unlabel gold -> P(A is better) on test and OOD (head mode's ceiling), and
    the ceiling's cross-validated choice."""
    xs_tu = pair_x(features["strong"], tu) if xs_tu is None else np.asarray(xs_tu)
    ceiling, chosen = role_fit(cell, "ceiling", xs_tu, tu, getattr(features["strong"], "kind", "pairwise"),
                               int(cell["seeds"]["student"]))
    out = {"test": ceiling.predict_proba(pair_x(features["strong"], te))}
    if ood is not None:
        out["ood"] = ceiling.predict_proba(pair_x(features["strong_ood"], ood))
    return out, chosen


def compute_seed_work(cell: dict, inputs) -> SeedWork:
    """The weak teacher and (head mode) the ceiling of `cell`'s seed, as `run_cell` would compute them itself."""
    torch.manual_seed(int(cell["seeds"]["student"]))  # the cell's global seed (the heads use their own generators)
    splits, ood = cell_splits(cell, inputs)
    weak, recipe = weak_teacher(cell, inputs, splits, ood)
    ceiling = None
    if mode_name(cell) == "head":
        ceiling, chosen = head_ceiling(cell, inputs.features, splits["train_unlabel"], splits["test"], ood)
        recipe.update(chosen)
    return SeedWork(key=seed_key(cell), weak=weak, ceiling=ceiling, splits=(splits, ood), recipe=recipe)
