"""Preference-pair data: loaders, prompt-grouped splits, A/B assignment."""

from transfer.data.pairs import Pair, PairSet
from transfer.data.splits import SplitData, make_splits

__all__ = ["Pair", "PairSet", "SplitData", "make_splits", "load_dataset_from_config"]


def load_dataset_from_config(cfg) -> "PairSet":
    """Build the PairSet a `conf/data/*.yaml` (or `conf/ood/*.yaml`) describes."""
    from transfer.data import bigbench_hhh, hh_rlhf
    from transfer.errors import ConfigError

    loaders = {"hh_rlhf": hh_rlhf.load, "bigbench_hhh": bigbench_hhh.load}
    if cfg["loader"] not in loaders:
        raise ConfigError(f"data.loader={cfg['loader']!r} is unknown; choose one of {sorted(loaders)}")
    return loaders[cfg["loader"]](cfg)
