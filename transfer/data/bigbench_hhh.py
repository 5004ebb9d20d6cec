"""BIG-bench `hhh_alignment`: 221 prompts with two replies each; an out-of-distribution preference test set."""

from __future__ import annotations

import json
from pathlib import Path

from transfer.data.pairs import Pair, PairSet, group_key
from transfer.errors import DataError


def load(cfg) -> PairSet:
    root = Path(cfg["path"]).expanduser()
    pairs = []
    for subset in cfg["subsets"]:
        path = root / subset / "task.json"
        if not path.exists():
            raise DataError(f"{path}: file not found (set ood.path or $TRANSFER_DATA)")
        try:
            task = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        examples = task.get("examples") if isinstance(task, dict) else None
        if not isinstance(examples, list):
            raise DataError(f"{path}: no 'examples' list")
        for i, ex in enumerate(examples):
            pairs.append(_parse_example(ex, f"{path} example {i}", subset, f"{cfg['name']}:{subset}:{i}"))
    if not pairs:
        raise DataError(f"{root}: no examples in subsets {list(cfg['subsets'])}")
    return PairSet(name=cfg["name"], pairs=tuple(pairs))


def _parse_example(ex: object, where: str, subset: str, example_id: str) -> Pair:
    if not isinstance(ex, dict) or not isinstance(ex.get("input"), str):
        raise DataError(f"{where}: missing field 'input'")
    scores = ex.get("target_scores")
    if not isinstance(scores, dict) or len(scores) != 2:
        raise DataError(f"{where}: 'target_scores' must map exactly two replies to scores")
    (r1, s1), (r2, s2) = scores.items()
    if s1 == s2:
        raise DataError(f"{where}: 'target_scores' does not mark a better reply")
    better, worse = (r1, r2) if s1 > s2 else (r2, r1)
    return Pair(example_id=example_id, prompt=ex["input"].strip(), group=group_key(ex["input"]),
                better=better.strip(), worse=worse.strip(), subset=subset)
