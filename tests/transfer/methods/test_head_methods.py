"""bootstrap, knn_relabel and ccs on real features: each test fails if the method silently behaved like vanilla."""

import warnings

import numpy as np
import pytest

from tests.helpers.methods import method, with_weak
from transfer import scoring
from transfer.methods.ccs import ccs_direction
from transfer.methods.knn_relabel import neighbour_vote


def vanilla_probs(view):
    return method("vanilla").fit(view).predict_proba(view.x)


def test_bootstrap_changes_training_labels_between_rounds(hh_view):
    view, _ = hh_view
    m = method("bootstrap", rounds=3)
    p = m.fit(view).predict_proba(view.x)
    changed = [m.diagnostics[f"labels_changed_round{r}"] for r in (1, 2, 3)]
    assert changed[0] > 0.05 and all(c >= 0 for c in changed)  # round 1 relabels a real share of the weak labels
    assert m.diagnostics["final_labels_weak_agreement"] < 0.95
    assert not np.allclose(p, vanilla_probs(view), atol=1e-3)


def test_bootstrap_needs_cross_fitting_to_relabel(hh_view):
    # 100 pairs x 576 dims: a head relabelling its own training pairs reproduces them; other folds' heads do not
    own, cross = method("bootstrap", rounds=1, folds=1), method("bootstrap", rounds=1, folds=2)
    own.fit(hh_view[0]), cross.fit(hh_view[0])
    assert own.diagnostics["labels_changed_round1"] < cross.diagnostics["labels_changed_round1"]


def test_knn_vote_excludes_the_pair_itself_and_its_mirror():
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.95, 0.05], [-1.0, 0.0]], dtype=np.float32)
    probs = np.array([0.9, 0.1, 0.1, 0.9])
    vote = neighbour_vote(x, probs, k=2)
    # pair 0's nearest are pairs 3 (its mirror image: -x0 with label A, i.e. "B" in pair 0's order) and 2, never
    # itself in either order
    assert vote[0] == 0.0


def test_knn_mirror_exclusion_changes_the_vote():
    """A pair's own mirror is as near as the pair (|cos| = 1) and carries its own label in its own order: without
    the exclusion every pair's nearest neighbour would be itself and k=1 would never disagree with a weak label."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    probs = rng.uniform(size=40)
    own = (probs > 0.5).astype(float)
    vote = neighbour_vote(x, probs, k=1)
    assert (vote != own).any()  # with the pair (or its mirror) as its own neighbour, vote == own everywhere
    z = x / np.sqrt((x ** 2).mean(0))  # the method's cosine on per-dimension scaled inputs, by hand
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T
    np.fill_diagonal(sim, 0)
    j = np.abs(sim).argmax(1)
    assert (vote == np.where(sim[np.arange(40), j] >= 0, own[j], 1 - own[j])).all()  # the nearest other pair


@pytest.mark.parametrize("action", ["relabel", "drop"])
def test_knn_relabel_changes_or_drops_real_weak_labels(hh_view, action):
    view, gold = hh_view
    m = method("knn_relabel", action=action)
    index, targets = m.targets(view)
    hard_weak = (view.weak_probs > 0.5).astype(np.float32)
    frac = m.diagnostics["disagree_fraction"]
    assert 0.02 < frac < 0.6
    if action == "relabel":
        assert len(index) == len(view.x) and (targets != hard_weak).mean() == pytest.approx(frac)
    else:
        assert len(index) == round(len(view.x) * (1 - frac)) and (targets == hard_weak[index]).all()
    assert not np.allclose(m.fit(view).predict_proba(view.x), vanilla_probs(view), atol=1e-3)


def test_ccs_finds_an_above_chance_direction_with_no_labels(hhh_view):
    view, gold = hhh_view  # ccs_direction has no label argument at all
    w, scale, _ = ccs_direction(view.strong_a, view.strong_b, components=8, restarts=5, steps=600, lr=0.01, seed=0)
    acc = scoring.accuracy(1 / (1 + np.exp(-(view.x / scale) @ w)), gold)
    assert max(acc, 1 - acc) > 0.6  # 221 pairs: chance ± 3.4 points (1 SE)


def test_ccs_uses_weak_labels_only_for_the_sign(hhh_view):
    view, gold = hhh_view
    base = method("ccs").fit(view).predict_proba(view.x)
    shuffled = np.random.default_rng(1).permutation(view.weak_probs)
    p_shuf = method("ccs").fit(with_weak(view, shuffled)).predict_proba(view.x)
    assert np.allclose(p_shuf, base) or np.allclose(p_shuf, 1 - base)  # same probe, at most the sign differs
    p_flip = method("ccs").fit(with_weak(view, 1 - view.weak_probs)).predict_proba(view.x)
    assert np.allclose(p_flip, 1 - base, atol=1e-6)
    # vanilla on coin-flip labels learns nothing; ccs with a sign that agrees with a weak-but-right teacher does
    helpful = np.where(gold, 0.55, 0.45)  # a 70 %-right teacher, used only for the sign
    noisy = np.where(np.random.default_rng(2).random(len(gold)) < 0.3, 1 - helpful, helpful)
    acc_ccs = scoring.accuracy(method("ccs").fit(with_weak(view, noisy)).predict_proba(view.x), gold)
    assert acc_ccs > 0.6 and acc_ccs > scoring.accuracy(vanilla_probs(with_weak(view, shuffled)), gold) + 0.05


def sequential_ccs(a, b, *, components, restarts, steps, lr, seed):
    """CCS's restarts one after another, each with its own optimizer: the plain reading of the search, kept here as
    the reference the batched search must reproduce."""
    import torch

    both = np.concatenate([a, b]).astype(np.float64)
    scale = np.where(both.std(axis=0) > 1e-8, both.std(axis=0), 1.0)
    z = (both - both.mean(axis=0)) / scale
    k = min(components, z.shape[1], len(z) - 1)
    basis = np.linalg.svd(z, full_matrices=False)[2][:k].T
    za, zb = (torch.tensor(part @ basis, dtype=torch.float32) for part in (z[:len(a)], z[len(a):]))
    gen, best = torch.Generator().manual_seed(seed), (np.inf, None)
    for _ in range(restarts):
        w = torch.randn(k, generator=gen)
        w = (w / w.norm()).requires_grad_()
        c = torch.zeros(1, requires_grad=True)
        opt = torch.optim.Adam([w, c], lr=lr)
        for _ in range(steps):
            pa, pb = torch.sigmoid(za @ w + c), torch.sigmoid(zb @ w + c)
            loss = ((pa - (1 - pb)) ** 2).mean() + (torch.minimum(pa, pb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if loss.item() < best[0]:
            best = (loss.item(), w.detach().numpy().astype(np.float64))
    return basis @ best[1], best[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ccs_restarts_searched_together_equal_the_restarts_one_by_one(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(300, 24)).astype(np.float32)
    b = (-a + rng.normal(scale=0.5, size=a.shape)).astype(np.float32)  # a contrast pair: a consistent probe exists
    kw = {"components": 6, "restarts": 4, "steps": 150, "lr": 0.05, "seed": seed}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every ccs cell once printed torch's requires_grad-to-scalar warning
        w, _, loss = ccs_direction(a, b, **kw)
    ref_w, ref_loss = sequential_ccs(a, b, **kw)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert float(w @ ref_w / np.linalg.norm(w) / np.linalg.norm(ref_w)) > 0.99999  # the same restart, same direction
