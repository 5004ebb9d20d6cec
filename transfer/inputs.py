"""What a cell reads, built once per (setting, dataset) by the input stage (transfer/stage.py) and shared by its
cells: the data, both models' features and the strong LM's zero-shot log-probs, keyed by prompt format."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: this module is what a cell imports, the builder is transfer/stage.py
    from transfer.data.pairs import PairSet
    from transfer.features.extract import PairFeatures


@dataclass
class CellInputs:
    """Everything a cell reads, extracted once per study and shared by all cells (Ray's object store)."""
    pairs: PairSet
    ood: PairSet | None
    features: dict[str, PairFeatures]  # keys: "weak", "strong", "weak_ood", "strong_ood"
    # the strong LM's zero-shot label log-probs of every pair, (n, 2, 2), per prompt format (transfer/stage.py)
    zero_shot: dict[str, np.ndarray] = field(default_factory=dict)
    built_on: str = ""  # the Ray node that built them (a cell elsewhere got them through the object store)
    _columns: dict = field(default_factory=dict, repr=False, compare=False)

    def column(self, which: str, attr: str) -> np.ndarray:
        """One attribute of every example of `which` ("pairs" or "ood") as an array (e.g. example_id), made once
        per inputs object, not once per cell."""
        key = (which, attr)
        if key not in self._columns:
            col = np.array([getattr(p, attr) for p in getattr(self, which).pairs])
            col.flags.writeable = False  # shared by every cell that reads these inputs
            self._columns[key] = col
        return self._columns[key]


def zero_shot_key(fmt: dict) -> str:
    """The key of one prompt format's zero-shot log-probs in `CellInputs.zero_shot`."""
    return json.dumps(fmt, sort_keys=True, default=str)


def zero_shot_format(cell: dict) -> dict:
    """The prompt format a cell's method reads zero-shot log-probs in: its own `prompt_format`, else the data's."""
    return cell["method"].get("prompt_format") or cell["setting"]["data"]["format"]
