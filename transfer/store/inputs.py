"""What a cell's run says it was given: its resolved config as params, and its datasets as MLflow dataset inputs
(the run's "Dataset" column and Inputs section in the MLflow UI).

What is logged is which examples a cell used, never what they say: a small frame of example ids (with split and
subset) per context, named after the dataset, whose source is the data file and whose digest covers the file's
bytes and those ids. No text and no gold label of any split goes in (test's labels are what a cell is scored on).
"""

from __future__ import annotations

import hashlib
import warnings
from functools import lru_cache
from pathlib import Path

import pandas as pd
from mlflow.data import from_pandas
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.types import ColSpec, Schema

# predictions.parquet split -> (dataset config key, MLflow context)
CONTEXTS = {"train_unlabel": ("data", "train"), "test": ("data", "eval"), "ood": ("ood", "eval")}
COLUMNS = ["example_id", "split", "subset"]
CONTEXT_TAG = "mlflow.data.context"  # the input tag MLflow's UI shows as the dataset's context (train, eval)
# what MLflow would infer from these all-string columns, given instead: its inference walks every value (35,000
# calls a cell, half of logging one) to find what is known
SCHEMA = Schema([ColSpec("string", c) for c in COLUMNS])


def file_sha256(path: str) -> str:
    """sha256 of a data file, or of a folder's files (relative names and bytes, sorted)."""
    p = Path(path)
    st = p.stat()
    return _sha256(str(p.resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=32)  # one hash per file per driver, not one per cell; mtime and size invalidate it
def _sha256(path: str, _mtime_ns: int, _size: int) -> str:
    p, h = Path(path), hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]:
        h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def dataset_inputs(cell: dict, predictions: pd.DataFrame) -> list[DatasetInput]:
    """One input per (dataset, context) the cell's predictions cover: train (the unlabelled pairs the method
    relabelled) and eval (test, and the OOD set when there is one)."""
    out = []
    split_of, example_ids = predictions["split"].to_numpy(), predictions["example_id"].to_numpy()
    for split, (key, context) in CONTEXTS.items():
        conf = cell["setting"].get(key) or {}
        rows = split_of == split
        if not conf or not rows.any():
            continue
        ids = pd.unique(example_ids[rows]).astype(str)  # first-seen order
        path = conf.get("path")
        data_sha = file_sha256(path) if path and Path(path).exists() else ""
        digest = hashlib.sha256((data_sha + "\n" + "\n".join(ids)).encode()).hexdigest()[:16]
        source = str(Path(path).resolve()) if path else conf.get("hub_id")
        key = (conf["name"], source, split, context, data_sha, digest)
        if key not in _ENTITIES:  # a seed's cells share their splits: one entity per (dataset, split, examples)
            _ENTITIES[key] = _dataset_input(predictions.loc[rows, COLUMNS].drop_duplicates("example_id"), *key)
            while len(_ENTITIES) > 64:
                _ENTITIES.pop(next(iter(_ENTITIES)))
        out.append(_ENTITIES[key])
    return out


_ENTITIES: dict[tuple, DatasetInput] = {}


def _dataset_input(ids: pd.DataFrame, name: str, source: str | None, split: str, context: str, data_sha: str,
                   digest: str) -> DatasetInput:
    ids = ids.reset_index(drop=True).astype(str)
    with warnings.catch_warnings():  # MLflow registers its local-file source twice and warns that it did
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted in multiple ways")
        ds = from_pandas(ids, source=source, name=name, digest=digest)
    ds.schema = SCHEMA  # a cached_property: set, it is not inferred
    tags = [InputTag(CONTEXT_TAG, context), InputTag("split", split)]
    tags += [InputTag("data_sha256", data_sha)] if data_sha else []
    return DatasetInput(dataset=Dataset(**ds.to_dict()), tags=tags)  # the entity MLflow's log_input makes


def cell_params(cell: dict) -> dict[str, object]:
    """A cell's resolved config as params, what varies across a study first (the UI lists them in this order):
    method, seed, setting, mode, dataset, the models, the method's hyper-parameters, then the head, the derived seeds
    and the data size."""
    s = cell["setting"]
    method = flatten({"method": cell["method"]})
    return {"method.name": method.pop("method.name"), "seed": cell["seed"], "setting": s["name"],
            "mode": (cell.get("mode") or {}).get("name", "head"), "dataset": s["data"]["name"],
            # the models as params (tags too, jobs.driver.cell_tags): the UI plots and compares params, not tags
            "weak_model": s["weak"]["name"], "strong_model": s["strong"]["name"], **method,
            **flatten({"head": cell["head"], "roles": cell.get("roles") or {}, "seeds": cell["seeds"]}), "data.max_pairs": s["data"].get("max_pairs")}


def flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out
