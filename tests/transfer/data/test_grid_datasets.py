"""grid.datasets: cells per dataset, OOD sets by the data yaml, datasets from a folder added by yaml alone, task
kinds refused in the driver before any service starts, and the max_pairs note about the OOD set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jobs.grid import expand
from jobs.preflight import check_datasets
from jobs.sweep import main as sweep_main
from transfer.errors import ConfigError
from transfer.heads import train_head

TWO = ["grid.datasets=[bigbench_navigate,bigbench_sports_understanding_binary]", "grid.methods=[vanilla,logconf]",
       "grid.seeds=[0,1]"]


def test_grid_datasets_expands_cells_per_dataset_with_their_own_ood():
    sweep = expand(TWO)
    assert [(c.dataset, c.method, c.seed) for c in sweep.cells] == [
        (d, m, s) for d in ("bigbench_navigate", "bigbench_sports_understanding_binary")
        for m in ("vanilla", "logconf") for s in (0, 1)]
    for c in sweep.cells:
        assert c.config["setting"]["data"]["name"] == c.dataset and c.config["setting"]["ood"] is None
    assert len({c.config_hash for c in sweep.cells}) == 8
    # the setting's own dataset keeps its OOD set; naming it in grid.datasets gives the same cells
    own, named = expand(["grid.methods=[vanilla]"]), expand(["grid.methods=[vanilla]", "grid.datasets=[hh_harmless]"])
    assert [c.config_hash for c in own.cells] == [c.config_hash for c in named.cells]
    assert own.cells[0].config["setting"]["ood"]["name"] == "hhh_alignment"


@pytest.mark.parametrize("override, message", [
    ("grid.datasets=[nope]", "grid.datasets: unknown dataset ['nope']; known: ["),
    ("grid.datasets=[bigbench_navigate,bigbench_navigate]", "grid.datasets: ['bigbench_navigate'] listed twice"),
    ("grid.datasets=[]", "grid.datasets: empty;"),
])
def test_bad_dataset_names_are_one_line(override, message):
    with pytest.raises(ConfigError) as err:
        expand([override])
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_dataset_added_by_yaml_alone_in_another_conf_folder(tmp_path, tiny_yaml):
    sweep = expand([f"hydra.searchpath=[file://{tmp_path}]", "grid.datasets=[mine]", "grid.methods=[vanilla]",
                    "grid.seeds=[0]"])
    assert sweep.cells[0].config["setting"]["data"]["name"] == "mine" and sweep.cells[0].dataset == "mine"
    check_datasets(sweep.cells)  # it loads


@pytest.fixture
def tiny_yaml(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.yaml").write_text(
        "name: mine\nloader: bigbench\npath: ${transfer_data:}/bigbench/implicatures\nkind: binary\n"
        "max_pairs: 40\nood: null\nformat: {template: \"{prompt} {reply}\", prompt_words: 60, reply_words: 10}\n")
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["grid.datasets=[bigbench_navigate_binary]", "grid.methods=[vanilla,ccs]"],
     "error: method 'ccs' does not support task kind 'binary' (dataset 'bigbench_navigate_binary'; it supports "
     "['pairwise']): drop it from grid.methods for this dataset"),
    (["grid.datasets=[bigbench_navigate_binary]", "grid.methods=[ue_consistency]"],
     "error: method 'ue_consistency' does not support task kind 'binary'"),
    (["grid.datasets=[bigbench_navigate_binary]", "grid.methods=[vanilla]", "mode=prompt"],
     "error: method 'vanilla': training mode 'prompt' asks the strong LM to compare two replies"),
])
def test_unsupported_kind_is_refused_in_the_driver_before_any_service(tmp_path, capsys, argv, message):
    store = tmp_path / "mlruns.db"
    code = sweep_main(["study=k", *argv, "grid.seeds=[0,1]", f"runtime.tracking_uri=sqlite:///{store}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(message), err
    assert not store.exists()


def test_max_pairs_says_once_that_it_does_not_limit_the_ood_set(capsys):
    skipped = ("[data] harmless-base-test.jsonl.gz: skipped 5 pairs whose replies do not answer one shared prompt or "
               "are identical (lines [1255, 1689, 1951, 1953, 2037]); data.strict=true makes this an error")
    sweep = expand(["setting.data.max_pairs=100", "grid.methods=[vanilla,logconf]", "grid.seeds=[0,1,2]"])
    check_datasets(sweep.cells)  # what the loader skipped: a [data] line too, once, not a warning
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [skipped, "[data] max_pairs=100 limits 'hh_harmless' only; the OOD set 'hhh_alignment' keeps all "
                            "its 221 examples (setting.ood.max_pairs=N, or +setting.ood.max_pairs=N, limits it)"]
    sweep = expand(["setting.data.max_pairs=100", "+setting.ood.max_pairs=50", "grid.methods=[vanilla]"])
    check_datasets(sweep.cells)
    assert capsys.readouterr().out.strip().splitlines() == [skipped]


def test_binary_heads_learn_a_class_prior_pair_heads_stay_antisymmetric():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    y = (rng.random(400) < 0.8).astype(np.float32)  # 80 % positives, features carry no signal
    head = dict(epochs=200, lr=0.05, l2=0.3, batch_size=None)
    biased = train_head(x, y, seed=0, bias=True, **head)
    assert biased.bias > 1.0 and (biased.predict_proba(x) > 0.5).mean() > 0.95  # predicts the majority class
    torch.manual_seed(0)
    plain = train_head(x, y, seed=0, **head)
    assert plain.bias == 0.0 and np.allclose(plain.predict_proba(-x), 1 - plain.predict_proba(x), atol=1e-6)
