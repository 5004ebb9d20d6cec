"""The random-effects meta-analysis across datasets (analysis/datasets.py), checked against its own definitions."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.datasets import across, meta


def test_identical_effects_have_no_heterogeneity():
    r = meta({"a": 0.3, "b": 0.3, "c": 0.3}, {"a": 0.05, "b": 0.1, "c": 0.08}, 0.05)
    assert r["estimate"] == pytest.approx(0.3) and r["tau2"] == pytest.approx(0, abs=1e-12)
    assert r["i2"] == 0 and r["q"] == pytest.approx(0) and r["ci"][0] > 0
    assert r["verdict"] == "gain on average only"  # three datasets: a new one's interval is t(1) wide


def test_paule_mandel_tau2_solves_its_estimating_equation_and_i2_is_from_q():
    y = np.array([0.9, 0.1, 0.6, 0.3, 0.45])
    se = np.array([0.05, 0.04, 0.06, 0.05, 0.03])
    r = meta(dict(zip("abcde", y)), dict(zip("abcde", se)), 0.05)
    w = 1 / (se ** 2 + r["tau2"])
    mu = (w * y).sum() / w.sum()
    assert r["tau2"] > 0 and ((w * (y - mu) ** 2).sum()) == pytest.approx(len(y) - 1, rel=1e-4)  # Q*(tau2) = k - 1
    assert r["estimate"] == pytest.approx(mu, rel=1e-6) and r["se"] == pytest.approx(w.sum() ** -0.5, rel=1e-6)
    w0 = 1 / se ** 2
    q = (w0 * (y - (w0 * y).sum() / w0.sum()) ** 2).sum()
    assert r["q"] == pytest.approx(q) and r["i2"] == pytest.approx((q - 4) / q) and r["q_p"] < 1e-6
    lo, hi = r["prediction"]
    assert lo < r["ci"][0] and hi > r["ci"][1]  # a new dataset's effect is less certain than the mean's


@pytest.mark.parametrize("y, se, verdict", [
    ([0.50, 0.60, 0.55, 0.52], [0.05] * 4, "consistent gain"),
    ([0.9, 0.3, 0.6, 0.4, 0.7, 0.2], [0.03] * 6, "gain on average only"),
    ([0.4, -0.4, 0.1, -0.2], [0.05] * 4, "no average effect shown"),
    ([-0.50, -0.60, -0.55], [0.05] * 3, "consistent loss"),
])
def test_verdicts_follow_the_intervals(y, se, verdict):
    names = [f"d{i}" for i in range(len(y))]
    assert meta(dict(zip(names, y)), dict(zip(names, se)), 0.05)["verdict"] == verdict


def group(dataset, delta, se, defined=True):
    d = {"estimate": delta if defined else None, "se_seeds": se if defined else None, "ci": (None, None)}
    return {"setting": "lab", "dataset": dataset, "methods": ["vanilla", "m"], "weak_acc": 0.6, "ceiling_acc": 0.7,
            "gap": {"estimate": 0.1, "ci": (0.05, 0.15), "defined": defined},
            "pgr": {"vanilla": {"estimate": 0.2 if defined else None}, "m": {"estimate": 0.3 if defined else None}},
            "delta": {"m": d}}


def test_across_leaves_out_undefined_datasets_and_names_them():
    res = {"groups": [group("a", 0.1, 0.02), group("b", 0.2, 0.03), group("c", 0.0, 0.0, defined=False)]}
    a = across(res, 0.05)["lab"]
    assert a["table"]["datasets"] == ["a", "b", "c"] and a["left_out"] == {"m": ["c"]}
    assert a["meta"]["m"]["k"] == 2 and set(a["meta"]["m"]["datasets"]) == {"a", "b"}
    assert "prediction" not in a["meta"]["m"]  # needs three datasets
    assert across({"groups": [group("a", 0.1, 0.02)]}, 0.05) == {}  # one dataset: nothing across datasets
