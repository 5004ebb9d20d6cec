"""A small real sweep: real data, real models (MiniLM -> SmolLM2), real Ray, a real sqlite MLflow store."""

import os

import numpy as np
import pandas as pd
import pytest
from hydra import initialize_config_dir
from mlflow.tracking import MlflowClient

from jobs.sweep import main as sweep_main
from transfer import paths
from transfer.errors import TransferError

pytestmark = pytest.mark.slow
TINY = ["setting.data.max_pairs=120", "grid.settings=[lab]", "grid.methods=[vanilla,logconf]", "grid.seeds=[0,1]",
        "head.epochs=10"]


def sweep(uri, *extra):
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        return sweep_main([*TINY, f"runtime.tracking_uri={uri}", "study=tiny", *extra])


@pytest.fixture(scope="module")
def store(tmp_path_factory, ray_local):
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"
    assert sweep(uri) == 0
    return uri


def child_runs(uri):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tiny")
    return client, exp, client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'cell'")


def test_cells_are_child_runs_with_the_contract_tags_and_metrics(store):
    client, exp, runs = child_runs(store)
    parents = client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'study'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on runs
    assert len(runs) == 4
    for r in runs:
        tags, m = r.data.tags, r.data.metrics
        assert r.info.status == "FINISHED"
        assert tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert tags["setting"] == "lab" and tags["dataset"] == "hh_harmless" and tags["ood_dataset"] == "hhh_alignment"
        assert tags["method"] in ("vanilla", "logconf") and tags["seed"] in ("0", "1")
        assert r.info.run_name == f"lab/hh_harmless/{tags['method']}/seed{tags['seed']}"  # the one name scheme
        assert len(tags["config_hash"]) == 64 and tags["git_sha"]
        for key in ("weak_acc", "ceiling_acc", "w2s_acc", "pgr", "gap", "student_weak_agreement",
                    "ood_w2s_acc", "ood_weak_acc", "ood_ceiling_acc"):
            assert key in m, key
        assert 0.0 <= m["w2s_acc"] <= 1.0 and m["n_ood"] == 221
        assert m["gap"] == pytest.approx(m["ceiling_acc"] - m["weak_acc"])
    assert len({r.data.tags["config_hash"] for r in runs}) == 4


def test_predictions_artifact_is_per_example_and_aligned_across_methods(store):
    client, _, runs = child_runs(store)
    frames = {}
    for r in runs:
        path = client.download_artifacts(r.info.run_id, "predictions.parquet")
        frames[(r.data.tags["method"], r.data.tags["seed"])] = pd.read_parquet(path)
    df = frames[("vanilla", "0")]
    assert set(df.columns) >= {"example_id", "split", "subset", "role", "prob_a", "a_is_better", "correct"}
    test = df[(df.split == "test") & (df.role == "w2s")]
    acc = next(r.data.metrics["w2s_acc"] for r in runs if r.data.tags["method"] == "vanilla" and r.data.tags["seed"] == "0")
    assert test["correct"].mean() == pytest.approx(acc)
    other = frames[("logconf", "0")]
    assert list(other[other.split == "test"].example_id) == list(df[df.split == "test"].example_id)
    assert set(df[df.split == "ood"].subset) == {"harmless", "helpful", "honest", "other"}


def test_rerun_skips_finished_cells_and_runs_only_new_ones(store, capsys):
    assert sweep(store) == 0
    assert "4 cells, 4 already finished, 0 to run" in capsys.readouterr().out
    assert len(child_runs(store)[2]) == 4
    assert sweep(store, "grid.seeds=[0,1,2]") == 0
    assert "6 cells, 4 already finished, 2 to run" in capsys.readouterr().out
    assert len(child_runs(store)[2]) == 6


