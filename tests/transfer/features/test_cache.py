import shutil

import numpy as np
import pytest

from transfer import paths
from transfer.data.pairs import Pair, PairSet
from transfer.features.cache import FeatureCache
from transfer.features.extract import PairFeatures, pair_texts
from transfer.features.keys import feature_key
from transfer.models import weights_fingerprint

MINILM = {"name": "minilm_l6", "kind": "encoder", "layer": None, "pooling": "mean", "max_tokens": 128,
          "chat_template": False}
HF = {"name": "hf"}
FMT = {"prompt_words": 40, "reply_words": 110}


@pytest.fixture(scope="module")
def minilm_copy(tmp_path_factory):
    src = paths.home() / "assets" / "minilm_l6"
    if not (src / "model.safetensors").exists():
        pytest.fail("model assets missing: run `make assets`")
    dst = tmp_path_factory.mktemp("m") / "minilm"
    shutil.copytree(src, dst)
    return dst


def pairs(*replies):
    return PairSet("t", tuple(Pair(f"t:{i}", "why?", f"g{i}", good, "no", "s") for i, good in enumerate(replies)))


def test_cache_key_changes_with_weights_data_and_template(minilm_copy):
    model = {**MINILM, "pretrained": str(minilm_copy)}
    texts = pair_texts(pairs("because", "so"), model, FMT)
    base, _ = feature_key(model, HF, texts)
    assert feature_key(model, HF, texts)[0] == base  # deterministic

    assert feature_key(model, HF, pair_texts(pairs("because", "hence"), model, FMT))[0] != base  # data
    other_fmt = {**FMT, "template": "Q: {prompt}\nA: {reply}"}
    assert feature_key(model, HF, pair_texts(pairs("because", "so"), model, other_fmt))[0] != base  # template
    assert feature_key({**model, "layer": 3}, HF, texts)[0] != base  # layer
    assert feature_key({**model, "pooling": "last"}, HF, texts)[0] != base  # pooling

    before = weights_fingerprint(str(minilm_copy))
    weights = minilm_copy / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF  # one byte of the weights
    weights.write_bytes(bytes(blob))
    assert weights_fingerprint(str(minilm_copy)) != before
    assert feature_key(model, HF, texts)[0] != base


def test_cache_computes_only_missing_shards_and_never_leaves_partial_files(tmp_path):
    texts = [f"text {i}" for i in range(10)]
    calls, crash_at = [], [3]

    def compute(chunk):
        calls.append(len(chunk))
        if len(calls) == crash_at[0]:
            raise RuntimeError("server died")  # a crash mid-extraction
        return np.array([[float(t.split()[1])] * 4 for t in chunk])

    cache = FeatureCache(tmp_path, "k", {"what": "test"}, n_rows=10, shard_size=3)
    with pytest.raises(RuntimeError, match="server died"):
        cache.fill(texts, compute)
    assert cache.missing() == [2, 3]
    assert not list(cache.dir.glob("*.tmp"))  # only whole shards on disk
    calls.clear()
    crash_at[0] = -1  # the server is back
    rows = cache.fill(texts, compute)
    assert calls == [3, 1]  # only the two missing shards were computed
    assert rows[:, 0].tolist() == list(range(10))


def test_cache_rejects_non_finite_rows(tmp_path):
    cache = FeatureCache(tmp_path, "k", {}, n_rows=2, shard_size=2)
    with pytest.raises(ValueError, match="non-finite"):
        cache.fill(["a", "b"], lambda chunk: np.array([[np.nan], [1.0]]))
    assert cache.missing() == [0]


