"""Choose the head's regularization without touching test: k-fold CV inside the training splits.

For each l2 in a grid: weak features on `train_label` gold (the teacher's regime) and strong features on
`train_unlabel` gold (the ceiling's regime), 5-fold CV accuracy averaged over seeds. Test is never read.

    python benchmarks/head_cv.py                       # lab setting, demo data (features must be cached: make demo)
    python benchmarks/head_cv.py setting=production
"""

from __future__ import annotations

import sys

import numpy as np
from hydra import compose, initialize_config_dir

import transfer.config  # noqa: F401
from transfer import paths
from transfer.cell import pair_inputs
from transfer.config import to_plain
from transfer.data import load_dataset_from_config, make_splits
from transfer.features.extract import extract_pair_features
from transfer.heads import train_head
from transfer.scoring import accuracy

L2_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)


def cv_accuracy(x, y, head, seed, folds=5):
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(x)) % folds
    accs = []
    for k in range(folds):
        tr, va = fold != k, fold == k
        h = train_head(x[tr], y[tr].astype(np.float32), seed=seed, **head)
        accs.append(accuracy(h.predict_proba(x[va]), y[va]))
    return float(np.mean(accs))


def main(overrides):
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        cfg = to_plain(compose("config", overrides=["experiment=demo", *overrides]))
    s = cfg["setting"]
    pairs = load_dataset_from_config(s["data"])
    feats = {r: extract_pair_features(pairs, s[r], s[f"{r}_backend"], s["data"]["format"]) for r in ("weak", "strong")}
    print(f"setting {s['name']}: weak {s['weak']['name']} on train_label, strong {s['strong']['name']} on train_unlabel")
    print(f"{'l2':>8}  {'weak cv acc':>12}  {'strong cv acc':>14}")
    for l2 in L2_GRID:
        head = {**cfg["head"], "l2": l2}
        w, c = [], []
        for seed in range(3):
            sd = make_splits(pairs, cfg["splits"], seed)
            tl, tu = sd["train_label"], sd["train_unlabel"]
            w.append(cv_accuracy(pair_inputs(feats["weak"], tl)[0], tl.a_is_better, head, seed))
            c.append(cv_accuracy(pair_inputs(feats["strong"], tu)[0], tu.a_is_better, head, seed))
        print(f"{l2:>8g}  {np.mean(w):>12.3f}  {np.mean(c):>14.3f}")


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):
        sys.exit(print(__doc__))
    main(sys.argv[1:])
