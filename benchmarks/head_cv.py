"""Each role's penalty on its own training gold: k-fold CV accuracy over the `roles.cv.l2_grid`, test never read.

For each L2 penalty of the grid: weak features on `train_label` gold (the teacher's regime) and strong features on
`train_unlabel` gold (the ceiling's regime), k-fold CV accuracy of the exact logistic regression the harness fits
(transfer/roles.py), averaged over seeds. A sweep makes this choice per seed by itself (`roles: {teacher: {l2: cv},
ceiling: {l2: cv}}`); this prints the whole curve, e.g. to compare two feature recipes on training splits only:

    python benchmarks/head_cv.py bigbench_epistemic_reasoning
    python benchmarks/head_cv.py bigbench_epistemic_reasoning setting.strong.max_tokens=128 \\
        setting.data.format.chat_template=true setting.data.format.prompt_words=60   # the recipe before
    python benchmarks/head_cv.py hh_harmless setting=production
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from hydra import compose, initialize_config_dir

from transfer import paths
from transfer.config import to_plain
from transfer.data import load_dataset_from_config, make_splits
from transfer.features.extract import extract_pair_features
from transfer.roles import cv_accuracies
from transfer.seedwork import pair_x

SEEDS = 3


def main(dataset: str, overrides: list[str]) -> None:
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        cfg = to_plain(compose("config", overrides=[f"data@setting.data={dataset}", "~setting.ood", *overrides]))
    s, grid, folds = cfg["setting"], cfg["roles"]["cv"]["l2_grid"], cfg["roles"]["cv"]["folds"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset_from_config(s["data"])
    feats = {r: extract_pair_features(data, s[r], s[f"{r}_backend"], s["data"]["format"]) for r in ("weak", "strong")}
    bias = data.kind == "binary"
    weak, strong = [], []
    for seed in range(SEEDS):
        sd = make_splits(data, cfg["splits"], seed)
        tl, tu = sd["train_label"], sd["train_unlabel"]
        weak.append(cv_accuracies(pair_x(feats["weak"], tl), tl.a_is_better, grid, folds=folds, seed=seed, bias=bias))
        strong.append(cv_accuracies(pair_x(feats["strong"], tu), tu.a_is_better, grid, folds=folds, seed=seed,
                                    bias=bias))
    print(f"{dataset} ({len(data)} {data.kind}), setting {s['name']}: weak {s['weak']['name']} on train_label, "
          f"strong {s['strong']['name']} on train_unlabel; {folds}-fold CV, mean of seeds 0..{SEEDS - 1}")
    print(f"{'l2':>8}  {'teacher cv acc':>14}  {'ceiling cv acc':>14}")
    for j, l2 in enumerate(grid):
        print(f"{l2:>8g}  {np.mean([w[j] for w in weak]):>14.3f}  {np.mean([c[j] for c in strong]):>14.3f}")


if __name__ == "__main__":
    if not sys.argv[1:] or {"-h", "--help"} & set(sys.argv[1:]):
        sys.exit(print(__doc__))
    main(sys.argv[1], sys.argv[2:])
