"""Every shipped loader on the shipped files, every file format on real records, and bad data as one line."""

from __future__ import annotations

import csv
import json
import shutil
import tarfile
import warnings
from collections import Counter

import pytest

from tests.helpers.loaders import hh_records, mapped, write
from transfer import paths
from transfer.data import ItemSet, PairSet, load_dataset_from_config, make_splits
from transfer.errors import ConfigError, DataError

BB = paths.shared_data_dir() / "bigbench"
TASKS = sorted(d.name for d in BB.iterdir() if (d / "task.json").exists())
FRACTIONS = {"train_label": 0.25, "train_unlabel": 0.5, "test": 0.25}


def bb(task, **kw):
    return {"name": task, "loader": "bigbench", "path": str(BB / task), "task_prefix": True, **kw}


def test_the_shipped_folder_has_the_tasks_its_readme_lists():
    assert len(TASKS) == 13 and "hyperbaton" in TASKS and "hhh_alignment" not in TASKS


@pytest.mark.parametrize("task", TASKS)
def test_bigbench_loads_every_shipped_task_as_pairs_and_as_binary_items(task):
    raw = json.loads((BB / task / "task.json").read_text())["examples"]
    pairs = load_dataset_from_config(bb(task))
    items = load_dataset_from_config(bb(task, kind="binary"))
    assert isinstance(pairs, PairSet) and isinstance(items, ItemSet)
    assert len(pairs) == len(raw) and len(items) == 2 * len(raw)  # two options per item in every shipped task
    first, best = raw[0], max(raw[0]["target_scores"], key=raw[0]["target_scores"].get)
    assert pairs.pairs[0].better == best.strip() and pairs.pairs[0].prompt.endswith(first["input"].strip())
    assert sum(i.label for i in items.items) == len(raw)  # exactly one correct option per input
    # an input's two items share a group: a split never separates them
    small = load_dataset_from_config(bb(task, kind="binary", max_pairs=400))
    sd = make_splits(small, FRACTIONS, 0)
    groups = {n: {small.items[i].group for i in s.index} for n, s in sd.splits.items()}
    assert not groups["train_label"] & groups["test"] and not groups["train_unlabel"] & groups["test"]


def test_binary_gold_is_the_items_label_and_subsample_keeps_whole_inputs():
    items = load_dataset_from_config(bb("navigate", kind="binary", max_pairs=301))
    assert len(items) == 300 and len({i.group for i in items.items}) == 150
    sd = make_splits(items, FRACTIONS, 3)
    for s in sd.splits.values():
        assert list(s.a_is_better) == [items.items[i].label for i in s.index]


def test_balance_answers_makes_every_correct_option_equally_common_keeping_whole_inputs():
    raw = json.loads((BB / "epistemic_reasoning" / "task.json").read_text())["examples"]
    common = Counter(max(e["target_scores"], key=e["target_scores"].get) for e in raw).most_common()
    assert common[0][1] > common[1][1]  # the shipped task is skewed (non-entailment is the common answer)
    pairs = load_dataset_from_config(bb("epistemic_reasoning", balance_answers=True))
    counts = Counter(p.better for p in pairs.pairs)
    assert sorted(counts.values()) == [common[1][1]] * 2 and len(pairs) == 2 * common[1][1]
    items = load_dataset_from_config(bb("epistemic_reasoning", kind="binary", balance_answers=True))
    assert len(items) == 2 * len(pairs) and Counter(i.text for i in items.items if i.label) == counts
    again = load_dataset_from_config(bb("epistemic_reasoning", balance_answers=True, subsample_seed=1))
    assert {p.example_id for p in again.pairs} != {p.example_id for p in pairs.pairs}  # a seeded subset
    with pytest.raises(ConfigError, match=r"balance_answers needs a task with a fixed set of options; .*"
                                          r"set data.balance_answers=false"):
        load_dataset_from_config({"name": "hhh", "loader": "bigbench", "path": str(BB / "hhh_alignment"),
                                  "balance_answers": True})  # its options are replies, different per input


