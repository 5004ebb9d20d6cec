"""BIG-bench `hhh_alignment`: 221 prompts with two replies each; an out-of-distribution preference test set.
The `bigbench` loader with two options per item, no task prefix, the four subtask folders as subsets."""

from __future__ import annotations

from transfer.data.loaders import bigbench
from transfer.data.pairs import PairSet


def load(cfg) -> PairSet:
    return bigbench.load({**cfg, "kind": "pairwise", "task_prefix": False, "options": 2,
                          "subsets": list(cfg["subsets"])})
