"""PGR, gap and ΔPGR-vs-baseline estimates with CIs over seeds (the paired unit), per (setting, dataset).

Study-level PGR = (mean_s w2s_s - W) / (C - W), with W, C the seed means of the weak teacher and the ceiling (the
AAR's "fixed baselines" when its 16 teacher/ceiling seeds are imported as baseline runs). Per-seed values used by the
seed-level tests share the same pooled denominator, so a test on ΔPGR_s is a test on accuracy differences and a
noisy per-seed gap cannot blow a seed up. If the gap's CI includes 0, PGR is undefined ("gap too small"): no number.
PGR and ΔPGR are ratios whose denominator, the gap, is estimated from the same seeds: their t intervals are Fieller's
(significance.ratio_interval), so the gap's noise is in them and they are bounded exactly when PGR is defined.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.bootstrap import Block, hierarchical, point, seed_accuracies
from analysis.significance import ratio_interval

GAP_TOO_SMALL = "gap too small: the ceiling - weak gap's CI includes 0, so PGR is undefined"


@dataclass
class Group:
    """Everything estimated for one (setting, dataset)."""
    setting: str
    dataset: str
    baseline: str
    methods: list[str]
    n_baseline_seeds: int
    weak: float
    ceiling: float
    gap: dict
    pgr: dict = field(default_factory=dict)     # method -> estimate dict
    delta: dict = field(default_factory=dict)   # method (not baseline) -> ΔPGR estimate dict
    reps: dict = field(default_factory=dict)    # "delta:<m>" -> bootstrap replicates (for transfer ratios)
    seed_pgr: pd.DataFrame | None = None         # seed x method per-seed PGR (pooled denominator)
    paired: bool = True

    @property
    def defined(self) -> bool:
        return self.gap["defined"]


def interval(est: float, reps: np.ndarray, df: int, alpha: float, method: str,
             se: float | None = None) -> tuple[float, float]:
    """percentile: bootstrap quantiles. t: est +- t(df) x SE, where SE is given (the seed-level SE of a mean) or the
    bootstrap SD times sqrt(n / (n - 1)), n = df + 1 (a seed bootstrap's SD of a mean is the plug-in, ddof=0, SE)."""
    reps = reps[np.isfinite(reps)]
    if not np.isfinite(est) or len(reps) < 2:
        return (float("nan"), float("nan"))
    if method == "percentile" or df < 1:
        lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
        return (float(lo), float(hi))
    if se is None:
        se = np.std(reps, ddof=1) * np.sqrt((df + 1) / df)
    half = stats.t.ppf(1 - alpha / 2, df) * se
    return (float(est - half), float(est + half))


def _blocks(rows: list[str], seeds: list[int], acc: pd.DataFrame, n: pd.Series, ex: pd.DataFrame) -> list[Block]:
    """acc: seed x row accuracies (NaN where absent); ex: examples of this (setting, dataset)."""
    blocks = []
    for s in seeds:
        a = acc.reindex(index=[s], columns=rows).to_numpy(float)[0]
        matrix = None
        if len(ex):
            piv = ex[ex["seed"] == s].pivot_table(index="row", columns="example_id", values="correct")
            have = [r for r, v in zip(rows, a) if np.isfinite(v)]
            if len(piv) and set(have) <= set(piv.index) and not piv.loc[have].isna().any().any():
                matrix = piv.reindex(rows).to_numpy(float)
                a = np.nanmean(matrix, axis=1) if matrix.size else a
        n_s = matrix.shape[1] if matrix is not None else int(n.loc[s])
        blocks.append(Block(seed=int(s), n=n_s, acc=a, matrix=matrix))
    return blocks


def estimate_group(study, setting: str, dataset: str, cfg: dict, rng: np.random.Generator) -> Group:
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero gap gives inf/NaN replicates: undefined, by design
        return _estimate_group(study, setting, dataset, cfg, rng)


def _estimate_group(study, setting: str, dataset: str, cfg: dict, rng: np.random.Generator) -> Group:
    cells = study.cells[(study.cells.setting == setting) & (study.cells.dataset == dataset)]
    base = study.baselines[(study.baselines.setting == setting) & (study.baselines.dataset == dataset)]
    ex = study.examples
    if len(ex):
        ex = ex[(ex.setting == setting) & (ex.dataset == dataset)]
    bl = cfg["baseline_method"]
    methods = sorted(cells.method.unique(), key=lambda m: (m != bl, m))
    rows = ["weak", "ceiling", *methods]
    acc = cells.pivot(index="seed", columns="method", values="w2s_acc")
    acc = acc.join(base.set_index("seed")[["weak_acc", "ceiling_acc"]].rename(
        columns={"weak_acc": "weak", "ceiling_acc": "ceiling"}), how="outer")
    n = pd.concat([cells.groupby("seed")["n_test"].first(), base.set_index("seed")["n_test"]]).groupby(level=0).first()
    cell_seeds, base_seeds = sorted(cells.seed.unique()), sorted(base.seed.unique())
    pairs = [(rows.index(m), rows.index(bl)) for m in methods if m != bl and bl in methods]
    B, alpha, how = cfg["bootstrap"], cfg["alpha"], cfg["ci_method"]
    paired = cell_seeds == base_seeds
    if paired:  # one draw of seeds for teacher, ceiling and students: they share seeds (and test examples)
        blocks = _blocks(rows, cell_seeds, acc, n, ex)
        est, reps = point(blocks, pairs), hierarchical(blocks, pairs, B, rng, within=False)
        x_base = x_meth = seed_accuracies(blocks)
    else:  # imported studies: teacher/ceiling seeds (e.g. AAR's 16) resampled apart from the method seeds
        acc_b = acc[["weak", "ceiling"]].reindex(columns=rows)
        acc_m = acc.reindex(columns=rows).assign(weak=np.nan, ceiling=np.nan)
        bb, mb = _blocks(rows, base_seeds, acc_b, n, ex.iloc[:0] if len(ex) else ex), _blocks(rows, cell_seeds, acc_m, n, ex)
        est_b, est_m = point(bb, []), point(mb, pairs)
        rep_b, rep_m = hierarchical(bb, [], B, rng, within=False), hierarchical(mb, pairs, B, rng, within=False)
        est, reps = est_m.copy(), rep_m.copy()
        est[:2], reps[:, :2] = est_b[:2], rep_b[:, :2]
        x_base, x_meth = seed_accuracies(bb), seed_accuracies(mb)
    W, C = est[0], est[1]
    gap_reps = reps[:, 1] - reps[:, 0]
    gap_s = x_base[:, 1] - x_base[:, 0]
    gap_s = gap_s[np.isfinite(gap_s)]  # the seed-level SE (as for ΔPGR): the same test Fieller's bound uses
    gap_se = float(np.std(gap_s, ddof=1) / np.sqrt(len(gap_s))) if len(gap_s) > 1 else None
    gap_ci = interval(C - W, gap_reps, len(base_seeds) - 1, alpha, how, gap_se)
    unit = np.eye(len(rows))
    ratio = functools.partial(_ratio_samples, x_base, x_meth, paired, unit[1] - unit[0])
    g = Group(setting, dataset, bl, methods, len(base_seeds), float(W), float(C),
              gap={"estimate": float(C - W), "ci": gap_ci, "se_boot": float(np.nanstd(gap_reps, ddof=1)),
                   "defined": bool(gap_ci[0] > 0), "reason": None if gap_ci[0] > 0 else GAP_TOO_SMALL},
              paired=paired)
    seed_acc = acc.reindex(index=cell_seeds, columns=methods)
    g.seed_pgr = (seed_acc - W) / (C - W) if g.defined else seed_acc * np.nan
    for j, m in enumerate(methods):
        vals = g.seed_pgr[m].dropna()
        r = (reps[:, 2 + j] - reps[:, 0]) / gap_reps
        e = float((est[2 + j] - W) / (C - W))
        fieller = ratio_interval(est[2 + j] - W, C - W, ratio(unit[2 + j] - unit[0]), alpha)
        g.pgr[m] = _summary(e, r, vals, alpha, how, g.defined, int(seed_acc[m].notna().sum()), fieller)
    for p, (i, j) in enumerate(pairs):
        m = rows[i]
        d = (seed_acc[m] - seed_acc[bl]).dropna() / (C - W)
        r = reps[:, len(rows) + p] / gap_reps
        n_pairs = int((seed_acc[m] - seed_acc[bl]).notna().sum())
        fieller = ratio_interval(est[len(rows) + p], C - W, ratio(unit[i] - unit[j]), alpha)
        g.delta[m] = _summary(float(est[len(rows) + p] / (C - W)), r, d, alpha, how, g.defined, n_pairs, fieller)
        g.reps[f"delta:{m}"] = r if g.defined else np.full_like(r, np.nan)
    return g


def _ratio_samples(x_base: np.ndarray, x_meth: np.ndarray, paired: bool, den: np.ndarray,
                   num: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-seed contributions (num . x_s, den . x_s) for significance.ratio_interval, per independent sample of
    seeds: one when teacher, ceiling and students share seeds; else the baseline seeds (rows weak, ceiling) and the
    method seeds (the rest). Seeds missing a row the combination uses are left out."""
    parts = [(x_base, slice(None))] if paired else [(x_base, slice(0, 2)), (x_meth, slice(2, None))]
    out = []
    for x, cols in parts:
        x, a, b = x[:, cols], num[cols], den[cols]
        used = (a != 0) | (b != 0)
        if not used.any():
            continue
        x = x[:, used][np.isfinite(x[:, used]).all(axis=1)]
        out.append((x @ a[used], x @ b[used]))
    return out


def _summary(est: float, reps: np.ndarray, per_seed: pd.Series, alpha: float, how: str, defined: bool,
             n: int, fieller: dict) -> dict:
    """fieller: significance.ratio_interval of the estimate, the t interval (for ΔPGR it excludes 0 exactly when
    the unadjusted two-sided paired t-test has p < alpha); ci_method=percentile takes the bootstrap's quantiles."""
    if not defined:
        return {"estimate": None, "se": None, "se_seeds": None, "se_boot": None, "ci": (None, None), "n_seeds": n,
                "per_seed": {}, "undefined": GAP_TOO_SMALL}
    se = float(per_seed.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    ci = fieller["ci"] if how == "t" or fieller["undefined"] else interval(est, reps, n - 1, alpha, how)
    se_boot = float(np.nanstd(reps, ddof=1))
    # "se": the one the CI is built from (Fieller's, the gap's noise counted; or the bootstrap's), shown beside it;
    # se_seeds takes the gap as known (the meta-analysis's input)
    out = {"estimate": est, "se": fieller.get("se", float("nan")) if how == "t" else se_boot, "se_seeds": se,
           "se_boot": se_boot, "ci": ci, "n_seeds": n, "per_seed": {int(k): float(v) for k, v in per_seed.items()},
           "undefined": None}
    if fieller["undefined"]:  # no number rather than a +-1e13 interval
        out["ci_undefined"] = fieller["undefined"]
    return out