def test_task_prefix_is_the_tasks_own_instruction():
    prefix = json.loads((BB / "navigate" / "task.json").read_text())["task_prefix"].strip()
    assert load_dataset_from_config(bb("navigate")).pairs[0].prompt.startswith(prefix)
    assert not load_dataset_from_config(bb("navigate", task_prefix=False)).pairs[0].prompt.startswith(prefix)


def test_bigbench_reads_the_pypi_sdist_layout_unpacked_and_as_an_archive(tmp_path):
    root = tmp_path / "bigbench-1.0.0" / "bigbench" / "benchmark_tasks"
    for task in ("navigate", "hhh_alignment"):
        shutil.copytree(BB / task, root / task)
    archive = tmp_path / "bigbench-1.0.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "bigbench-1.0.0", arcname="bigbench-1.0.0")
    want = load_dataset_from_config(bb("navigate")).pairs
    for path in (tmp_path, tmp_path / "bigbench-1.0.0", root, archive):
        cfg = {**bb("navigate"), "path": str(path), "task": "navigate"}
        assert load_dataset_from_config(cfg).pairs == want, path
    hhh = {"name": "hhh_alignment", "loader": "bigbench_hhh", "path": str(BB / "hhh_alignment"),
           "subsets": ["harmless", "helpful", "honest", "other"]}
    want = load_dataset_from_config(hhh).pairs
    for path in (tmp_path, archive):
        cfg = {**hhh, "loader": "bigbench", "path": str(path), "task": "hhh_alignment", "task_prefix": False}
        assert load_dataset_from_config(cfg).pairs == want
    assert len(load_dataset_from_config({**hhh, "loader": "bigbench", "subsets": None})) == 221  # all subtasks


@pytest.mark.parametrize("name", ["p.jsonl", "p.jsonl.gz", "p.json", "p.json.gz", "p.csv", "p.csv.gz", "p.tsv",
                                  "p.parquet", "p.parquet.gz"])
