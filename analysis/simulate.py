"""SIMULATED studies with known truth, for tests and benchmarks/ci_coverage.py (never for results).

Per setting and seed: teacher and ceiling accuracies vary around their means; each student's accuracy is
weak + PGR_m * gap + a seed effect shared by methods + a method-by-seed effect. Test examples have a shared latent
difficulty (Gaussian copula, correlation rho) so the rows of one seed are correlated as real models are. Each seed
draws its own test set from a pool, as the harness's split seed does — or, with fixed_test, every seed is scored on
one test set (its items and their difficulties drawn once per setting, as with a dataset's official test split or
the AAR's 1,263 items), so the seeds are correlated through it. The true study-level PGR_m is the given one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.load import Study

DEFAULT = {"weak": 0.55, "ceiling": 0.73, "pgr": {"vanilla": 0.2, "better": 0.35},
           "acc_sd": 0.01, "seed_sd": 0.08, "method_sd": 0.05, "rho": 0.5}


def simulate(settings: dict, seeds: list[int], n_test: int, rng: np.random.Generator,
             dataset: str = "sim", fixed_test: bool = False,
             with_examples: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """settings: name -> overrides of DEFAULT. Returns (cells, examples) in analysis.load's tidy format;
    with_examples=False leaves the examples table empty (same draws, same cells)."""
    cells, examples = [], []
    for setting, over in settings.items():
        p = {**DEFAULT, **over}
        gap = p["ceiling"] - p["weak"]
        # drawn only when used, so the default's random stream (and every measured number) is unchanged
        test = (rng.choice(2 * n_test, size=n_test, replace=False), rng.standard_normal(n_test)) if fixed_test else None
        for seed in seeds:
            acc = {"weak": p["weak"] + rng.normal(0, p["acc_sd"]), "ceiling": p["ceiling"] + rng.normal(0, p["acc_sd"])}
            shared = rng.normal(0, p["seed_sd"] * gap)
            for m, pgr in p["pgr"].items():
                acc[m] = p["weak"] + pgr * gap + shared + rng.normal(0, p["method_sd"] * gap)
            ids, u = test if fixed_test else (rng.choice(2 * n_test, size=n_test, replace=False),
                                              rng.standard_normal(n_test))
            seen = {}
            for row, a in acc.items():
                z = p["rho"] * u + np.sqrt(1 - p["rho"] ** 2) * rng.standard_normal(n_test)
                seen[row] = (z < stats.norm.ppf(np.clip(a, 1e-6, 1 - 1e-6))).astype(float)
                if with_examples:
                    examples.append(pd.DataFrame({"setting": setting, "dataset": dataset, "seed": seed, "row": row,
                                                  "example_id": [f"ex{i}" for i in ids], "correct": seen[row]}))
            for m in p["pgr"]:
                w, c, s = seen["weak"].mean(), seen["ceiling"].mean(), seen[m].mean()
                cells.append({"run_id": f"sim-{setting}-{m}-{seed}", "setting": setting, "method": m, "seed": seed,
                              "dataset": dataset, "weak_acc": w, "ceiling_acc": c, "w2s_acc": s, "gap": c - w,
                              "pgr": (s - w) / (c - w) if c != w else float("nan"), "n_test": float(n_test),
                              "original_method": m})
    return pd.DataFrame(cells), (pd.concat(examples, ignore_index=True) if examples else pd.DataFrame())


def as_study(cells: pd.DataFrame, examples: pd.DataFrame, name: str = "simulated") -> Study:
    base = cells.groupby(["setting", "dataset", "seed"], as_index=False)[["weak_acc", "ceiling_acc", "n_test"]].mean()
    return Study(name=name, experiment_id="", parent_run_id=None, cells=cells, baselines=base, examples=examples)


def predictions(examples: pd.DataFrame, setting: str, seed: int, method: str, rng: np.random.Generator) -> pd.DataFrame:
    """The predictions.parquet of one cell, in the columns docs/tracking.md specifies."""
    ex = examples[(examples.setting == setting) & (examples.seed == seed)]
    parts = []
    for role, row in (("weak", "weak"), ("ceiling", "ceiling"), ("w2s", method)):
        e = ex[ex.row == row]
        a_is_better = (np.abs(np.array([hash(i) for i in e.example_id])) % 2).astype(bool)  # stable per id
        correct = e.correct.to_numpy().astype(bool)
        says_a = np.where(correct, a_is_better, ~a_is_better)
        parts.append(pd.DataFrame({"example_id": e.example_id.to_numpy(), "split": "test", "subset": "simulated",
                                   "role": role, "prob_a": np.where(says_a, 0.8, 0.2) + rng.uniform(-.1, .1, len(e)),
                                   "a_is_better": a_is_better, "correct": correct}))
    return pd.concat(parts, ignore_index=True)


PLANTED = {"weak": 0.60, "ceiling": 0.70, "vanilla_pgr": 0.2, "delta": 0.25, "acc_sd": 0.005, "seed_sd": 0.05,
           "method_sd": 0.05, "rho": 0.5, "share": 0.5}


def planted(settings: dict, seeds: dict, n_test: int, rng: np.random.Generator, dataset: str = "sim",
            examples: bool = False, fixed_test: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SIMULATED study with a planted ΔPGR per setting (`delta`, method `treated` vs `vanilla`), for the verdict
    benchmark and tests. Per seed: a fresh test set of items with latent difficulty; each row (weak, ceiling,
    vanilla, treated) answers an item correctly when its own noise plus the item's difficulty falls below its
    accuracy's probit (correlation rho); the two students share `share` of their error noise. Per-seed accuracies are
    counted from the items, so test sampling enters as in a real run. With fixed_test, every seed of a setting is
    scored on the same items (difficulties drawn once): seeds are correlated through the test split. settings:
    name -> overrides of PLANTED; seeds: name -> list of seeds."""
    cells, ex = [], []
    for setting, over in settings.items():
        p = {**PLANTED, **over}
        gap = p["ceiling"] - p["weak"]
        fixed_u = rng.standard_normal(n_test) if fixed_test else None
        for seed in seeds[setting]:
            target = {"weak": p["weak"] + rng.normal(0, p["acc_sd"]),
                      "ceiling": p["ceiling"] + rng.normal(0, p["acc_sd"])}
            target["vanilla"] = p["weak"] + (p["vanilla_pgr"] + rng.normal(0, p["seed_sd"])) * gap
            target["treated"] = target["vanilla"] + (p["delta"] + rng.normal(0, p["method_sd"])) * gap
            u = fixed_u if fixed_test else rng.standard_normal(n_test)
            shared = rng.standard_normal(n_test)
            correct = {}
            for row, a in target.items():
                own = rng.standard_normal(n_test)
                if row in ("vanilla", "treated"):
                    own = np.sqrt(p["share"]) * shared + np.sqrt(1 - p["share"]) * own
                z = p["rho"] * u + np.sqrt(1 - p["rho"] ** 2) * own
                correct[row] = (z < stats.norm.ppf(np.clip(a, 1e-6, 1 - 1e-6))).astype(float)
                if examples:
                    ex.append(pd.DataFrame({"setting": setting, "dataset": dataset, "seed": seed, "row": row,
                                            "example_id": [f"{'' if fixed_test else seed}:{i}" for i in range(n_test)],
                                            "correct": correct[row]}))
            w, c = correct["weak"].mean(), correct["ceiling"].mean()
            for m in ("vanilla", "treated"):
                s = correct[m].mean()
                cells.append({"run_id": f"planted-{setting}-{m}-{seed}", "setting": setting, "method": m,
                              "seed": seed, "dataset": dataset, "weak_acc": w, "ceiling_acc": c, "w2s_acc": s,
                              "gap": c - w, "pgr": (s - w) / (c - w) if c != w else float("nan"),
                              "n_test": float(n_test), "original_method": m})
    return pd.DataFrame(cells), (pd.concat(ex, ignore_index=True) if ex else pd.DataFrame())


