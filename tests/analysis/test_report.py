"""A report built end to end from a SIMULATED study in a temporary sqlite MLflow store (docs/tracking.md records)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from analysis.analyze import analyze
from analysis.config import load_config
from analysis.load import StudyError, load_study
from analysis.simulate import as_study
from jobs.report import build, main
from tests.helpers.analysis import FAST


@pytest.fixture(scope="module")
def built(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return build("sim", tracking_uri=store, out=str(out), overrides=FAST), store


def test_load_reads_the_contract(store, sim_tables):
    cells, ex = sim_tables
    st = load_study("sim", store)
    assert len(st.cells) == len(cells) and set(st.cells.setting) == {"lab", "production"}
    assert st.parent_run_id and st.tags["transfer.role"] == "study"
    merged = st.cells.merge(cells, on=["setting", "method", "seed"], suffixes=("", "_sim"))
    assert (merged.w2s_acc - merged.w2s_acc_sim).abs().max() < 1e-12
    # per-example correctness survives the round trip through predictions.parquet
    got = st.examples.set_index(["setting", "seed", "row", "example_id"]).correct.sort_index()
    want = ex.set_index(["setting", "seed", "row", "example_id"]).correct.sort_index()
    pd.testing.assert_series_equal(got, want, check_names=False)


def test_report_files_and_numbers(built):
    dest, _ = built
    for f in ("report.md", "results.json", "tables/pgr.tex", "tables/delta_pgr.tex", "tables/verdicts.tex",
              "figures/forest_delta_pgr.png", "figures/forest_delta_pgr.pdf", "figures/scatter_pgr_lab_vs_production.png",
              "figures/strip_pgr_per_seed.pdf"):
        assert (dest / f).stat().st_size > 0, f
    res = json.loads((dest / "results.json").read_text())
    verdicts = {c["method"]: c["verdict"] for c in res["comparisons"]}
    # truth: `robust` keeps its +0.15 in production, `better` loses it
    assert verdicts["robust"] == "survives"
    # `better` vanished: never a wrong verdict; inconclusive only where the report says its power was short
    better = next(c for c in res["comparisons"] if c["method"] == "better")
    assert verdicts["better"] == "vanishes" or (
        verdicts["better"] == "inconclusive" and better["power"]["vanishes"]["achieved"] < 0.8)
    md = (dest / "report.md").read_text()
    for c in res["comparisons"]:
        assert f"**{c['method']}** (sim): **{c['verdict']}**" in md
    assert "Verdict rules" in md and "first match decides" in md
    tex = (dest / "tables" / "verdicts.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "confident\\_only" not in tex


def test_verdicts_logged_to_parent_run(built):
    _, uri = built
    st = load_study("sim", uri, with_examples=False)
    client = MlflowClient(uri)
    tag = client.get_run(st.parent_run_id).data.tags["analysis.verdicts"]
    assert "robust=survives" in tag
    names = {a.path for a in client.list_artifacts(st.parent_run_id, "analysis")}
    assert {"analysis/verdicts.json", "analysis/report.md", "analysis/results.json"} <= names
    run = client.get_run(st.parent_run_id)
    assert "lab/sim/robust=lab gain established" in run.data.tags["analysis.lab_verdicts"]
    assert "transfer **survives**" in run.data.tags["mlflow.note.content"]  # the parent run explains itself
    res = json.loads((built[0] / "results.json").read_text())
    lab = next(g for g in res["groups"] if g["setting"] == "lab")
    assert run.data.metrics["summary.lab.sim.robust.pgr"] == pytest.approx(lab["pgr"]["robust"]["estimate"])


def test_report_without_predictions_skips_per_example_tests(store, tmp_path, sim_tables):
    dest = build("sim-noex", tracking_uri=store, out=str(tmp_path), overrides=FAST, log=False)
    res = json.loads((dest / "results.json").read_text())
    g = res["groups"][0]
    assert all(t["mcnemar"] == [] and "no per-example" in t["mcnemar_skipped"] for t in g["tests"].values())
    # verdicts are seed-level: the same cells with their per-example records give the same ones
    cells, ex = sim_tables
    full = analyze(as_study(cells[cells.seed < 8], ex[ex.seed < 8]), load_config(FAST))
    got = {c["method"]: (c["lab_verdict"], c["verdict"]) for c in res["comparisons"]}
    assert got == {c["method"]: (c["lab_verdict"], c["verdict"]) for c in full["comparisons"]}
    assert got["robust"][0] == "lab gain established"
    assert any("no predictions.parquet" in n for n in res["notes"])


def test_errors_name_the_fix(store, tmp_path, capsys):
    with pytest.raises(StudyError, match=r"no study .*'nope'.*available: .*sim"):
        load_study("nope", store)
    MlflowClient(store).create_experiment("empty", artifact_location=(tmp_path / "a").as_uri())
    with pytest.raises(StudyError, match="no FINISHED cell runs"):
        load_study("empty", store)
    client = MlflowClient(store)
    exp = client.create_experiment("broken", artifact_location=(tmp_path / "b").as_uri())
    run = client.create_run(exp, tags={"transfer.role": "cell", "setting": "lab", "method": "vanilla", "seed": "0",
                                       "dataset": "d"})
    client.log_metric(run.info.run_id, "weak_acc", 0.5)  # ceiling_acc and w2s_acc missing
    client.set_terminated(run.info.run_id, "FINISHED")
    with pytest.raises(StudyError, match=r"lacks \['ceiling_acc', 'w2s_acc'\]"):
        load_study("broken", store)
    assert main(["--study", "nope", "--tracking-uri", store, "--out", str(tmp_path)]) == 2
    assert "available:" in capsys.readouterr().err
    assert main(["--study", "sim", "--tracking-uri", store, "--out", str(tmp_path), "--set", "alpah=0.1"]) == 2
    assert "unknown analysis setting(s) ['alpah']" in capsys.readouterr().err


def test_a_bug_keeps_its_traceback(store, tmp_path, monkeypatch):
    """Only errors a user fixes become one line; a KeyError inside the analysis is a bug and is raised as one."""
    import jobs.report as report

    def broken(*_a, **_k):
        return {}["groups"]

    monkeypatch.setattr(report, "analyze", broken)
    with pytest.raises(KeyError, match="groups"):
        main(["--study", "sim", "--tracking-uri", store, "--out", str(tmp_path), "--no-mlflow-log"])


def test_failed_and_missing_methods_are_named(tmp_path, sim_tables):
    """A method whose cells all failed does not vanish from the report without a word."""
    from jobs.report import build as build_report
    from tests.helpers.analysis import write_study

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    cells, ex = sim_tables
    parent = write_study(uri, "partial", cells[cells.seed < 4], ex, with_predictions=False)
    client = MlflowClient(uri)
    client.set_tag(parent, "methods", "vanilla,better,robust,ghost")
    exp = client.get_experiment_by_name("partial").experiment_id
    run = client.create_run(exp, tags={"transfer.role": "cell", "setting": "lab", "method": "ghost", "seed": "0",
                                       "dataset": "sim", "error": "ValueError: too few confident labels"})
    client.set_terminated(run.info.run_id, "FAILED")
    dest = build_report("partial", tracking_uri=uri, out=str(tmp_path), overrides=FAST, log=False)
    md = (dest / "report.md").read_text()
    assert "without any finished cell (not in any table): ghost" in md
    assert "lab/ghost/seed 0 FAILED and has no finished rerun: ValueError: too few confident labels" in md


def test_make_report_prints_the_answer_before_the_path(store, tmp_path, capsys):
    assert main(["--study", "sim", "--tracking-uri", store, "--out", str(tmp_path), "--no-mlflow-log",
                 "--set", "bootstrap=300"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"report: {tmp_path / 'sim' / 'report.md'}"
    assert out[-2].startswith("Answer. ") and "robust: lab ΔPGR +" in out[-2] and "survives" in out[-2]
    assert "**" not in out[-2] and "`" not in out[-2]
