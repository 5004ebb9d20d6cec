"""The weak teacher's and the ceiling's heads: each role's honest best on the gold it is trained on.

PGR divides by the gap between the ceiling and the weak teacher. A ceiling held below what the strong model can do
on its own gold makes PGR measure the recipe, not the method: one head config tuned on HH harmless (`l2: 0.3`)
capped the strong model on BIG-bench epistemic_reasoning at .654 where a plain logistic regression reached .754.
So each role's L2 penalty is chosen per seed by k-fold cross-validation on that role's own training split only
(`train_label` gold for the teacher, `train_unlabel` gold for the ceiling; test is never read), and the role's head
is the exact L2-regularized logistic regression at the chosen penalty (scikit-learn's lbfgs: converged, so the
penalty means the same at every size and the grid is not confounded with early stopping).

The student's head is the method's business (`head:` in conf/config.yaml, a declared default and a knob a search can
sweep); it is never tuned on gold.

`l2` is in the units of `transfer.heads.train_head` (mean BCE + l2·|w|², features scaled per dimension), so a
number here means what it means there; scikit-learn's C for n examples is 1 / (2·n·l2).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from transfer.errors import ConfigError
from transfer.heads import LinearHead, fit_scale

ROLES = ("teacher", "ceiling")
MAX_ITER = 1000  # lbfgs iterations: the smallest penalties of the grid converge in a few hundred here


def role_config(cell: dict, role: str) -> dict:
    """The `roles.<role>` block of a cell, with `roles.cv`'s folds and grid filled in; a clear error if missing."""
    roles = cell.get("roles")
    if not isinstance(roles, dict) or not isinstance(roles.get(role), dict):
        raise ConfigError(f"cell config has no roles.{role} (conf/config.yaml `roles:` says how the weak teacher and "
                          f"the ceiling are fitted)")
    cfg = {**(roles.get("cv") or {}), **roles[role]}
    l2 = cfg.get("l2")
    if l2 != "cv" and not (isinstance(l2, (int, float)) and not isinstance(l2, bool) and l2 > 0):
        raise ConfigError(f"roles.{role}.l2={l2!r}: give a positive number or 'cv' (chosen on the role's own "
                          f"training split)")
    if l2 == "cv":
        grid, folds = cfg.get("l2_grid"), cfg.get("folds")
        if not grid or any(not isinstance(v, (int, float)) or v <= 0 for v in grid):
            raise ConfigError(f"roles.cv.l2_grid={grid!r}: give a list of positive penalties")
        if not isinstance(folds, int) or folds < 2:
            raise ConfigError(f"roles.cv.folds={folds!r}: give an integer >= 2")
    return cfg


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, *, bias: bool, scale: np.ndarray | None = None,
                 warm: LogisticRegression | None = None) -> tuple[LinearHead, LogisticRegression]:
    """The L2-regularized logistic regression on x (scaled per dimension as every head is) at penalty `l2`."""
    scale = fit_scale(x) if scale is None else scale
    model = warm if warm is not None else LogisticRegression(fit_intercept=bias, max_iter=MAX_ITER, warm_start=True)
    model.set_params(C=1.0 / (2.0 * len(x) * float(l2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the last grid points may stop at MAX_ITER: still fine
        model.fit(np.asarray(x / scale, dtype=np.float64), np.asarray(y, dtype=np.int64))
    head = LinearHead(weight=model.coef_[0].astype(np.float32), scale=scale,
                      bias=float(model.intercept_[0]) if bias else 0.0)
    return head, model


def fold_ids(n: int, folds: int, seed: int, groups=None) -> np.ndarray:
    """Each example's CV fold (seeded), a group's examples in one fold. A binary task's items of one input (its
    options: near-identical texts, opposite labels) split across folds teach the head each held-out item's twin with
    the other label: CV accuracy fell below chance (.15–.44 on navigate_binary) and chose the strongest penalty, a
    ceiling at the one-answer rate. Groups in order of first appearance: with every example its own group, the folds
    are the ungrouped ones."""
    codes = np.arange(n) if groups is None else pd.factorize(np.asarray(groups))[0]
    return np.random.default_rng(seed).permutation(int(codes.max()) + 1)[codes] % folds


def cv_accuracies(x: np.ndarray, y: np.ndarray, grid: list[float], *, folds: int, seed: int,
                  bias: bool, groups=None) -> np.ndarray:
    """Mean k-fold accuracy of each penalty in `grid` (seeded folds that keep each of `groups` whole; each fold walks
    the grid from the strongest penalty down, warm-started, which is the regularization path's usual shortcut)."""
    y = np.asarray(y).astype(bool)
    fold = fold_ids(len(x), folds, seed, groups)
    order = np.argsort(grid)[::-1]  # strongest penalty first
    acc = np.zeros((folds, len(grid)))
    for k in range(folds):
        tr, va = fold != k, fold == k
        if len(np.unique(y[tr])) < 2:  # a fold with one class cannot fit: it gives no information
            acc[k] = np.nan
            continue
        scale, model = fit_scale(x[tr]), None
        for j in order:
            head, model = fit_logistic(x[tr], y[tr], grid[j], bias=bias, scale=scale, warm=model)
            acc[k, j] = ((head.logits(x[va]) > 0) == y[va]).mean()
    return np.nanmean(acc, axis=0)


def role_head(x: np.ndarray, y: np.ndarray, cfg: dict, *, seed: int, bias: bool,
              groups=None) -> tuple[LinearHead, dict]:
    """The role's head on (x, gold y) and what was chosen: {"l2": ..., "cv_acc": ...} (cv_acc NaN for a fixed l2);
    `groups` (one per example) are kept whole in the CV's folds."""
    if len(x) == 0:
        raise ValueError("cannot train a head on zero examples")
    y = np.asarray(y).astype(bool)
    if len(np.unique(y)) < 2:
        raise ValueError(f"cannot fit a head: its {len(y)} gold labels are all {bool(y[0])}")
    if cfg["l2"] == "cv":
        grid = [float(v) for v in cfg["l2_grid"]]
        acc = cv_accuracies(x, y, grid, folds=int(cfg["folds"]), seed=seed, bias=bias, groups=groups)
        best = int(np.nanargmax(acc))  # ties go to the first listed: list the grid strongest-penalty first
        l2, cv_acc = grid[best], float(acc[best])
    else:
        l2, cv_acc = float(cfg["l2"]), float("nan")
    head, _ = fit_logistic(x, y, l2, bias=bias)
    return head, {"l2": l2, "cv_acc": cv_acc}
