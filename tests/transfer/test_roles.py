"""The roles' heads (transfer/roles.py): the weak teacher and the ceiling fitted at the penalty their own gold's
cross-validation picks. Planted problems whose best penalty is known, and the penalty's units against train_head."""

from __future__ import annotations

import numpy as np
import pytest

from transfer.errors import ConfigError
from transfer.heads import train_head
from transfer.roles import cv_accuracies, fit_logistic, fold_ids, role_config, role_head

GRID = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001]


def planted(n: int, dim: int, informative: int, noise: float, seed: int, bias: float = 0.0):
    """y = [x·w + bias + noise > 0], w nonzero on `informative` dimensions."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    w = np.zeros(dim)
    w[:informative] = rng.normal(size=informative)
    y = (x @ w + bias + noise * rng.normal(size=n)) > 0
    return x, y


def test_the_penalty_is_in_train_heads_units():
    """At the same l2, the exact logistic regression and train_head's Adam (run to convergence) agree."""
    x, y = planted(400, 20, 10, 1.0, seed=0)
    exact, _ = fit_logistic(x, y, 0.01, bias=False)
    adam = train_head(x, y.astype(np.float32), seed=0, epochs=4000, lr=0.01, l2=0.01, batch_size=None)
    np.testing.assert_allclose(exact.weight, adam.weight, atol=2e-3)
    np.testing.assert_allclose(exact.predict_proba(x), adam.predict_proba(x), atol=1e-3)


def test_cv_picks_a_weak_penalty_where_many_dimensions_carry_signal_and_a_strong_one_where_few_do():
    """Dense clean signal: shrinking only hurts. Few informative dims among many, few examples: shrinking helps."""
    dense_x, dense_y = planted(2000, 50, 50, 0.3, seed=1)
    sparse_x, sparse_y = planted(150, 300, 3, 2.0, seed=2)
    _, dense = role_head(dense_x, dense_y, {"l2": "cv", "l2_grid": GRID, "folds": 5}, seed=0, bias=False)
    _, sparse = role_head(sparse_x, sparse_y, {"l2": "cv", "l2_grid": GRID, "folds": 5}, seed=0, bias=False)
    assert dense["l2"] <= 0.003 < sparse["l2"], (dense, sparse)
    assert 0.5 < sparse["cv_acc"] < dense["cv_acc"] <= 1.0


def test_cv_accuracies_are_those_of_each_penalty_fitted_alone():
    """The warm-started path gives each penalty's own fit (to the solver's tolerance), not the previous one's."""
    x, y = planted(300, 30, 10, 1.0, seed=3)
    acc = cv_accuracies(x, y, GRID[:4], folds=3, seed=7, bias=False)
    fold = np.random.default_rng(7).permutation(len(x)) % 3
    for j, l2 in enumerate(GRID[:4]):
        alone = np.mean([((fit_logistic(x[fold != k], y[fold != k], l2, bias=False)[0].logits(x[fold == k]) > 0)
                          == y[fold == k]).mean() for k in range(3)])
        assert acc[j] == pytest.approx(alone, abs=1 / 100)


def test_binary_heads_learn_the_class_prior_in_their_bias():
    x, y = planted(600, 10, 5, 0.5, seed=4, bias=2.0)
    head, chosen = role_head(x, y, {"l2": 0.3}, seed=0, bias=True)
    assert head.bias > 0.5 and np.isnan(chosen["cv_acc"]) and chosen["l2"] == 0.3
    unbiased, _ = role_head(x, y, {"l2": 0.3}, seed=0, bias=False)
    assert unbiased.bias == 0.0


@pytest.mark.parametrize("roles, match", [
    ({}, "no roles.teacher"),
    ({"teacher": {"l2": -1}}, "positive number or 'cv'"),
    ({"teacher": {"l2": "cv"}, "cv": {"folds": 5, "l2_grid": []}}, "l2_grid"),
    ({"teacher": {"l2": "cv"}, "cv": {"folds": 1, "l2_grid": [0.1]}}, "folds"),
])
def test_bad_roles_config_is_one_line_naming_the_key(roles, match):
    with pytest.raises(ConfigError, match=match):
        role_config({"roles": roles}, "teacher")


def test_one_class_gold_is_a_clear_error():
    with pytest.raises(ValueError, match="all True"):
        role_head(np.ones((10, 3), np.float32), np.ones(10, bool), {"l2": 0.1}, seed=0, bias=True)


def test_cv_keeps_a_group_in_one_fold():
    """Each input of a binary task gives two near-identical items with opposite labels (its options). Folds that
    split a pair teach the head each held-out item's twin with the other label, so ungrouped CV reads far below
    chance and prefers the strongest penalty; folds that keep each pair whole see the real signal."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(300, 40))
    w = rng.normal(size=40)
    answer = rng.normal(size=(300, 40)) * 0.05  # the option's own small contribution
    y_first = (answer @ w) > 0  # which of the two options is correct is decided by its own features
    x = np.concatenate([base + answer, base - answer]).astype(np.float32)
    y = np.concatenate([y_first, ~y_first])
    groups = np.concatenate([np.arange(300), np.arange(300)])
    ungrouped = cv_accuracies(x, y, GRID, folds=5, seed=0, bias=True)
    grouped = cv_accuracies(x, y, GRID, folds=5, seed=0, bias=True, groups=groups)
    assert ungrouped.max() < 0.5 < grouped.max(), (ungrouped, grouped)
    fold = fold_ids(len(x), 5, seed=0, groups=groups)
    assert (fold[:300] == fold[300:]).all() and len(np.unique(fold)) == 5


def test_fold_ids_of_singleton_groups_are_the_ungrouped_folds():
    """A pairwise task with one pair per input gets exactly the folds it had before groups were passed."""
    ids = np.array([f"g{i}" for i in range(50)])
    np.testing.assert_array_equal(fold_ids(50, 5, seed=3, groups=ids), np.random.default_rng(3).permutation(50) % 5)
    np.testing.assert_array_equal(fold_ids(50, 5, seed=3), np.random.default_rng(3).permutation(50) % 5)
