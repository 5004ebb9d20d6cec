"""The pair prompt the strong causal LM reads in the prompt and lora modes (and for zero-shot log-probs):

    Question: <prompt>\nAnswer A: <reply shown first>\nAnswer B: <reply shown second>\nLabel:

scored by the log-probs of the label tokens " A" / " B". Zero-shot log-probs of a whole dataset, both orders, are
cached under a content hash like features, so every cell and seed of a study reuses them.
"""

from __future__ import annotations

import numpy as np

from transfer import paths
from transfer.backends import LazyBackend
from transfer.data.pairs import Pair, PairSet
from transfer.features.cache import EXTRACTOR_VERSION, FeatureCache, cache_key, texts_hash
from transfer.features.text import side_texts
from transfer.label_tokens import LABELS, two_order_logit
from transfer.models import resolve_path, weights_fingerprint

TEMPLATE = "Question: {prompt}\nAnswer A: {first}\nAnswer B: {second}\nLabel:"


def pair_prompt(prompt: str, first: str, second: str, fmt: dict) -> str:
    p, r1 = side_texts(prompt, first, fmt)
    r2 = side_texts(prompt, second, fmt)[1]
    return TEMPLATE.format(prompt=p, first=r1, second=r2)


def sides(pair: Pair, a_is_better: bool) -> tuple[str, str]:
    """(reply A, reply B) of a pair under the split's A/B assignment."""
    return (pair.better, pair.worse) if a_is_better else (pair.worse, pair.better)


def oriented_prompts(pairs: PairSet, index: np.ndarray, a_is_better: np.ndarray, fmt: dict,
                     order: int = 0) -> list[str]:
    """Prompts of the pairs at `index`: order 0 shows (A, B), order 1 the swap (B, A)."""
    out = []
    for i, a_better in zip(index, a_is_better):
        a, b = sides(pairs.pairs[i], bool(a_better))
        out.append(pair_prompt(pairs.pairs[i].prompt, *((a, b) if order == 0 else (b, a)), fmt))
    return out


def prob_a(order_ab: np.ndarray, order_ba: np.ndarray | None = None) -> np.ndarray:
    """P(A is better) from (n, 2) label log-probs of the (A, B) order and, if given, the swapped order; averaging
    the two orders' logits cancels the model's position bias and makes the prediction antisymmetric."""
    logit = order_ab[:, 0] - order_ab[:, 1] if order_ba is None else two_order_logit(np.stack([order_ab, order_ba], 1))
    return 1.0 / (1.0 + np.exp(-logit))


def zero_shot_logprobs(pairs: PairSet, model_cfg: dict, backend_cfg: dict, fmt: dict,
                       shard_size: int = 256, backend=None) -> np.ndarray:
    """(n_pairs, 2, 2): log P(label) with [order 0] the better reply shown first, [order 1] the worse shown first.
    `backend`: an open LazyBackend to share (the input stage's, which also extracts features); else one is loaded
    if a shard is missing and closed before returning."""
    texts = [pair_prompt(p.prompt, p.better, p.worse, fmt) for p in pairs.pairs] + \
            [pair_prompt(p.prompt, p.worse, p.better, fmt) for p in pairs.pairs]
    parts = {"kind": "label_logprobs", "labels": list(LABELS), "weights": weights_fingerprint(resolve_path(model_cfg)),
             "texts": texts_hash(texts), "backend": backend_cfg["name"], "extractor": EXTRACTOR_VERSION}
    cache = FeatureCache(paths.home() / "logprobs", cache_key(parts),
                         {**parts, "model": model_cfg["name"], "dataset": pairs.name}, len(texts), shard_size)
    own = backend is None
    backend = backend or LazyBackend(backend_cfg, model_cfg)  # loads the model only when some shard is missing
    try:
        rows = cache.fill(texts, lambda chunk: backend.label_logprobs(chunk, LABELS),
                          desc=f"{model_cfg['name']} zero-shot on {pairs.name}")
    finally:
        if own:
            backend.close()
    n = len(pairs)
    return np.stack([rows[:n], rows[n:]], axis=1).astype(np.float64)


def orient_zero_shot(zs: np.ndarray, index: np.ndarray, a_is_better: np.ndarray) -> np.ndarray:
    """(n, 2, 2) in the view's terms: [order (A, B), order (B, A)] × [" A", " B"]."""
    flip = ~a_is_better.astype(bool)
    ab = np.where(flip[:, None], zs[index, 1], zs[index, 0])  # (A, B) shows the worse first when A is the worse
    ba = np.where(flip[:, None], zs[index, 0], zs[index, 1])
    return np.stack([ab, ba], axis=1)
