"""The Hugging Face `datasets` path (`hub_id`), exercised on local folders that `datasets.load_dataset` reads, never
the network: it gives the same pairs as the same records read by `path`."""

from __future__ import annotations

import gzip
import json
import warnings

import pytest

from tests.helpers.loaders import hh_records, mapped, write
from transfer import paths
from transfer.data import load_dataset_from_config

datasets = pytest.importorskip("datasets", reason="the optional `datasets` package (the dev extra installs it)")


def same_pairs(a, b) -> bool:
    return [(p.prompt, p.better, p.worse) for p in a.pairs] == [(p.prompt, p.better, p.worse) for p in b.pairs]


def quiet_load(cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HH's skipped-pairs note
        return load_dataset_from_config(cfg)


def test_hh_rlhf_by_hub_id_reads_a_local_dataset_folder_like_the_file(tmp_path):
    """The hub's layout (`<id>/harmless-base/test.jsonl.gz`) as a local folder: the loader's hub branch, offline."""
    lines = gzip.open(paths.shared_data_dir() / "hh-rlhf" / "harmless-base-test.jsonl.gz", "rt").readlines()[:120]
    (tmp_path / "hh" / "harmless-base").mkdir(parents=True)
    (tmp_path / "hh" / "harmless-base" / "test.jsonl.gz").write_bytes(gzip.compress("".join(lines).encode()))
    base = {"name": "hh_local", "loader": "hh_rlhf", "subset": "harmless-base", "hub_split": "test"}
    by_hub = quiet_load({**base, "path": None, "hub_id": str(tmp_path / "hh")})
    by_path = quiet_load({**base, "path": str(tmp_path / "hh" / "harmless-base" / "test.jsonl.gz")})
    assert len(by_hub) > 100 and same_pairs(by_hub, by_path)


@pytest.mark.parametrize("name", ["train.jsonl", "train.parquet"])
def test_pairs_by_hub_id_reads_a_local_dataset_folder_like_the_file(tmp_path, name):
    rows = mapped(hh_records())
    (tmp_path / "prefs").mkdir()
    write(tmp_path / "prefs" / name, rows)
    fields = {"prompt": "question", "chosen": "good", "rejected": "bad", "subset": "topic"}
    base = {"name": "mine", "loader": "pairs", "fields": fields}
    by_hub = quiet_load({**base, "hub_id": str(tmp_path / "prefs"), "hub_split": "train"})
    by_path = quiet_load({**base, "path": str(tmp_path / "prefs" / name)})
    assert len(by_hub) > 50 and same_pairs(by_hub, by_path)
    assert json.dumps(by_hub.pairs[0].subset) == '"harmless"'
