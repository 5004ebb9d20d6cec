"""Features of binary items (task kind `binary`): f(prompt + text), one row per item, cached like pair features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transfer import paths
from transfer.data.items import ItemSet
from transfer.features.cache import FeatureCache
from transfer.features.extract import LazyBackend, feature_key
from transfer.features.text import render, uses_chat_template
from transfer.models import resolve_path

TEMPLATE = "{prompt}\n{reply}"  # without a `format.template`; an item without a prompt is its text alone


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
    with_prompt, alone = {"template": TEMPLATE, **fmt}, {**fmt, "template": "{reply}"}
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