def test_pairs_loader_reads_every_format_by_field_mapping(tmp_path, name):
    rows = mapped(hh_records())
    write(tmp_path / name, rows)
    cfg = {"name": "mine", "loader": "pairs", "path": str(tmp_path / name), "records": "data",
           "fields": {"prompt": "question", "chosen": "good", "rejected": "bad", "subset": "topic"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = load_dataset_from_config(cfg)
    same = sum(r["good"].strip() == r["bad"].strip() for r in rows)
    assert len(pairs) == len(rows) - same > 50
    assert pairs.pairs[0].better == rows[0]["good"].strip() and pairs.pairs[0].subset == "harmless"
    assert pairs.pairs[0].prompt == rows[0]["question"].strip()


def test_items_loader_reads_binary_text_classification(tmp_path):
    raw = json.loads((BB / "sports_understanding" / "task.json").read_text())["examples"][:80]
    rows = [{"sentence": e["input"], "verdict": max(e["target_scores"], key=e["target_scores"].get)} for e in raw]
    write(tmp_path / "s.csv", rows)
    cfg = {"name": "sports", "loader": "items", "path": str(tmp_path / "s.csv"), "kind": "binary",
           "fields": {"text": "sentence", "label": "verdict"}, "positive": "plausible"}
    items = load_dataset_from_config(cfg)
    assert len(items) == 80 and [i.label for i in items.items] == [r["verdict"] == "plausible" for r in rows]


def test_a_loader_named_module_function_needs_no_registry(tmp_path, monkeypatch):
    (tmp_path / "my_loader.py").write_text(
        "from transfer.data.loaders import bigbench\n"
        "def load(cfg):\n    return bigbench.load({**cfg, 'path': cfg['folder'], 'kind': 'pairwise'})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = load_dataset_from_config({"name": "x", "loader": "my_loader:load", "folder": str(BB / "implicatures")})
    assert len(data) == 492
    with pytest.raises(ConfigError, match=r"^data.loader='nope' is unknown; use a built-in \[.*'bigbench'.*'pairs'"):
        load_dataset_from_config({"name": "x", "loader": "nope"})
    with pytest.raises(DataError, match="its loader gave pairwise examples but the config says kind=binary"):
        load_dataset_from_config({"name": "x", "loader": "my_loader:load", "folder": str(BB / "implicatures"),
                                  "kind": "binary"})


def test_hub_path_is_optional_with_a_one_line_error(tmp_path):
    folder = tmp_path / "hub"
    folder.mkdir()
    write(folder / "train.jsonl", mapped(hh_records(20)))
    cfg = {"name": "hub", "loader": "pairs", "hub_id": str(folder), "hub_split": "train",
           "fields": {"prompt": "question", "chosen": "good", "rejected": "bad"}}
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(DataError) as err:
            load_dataset_from_config(cfg)
        assert "needs the `datasets` package" in str(err.value) and "\n" not in str(err.value)
        return
    assert len(load_dataset_from_config(cfg)) == 20  # a local `datasets` folder, never the network


@pytest.mark.parametrize("name, content, cfg, match", [
    ("a.jsonl", '{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": ]\n', {},
     r"a.jsonl:2: not valid JSON \(.*column 27\)"),
    ("a.csv", "prompt,chosen,rejected\nq,a,b\nq,,b\n", {}, r"a.csv:3: column 'chosen' \(chosen\) is missing or empty"),
    ("a.csv", "prompt,answer,rejected\nq,a,b\n", {},
     r"a.csv:2: column 'chosen' .*columns here: \['answer', 'prompt', 'rejected'\] \(map it with data.fields.chosen\)"),
    ("a.csv", "prompt,chosen,rejected\nq,a,b,c\n", {}, r"a.csv:2: 4 columns, the header has 3"),
    ("a.json", '{"rows": []}', {}, r"a.json: expected a list of records; set data.records to the key"),
    ("a.txt", "x", {}, r"a.txt: cannot tell the format .* set data.file_format"),
    ("b.csv", "text,label\nx,1\ny,maybe\n", {"loader": "items", "kind": "binary"},
     r"b.csv:3: column 'label' \(label\) is 'maybe'; use 0/1 or true/false, or set data.positive"),
    ("b.csv", "text,label\nx,1\ny,1\n", {"loader": "items", "kind": "binary"}, r"every label is True"),
])
def test_bad_data_is_one_line_naming_file_line_column_and_fix(tmp_path, name, content, cfg, match):
    (tmp_path / name).write_text(content)
    with pytest.raises((DataError, ConfigError), match=match) as err:
        load_dataset_from_config({"name": "bad", "loader": "pairs", "path": str(tmp_path / name), **cfg})
    assert "\n" not in str(err.value) and str(tmp_path / name) in str(err.value) or "every label" in str(err.value)


@pytest.mark.parametrize("example, match", [
    ({"input": "q", "target_scores": {"a": 1}}, r"example 1: 'target_scores' must map at least two"),
    ({"input": "q", "target_scores": {"a": 1, "b": 1}}, r"example 1: .*several options score 1"),
    ({"target_scores": {"a": 1, "b": 0}}, r"example 1: missing field 'input'"),
    ({"input": "q", "target_scores": {"a": "1", "b": 0}}, r"example 1: 'target_scores' values must be numbers"),
])
def test_bad_bigbench_items_are_named(tmp_path, example, match):
    good = {"input": "q0", "target_scores": {"a": 1, "b": 0}}
    (tmp_path / "task.json").write_text(json.dumps({"examples": [good, example]}))
    with pytest.raises(DataError, match=match):
        load_dataset_from_config({"name": "t", "loader": "bigbench", "path": str(tmp_path)})
