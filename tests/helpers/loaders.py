"""Data files in every format the loaders read, written from real HH records."""

from __future__ import annotations

import csv
import gzip
import json

import pandas as pd

from transfer import paths


def hh_records(n=60):
    with gzip.open(paths.shared_data_dir() / "hh-rlhf" / "harmless-base-test.jsonl.gz", "rt") as f:
        return [json.loads(next(f)) for _ in range(n)]


def mapped(records):
    """Real HH records, re-keyed as a user's preference file might be: question / good / bad / topic."""
    return [{"question": r["chosen"][:r["chosen"].rfind("\n\nAssistant:")], "good": r["chosen"].split("Assistant:")[-1],
             "bad": r["rejected"].split("Assistant:")[-1], "topic": "harmless"} for r in records]


def write(path, rows):
    fmt = path.name.split(".")[1]
    opener = gzip.open if path.suffix == ".gz" else open
    if fmt == "parquet":
        pd.DataFrame(rows).to_parquet(path.with_suffix(".parquet") if path.suffix == ".gz" else path)
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(path.with_suffix(".parquet").read_bytes()))
        return
    with opener(path, "wt", newline="") as f:
        if fmt == "jsonl":
            f.write("".join(json.dumps(r) + "\n" for r in rows))
        elif fmt == "json":
            json.dump({"data": rows}, f)
        else:
            w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t" if fmt == "tsv" else ",")
            w.writeheader()
            w.writerows(rows)
