"""Training mode `head`: ceiling and student are linear heads on the strong model's frozen pair features."""

from __future__ import annotations

import numpy as np

from transfer.features.extract import PairFeatures
from transfer.heads import train_head
from transfer.modes import ModeInputs, ModeOutput


def pair_x(feats: PairFeatures, split) -> np.ndarray:
    a, b = feats.oriented(split.index, split.a_is_better)
    return a - b


def run(m: ModeInputs) -> ModeOutput:
    head, seed = dict(m.cell["head"]), int(m.cell["seeds"]["student"])
    strong = m.features["strong"]
    xs_te = pair_x(strong, m.test)
    # ceiling: strong features + head on train_unlabel gold
    ceiling = train_head(np.asarray(m.view.x), m.train_unlabel.a_is_better.astype(np.float32), seed=seed, **head)
    predictor = m.method.fit(m.view)
    out = ModeOutput(ceiling={"test": ceiling.predict_proba(xs_te)},
                     w2s={"test": predictor.predict_proba(xs_te), "train_unlabel": predictor.predict_proba(m.view.x)},
                     diag_index=np.arange(len(m.train_unlabel)))
    if m.ood is not None:
        xs_ood = pair_x(m.features["strong_ood"], m.ood)
        out.ceiling["ood"], out.w2s["ood"] = ceiling.predict_proba(xs_ood), predictor.predict_proba(xs_ood)
    return out
