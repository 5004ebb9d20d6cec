"""Datasets: loaders (one yaml each in conf/data/), prompt-grouped splits, A/B assignment. Two task kinds:
`pairwise` (PairSet: a prompt and two replies, which is better) and `binary` (ItemSet: one text, a 0/1 label)."""

from __future__ import annotations

from transfer.data.items import Item, ItemSet
from transfer.data.pairs import Pair, PairSet
from transfer.data.splits import SplitData, make_splits
from transfer.errors import ConfigError, DataError
from transfer.plugins import resolve

__all__ = ["Item", "ItemSet", "Pair", "PairSet", "SplitData", "make_splits", "load_dataset_from_config",
           "dataset_kind", "KINDS"]

KINDS = ("pairwise", "binary")


def dataset_kind(cfg) -> str:
    """The task kind a data config declares (`kind:`; absent = pairwise)."""
    kind = cfg.get("kind") or "pairwise"
    if kind not in KINDS:
        raise ConfigError(f"data {cfg.get('name')!r}: kind={kind!r} is unknown; choose one of {list(KINDS)}")
    return kind


def load_dataset_from_config(cfg) -> PairSet | ItemSet:
    """The dataset a `conf/data/*.yaml` (or `conf/ood/*.yaml`) describes. `loader: <name>` is a built-in
    (transfer/data/loaders/<name>.py); `loader: module:function` is any importable function cfg -> PairSet | ItemSet."""
    cfg = dict(cfg)
    kind, fn = dataset_kind(cfg), resolve("loader", cfg["loader"])
    data = fn(cfg)
    if not isinstance(data, (PairSet, ItemSet)):
        raise ConfigError(f"data.loader={cfg['loader']!r} returned {type(data).__name__}, not a PairSet or ItemSet")
    if data.kind != kind:
        raise DataError(f"data {cfg['name']!r}: its loader gave {data.kind} examples but the config says "
                        f"kind={kind}; set data.kind={data.kind}")
    return data
