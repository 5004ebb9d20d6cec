import numpy as np
import pytest
import torch

from transfer import scoring
from transfer.errors import BoundaryError, ConfigError
from transfer.heads import soft_bce, train_head
from transfer.methods import StudentView, load_method
from transfer.methods.logconf import alpha_schedule, logconf_loss, logconf_targets

HEAD = {"epochs": 30, "lr": 0.05, "l2": 1e-4, "batch_size": 32}


def synthetic_view(n=400, dim=8, noise=0.3, seed=0):
    """A linearly separable problem with noisy soft labels: enough to tell methods apart, no gold in the view."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, dim)), rng.normal(size=(n, dim))
    w = np.ones(dim)
    gold = (a - b) @ w > 0
    flip = rng.random(n) < noise
    weak = np.where(gold ^ flip, 0.8, 0.2)
    view = StudentView(x=(a - b).astype(np.float32), strong_a=a.astype(np.float32), strong_b=b.astype(np.float32),
                       weak_probs=weak, example_ids=tuple(map(str, range(n))), seed=0, head=HEAD)
    return view, gold


def test_pgr():
    assert scoring.pgr(weak=0.6, w2s=0.65, ceiling=0.7) == pytest.approx(0.5)
    assert scoring.pgr(weak=0.6, w2s=0.55, ceiling=0.7) == pytest.approx(-0.5)
    assert np.isnan(scoring.pgr(weak=0.6, w2s=0.65, ceiling=0.6))


def test_ties_count_as_wrong():
    gold = np.array([True, False])
    assert scoring.accuracy(np.array([0.5, 0.5]), gold) == 0.0
    assert scoring.accuracy(np.array([0.9, 0.1]), gold) == 1.0


@pytest.mark.parametrize("probs, match", [
    (np.full(3, 0.5), r"shape \(3,\), expected \(4,\)"),
    (np.array([0.1, np.nan, 0.2, 0.3]), "1 non-finite"),
    (np.array([0.1, 1.5, 0.2, 0.3]), r"outside \[0, 1\]"),
])
def test_invalid_predictions_are_rejected(probs, match):
    with pytest.raises(BoundaryError, match=match):
        scoring.check_probs(probs, 4, "method 'x'")


def test_head_is_antisymmetric_and_learns():
    view, gold = synthetic_view(noise=0.0)
    head = train_head(view.x, gold.astype(np.float32), seed=0, **HEAD)
    p = head.predict_proba(view.x)
    assert scoring.accuracy(p, gold) > 0.95
    assert np.allclose(head.predict_proba(-view.x), 1 - p, atol=1e-6)  # swapping A and B flips the prediction


def test_full_batch_head_is_the_shuffled_one_up_to_rounding():
    """A full batch is not shuffled (shuffling it changes only the loss's summation order): the head equals one
    trained on the rows in another order to float32 rounding, and minibatches still see seeded shuffles."""
    view, gold = synthetic_view(n=600, dim=16, noise=0.2)
    full = {**HEAD, "batch_size": None, "epochs": 200}
    order = np.random.default_rng(5).permutation(len(gold))
    a = train_head(view.x, gold.astype(np.float32), seed=0, **full)
    b = train_head(view.x[order], gold[order].astype(np.float32), seed=0, **full)
    assert np.allclose(a.weight, b.weight, rtol=1e-4, atol=1e-6) and not np.array_equal(a.weight, 0 * a.weight)
    mini = [train_head(view.x, gold.astype(np.float32), seed=s, **HEAD).weight for s in (0, 0, 1)]
    assert np.array_equal(mini[0], mini[1]) and not np.array_equal(mini[0], mini[2])


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("batch_size", [None, 64])
def test_closed_form_head_takes_the_autograd_steps(bias, batch_size):
    """soft_bce heads skip autograd (their gradient written out): the same Adam steps as the generic path, which
    any other loss takes, to float32 rounding; a wrong term (the l2 factor, the bias, the batch mean) fails this."""
    view, _ = synthetic_view(n=500, dim=12, noise=0.3)
    targets = np.clip(view.weak_probs + 0.05 * np.sign(view.x[:, 0]), 0, 1).astype(np.float32)  # soft, off-centre
    kw = {**HEAD, "batch_size": batch_size, "epochs": 60, "l2": 0.3, "bias": bias}
    fast = train_head(view.x, targets, seed=4, **kw)
    generic = train_head(view.x, targets, seed=4, loss_fn=lambda z, t, p: soft_bce(z, t, p), **kw)
    assert np.allclose(fast.weight, generic.weight, rtol=1e-4, atol=1e-6)
    assert fast.bias == pytest.approx(generic.bias, abs=1e-6) and (fast.bias != 0) == bias
    assert np.abs(fast.weight).max() > 1e-2  # it learned something


def test_view_is_read_only():
    view, _ = synthetic_view()
    with pytest.raises(ValueError):
        view.weak_probs[0] = 1.0


def test_logconf_warmup_ramps_to_alpha_max_without_a_jump():
    a = [alpha_schedule(p, 0.75, 0.2) for p in np.linspace(0, 1, 101)]
    assert a[0] == 0.0
    assert alpha_schedule(0.1, 0.75, 0.2) == pytest.approx(0.375)
    assert alpha_schedule(0.2, 0.75, 0.2) == pytest.approx(0.75)
    assert max(a) == pytest.approx(0.75) and a[-1] == pytest.approx(0.75)
    assert max(np.diff(a)) <= 0.75 / 20 + 1e-9  # never the reference's 0.1x-then-jump


def test_logconf_loss_mixes_weak_and_self_labels():
    logits = torch.tensor([2.0, -2.0, 0.5, -0.5])
    weak = torch.tensor([0.0, 1.0, 0.0, 1.0])  # disagrees with the student everywhere
    base = logconf_loss(logits, weak, 0.0)
    assert base == pytest.approx(torch.nn.functional.binary_cross_entropy_with_logits(logits, weak).item())
    assert logconf_loss(logits, weak, 0.75) < base  # self-labels agree with the student: lower loss


def test_logconf_targets_train_the_head_its_loss_does():
    """logconf trains through targets_fn (the closed-form head): the head autograd gives its mixed loss, up to
    rounding (a self-label flipped at the quantile by rounding moves it a little, not away)."""
    view, _ = synthetic_view(n=500, dim=12, noise=0.3)
    kw = {**HEAD, "batch_size": None, "epochs": 100}

    def schedule(p):
        return alpha_schedule(p, 0.75, 0.2)
    fast = train_head(view.x, view.weak_probs, seed=2, targets_fn=lambda q, t, p: logconf_targets(q, t, schedule(p)),
                      **kw)
    slow = train_head(view.x, view.weak_probs, seed=2, loss_fn=lambda z, t, p: logconf_loss(z, t, schedule(p)), **kw)
    plain = train_head(view.x, view.weak_probs, seed=2, **kw)
    assert np.allclose(fast.weight, slow.weight, rtol=1e-3, atol=1e-5)
    assert not np.allclose(fast.weight, plain.weight, rtol=1e-2)  # the self-labels did something
    with pytest.raises(ValueError, match="targets_fn works with the default loss"):
        train_head(view.x, view.weak_probs, seed=2, loss_fn=logconf_loss, targets_fn=lambda q, t, p: t, **kw)


def test_confident_only_trains_on_fewer_labels_and_reports_it():
    view, gold = synthetic_view()
    rng = np.random.default_rng(1)
    weak = np.clip(view.weak_probs + rng.normal(0, 0.2, len(gold)), 0, 1)
    view = StudentView(**{**view.__dict__, "weak_probs": weak})
    method = load_method({"name": "confident_only", "impl": "transfer.methods.confident_only:ConfidentOnly",
                          "low": 0.25, "high": 0.75, "min_examples": 20})
    method.fit(view)
    kept = ((weak <= 0.25) | (weak >= 0.75)).mean()
    assert method.diagnostics["kept_fraction"] == pytest.approx(kept)
    assert 0.2 < kept < 0.9


def test_confident_only_falls_back_to_a_per_seed_band_and_says_so():
    """An unconfident teacher (every weak label 0.55 ± 0.02): the declared fallback keeps the most confident half and
    reports it; `fallback: error` fails with the fix that works (narrowing the band, not widening it)."""
    view, _ = synthetic_view()
    weak = 0.55 + 0.02 * np.random.default_rng(3).uniform(-1, 1, len(view.x))
    view = StudentView(**{**view.__dict__, "weak_probs": weak})
    cfg = {"name": "confident_only", "impl": "transfer.methods.confident_only:ConfidentOnly",
           "low": 0.25, "high": 0.75, "min_examples": 20, "fallback_keep": 0.5}
    method = load_method(cfg)
    keep, targets = method.targets(view)
    assert method.diagnostics == {"fallback_band": 1.0, "kept_fraction": 0.5}
    assert np.abs(weak[keep] - 0.5).min() >= np.abs(np.delete(weak, keep) - 0.5).max()  # the most confident half
    assert targets.tolist() == (weak[keep] > 0.5).astype(float).tolist()
    confident = load_method(cfg)
    confident.targets(StudentView(**{**view.__dict__, "weak_probs": np.where(weak > 0.56, 0.9, 0.1)}))
    assert confident.diagnostics["fallback_band"] == 0.0
    with pytest.raises(ConfigError, match=r"only 0 of 400 weak labels.*narrow the band"):
        load_method({**cfg, "fallback": "error"}).fit(view)
    with pytest.raises(ConfigError, match="fallback='nope' is unknown"):
        load_method({**cfg, "fallback": "nope"}).fit(view)


def test_methods_differ_on_the_same_view():
    view, gold = synthetic_view(noise=0.25)
    probs = {}
    for name, impl, extra in (("vanilla", "transfer.methods.vanilla:Vanilla", {}),
                              ("logconf", "transfer.methods.logconf:LogConf", {"alpha_max": 0.75, "warmup_frac": 0.2})):
        probs[name] = load_method({"name": name, "impl": impl, **extra}).fit(view).predict_proba(view.x)
    assert not np.allclose(probs["vanilla"], probs["logconf"], atol=1e-3)
    # logconf is more confident than training on noisy soft labels
    assert np.abs(probs["logconf"] - 0.5).mean() > np.abs(probs["vanilla"] - 0.5).mean()


def test_unknown_method_impl_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot import 'transfer.methods.nope'"):
        load_method({"name": "nope", "impl": "transfer.methods.nope:Nope"})
    with pytest.raises(ConfigError, match="is not a transfer.methods.Method subclass"):
        load_method({"name": "x", "impl": "transfer.heads:train_head"})


def test_impl_without_a_class_takes_the_modules_own_method_never_the_abstract_base():
    from transfer.methods.logconf import LogConf
    from transfer.methods.vanilla import Vanilla

    assert type(load_method({"name": "vanilla", "labels": "soft"})) is Vanilla  # no impl: transfer.methods.vanilla
    assert type(load_method({"name": "x", "impl": "transfer.methods.logconf", "alpha_max": 0.5})) is LogConf
    with pytest.raises(ConfigError, match="is abstract .*name a concrete class"):
        load_method({"name": "x", "impl": "transfer.methods.vanilla:Method"})  # what the old fallback resolved to
    with pytest.raises(ConfigError, match="defines 0 concrete Method subclasses"):
        load_method({"name": "x", "impl": "transfer.methods.base"})