def planted_search(n_variants: int, seeds: list[int], n_test: int, rng: np.random.Generator, delta: float = 0.0,
                   setting: str = "lab", dataset: str = "sim", **over) -> pd.DataFrame:
    """SIMULATED lab search: `vanilla` and N variants `v1`..`vN`, each with the same planted ΔPGR `delta` (0: no
    variant is better), drawn as `planted` draws its rows (latent item difficulty, students sharing `share` of
    their error noise, a fresh test set per seed), each variant with its own method-by-seed noise. Cells only."""
    p = {**PLANTED, **over}
    gap, cells = p["ceiling"] - p["weak"], []
    for seed in seeds:
        target = {"weak": p["weak"] + rng.normal(0, p["acc_sd"]), "ceiling": p["ceiling"] + rng.normal(0, p["acc_sd"])}
        target["vanilla"] = p["weak"] + (p["vanilla_pgr"] + rng.normal(0, p["seed_sd"])) * gap
        for i in range(1, n_variants + 1):
            target[f"v{i}"] = target["vanilla"] + (delta + rng.normal(0, p["method_sd"])) * gap
        u, shared = rng.standard_normal(n_test), rng.standard_normal(n_test)
        acc = {}
        for row, a in target.items():
            own = rng.standard_normal(n_test)
            if row not in ("weak", "ceiling"):
                own = np.sqrt(p["share"]) * shared + np.sqrt(1 - p["share"]) * own
            z = p["rho"] * u + np.sqrt(1 - p["rho"] ** 2) * own
            acc[row] = float((z < stats.norm.ppf(np.clip(a, 1e-6, 1 - 1e-6))).mean())
        w, c = acc["weak"], acc["ceiling"]
        for m in [r for r in target if r not in ("weak", "ceiling")]:
            cells.append({"run_id": f"search-{m}-{seed}", "setting": setting, "method": m, "seed": seed,
                          "dataset": dataset, "weak_acc": w, "ceiling_acc": c, "w2s_acc": acc[m], "gap": c - w,
                          "pgr": (acc[m] - w) / (c - w) if c != w else float("nan"), "n_test": float(n_test),
                          "original_method": m})
    return pd.DataFrame(cells)