def test_a_failing_cell_is_recorded_with_its_error_and_named_by_the_report(store, tmp_path):
    """confident_only with min_examples above the split's size fails on every seed: the sweep logs FAILED runs with
    the error, and the report says the method has no finished cell instead of dropping it silently."""
    from jobs.report import build

    assert sweep(store, "grid.methods=[vanilla,logconf,confident_only]", "method.min_examples=100000", "method.fallback=error") == 1
    client, exp, runs = child_runs(store)
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert {r.data.tags["method"] for r in failed} == {"confident_only"}
    assert all("only" in r.data.tags["error"] and "ConfigError" in r.data.tags["error"] for r in failed)
    md = (build("tiny", tracking_uri=store, out=str(tmp_path), overrides=["bootstrap=100"], log=False)
          / "report.md").read_text()
    assert "without any finished cell (not in any table): confident_only" in md
    assert ("lab/confident_only/seed 0 FAILED and has no finished rerun: MethodError: method 'confident_only' failed in "
            "fit: ConfigError") in md


def test_a_cells_ray_resources_come_from_its_mode_and_a_missing_gpu_is_one_line(compose_cfg):
    from transfer.config import config_hash
    from jobs.driver import cell_options, check_placeable

    assert cell_options(compose_cfg()) == {"num_cpus": 1, "num_gpus": 0}
    lora = compose_cfg("mode=lora")
    assert cell_options(lora) == {"num_cpus": 1, "num_gpus": 1}
    check_placeable([compose_cfg(), lora], {"CPU": 8, "GPU": 2})
    with pytest.raises(TransferError, match="mode 'lora' asks for 1 GPU per cell and this Ray cluster has 0"):
        check_placeable([compose_cfg(), lora], {"CPU": 2})
    more = compose_cfg("mode=lora", "mode.resources.cpus=4")
    assert cell_options(more)["num_cpus"] == 4
    assert config_hash(more) == config_hash(lora)  # where a cell runs is not what it computes


def test_the_parent_run_carries_the_sweeps_summary(store):
    """What the sweep prints at the end is on the study's parent run too: the MLflow UI shows the result."""
    from jobs.summary import summarize

    text = summarize("tiny", store)
    client, exp, _ = child_runs(store)
    parent = client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'study'")[0]
    m = parent.data.metrics
    gap = m["summary.lab.hh_harmless.gap"]
    assert f"gap {gap:+.3f}" in text
    for method in ("vanilla", "logconf"):
        key = f"summary.lab.hh_harmless.{method}.pgr"
        assert (key in m) == ("undefined" not in text.split(f"  {method}")[1].splitlines()[0])
    assert "summary/summary.txt" in {a.path for a in client.list_artifacts(parent.info.run_id, "summary")}
    assert "make report STUDY=tiny" in parent.data.tags["mlflow.note.content"]


def test_a_gpu_mode_on_a_cluster_without_gpus_is_refused_before_the_store(tmp_path, ray_local, capsys):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    assert sweep(uri, "mode=lora") == 2
    assert "mode 'lora' asks for 1 GPU per cell and this Ray cluster has 0" in capsys.readouterr().err
    assert MlflowClient(uri).get_experiment_by_name("tiny") is None  # nothing written


def test_local_ray_workers_run_at_the_drivers_niceness(ray_local):
    """Not Ray's default 15 (transfer/env.py: at 15 a study got a few percent of cores shared with work at 0)."""
    @ray_local.remote
    def niceness() -> int:
        return os.nice(0)

    assert ray_local.get(niceness.remote()) == os.nice(0)


def test_a_one_seed_table_says_n_a_where_a_ci_needs_more_seeds(tmp_path):
    """One seed has no spread: no '± nan', no zero-width CI (issue 27)."""
    from analysis.simulate import simulate
    from jobs.summary import summarize
    from tests.helpers.analysis import write_study

    truth = {"lab": {"pgr": {"vanilla": 0.2, "better": 0.4}, "seed_sd": 0.04, "method_sd": 0.02}}
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    for name, seeds in (("one", [0]), ("three", [0, 1, 2])):
        cells, ex = simulate(truth, seeds=seeds, n_test=300, rng=np.random.default_rng(1))
        write_study(uri, name, cells, ex, with_predictions=False)
    one, three = summarize("one", uri, log=False), summarize("three", uri, log=False)
    assert "nan" not in one and "± n/a" in one and "[CI n/a: 1 seed]" in one and "CI n/a, 1 seed)" in one
    assert "n/a" not in three.split("\nPGR:")[0] and "nan" not in three