def test_head_input_is_the_oriented_difference_bit_for_bit():
    """The fast path a cell takes for a head's input equals f(A) − f(B) from the oriented sides, for integer and
    boolean indexing and both orientations (a head trained on it must not move by a bit)."""
    rng = np.random.default_rng(3)
    feats = PairFeatures(better=rng.standard_normal((50, 7)).astype(np.float32),
                         worse=rng.standard_normal((50, 7)).astype(np.float32))
    for index in (rng.choice(50, 20, replace=False), rng.random(50) > 0.4):
        a_is_better = rng.random(len(feats.better[index])) > 0.5
        slow, _, _ = feats.inputs(index, a_is_better)
        fast = feats.head_input(index, a_is_better)
        assert fast.dtype == slow.dtype and np.array_equal(fast, slow)
        assert np.array_equal(fast[a_is_better], (feats.better[index] - feats.worse[index])[a_is_better])
        assert not np.array_equal(fast[~a_is_better], (feats.better[index] - feats.worse[index])[~a_is_better])


def test_a_poisoned_shard_is_recomputed_never_read(tmp_path):
    """Replace a shard on disk (as a method that reached the cache would): its checksum no longer matches, and the
    next read recomputes it instead of returning the planted rows."""
    texts = [f"text {i}" for i in range(6)]
    compute = lambda chunk: np.array([[float(t.split()[1])] * 3 for t in chunk])  # noqa: E731
    cache = FeatureCache(tmp_path, "k", {}, n_rows=6, shard_size=3)
    honest = cache.fill(texts, compute)
    np.save(cache.shard_path(1), np.full((3, 3), 99.0, dtype=np.float32))  # poisoned, the checksum left as it was
    calls = []
    rows = cache.fill(texts, lambda chunk: calls.append(len(chunk)) or compute(chunk))
    assert calls == [3] and np.array_equal(rows, honest)  # shard 1 alone recomputed
    assert np.array_equal(np.load(cache.shard_path(1)), honest[3:])


def test_a_shard_without_its_checksum_counts_as_missing(tmp_path):
    cache = FeatureCache(tmp_path, "k", {}, n_rows=2, shard_size=2)
    cache.fill(["a", "b"], lambda chunk: np.ones((len(chunk), 2)))
    cache.sum_path(0).unlink()
    assert cache.missing() == [0]


def test_the_cache_does_not_say_which_reply_is_better(minilm_copy, tmp_path, monkeypatch):
    """The same pairs with every label flipped (better <-> worse) make the same cache, byte for byte: what is on
    disk holds no gold. The features the harness gets back still follow the labels."""
    from transfer.features.extract import extract_pair_features

    monkeypatch.setenv("TRANSFER_HOME", str(tmp_path / "home"))
    model = {**MINILM, "pretrained": str(minilm_copy)}
    straight = pairs("because it rains", "so it goes", "as I said")
    flipped = PairSet("t", tuple(Pair(p.example_id, p.prompt, p.group, p.worse, p.better, p.subset)
                                 for p in straight.pairs))
    a = extract_pair_features(straight, model, HF, FMT)
    shards = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "home").rglob("shard-*")}
    b = extract_pair_features(flipped, model, HF, FMT)
    assert {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "home").rglob("shard-*")} == shards
    assert len(list((tmp_path / "home" / "features").iterdir())) == 1  # one key: the flip is not in it
    assert np.array_equal(a.better, b.worse) and np.array_equal(a.worse, b.better)
    assert not np.array_equal(a.better, a.worse)


