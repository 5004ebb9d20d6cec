"""A real two-seed study on two datasets added by yaml alone (a temp conf folder): one binary, one pairwise, real
data, real models, real Ray and MLflow; both go through the same report, with its method × dataset table."""

from __future__ import annotations

import csv
import gzip
import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from jobs.report import build
from jobs.sweep import main as sweep_main
from transfer import paths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory, ray_local):
    conf = tmp_path_factory.mktemp("conf")
    (conf / "data").mkdir()
    # a user's preference file: real HH pairs re-keyed as question / good / bad, in a CSV
    rows = []
    with gzip.open(paths.shared_data_dir() / "hh-rlhf" / "harmless-base-test.jsonl.gz", "rt") as f:
        for line in f:
            r = json.loads(line)
            cut, cut_r = r["chosen"].rfind("\n\nAssistant:"), r["rejected"].rfind("\n\nAssistant:")
            good, bad = r["chosen"][cut + 12:].strip(), r["rejected"][cut_r + 12:].strip()
            if good and bad and good != bad:
                rows.append({"question": r["chosen"][:cut], "good": good, "bad": bad})
            if len(rows) == 90:
                break
    with open(conf / "prefs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["question", "good", "bad"])
        w.writeheader()
        w.writerows(rows)
    (conf / "data" / "my_prefs.yaml").write_text(
        f"name: my_prefs\nloader: pairs\npath: {conf / 'prefs.csv'}\n"
        "fields: {prompt: question, chosen: good, rejected: bad}\nmax_pairs: 80\nood: null\n"
        "format: {prompt_words: 40, reply_words: 60}\n")
    (conf / "data" / "my_binary.yaml").write_text(
        "name: my_binary\nloader: bigbench\npath: ${transfer_data:}/bigbench/sports_understanding\nkind: binary\n"
        "task_prefix: true\nmax_pairs: 160\nood: null\n"
        "format: {template: \"{prompt}\\nAnswer: {reply}\", prompt_words: 60, reply_words: 10}\n")
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"
    code = sweep_main([f"hydra.searchpath=[file://{conf}]", "grid.datasets=[my_prefs,my_binary]",
                       "grid.methods=[vanilla,logconf,knn_relabel]", "grid.seeds=[0,1]", "head.epochs=30",
                       "study=two", f"runtime.tracking_uri={uri}", "runtime.progress=false"])
    assert code == 0
    return uri, tmp_path_factory.mktemp("reports")


def test_cells_are_per_dataset_with_their_own_baselines(study):
    uri, _ = study
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("two")
    runs = client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'cell'")
    assert len(runs) == 12 and all(r.info.status == "FINISHED" for r in runs)
    by = {}
    for r in runs:
        by.setdefault(r.data.tags["dataset"], []).append(r)
        assert r.data.tags["ood_dataset"] == "" and "ood_w2s_acc" not in r.data.metrics
    assert sorted(by) == ["my_binary", "my_prefs"]
    binary = by["my_binary"][0]
    assert binary.data.metrics["n_test"] + binary.data.metrics["n_train_unlabel"] + \
        binary.data.metrics["n_train_label"] == 160
    # binary gold is the item's own label: each test input contributes one correct and one incorrect option
    df = pd.read_parquet(client.download_artifacts(binary.info.run_id, "predictions.parquet", str(study[1])))
    test = df[(df.split == "test") & (df.role == "weak")]
    assert test["a_is_better"].mean() == pytest.approx(0.5)
    assert test.example_id.str.rsplit(":", n=1).str[0].value_counts().eq(2).all()


def test_binary_and_pairwise_go_through_the_same_report(study):
    uri, out = study
    dest = build("two", tracking_uri=uri, out=str(out), log=False)
    res = json.loads((dest / "results.json").read_text())
    assert sorted(g["dataset"] for g in res["groups"]) == ["my_binary", "my_prefs"]
    for g in res["groups"]:  # baselines, PGR, ΔPGR and verdicts per dataset
        assert set(g["delta"]) == {"logconf", "knn_relabel"} and g["lab_verdicts"]
    a = res["across_datasets"]["lab"]
    assert a["table"]["datasets"] == ["my_binary", "my_prefs"]
    assert set(a["meta"]) == {"logconf", "knn_relabel"}
    for m, r in a["meta"].items():  # two datasets with a defined gap, or the report names the one left out
        assert r["k"] + len(a["left_out"][m]) == 2
        if r["k"] == 2:
            assert r["tau2"] >= 0 and 0 <= r["i2"] <= 1 and r["ci"][0] <= r["estimate"] <= r["ci"][1]
    md = (dest / "report.md").read_text()
    assert "### Method × dataset (lab)" in md and "| method | my_binary | my_prefs |" in md
    assert "### Is the gain consistent across datasets? (lab)" in md
