"""The content hash a model's features (or log-probs) of some texts are cached under: everything that changes them."""

from __future__ import annotations

from transfer.features.cache import EXTRACTOR_VERSION, cache_key, texts_hash
from transfer.features.text import uses_chat_template
from transfer.models import resolve_path, weights_fingerprint
from transfer.precision import compute_dtype


def feature_key(model_cfg: dict, backend_cfg: dict, texts: list[str], layout: str | None = None,
                fmt: dict | None = None) -> tuple[str, dict]:
    parts = {
        "weights": weights_fingerprint(resolve_path(model_cfg)),
        "texts": texts_hash(texts),
        "layer": model_cfg.get("layer"),
        "pooling": model_cfg.get("pooling"),
        "max_tokens": model_cfg.get("max_tokens"),
        "chat_template": uses_chat_template(model_cfg, fmt or {}),  # as the texts were rendered
        "backend": backend_cfg["name"],
        "extractor": EXTRACTOR_VERSION,
    }
    if layout:  # pair rows by their texts' hashes, not better-then-worse: a deliberate new key (cache_texts)
        parts["layout"] = layout
    dtype = compute_dtype(backend_cfg)  # as resolved here: `auto` is bfloat16 or float32 by the hardware
    if dtype != "float32" or backend_cfg["name"] != "hf":
        parts["dtype"] = dtype  # hf keys predate dtype and were all float32: absent = float32 keeps those caches
    return cache_key(parts), parts
