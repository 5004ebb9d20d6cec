"""The lab's search in the store (analysis/search.py): the ledger of variants, the lab-gain family, the winner's
curse in the report. SIMULATED studies written into a temporary sqlite MLflow store by the store's own writer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from analysis import significance as sig
from analysis.analyze import analyze
from analysis.config import load_config
from analysis.load import load_study
from analysis.search import family, ledger
from analysis.simulate import simulate
from analysis.verdicts import Margins, lab_stage
from jobs.report import build
from tests.helpers.analysis import FAST, write_study

NULL = {"seed_sd": 0.04, "method_sd": 0.05}


def tables(methods: dict, seeds: int, rng_seed: int, dataset: str = "sim"):
    cells, ex = simulate({"lab": {"pgr": {"vanilla": 0.2, **methods}, **NULL}}, list(range(seeds)), 300,
                         np.random.default_rng(rng_seed), dataset=dataset)
    return cells, ex


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """`early`: 6 variants on lab/sim; `other`: 3 on lab/elsewhere (another lab); `late`: 3 on lab/sim, one of
    them `late_b` with a big planted gain."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"
    write_study(uri, "early", *tables({f"early_{i}": 0.2 for i in range(6)}, 6, 1), with_predictions=False)
    write_study(uri, "other", *tables({f"other_{i}": 0.2 for i in range(3)}, 6, 2, "elsewhere"),
                with_predictions=False)
    write_study(uri, "late", *tables({"late_a": 0.2, "late_b": 0.45, "late_c": 0.2}, 12, 3), with_predictions=False)
    return uri


def test_the_ledger_counts_every_variant_tried_on_the_same_lab_and_no_other(searched):
    led = ledger(MlflowClient(searched), "lab", "sim")
    assert set(led["methods"]) == {"vanilla", *(f"early_{i}" for i in range(6)), "late_a", "late_b", "late_c"}
    assert led["methods"]["vanilla"]["studies"] == ["early", "late"]
    fam = family(led, ["vanilla", "late_a", "late_b", "late_c"], "vanilla", "search")
    assert fam["size"] == 9 and fam["here"] == 3 and fam["studies"] == ["early", "late"]
    assert fam["since"] and len(fam["since"]) == 10  # a date
    assert family(led, ["vanilla", "late_a"], "vanilla", "study")["size"] == 1


def test_a_method_run_with_two_configs_counts_twice(searched):
    cells, ex = tables({"twin": 0.2}, 4, 4, dataset="twins")
    for h, name in (("aaaaaa", "twins-1"), ("bbbbbb", "twins-2")):
        c = cells.copy()
        write_study(searched, name, c, ex, with_predictions=False)
        client = MlflowClient(searched)
        exp = client.get_experiment_by_name(name)
        for run in client.search_runs([exp.experiment_id], "tags.method = 'twin'"):
            client.set_tag(run.info.run_id, "method_hash", h)
    led = ledger(MlflowClient(searched), "lab", "twins")
    assert led["methods"]["twin"]["configs"] == 2
    assert family(led, ["vanilla", "twin"], "vanilla", "search")["size"] == 2


def test_earlier_variants_enter_the_lab_gain_adjustment(searched):
    study = load_study("late", searched, with_examples=False)
    res = analyze(study, load_config(FAST))
    g = next(g for g in res["groups"] if g["setting"] == "lab")
    assert g["family"]["size"] == 9
    own = analyze(study, load_config([*FAST, "family=study"]))
    g_own = next(g for g in own["groups"] if g["setting"] == "lab")
    assert g_own["family"]["size"] == 3
    raw = {m: v["gain"]["p"] for m, v in g["lab_verdicts"].items()}
    # Holm over 9: the 3 here plus 6 earlier ones entered at p = 1
    want = sig.adjust({**raw, **{i: 1.0 for i in range(6)}}, "holm")
    for m, v in g["lab_verdicts"].items():
        assert v["gain"]["p_adj"] == pytest.approx(want[m])
        assert v["gain"]["p_adj"] >= g_own["lab_verdicts"][m]["gain"]["p_adj"]
    # late_b's planted gain is established among this study's 3, not among the 9 variants this lab has seen
    assert g_own["lab_verdicts"]["late_b"]["verdict"] == "lab gain established"
    assert g["lab_verdicts"]["late_b"]["verdict"] == "lab inconclusive"


