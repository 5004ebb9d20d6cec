"""`loader: items`: binary items (task kind `binary`) from a local JSONL / JSON / CSV / TSV / Parquet file (gzipped
or not) or a `datasets` hub id, by a field mapping (`fields.text`, `label`, optional `prompt`, `group`, `subset`).
Labels are 0/1 or true/false, or `positive: <value>` says which value means 1."""

from __future__ import annotations

from transfer.data.items import Item, ItemSet
from transfer.data.pairs import group_key
from transfer.data.records import field, label, source_records, subsample
from transfer.errors import DataError

FIELDS = {"text": "text", "label": "label", "prompt": None, "group": None, "subset": None}


def load(cfg) -> ItemSet:
    f = {**FIELDS, **(cfg.get("fields") or {})}
    items = []
    for i, (where, rec) in enumerate(source_records(cfg)):
        text = str(field(rec, f["text"], where, "text")).strip()
        gold = label(field(rec, f["label"], where, "label"), where, f["label"], cfg.get("positive"))
        prompt = str(field(rec, f["prompt"], where, "prompt", required=False) or "").strip() if f["prompt"] else ""
        group = field(rec, f["group"], where, "group") if f["group"] else None
        subset = str(field(rec, f["subset"], where, "subset")) if f["subset"] else cfg.get("subset") or cfg["name"]
        items.append(Item(example_id=f"{cfg['name']}:{i}", prompt=prompt, text=text, label=gold, subset=subset,
                          group=group_key(str(group) if group is not None else f"{prompt}\x00{text}")))
    if not items:
        raise DataError(f"data {cfg['name']!r}: no items in {cfg.get('path') or cfg.get('hub_id')}")
    if len({i.label for i in items}) < 2:
        raise DataError(f"data {cfg['name']!r}: every label is {items[0].label}; a binary task needs both classes "
                        f"(check data.fields.label / data.positive)")
    return ItemSet(name=cfg["name"], items=tuple(subsample(items, cfg.get("max_pairs"), cfg.get("subsample_seed", 0),
                                                           by_group=True)))
