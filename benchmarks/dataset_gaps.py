"""Which datasets give the lab ladder a gap? Decided on the training splits only (test is never read).

Per dataset and seed: the weak teacher (weak features, fitted on `train_label` gold as a sweep fits it) scored on
`train_unlabel`, and the ceiling's nested 5-fold cross-validated accuracy on `train_unlabel` gold (strong features;
inside each fold the penalty is chosen as the harness chooses it, `roles:` in conf/config.yaml). The gap is their
difference; its 95% t interval over seeds says whether the dataset is worth a study. `one answer` is what a teacher
gets by always giving the answer most often correct in its own split: a teacher no better than that holds only the
task's prior, and a student has nothing to learn from it beyond that. Features come from the cache
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

from transfer import paths
from transfer.config import to_plain
from transfer.data import load_dataset_from_config
from transfer.features.extract import extract_pair_features
from transfer.roles import fold_ids, role_config, role_head
from transfer.scoring import accuracy
from transfer.seedwork import cell_splits, pair_x, weak_teacher


def nested_cv_accuracy(x, y, groups, role_cfg, kind, seed, folds=5):
    """The ceiling's accuracy on held-out folds of its own gold, each fold's head fitted as the harness fits the
    ceiling (its penalty chosen by CV inside the fold): an honest estimate, test never read. Folds keep groups
    (a binary task's options of one input) whole, as the harness's splits and CV do."""
    fold = fold_ids(len(x), folds, seed, groups)
    accs = [accuracy(role_head(x[fold != k], y[fold != k], role_cfg, seed=seed, bias=kind == "binary",
                               groups=None if groups is None else groups[fold != k])[0]
                     .predict_proba(x[fold == k]), y[fold == k]) for k in range(folds)]
    return float(np.mean(accs))


def one_answer_accuracy(examples, train: np.ndarray, test: np.ndarray) -> float:
    """Always giving the answer most often correct in `train` (the teacher's own split), scored on `test`: what a
    teacher gets without reading the input. For pairs, the share of test inputs whose correct option is that answer;
    for binary items, the share labelled as that rule would label them. HH pairs have no fixed options: 0.5."""
    if not hasattr(examples[0], "label"):
        answers = [examples[i].better for i in train]
        if len(set(answers)) > 10:
            return 0.5
        common = max(set(answers), key=answers.count)
        return float(np.mean([examples[i].better == common for i in test]))
    answers = [examples[i].text for i in train if examples[i].label]
    common = max(set(answers), key=answers.count)
    return float(np.mean([(examples[i].text == common) == examples[i].label for i in test]))


class LabInputs:  # the fields of transfer.cell.CellInputs the weak teacher and the ceiling read
    def __init__(self, pairs, features):
        self.pairs, self.ood, self.features = pairs, None, features


def lab_inputs(dataset: str, overrides: list[str]) -> tuple[dict, LabInputs]:
    """The composed config on `dataset` (no OOD set) and its weak and strong features (from the cache, or extracted)."""
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        cfg = to_plain(compose("config", overrides=[f"data@setting.data={dataset}", "~setting.ood", *overrides]))
    s = cfg["setting"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset_from_config(s["data"])
    feats = {r: extract_pair_features(data, s[r], s[f"{r}_backend"], s["data"]["format"]) for r in ("weak", "strong")}
    return cfg, LabInputs(data, feats)


def train_gap(dataset: str, seeds: int, overrides: list[str]) -> dict:
    cfg, inputs = lab_inputs(dataset, overrides)
    data, feats = inputs.pairs, inputs.features
    weak, ceil, one = [], [], []
    for seed in range(seeds):
        cell = {**cfg, "seeds": {"split": seed, "teacher": seed, "student": seed}}
        splits, _ = cell_splits(cell, inputs)
        tu = splits["train_unlabel"]
        teacher, _ = weak_teacher(cell, inputs, splits, None)  # the harness's teacher, on train_label gold
        weak.append(accuracy(teacher["train_unlabel"], tu.a_is_better))
        one.append(one_answer_accuracy(data.pairs, splits["train_label"].index, tu.index))
        ceil.append(nested_cv_accuracy(pair_x(feats["strong"], tu), tu.a_is_better, tu.groups, role_config(cell, "ceiling"),
                                       data.kind, seed))
    gap = np.array(ceil) - np.array(weak)
    half = stats.t.ppf(0.975, seeds - 1) * gap.std(ddof=1) / np.sqrt(seeds)
    return {"dataset": dataset, "kind": data.kind, "n": len(data), "weak": float(np.mean(weak)),
            "one_answer": float(np.mean(one)),
            "ceiling": float(np.mean(ceil)), "gap": float(gap.mean()), "ci": (gap.mean() - half, gap.mean() + half)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--override", action="append", default=[], help="a Hydra override (repeatable)")
    args = ap.parse_args(argv)
    print(f"{'dataset':<36} {'kind':<9} {'n':>5}  {'one answer':>10}  {'weak (tu)':>9}  {'ceiling cv':>10}  "
          f"{'gap [95% CI over seeds]':>24}")
    for d in args.datasets:
        r = train_gap(d, args.seeds, args.override)
        print(f"{r['dataset']:<36} {r['kind']:<9} {r['n']:>5}  {r['one_answer']:>10.3f}  {r['weak']:>9.3f}  "
              f"{r['ceiling']:>10.3f}  "
              f"{r['gap']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}]", flush=True)


if __name__ == "__main__":
    main()
