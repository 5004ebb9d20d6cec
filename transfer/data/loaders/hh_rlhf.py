"""Anthropic HH-RLHF: local `.jsonl(.gz)` by path, or the public dataset through `datasets` when a hub is reachable."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

from transfer.data.pairs import Pair, PairSet, group_key
from transfer.data.records import subsample
from transfer.errors import DataError, DataWarning

HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"


def split_transcript(text: str, where: str) -> tuple[str, str, str]:
    """(history before the last assistant turn, last human turn, last assistant reply) of an HH transcript."""
    cut = text.rfind(ASSISTANT)
    if cut < 0:
        raise DataError(f"{where}: no '\\n\\nAssistant:' turn in the transcript")
    history, reply = text[:cut], text[cut + len(ASSISTANT):].strip()
    human_at = history.rfind(HUMAN)
    if human_at < 0:
        raise DataError(f"{where}: no '\\n\\nHuman:' turn before the last assistant turn")
    return history, history[human_at + len(HUMAN):].strip(), reply


class PromptMismatch(DataError):
    """The two transcripts of a pair differ before their last assistant turn (a few real HH pairs do)."""


def parse_record(record: object, where: str, subset: str, example_id: str) -> Pair:
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object with 'chosen' and 'rejected', got {type(record).__name__}")
    for field in ("chosen", "rejected"):
        if not isinstance(record.get(field), str) or not record[field].strip():
            raise DataError(f"{where}: missing or empty field {field!r}")
    hist_c, human_c, chosen = split_transcript(record["chosen"], f"{where} (chosen)")
    hist_r, _, rejected = split_transcript(record["rejected"], f"{where} (rejected)")
    if " ".join(hist_c.split()) != " ".join(hist_r.split()):
        raise PromptMismatch(f"{where}: 'chosen' and 'rejected' do not share the same prompt history")
    return Pair(example_id=example_id, prompt=human_c, group=group_key(hist_c),
                better=chosen, worse=rejected, subset=subset)


def read_jsonl(path: Path) -> list[tuple[int, object]]:
    if not path.exists():
        raise DataError(f"{path}: file not found (set data.path or $TRANSFER_DATA)")
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append((lineno, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    return rows


def load(cfg) -> PairSet:
    """`cfg.path` (local file) wins; else `cfg.hub_id` via the `datasets` library (needs a hub)."""
    subset = cfg.get("subset", "harmless-base")
    if cfg.get("path"):
        path = Path(cfg["path"]).expanduser()
        records = read_jsonl(path)
        name = path.name
    else:
        records, name = _load_from_hub(cfg["hub_id"], subset, cfg.get("hub_split", "test")), cfg["hub_id"]
    pairs, skipped = [], []
    for lineno, record in records:
        where = f"{name}:{lineno}"
        try:
            pair = parse_record(record, where, subset, example_id=f"{cfg['name']}:{lineno}")
        except PromptMismatch:
            if cfg.get("strict"):
                raise
            skipped.append(lineno)  # not a preference between two replies to one prompt: drop, and say so
            continue
        if pair.better.strip() == pair.worse.strip():
            skipped.append(lineno)  # identical replies carry no preference signal
            continue
        pairs.append(pair)
    if skipped:
        warnings.warn(f"{name}: skipped {len(skipped)} pairs whose replies do not answer one shared prompt or are "
                      f"identical (lines {skipped[:10]}{' ...' if len(skipped) > 10 else ''}); data.strict=true "
                      "makes this an error", DataWarning, stacklevel=2)
    if not pairs:
        raise DataError(f"{name}: no usable preference pairs")
    pairs = subsample(pairs, cfg.get("max_pairs"), cfg.get("subsample_seed", 0))  # a fixed subset, every seed
    return PairSet(name=cfg["name"], pairs=tuple(pairs))


def _load_from_hub(hub_id: str, data_dir: str, split: str) -> list[tuple[int, object]]:
    try:
        import datasets  # optional: only users with a hub need it
    except ImportError:
        raise DataError("data.path is empty and the `datasets` package is not installed: "
                        "set data.path to a local HH-RLHF .jsonl.gz") from None
    ds = datasets.load_dataset(hub_id, data_dir=data_dir, split=split)
    return [(i + 1, dict(row)) for i, row in enumerate(ds)]
