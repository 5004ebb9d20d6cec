"""`loader: pairs`: preference pairs from a local JSONL / JSON / CSV / TSV / Parquet file (gzipped or not) or a
`datasets` hub id, by a field mapping (`fields.prompt`, `chosen`, `rejected`, optional `group`, `subset`)."""

from __future__ import annotations

import warnings

from transfer.data.pairs import Pair, PairSet, group_key
from transfer.data.records import field, source_records, subsample
from transfer.errors import DataError, DataWarning

FIELDS = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected", "group": None, "subset": None}


def load(cfg) -> PairSet:
    f = {**FIELDS, **(cfg.get("fields") or {})}
    pairs, same = [], []
    for i, (where, rec) in enumerate(source_records(cfg)):
        chosen = str(field(rec, f["chosen"], where, "chosen")).strip()
        rejected = str(field(rec, f["rejected"], where, "rejected")).strip()
        prompt = str(field(rec, f["prompt"], where, "prompt", required=False) or "").strip() if f["prompt"] else ""
        if chosen == rejected:
            same.append(where)  # identical replies carry no preference
            continue
        group = field(rec, f["group"], where, "group") if f["group"] else None
        # without a prompt, every pair is its own group (one shared empty prompt would put all in one split)
        key = group_key(str(group) if group is not None else prompt or f"{chosen}\x00{rejected}")
        subset = str(field(rec, f["subset"], where, "subset")) if f["subset"] else cfg.get("subset") or cfg["name"]
        pairs.append(Pair(example_id=f"{cfg['name']}:{i}", prompt=prompt, group=key, better=chosen, worse=rejected,
                          subset=subset))
    if same:
        warnings.warn(f"data {cfg['name']!r}: skipped {len(same)} pairs with identical replies ({same[:3]})",
                      DataWarning, stacklevel=2)
    if not pairs:
        raise DataError(f"data {cfg['name']!r}: no usable preference pairs in {cfg.get('path') or cfg.get('hub_id')}")
    return PairSet(name=cfg["name"], pairs=tuple(subsample(pairs, cfg.get("max_pairs"), cfg.get("subsample_seed", 0))))
