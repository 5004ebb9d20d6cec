import gzip
import json

import numpy as np
import pytest

from transfer.data import load_dataset_from_config, make_splits
from transfer.data.splits import whole
from transfer.errors import DataError


def hh_cfg(path, **kw):
    return {"name": "hh", "loader": "hh_rlhf", "path": str(path), "subset": "harmless-base", **kw}


def test_real_hh_parses_into_prompt_and_two_replies(hh_path):
    with pytest.warns(UserWarning, match="skipped 5 pairs"):  # 5 real pairs whose transcripts diverge earlier
        pairs = load_dataset_from_config(hh_cfg(hh_path))
    assert len(pairs) == 2312 - 5
    p = pairs.pairs[0]
    assert p.prompt == "okay some of these do not have anything to do with pens"
    assert p.better.startswith("No, sorry!") and p.worse.startswith("There are lots of funny things")
    assert "Human:" not in p.better and "Assistant:" not in p.worse


def test_strict_mode_makes_a_diverging_pair_an_error(hh_path):
    with pytest.raises(DataError, match=r"harmless-base-test.jsonl.gz:1255: .*same prompt history"):
        load_dataset_from_config(hh_cfg(hh_path, strict=True))


def test_splits_are_grouped_by_prompt_and_disjoint(hh_path):
    with pytest.warns(UserWarning):
        pairs = load_dataset_from_config(hh_cfg(hh_path))
    for seed in (0, 1):
        sd = make_splits(pairs, {"train_label": 0.25, "train_unlabel": 0.5, "test": 0.25}, seed)
        groups = {n: {pairs.pairs[i].group for i in s.index} for n, s in sd.splits.items()}
        assert not groups["train_label"] & groups["train_unlabel"]
        assert not groups["train_label"] & groups["test"]
        assert not groups["train_unlabel"] & groups["test"]
        for s in sd.splits.values():  # each example's group travels with the split (the heads' CV folds keep it)
            assert list(s.groups) == [pairs.pairs[i].group for i in s.index]
        sizes = {n: len(s) for n, s in sd.splits.items()}
        assert sum(sizes.values()) == len(pairs)
        assert abs(sizes["train_unlabel"] / len(pairs) - 0.5) < 0.02
    # real HH has prompt histories shared by several pairs: grouping is not vacuous
    assert len({p.group for p in pairs.pairs}) < len(pairs)


def test_splits_depend_on_seed_and_are_reproducible(hh_path):
    with pytest.warns(UserWarning):
        pairs = load_dataset_from_config(hh_cfg(hh_path, max_pairs=300))
    frac = {"train_label": 0.25, "train_unlabel": 0.5, "test": 0.25}
    a, b, c = make_splits(pairs, frac, 0), make_splits(pairs, frac, 0), make_splits(pairs, frac, 1)
    assert np.array_equal(a["test"].index, b["test"].index)
    assert np.array_equal(a["test"].a_is_better, b["test"].a_is_better)
    assert not np.array_equal(a["test"].index, c["test"].index)


def test_split_does_not_depend_on_the_order_fractions_are_listed(hh_path):
    with pytest.warns(UserWarning):
        pairs = load_dataset_from_config(hh_cfg(hh_path, max_pairs=300))
    a = make_splits(pairs, {"train_label": 0.25, "train_unlabel": 0.5, "test": 0.25}, 0)
    b = make_splits(pairs, {"test": 0.25, "train_label": 0.25, "train_unlabel": 0.5}, 0)  # as sorted JSON lists them
    for name in ("train_label", "train_unlabel", "test"):
        assert np.array_equal(a[name].index, b[name].index)
        assert np.array_equal(a[name].a_is_better, b[name].a_is_better)


def test_ab_assignment_is_balanced(hh_path):
    with pytest.warns(UserWarning):
        pairs = load_dataset_from_config(hh_cfg(hh_path))
    sd = make_splits(pairs, {"train_label": 0.25, "train_unlabel": 0.5, "test": 0.25}, 3)
    for s in sd.splits.values():
        assert abs(int(s.a_is_better.sum()) - len(s) / 2) <= 1
        assert 0 < s.a_is_better[: len(s) // 2].mean() < 1  # shuffled, not all A first


def test_bigbench_hhh_loads_221_pairs():
    from transfer import paths
    cfg = {"name": "hhh", "loader": "bigbench_hhh", "path": str(paths.shared_data_dir() / "bigbench/hhh_alignment"),
           "subsets": ["harmless", "helpful", "honest", "other"]}
    pairs = load_dataset_from_config(cfg)
    assert len(pairs) == 221
    assert {p.subset for p in pairs.pairs} == {"harmless", "helpful", "honest", "other"}
    assert abs(int(whole(pairs, "ood", 0).a_is_better.sum()) - 110.5) <= 1


@pytest.mark.parametrize("content, match", [
    ('{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: a"}\n', r"bad.jsonl:1: missing or empty field 'rejected'"),
    ('{"chosen": "\\n\\nHuman: hi\\n\\nAssistant: a", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: b"}\n{oops\n',
     r"bad.jsonl:2: not valid JSON"),
    ('{"chosen": "no turns here", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: b"}\n',
     r"bad.jsonl:1 \(chosen\): no .*Assistant:' turn"),
    ('["a list"]\n', r"bad.jsonl:1: expected a JSON object"),
])
def test_malformed_files_name_file_and_line(tmp_path, content, match):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        load_dataset_from_config(hh_cfg(path))


def test_missing_file_and_truncated_gzip(tmp_path):
    with pytest.raises(DataError, match=r"nope.jsonl.gz: file not found"):
        load_dataset_from_config(hh_cfg(tmp_path / "nope.jsonl.gz"))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(json.dumps({"chosen": "x"}).encode() * 50)[:40])
    with pytest.raises(DataError, match=r"cut.jsonl.gz"):
        load_dataset_from_config(hh_cfg(path))


def test_empty_split_is_a_clear_error(tmp_path):
    rec = lambda i: json.dumps({"chosen": f"\n\nHuman: q{i}\n\nAssistant: good", "rejected": f"\n\nHuman: q{i}\n\nAssistant: bad"})
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(rec(i) for i in range(2)) + "\n")
    pairs = load_dataset_from_config(hh_cfg(path))
    with pytest.raises(DataError, match=r"split 'test' is empty \(2 pairs"):
        make_splits(pairs, {"train_label": 0.25, "train_unlabel": 0.5, "test": 0.25}, 0)


def test_bad_hhh_file_is_named(tmp_path):
    (tmp_path / "harmless").mkdir()
    (tmp_path / "harmless" / "task.json").write_text('{"examples": [{"input": "q", "target_scores": {"a": 1}}]}')
    cfg = {"name": "hhh", "loader": "bigbench_hhh", "path": str(tmp_path), "subsets": ["harmless"]}
    with pytest.raises(DataError, match=r"harmless/task.json example 0: 'target_scores' must map exactly two"):
        load_dataset_from_config(cfg)
