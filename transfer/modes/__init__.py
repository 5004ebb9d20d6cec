"""Training modes: what the strong student (and its ceiling) is. `head`: a linear head on frozen features;
`prompt`: zero/few-shot prompting scored by label-token log-probs; `lora`: LoRA fine-tuning of the causal LM.

A mode is harness code: it gets the cell's splits (gold included, for the ceiling) and hands the method only a
`StudentView`. It returns probabilities; `transfer.cell` checks and scores them. The head mode's ceiling does not
depend on the method, so a sweep computes it once per seed (transfer/seedwork.py) and passes it in `ceiling`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from transfer.data.pairs import PairSet
from transfer.data.splits import Split
from transfer.config import mode_name
from transfer.errors import ConfigError
from transfer.methods import Method, StudentView
from transfer.plugins import resolve


@dataclass
class ModeInputs:
    cell: dict
    pairs: PairSet
    ood_pairs: PairSet | None
    features: dict  # as in CellInputs
    train_unlabel: Split
    test: Split
    ood: Split | None
    method: Method
    view: StudentView
    ceiling: dict | None = None  # the seed's shared ceiling probabilities (transfer.seedwork; head mode), if given


@dataclass
class ModeOutput:
    """P(A is better) per role and split. w2s["train_unlabel"] covers train_unlabel positions `diag_index`."""
    ceiling: dict[str, np.ndarray]  # "test", "ood"
    w2s: dict[str, np.ndarray]  # "test", "train_unlabel", "ood"
    diag_index: np.ndarray
    diagnostics: dict[str, float] = field(default_factory=dict)  # mode-level, logged as mode_<key>


def run_mode(inputs: ModeInputs) -> ModeOutput:
    name = mode_name(inputs.cell)
    run = resolve("mode", name)  # an unknown mode is refused before the method is asked about it
    if name not in inputs.method.modes:
        raise ConfigError(f"method {inputs.cell['method']['name']!r} does not support training mode {name!r} "
                          f"(it supports {list(inputs.method.modes)})")
    return run(inputs)
