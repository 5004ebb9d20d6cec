"""Features of a dataset, cached under a content hash of everything that changes them (weights, texts, template,
layer, pooling, max tokens, backend, dtype, extractor version; transfer/features/keys.py). Pairs (task kind
`pairwise`): f(prompt + better reply) and f(prompt + worse reply). Binary items: f(prompt + text), one row an item.

Nothing on disk says which reply is better: the cache stores each pair's two rows in the order of their texts'
SHA-256 (`cache_texts`), and which of the two is the better one is recomputed in memory from the data, which a
method process never sees. (Before, rows were f(better) then f(worse): reading a cache was reading gold.)"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass

import numpy as np

from transfer import paths
from transfer.backends import LazyBackend
from transfer.data.items import ItemSet
from transfer.data.pairs import PairSet
from transfer.features.cache import FeatureCache
from transfer.features.keys import feature_key
from transfer.features.text import render, uses_chat_template
from transfer.models import resolve_path

log = logging.getLogger(__name__)
ITEM_TEMPLATE = "{prompt}\n{reply}"  # without a `format.template`; an item without a prompt is its text alone


@dataclass(frozen=True)
class PairFeatures:
    better: np.ndarray  # (n_pairs, dim)
    worse: np.ndarray
    kind = "pairwise"

    def oriented(self, index: np.ndarray, a_is_better: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(f(A), f(B)) for the given pairs under an A/B assignment."""
        flip = a_is_better[:, None]
        a = np.where(flip, self.better[index], self.worse[index])
        b = np.where(flip, self.worse[index], self.better[index])
        return a, b

    def inputs(self, index: np.ndarray, a_is_better: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(f(A) − f(B), f(A), f(B)): a head's input and the two sides (ItemFeatures: binary)."""
        a, b = self.oriented(index, a_is_better)
        return a - b, a, b

    def head_input(self, index: np.ndarray, a_is_better: np.ndarray) -> np.ndarray:
        """f(A) − f(B) alone, as ±(f(better) − f(worse)): equal bit for bit to `inputs(...)[0]` (a negation is
        exact) and about a third of its time, which every cell pays on three splits."""
        diff = self.better[index] - self.worse[index]
        np.negative(diff, out=diff, where=~np.asarray(a_is_better, dtype=bool)[:, None])
        return diff


def pair_texts(pairs: PairSet, model_cfg: dict, fmt: dict) -> list[str]:
    tokenizer = None
    if uses_chat_template(model_cfg, fmt):
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(resolve_path(model_cfg))
    better = [render(p.prompt, p.better, fmt, tokenizer) for p in pairs.pairs]
    worse = [render(p.prompt, p.worse, fmt, tokenizer) for p in pairs.pairs]
    return better + worse


def cache_texts(pairs: PairSet, model_cfg: dict, fmt: dict) -> tuple[list[str], np.ndarray]:
    """The texts in the order the cache stores them, and `swap`: for each pair, whether its better reply's text is
    the second of its two (by SHA-256 of the texts, which says nothing about which reply is better)."""
    texts = pair_texts(pairs, model_cfg, fmt)
    n = len(pairs)
    digest = lambda t: hashlib.sha256(t.encode()).digest()  # noqa: E731
    swap = np.array([digest(texts[i]) > digest(texts[n + i]) for i in range(n)], dtype=bool)
    first = [texts[n + i] if swap[i] else texts[i] for i in range(n)]
    second = [texts[i] if swap[i] else texts[n + i] for i in range(n)]
    return first + second, swap


@dataclass(frozen=True)
class ItemFeatures:
    x: np.ndarray  # (n_items, dim)
    kind = "binary"

    def inputs(self, index: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, None, None]:
        """(f(x), no sides): the head's input. `labels` is not read (the same call shape as PairFeatures')."""
        return self.x[index], None, None

    def head_input(self, index: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return self.x[index]


def item_texts(items: ItemSet, model_cfg: dict, fmt: dict) -> list[str]:
    tokenizer = None
    if uses_chat_template(model_cfg, fmt):
        from transformers import AutoTokenizer
        tokenizer = AutoTokenizer.from_pretrained(resolve_path(model_cfg))
    with_prompt, alone = {"template": ITEM_TEMPLATE, **fmt}, {**fmt, "template": "{reply}"}
    return [render(i.prompt, i.text, with_prompt, tokenizer) if i.prompt else render("", i.text, alone)
            for i in items.items]


def extract_item_features(items: ItemSet, model_cfg: dict, backend_cfg: dict, fmt: dict, shard_size: int = 256,
                          backend: LazyBackend | None = None) -> ItemFeatures:
    texts = item_texts(items, model_cfg, fmt)
    key, parts = feature_key(model_cfg, backend_cfg, texts, fmt=fmt)
    cache = FeatureCache(paths.home() / "features", key, {**parts, "model": model_cfg["name"], "dataset": items.name},
                         len(texts), shard_size)
    own = backend is None
    backend = backend or LazyBackend(backend_cfg, model_cfg)
    try:
        return ItemFeatures(x=cache.fill(texts, backend.features, desc=f"{model_cfg['name']} on {items.name}"))
    finally:
        if own:
            backend.close()


PAIR_LAYOUT = "sha256-order"  # the cache's row order of a pair's two texts (cache_texts)


def extract_pair_features(pairs: PairSet, model_cfg: dict, backend_cfg: dict, fmt: dict,
                          shard_size: int = 256, backend: LazyBackend | None = None) -> PairFeatures:
    """Features of every pair, from the cache where present. Pass an open `backend` to share one model (or one
    server) across several datasets; without it one is loaded if needed and closed before returning."""
    if pairs.kind == "binary":  # one text per item
        return extract_item_features(pairs, model_cfg, backend_cfg, fmt, shard_size, backend)
    texts, swap = cache_texts(pairs, model_cfg, fmt)
    key, parts = feature_key(model_cfg, backend_cfg, texts, PAIR_LAYOUT, fmt)
    cache = FeatureCache(paths.home() / "features", key, {**parts, "model": model_cfg["name"],
                                                          "dataset": pairs.name}, len(texts), shard_size)
    own = backend is None
    backend = backend or LazyBackend(backend_cfg, model_cfg)
    try:
        compute, old = backend.features, None
        if cache.missing():  # a cache of the better-then-worse layout is reordered, not recomputed
            compute, old = _from_old_layout(pairs, model_cfg, backend_cfg, fmt, compute)
        rows = cache.fill(texts, compute, desc=f"{model_cfg['name']} on {pairs.name}")
        if old is not None:  # it encodes gold: gone once its rows are in the new layout
            shutil.rmtree(old, ignore_errors=True)
            log.info("feature cache %s: reordered into the %s layout and removed", old, PAIR_LAYOUT)
    finally:
        if own:
            backend.close()
    n = len(pairs)
    first, second = rows[:n], rows[n:]
    return PairFeatures(better=np.where(swap[:, None], second, first), worse=np.where(swap[:, None], first, second))


def _from_old_layout(pairs: PairSet, model_cfg: dict, backend_cfg: dict, fmt: dict, compute):
    """`compute`, answered from a complete cache of the same texts in the layout before PAIR_LAYOUT (rows
    f(better) then f(worse)) where one exists, and that cache's folder (None: none): the caller removes it once the
    rows are in the new layout, since it encodes gold. Features cost minutes a model; reordering them costs nothing."""
    old_texts = pair_texts(pairs, model_cfg, fmt)
    old_key, _ = feature_key(model_cfg, backend_cfg, old_texts, None, fmt)
    old_dir = paths.home() / "features" / old_key
    if not (old_dir / "meta.json").exists():
        return compute, None
    try:
        shard_size = int(json.loads((old_dir / "meta.json").read_text())["shard_size"])
        n_shards = (len(old_texts) + shard_size - 1) // shard_size
        rows = np.concatenate([np.load(old_dir / f"shard-{i:05d}.npy", allow_pickle=False) for i in range(n_shards)])
    except (OSError, ValueError, KeyError):
        return compute, None  # incomplete or unreadable: compute as usual
    if rows.shape[0] != len(old_texts):
        return compute, None
    lookup = dict(zip(old_texts, rows))
    return (lambda chunk: np.stack([lookup[t] for t in chunk])), old_dir
