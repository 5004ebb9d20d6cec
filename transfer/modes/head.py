"""Training mode `head`: ceiling and student are linear heads on the strong model's frozen pair features.

The ceiling (a head on train_unlabel gold) is the same for every method of a seed: given in `ModeInputs.ceiling`
(computed once per seed, transfer/seedwork.py), it is used as is; otherwise it is trained here.
"""

from __future__ import annotations

import numpy as np

from transfer.modes import ModeInputs, ModeOutput
from transfer.seedwork import head_ceiling, pair_x


def run(m: ModeInputs) -> ModeOutput:
    xs_te = pair_x(m.features["strong"], m.test)
    # ceiling: strong features + head on train_unlabel gold (the seed's shared one, or trained now)
    ceiling = m.ceiling if m.ceiling is not None else \
        head_ceiling(m.cell, m.features, m.train_unlabel, m.test, m.ood, xs_tu=m.view.x)[0]
    predictor = m.method.fit(m.view)
    out = ModeOutput(ceiling={"test": ceiling["test"]},
                     w2s={"test": predictor.predict_proba(xs_te), "train_unlabel": predictor.predict_proba(m.view.x)},
                     diag_index=np.arange(len(m.train_unlabel)))
    if m.ood is not None:
        xs_ood = pair_x(m.features["strong_ood"], m.ood)
        out.ceiling["ood"], out.w2s["ood"] = ceiling["ood"], predictor.predict_proba(xs_ood)
    return out
