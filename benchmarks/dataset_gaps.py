"""Which datasets give the lab ladder a gap? Decided on the training splits only (test is never read).

Per dataset and seed: the weak teacher (weak features, head on `train_label` gold) scored on `train_unlabel`, and
the ceiling's 5-fold cross-validated accuracy on `train_unlabel` gold (strong features). The gap is their
difference; its 95% t interval over seeds says whether the dataset is worth a study. Features come from the cache
a sweep filled (a missing one is extracted).

    python benchmarks/dataset_gaps.py bigbench_navigate bigbench_sports_understanding --seeds 10 \\
        --override setting.data.max_pairs=300
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from hydra import compose, initialize_config_dir
from scipy import stats

import transfer.config  # noqa: F401  (registers ${transfer_data:})
from transfer import paths
from transfer.cell import pair_inputs
from transfer.config import to_plain
from transfer.data import load_dataset_from_config, make_splits
from transfer.features.extract import extract_pair_features
from transfer.heads import train_head
from transfer.scoring import accuracy
from transfer.seedwork import head_config


def cv_accuracy(x, y, head, seed, folds=5):
    fold = np.random.default_rng(seed).permutation(len(x)) % folds
    accs = [accuracy(train_head(x[fold != k], y[fold != k].astype(np.float32), seed=seed, **head)
                     .predict_proba(x[fold == k]), y[fold == k]) for k in range(folds)]
    return float(np.mean(accs))


def train_gap(dataset: str, seeds: int, overrides: list[str]) -> dict:
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        cfg = to_plain(compose("config", overrides=[f"data@setting.data={dataset}", *overrides]))
    s = cfg["setting"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset_from_config(s["data"])
    feats = {r: extract_pair_features(data, s[r], s[f"{r}_backend"], s["data"]["format"]) for r in ("weak", "strong")}
    head = head_config(cfg, data.kind)
    weak, ceil = [], []
    for seed in range(seeds):
        sd = make_splits(data, cfg["splits"], seed)
        tl, tu = sd["train_label"], sd["train_unlabel"]
        teacher = train_head(pair_inputs(feats["weak"], tl)[0], tl.a_is_better.astype(np.float32), seed=seed, **head)
        weak.append(accuracy(teacher.predict_proba(pair_inputs(feats["weak"], tu)[0]), tu.a_is_better))
        ceil.append(cv_accuracy(pair_inputs(feats["strong"], tu)[0], tu.a_is_better, head, seed))
    gap = np.array(ceil) - np.array(weak)
    half = stats.t.ppf(0.975, seeds - 1) * gap.std(ddof=1) / np.sqrt(seeds)
    return {"dataset": dataset, "kind": data.kind, "n": len(data), "weak": float(np.mean(weak)),
            "ceiling": float(np.mean(ceil)), "gap": float(gap.mean()), "ci": (gap.mean() - half, gap.mean() + half)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--override", action="append", default=[], help="a Hydra override (repeatable)")
    args = ap.parse_args(argv)
    print(f"{'dataset':<36} {'kind':<9} {'n':>5}  {'weak (tu)':>9}  {'ceiling cv':>10}  "
          f"{'gap [95% CI over seeds]':>24}")
    for d in args.datasets:
        r = train_gap(d, args.seeds, args.override)
        print(f"{r['dataset']:<36} {r['kind']:<9} {r['n']:>5}  {r['weak']:>9.3f}  {r['ceiling']:>10.3f}  "
              f"{r['gap']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]", flush=True)


if __name__ == "__main__":
    main()