def test_a_cache_of_the_old_layout_is_reordered_not_recomputed_then_removed(minilm_copy, tmp_path, monkeypatch):
    """A cache written better-then-worse (before the sha256 layout) holds the features already: the harness reorders
    them into the new layout without loading a model, and removes the old folder, which encodes gold."""
    from transfer.features import extract

    monkeypatch.setenv("TRANSFER_HOME", str(tmp_path / "home"))
    model = {**MINILM, "pretrained": str(minilm_copy)}
    data = pairs("because it rains", "so it goes", "as I said")
    fresh = extract.extract_pair_features(data, model, HF, FMT)  # the reference, computed
    shutil.rmtree(tmp_path / "home" / "features")
    old_texts = pair_texts(data, model, FMT)
    old_key, parts = feature_key(model, HF, old_texts, None, FMT)
    old = FeatureCache(paths.home() / "features", old_key, parts, len(old_texts), shard_size=2)
    old.fill(old_texts, lambda chunk: np.stack([np.concatenate([fresh.better, fresh.worse])[old_texts.index(t)]
                                                for t in chunk]))
    for f in old.dir.glob("*.sha256"):
        f.unlink()  # the old layout had no checksums

    def no_model(*_):
        raise AssertionError("a model was loaded although the features were on disk")

    monkeypatch.setattr(extract, "LazyBackend", lambda *a: type("B", (), {"features": no_model,
                                                                           "close": lambda s: None})())
    got = extract.extract_pair_features(data, model, HF, FMT)
    assert np.array_equal(got.better, fresh.better) and np.array_equal(got.worse, fresh.worse)
    assert not old.dir.exists() and len(list((tmp_path / "home" / "features").iterdir())) == 1


def test_rows_of_texts_computed_for_another_dataset_are_reused_not_recomputed(minilm_copy, tmp_path, monkeypatch):
    """A task's binary framing embeds the same texts as its pair framing, and a subset the texts of its full set:
    under the same recipe their rows come from the cache that has them (checksums checked), and only new texts
    reach the model. Another recipe (max_tokens) shares nothing."""
    from transfer.data.items import Item, ItemSet
    from transfer.features import extract

    monkeypatch.setenv("TRANSFER_HOME", str(tmp_path / "home"))
    model = {**MINILM, "pretrained": str(minilm_copy)}
    fmt = {"template": "{prompt}\nAnswer: {reply}", "prompt_words": None, "reply_words": None}  # BIG-bench's
    data = pairs("because it rains", "so it goes", "as I said")
    full = extract.extract_pair_features(data, model, HF, fmt)
    binary = ItemSet("t_binary", tuple(Item(f"{p.example_id}:{k}", p.prompt, reply, p.group, k == 0, p.subset)
                                       for p in data.pairs for k, reply in enumerate((p.better, p.worse)))
                     + (Item("new", "why?", "a text no cache has", "g9", True, "s"),))
    seen = []
    real = extract.LazyBackend(HF, model)
    monkeypatch.setattr(extract, "LazyBackend", lambda *a: type("B", (), {
        "features": lambda s, chunk: seen.extend(chunk) or real.features(chunk), "close": lambda s: real.close()})())
    got = extract.extract_item_features(binary, model, HF, fmt)
    assert len(seen) == 1 and seen[0].endswith("a text no cache has")  # the six shared texts were not recomputed
    reference = np.stack([row for p in range(3) for row in (full.better[p], full.worse[p])])
    assert np.allclose(got.x[:6], reference, atol=1e-6)
    seen.clear()
    extract.extract_item_features(binary, {**model, "max_tokens": 64}, HF, fmt)  # another recipe: all computed
    assert len(seen) == 7


def test_a_listener_hears_the_rows_to_compute_then_each_shard_and_the_own_bar_stays_off(tmp_path, capsys):
    from transfer.features.cache import reporting

    heard = []
    cache = FeatureCache(tmp_path, "k", {"what": "test"}, n_rows=10, shard_size=4)
    texts, compute = [f"t{i}" for i in range(10)], lambda chunk: np.ones((len(chunk), 2))  # noqa: E731
    with reporting(lambda *e: heard.append(e)):
        cache.fill(texts, compute, desc="m on d")
    assert heard == [("m on d", 0, 10), ("m on d", 4, 0), ("m on d", 4, 0), ("m on d", 2, 0)]
    assert "m on d" not in capsys.readouterr().err  # the listener's bar, not this process's, shows it
    with reporting(lambda *e: heard.append(e)):
        cache.fill(texts, compute, desc="m on d")
    assert len(heard) == 4  # all cached: nothing to hear
    cache.dir.joinpath("shard-00001.npy").unlink()
    cache.fill(texts, compute, desc="m on d")  # no listener: its own bar
    assert "m on d" in capsys.readouterr().err
