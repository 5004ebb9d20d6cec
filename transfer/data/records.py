"""Records from a local file (JSONL / JSON / CSV / TSV / Parquet, gzipped or not) or a `datasets` hub id, each with
a `where` ("file:line", "file: record i") that error messages name; field lookup by a config's mapping; subsets."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path

from transfer.errors import ConfigError, DataError

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")


def file_format(path: Path, given: str | None = None) -> str:
    if given:
        if given not in FORMATS:
            raise ConfigError(f"data.file_format={given!r} is unknown; choose one of {list(FORMATS)}")
        return given
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    fmt = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
           ".parquet": "parquet"}.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise ConfigError(f"{path}: cannot tell the format from the name; set data.file_format to one of "
                          f"{list(FORMATS)}")
    return fmt


def read_records(path: Path, fmt: str | None = None, records_key: str | None = None) -> list[tuple[str, object]]:
    """[(where, record)] of a local file; a missing or unreadable file is one DataError naming it."""
    if not path.exists():
        raise DataError(f"{path}: file not found (set data.path or $TRANSFER_DATA)")
    fmt = file_format(path, fmt)
    try:
        raw = gzip.open(path).read() if path.suffix.lower() == ".gz" else path.read_bytes()
        if fmt == "parquet":
            import pyarrow.parquet as pq
            rows = pq.read_table(io.BytesIO(raw)).to_pylist()
            return [(f"{path}: row {i}", r) for i, r in enumerate(rows)]
        text = raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    if fmt == "jsonl":
        return list(_jsonl(path, text))
    if fmt == "json":
        return _json(path, text, records_key)
    return list(_csv(path, text, "\t" if fmt == "tsv" else ","))


def _jsonl(path: Path, text: str) -> Iterator[tuple[str, object]]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield f"{path}:{lineno}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None


def _json(path: Path, text: str, key: str | None) -> list[tuple[str, object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if key:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, list):
        keys = sorted(data)[:8] if isinstance(data, dict) and not key else None
        raise DataError(f"{path}: expected a list of records" + (f" under key {key!r}" if key else "")
                        + (f"; set data.records to the key holding it (keys: {keys})" if keys else ""))
    return [(f"{path}: record {i}", r) for i, r in enumerate(data)]


def _csv(path: Path, text: str, delimiter: str) -> Iterator[tuple[str, object]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 2  # the header is line 1
    try:
        for row in reader:
            if None in row:
                raise DataError(f"{path}:{line}: {len(row[None]) + len(reader.fieldnames)} columns, the header has "
                                f"{len(reader.fieldnames)}: quote fields that contain the delimiter")
            yield f"{path}:{line}", row
            line = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def hub_records(cfg: dict) -> list[tuple[str, object]]:
    """Rows of `hub_id` (a hub dataset, or a local folder `datasets` can read) via the optional `datasets` package."""
    try:
        import datasets  # optional: only machines that reach a hub (or keep `datasets` folders) need it
    except ImportError:
        raise DataError(f"data {cfg.get('name')!r}: hub_id={cfg['hub_id']!r} needs the `datasets` package "
                        "(pip install datasets), or set data.path to a local file") from None
    ds = datasets.load_dataset(cfg["hub_id"], name=cfg.get("hub_config"), data_dir=cfg.get("hub_data_dir"),
                               split=cfg.get("hub_split") or "train")
    return [(f"{cfg['hub_id']}: row {i}", dict(row)) for i, row in enumerate(ds)]


def source_records(cfg: dict) -> list[tuple[str, object]]:
    """`data.path` (a local file) wins; else `data.hub_id`."""
    if cfg.get("path"):
        return read_records(Path(cfg["path"]).expanduser(), cfg.get("file_format"), cfg.get("records"))
    if cfg.get("hub_id"):
        return hub_records(cfg)
    raise ConfigError(f"data {cfg.get('name')!r}: set data.path (a local file) or data.hub_id")


def field(record: object, spec: str, where: str, role: str, required: bool = True):
    """The value of column `spec` (dots reach into nested objects); a missing one names the column to fix."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object with column {spec!r}, got {type(record).__name__}")
    value = record
    for part in spec.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if required and (value is None or (isinstance(value, str) and not value.strip())):
        present = sorted(record)[:12]
        raise DataError(f"{where}: column {spec!r} ({role}) is missing or empty; columns here: {present} "
                        f"(map it with data.fields.{role})")
    return value


def label(value: object, where: str, spec: str, positive: object = None) -> bool:
    """A gold 0/1 label: bool, 0/1, "0"/"1", "true"/"false", or equality with `data.positive`."""
    if positive is not None:
        return str(value).strip() == str(positive)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "1.0", "true", "yes"):
        return True
    if text in ("0", "0.0", "false", "no"):
        return False
    raise DataError(f"{where}: column {spec!r} (label) is {value!r}; use 0/1 or true/false, or set data.positive "
                    f"to the value that means 1")


def balance_answers(examples: list, answer_of: dict[str, str], seed: int) -> list:
    """Whole groups (inputs) kept so that every correct answer is equally common: a model that always gives one
    answer then scores 50%, and a weak teacher must read the input to beat it. `answer_of` maps a group to its
    correct answer; the groups of the rarer answers are all kept, the others a fixed random subset."""
    by_answer: dict[str, list[str]] = {}
    for group, answer in sorted(answer_of.items()):
        by_answer.setdefault(answer, []).append(group)
    smallest = min(len(gs) for gs in by_answer.values())
    rng = random.Random(seed)
    keep = {g for gs in by_answer.values() for g in rng.sample(gs, smallest)}
    return [e for e in examples if e.group in keep]


def subsample(examples: list, max_n: int | None, seed: int, by_group: bool = False) -> list:
    """A fixed random subset (same for every study seed, so feature caches are shared across seeds). by_group: whole
    groups are kept or dropped (a BIG-bench input's options stay together), up to `max_n` examples."""
    if not max_n or max_n >= len(examples):
        return examples
    rng = random.Random(seed)
    if not by_group:
        keep = sorted(rng.sample(range(len(examples)), int(max_n)))
        return [examples[i] for i in keep]
    groups = sorted({e.group for e in examples})
    rng.shuffle(groups)
    take, n = set(), 0
    sizes = {}
    for e in examples:
        sizes[e.group] = sizes.get(e.group, 0) + 1
    for g in groups:
        if n + sizes[g] > max_n and take:
            break
        take.add(g)
        n += sizes[g]
    return [e for e in examples if e.group in take]