def test_padding_the_family_is_bonferroni_for_one_method_and_never_loosens():
    rng = np.random.default_rng(0)
    d = {"m": pd.Series(rng.normal(0.1, 0.1, 10), index=range(10))}
    margins = Margins.from_config(load_config())
    one = lab_stage(d, margins)["m"]["gain"]
    ten = lab_stage(d, margins, family=10)["m"]["gain"]
    assert one["p_adj"] == pytest.approx(one["p"]) and ten["p_adj"] == pytest.approx(min(1.0, 10 * one["p"]))


def test_the_report_says_how_big_the_search_was_and_shows_the_curse(searched, tmp_path):
    dest = build("late", tracking_uri=searched, out=str(tmp_path), overrides=FAST, log=False)
    res = json.loads((dest / "results.json").read_text())
    md = (dest / "report.md").read_text()
    assert "best of 9 variants tried on this lab since " in md and "(2 studies; 3 in this study)" in md
    curse = res["winners_curse"]
    assert curse[0]["method"] == "late_b" and curse[0]["rank"] == 1 and curse[0]["of"] == 9
    assert len(curse) == 1  # late_b is both the discovery-seed pick and the naive one
    assert curse[0]["naive"]["n"] == 12 and curse[0]["confirmation"]["n"] == 6 and curse[0]["production"] is None
    assert "| lab / sim | late_b | best on discovery seeds | 1 of 9 |" in md
    assert (dest / "figures" / "winners_curse.png").stat().st_size > 0
    assert "late\\_b" in (dest / "tables" / "winners_curse.tex").read_text()


def test_the_replay_plan_records_the_search_and_a_bigger_search_is_another_plan(tmp_path):
    from jobs.plan import make_plan
    from tests.helpers.replay import rcfg
    from transfer import store

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    write_study(uri, "simlab", *tables({"logconf": 0.5, "confident_only": 0.2}, 8, 5), with_predictions=False)
    first, _ = make_plan(rcfg(), uri)
    assert first["search"]["size"] == 2 and first["search"]["here"] == 2 and first["search"]["scope"] == "search"
    write_study(uri, "simlab-more", *tables({"knn_relabel": 0.2, "bootstrap": 0.2}, 4, 6), with_predictions=False)
    second, _ = make_plan(rcfg(), uri)
    assert second["search"]["size"] == 4 and second["search"]["studies"] == ["simlab", "simlab-more"]
    assert store.plan_sha256(first) != store.plan_sha256(second)


def test_variant_names_reach_the_parent_runs_summary_and_report_metrics(tmp_path):
    from jobs.summary import summarize

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    name = "logconf[alpha_max=0.5]#abcdef"
    write_study(uri, "named", *tables({name: 0.4, "logconf": 0.2}, 4, 8), with_predictions=False)
    text = summarize("named", uri)
    assert f"  {name}  " in text
    build("named", tracking_uri=uri, out=str(tmp_path), overrides=FAST, log=True)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("named")
    parent = client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'study'")[0]
    assert "summary.lab.sim.logconf_alpha_max_0.5__abcdef.pgr" in parent.data.metrics
    assert "summary.lab.sim.logconf.pgr" in parent.data.metrics


def test_the_curse_rows_carry_production_where_a_replay_exists(store):
    """conftest's `sim`: lab and production cells; `better` and `robust` both gain +0.15 in the lab."""
    res = analyze(load_study("sim", store, with_examples=False), load_config(FAST))
    rows = {r["method"]: r for r in res["winners_curse"]}
    comps = {c["method"]: c for c in res["comparisons"]}
    established = [m for m, c in comps.items() if c["lab_verdict"] == "lab gain established"]
    assert established and set(established) <= set(rows)
    for m in established:
        assert rows[m]["production"]["mean"] == comps[m]["prod_delta"]["estimate"]
        assert rows[m]["verdict"] == comps[m]["verdict"] and rows[m]["picked_by"] == "lab gain established"
        assert rows[m]["naive"]["n"] == 12 and rows[m]["confirmation"]["n"] == 6
