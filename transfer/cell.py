"""One cell of a study (setting × method × seed): weak teacher, ceiling, W2S student, scored by the harness.

`run_cell` is a plain function: called in-process, by a Ray task, or inside a Ray Job. Ray is never imported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from transfer import scoring
from transfer.data.pairs import PairSet
from transfer.data.splits import Split, make_splits, whole
from transfer.features.extract import PairFeatures
from transfer.heads import train_head
from transfer.methods import StudentView, load_method


@dataclass
class CellInputs:
    """Everything a cell reads, extracted once per study and shared by all cells (Ray's object store)."""
    pairs: PairSet
    ood: PairSet | None
    features: dict[str, PairFeatures]  # keys: "weak", "strong", "weak_ood", "strong_ood"


@dataclass
class CellResult:
    cell: dict
    metrics: dict[str, float]
    predictions: pd.DataFrame


def pair_inputs(feats: PairFeatures, split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = feats.oriented(split.index, split.a_is_better)
    return a - b, a, b


def run_cell(cell: dict, inputs: CellInputs) -> CellResult:
    seeds, head = cell["seeds"], dict(cell["head"])
    torch.manual_seed(int(seeds["student"]))
    splits = make_splits(inputs.pairs, dict(cell["splits"]), int(seeds["split"]))
    tl, tu, te = splits["train_label"], splits["train_unlabel"], splits["test"]
    weak_f, strong_f = inputs.features["weak"], inputs.features["strong"]

    # weak teacher: weak features + head on train_label gold -> soft labels on train_unlabel
    teacher = train_head(pair_inputs(weak_f, tl)[0], tl.a_is_better.astype(np.float32),
                         seed=int(seeds["teacher"]), **head)
    xs_tu, a_tu, b_tu = pair_inputs(strong_f, tu)
    xs_te = pair_inputs(strong_f, te)[0]
    weak_tu = teacher.predict_proba(pair_inputs(weak_f, tu)[0])
    weak_te = teacher.predict_proba(pair_inputs(weak_f, te)[0])

    # ceiling: strong features + head on train_unlabel gold
    ceiling = train_head(xs_tu, tu.a_is_better.astype(np.float32), seed=int(seeds["student"]), **head)
    ceil_te = ceiling.predict_proba(xs_te)

    # W2S student: the method sees only the view (no gold), the harness scores what it returns
    method = load_method(cell["method"])
    ids = np.array([p.example_id for p in inputs.pairs.pairs])
    view = StudentView(x=xs_tu, strong_a=a_tu, strong_b=b_tu, weak_probs=weak_tu,
                       example_ids=tuple(ids[tu.index]), seed=int(seeds["student"]), head=head)
    predictor = method.fit(view)
    who = f"method {cell['method']['name']!r}"
    w2s_tu = scoring.check_probs(predictor.predict_proba(xs_tu), len(tu), who)
    w2s_te = scoring.check_probs(predictor.predict_proba(xs_te), len(te), who)

    weak_acc, ceil_acc = scoring.accuracy(weak_te, te.a_is_better), scoring.accuracy(ceil_te, te.a_is_better)
    w2s_acc = scoring.accuracy(w2s_te, te.a_is_better)
    weak_wrong = ~scoring.correct(weak_tu, tu.a_is_better)
    metrics = {
        "weak_acc": weak_acc, "ceiling_acc": ceil_acc, "w2s_acc": w2s_acc, "gap": ceil_acc - weak_acc,
        "pgr": scoring.pgr(weak_acc, w2s_acc, ceil_acc),
        "student_weak_agreement": scoring.agreement(w2s_tu, weak_tu),
        "student_weak_agreement_test": scoring.agreement(w2s_te, weak_te),
        "agreement_where_weak_wrong": scoring.agreement(w2s_tu[weak_wrong], weak_tu[weak_wrong]),
        "n_train_label": len(tl), "n_train_unlabel": len(tu), "n_test": len(te),
        **{f"method_{k}": float(v) for k, v in method.diagnostics.items()},
    }
    subsets = np.array([p.subset for p in inputs.pairs.pairs])
    rows = [scoring.prediction_rows("test", role, ids[te.index], subsets[te.index], probs, te.a_is_better)
            for role, probs in (("weak", weak_te), ("ceiling", ceil_te), ("w2s", w2s_te))]
    rows += [scoring.prediction_rows("train_unlabel", role, ids[tu.index], subsets[tu.index], probs, tu.a_is_better)
             for role, probs in (("weak", weak_tu), ("w2s", w2s_tu))]

    if inputs.ood is not None:
        ood = whole(inputs.ood, "ood", int(seeds["split"]))
        ood_ids = np.array([p.example_id for p in inputs.ood.pairs])
        ood_sub = np.array([p.subset for p in inputs.ood.pairs])
        for role, model, feats in (("weak", teacher, inputs.features["weak_ood"]),
                                   ("ceiling", ceiling, inputs.features["strong_ood"]),
                                   ("w2s", predictor, inputs.features["strong_ood"])):
            probs = scoring.check_probs(model.predict_proba(pair_inputs(feats, ood)[0]), len(ood), role)
            metrics[f"ood_{role}_acc"] = scoring.accuracy(probs, ood.a_is_better)
            rows.append(scoring.prediction_rows("ood", role, ood_ids, ood_sub, probs, ood.a_is_better))
        metrics["n_ood"] = len(ood)
    return CellResult(cell=cell, metrics=metrics, predictions=pd.concat(rows, ignore_index=True))
