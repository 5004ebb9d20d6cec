"""ue_consistency: zero-shot labels from the strong LM, both orders, consistency, rebalancing; never the teacher."""

import numpy as np
import pytest

from tests.helpers.methods import method, with_weak
from transfer.errors import ConfigError
from transfer.methods.ue_consistency import consistent_labels
from transfer.modes.prompts import orient_zero_shot


def test_consistency_debiases_orders_and_rebalances():
    rng = np.random.default_rng(0)
    pref = rng.normal(size=400)  # the model's real preference for A
    # both orders lean hard towards the token " A" (position bias), on top of the preference
    first = np.stack([3 + pref / 2, -pref / 2], axis=1)   # order (A, B)
    second = np.stack([3 - pref / 2, pref / 2], axis=1)   # order (B, A): A is shown second
    zs = np.stack([first, second], axis=1)
    kept, labels, diag = consistent_labels(zs)
    assert diag["raw_a_rate_first_order"] > 0.99  # raw: nearly always " A", nothing to learn
    assert labels.mean() == 0.5  # rebalanced
    assert (labels == (pref[kept] > np.median(pref))).all()  # the preference, centred like the scores


def test_inconsistent_pairs_are_dropped():
    zs = np.zeros((4, 2, 2))
    zs[:, 0, 0] = [2, 1, -1, -2]   # order (A, B) prefers A for the first two
    zs[:, 1, 1] = [2, -1, 1, -2]   # order (B, A) agrees for pairs 0 and 3 only
    kept, labels, diag = consistent_labels(zs)
    assert list(kept) == [0, 3] and list(labels) == [1, 0] and diag["consistent_fraction"] == 0.5


def test_zero_shot_is_oriented_like_the_view():
    zs = np.arange(8, dtype=float).reshape(2, 2, 2)  # pair 0, 1 x [better first, worse first] x [A, B]
    out = orient_zero_shot(zs, np.array([0, 1]), np.array([True, False]))
    assert (out[0] == zs[0]).all()  # A is the better reply: (A, B) = better first
    assert (out[1, 0] == zs[1, 1]).all() and (out[1, 1] == zs[1, 0]).all()  # A is the worse reply


def test_without_zero_shot_it_is_a_clear_error(hh_view):
    with pytest.raises(ConfigError, match="no zero_shot log-probs"):
        method("ue_consistency").fit(hh_view[0])


@pytest.mark.slow
def test_ue_consistency_on_real_zero_shot_ignores_the_teacher(lab_cell):
    """Real SmolLM2 label log-probs on 40 real HH pairs; the result does not depend on the weak labels at all."""
    from transfer.cell import student_view
    from transfer.inputs import CellInputs
    from transfer.data import load_dataset_from_config
    from transfer.data.splits import make_splits
    from transfer.features.extract import extract_pair_features

    cell = {**lab_cell, "method": {"name": "ue_consistency", "prompt_format": {"prompt_words": 20,
                                                                               "reply_words": 30}}}
    s = {**cell["setting"], "data": {**cell["setting"]["data"], "max_pairs": 40}}
    pairs = load_dataset_from_config(s["data"])
    feats = {"strong": extract_pair_features(pairs, s["strong"], s["strong_backend"], s["data"]["format"])}
    tu = make_splits(pairs, {"train_label": 0.2, "train_unlabel": 0.6, "test": 0.2}, 0)["train_unlabel"]
    view = student_view({**cell, "setting": s}, CellInputs(pairs, None, feats), tu, np.full(len(tu), 0.9),
                        ("zero_shot",))
    assert view.zero_shot.shape == (len(tu), 2, 2) and np.isfinite(view.zero_shot).all()
    m = method("ue_consistency", min_examples=4)
    p = m.fit(view).predict_proba(view.x)
    flipped = method("ue_consistency", min_examples=4).fit(with_weak(view, np.full(len(tu), 0.1)))
    assert np.allclose(p, flipped.predict_proba(view.x))  # no teacher
    assert 0 < m.diagnostics["kept_fraction"] < 1 and m.diagnostics["consistent_fraction"] < 1


def test_a_sweep_asks_the_input_stage_for_the_formats_its_methods_read(compose_cfg):
    """Only methods whose process declares `needs` zero_shot make the input stage compute log-probs, once per
    prompt format (ccs reads them only with sign=zero_shot)."""
    from jobs.driver import zero_shot_formats

    cells = [compose_cfg(f"method={m}", *extra) for m, *extra in
             (("vanilla",), ("ccs",), ("ue_consistency",), ("ue_consistency", "seed=1"),
              ("ccs", "method.sign=zero_shot"))]
    ue_fmt = cells[2]["method"]["prompt_format"] or cells[2]["setting"]["data"]["format"]
    ccs_fmt = cells[4]["method"]["prompt_format"] or cells[4]["setting"]["data"]["format"]
    assert zero_shot_formats(cells[:2]) == []
    got = zero_shot_formats(cells)
    assert ue_fmt in got and ccs_fmt in got and len(got) == len({str(ue_fmt), str(ccs_fmt)})


@pytest.mark.slow
def test_the_input_stage_computes_zero_shot_and_cells_only_read_it(lab_cell):
    """transfer/stage.py computes the strong LM's log-probs with its features (one model); a cell's view then
    reads them from the inputs: a planted array comes back, oriented, so no cell loads the model for them."""
    from transfer.cell import student_view
    from transfer.data.splits import make_splits
    from transfer.inputs import zero_shot_format, zero_shot_key
    from transfer.stage import build_cell_inputs

    cell = {**lab_cell, "method": {"name": "ue_consistency", "prompt_format": {"prompt_words": 20,
                                                                               "reply_words": 30}}}
    s = {**cell["setting"], "data": {**cell["setting"]["data"], "max_pairs": 40}, "ood": None}
    cell = {**cell, "setting": s}
    key = zero_shot_key(zero_shot_format(cell))
    inputs = build_cell_inputs(s, 256, [zero_shot_format(cell)])
    assert set(inputs.zero_shot) == {key}
    assert inputs.zero_shot[key].shape == (len(inputs.pairs), 2, 2) and np.isfinite(inputs.zero_shot[key]).all()
    planted = np.random.default_rng(0).normal(size=inputs.zero_shot[key].shape)
    inputs.zero_shot[key] = planted
    tu = make_splits(inputs.pairs, {"train_label": 0.2, "train_unlabel": 0.6, "test": 0.2}, 0)["train_unlabel"]
    view = student_view(cell, inputs, tu, np.full(len(tu), 0.9), ("zero_shot",))
    assert np.array_equal(view.zero_shot, orient_zero_shot(planted, tu.index, tu.a_is_better))
