"""Datasets: loaders (one yaml each in conf/data/), prompt-grouped splits, A/B assignment. Two task kinds:
`pairwise` (PairSet: a prompt and two replies, which is better) and `binary` (ItemSet: one text, a 0/1 label)."""

from __future__ import annotations

import importlib
from pathlib import Path

from transfer.data.items import Item, ItemSet
from transfer.data.pairs import Pair, PairSet
from transfer.data.splits import SplitData, make_splits
from transfer.errors import ConfigError, DataError

__all__ = ["Item", "ItemSet", "Pair", "PairSet", "SplitData", "make_splits", "load_dataset_from_config",
           "dataset_kind", "KINDS"]

KINDS = ("pairwise", "binary")
BUILTIN = "transfer.data.loaders"


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
    kind, fn = dataset_kind(cfg), resolve_loader(cfg["loader"])
    data = fn(cfg)
    if not isinstance(data, (PairSet, ItemSet)):
        raise ConfigError(f"data.loader={cfg['loader']!r} returned {type(data).__name__}, not a PairSet or ItemSet")
    if data.kind != kind:
        raise DataError(f"data {cfg['name']!r}: its loader gave {data.kind} examples but the config says "
                        f"kind={kind}; set data.kind={data.kind}")
    return data


def resolve_loader(spec: str):
    module, _, fn = spec.partition(":") if ":" in spec else (f"{BUILTIN}.{spec}", ":", "load")
    try:
        loader = getattr(importlib.import_module(module), fn, None)
    except ModuleNotFoundError as exc:
        if ":" not in spec and exc.name == module:
            raise ConfigError(f"data.loader={spec!r} is unknown; use a built-in {builtin_loaders()} or "
                              f"'module:function'") from None
        raise ConfigError(f"data.loader={spec!r}: cannot import {module!r} ({exc})") from None
    if not callable(loader):
        raise ConfigError(f"data.loader={spec!r}: {module!r} has no function {fn!r}")
    return loader


def builtin_loaders() -> list[str]:
    return sorted(p.stem for p in (Path(__file__).parent / "loaders").glob("*.py") if p.stem != "__init__")
