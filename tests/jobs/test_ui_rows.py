"""The summary runs the MLflow UI shows (jobs/ui_rows.py) read back through MLflow's client equal the report's
numbers and verdicts (results.json): on the real AAR records (imported, then `make report`'s build) and on a
simulated lab study replayed as a separate production study (transfer verdicts, lab and production side by side)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from analysis.rows import DIGITS
from analysis.simulate import simulate
from jobs.import_aar import import_aar
from jobs.report import build
from tests.helpers.analysis import FAST, write_study
from transfer import store
from transfer.paths import shared_data_dir
from transfer.store.view import ORDER, ROWS, view_state

TARBALL = shared_data_dir() / "aar" / "cache_results.tar.gz"
TRUTH = {"lab": {"pgr": {"vanilla": 0.2, "better": 0.35, "robust": 0.35}, "seed_sd": 0.04, "method_sd": 0.02},
         "production": {"pgr": {"vanilla": 0.2, "better": 0.2, "robust": 0.35}, "seed_sd": 0.04, "method_sd": 0.02}}


def summary_runs(uri: str, study: str) -> dict[tuple, object]:
    """(study, setting, dataset, method) -> the study's summary run, found with the saved view's own filter."""
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name(study)
    assert json.loads(exp.tags["mlflow.sharedViewState.transfer"]) == view_state()
    found = c.search_runs([exp.experiment_id], ROWS, order_by=[f"{ORDER} ASC"], max_results=1000)
    return {tuple(r.data.tags[k] for k in ("study", "setting", "dataset", "method")): r for r in found}


def close(shown: float, want) -> bool:
    """A logged value (rounded to DIGITS places, NaN for none) against the report's."""
    if want is None or not math.isfinite(want):
        return math.isnan(shown)
    return abs(shown - want) <= 0.5 * 10 ** -DIGITS + 1e-12


def check_against(runs: dict, res: dict, groups: list[dict]) -> int:
    checked = 0
    for g in groups:
        for m in g["methods"]:
            r = runs[(g["study"], g["setting"], g["dataset"], m)]
            got, pgr, delta = r.data.metrics, g["pgr"][m], g["delta"].get(m) or {}
            for name, est in (("pgr", pgr), ("delta_pgr", delta), ("gap", g["gap"])):
                assert close(got[name], est.get("estimate")), (r.info.run_name, name, got[name], est)
                lo, hi = est.get("ci") or (None, None)
                assert close(got[f"{name}_ci_low"], lo) and close(got[f"{name}_ci_high"], hi), (r.info.run_name, name)
            assert got["seeds"] == pgr["n_seeds"]
            assert close(got["weak_acc"], g["weak_acc"]) and close(got["ceiling_acc"], g["ceiling_acc"])
            assert r.data.params["method.name"] == m and r.data.params["dataset"] == g["dataset"]
            lab = g["lab_verdicts"].get(m)
            assert r.data.tags.get("lab_verdict") == (lab["verdict"] if lab else r.data.tags.get("lab_verdict"))
            checked += 1
    return checked


@pytest.mark.skipif(not TARBALL.exists(), reason=f"AAR results not at {TARBALL} (set TRANSFER_DATA)")
def test_the_aar_study_rows_are_its_report(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    import_aar(TARBALL, "aar", uri)
    dest = build("aar", tracking_uri=uri, out=str(tmp_path / "reports"), overrides=FAST)
    res = json.loads((dest / "results.json").read_text())
    runs = summary_runs(uri, "aar")
    assert len(runs) == sum(len(g["methods"]) for g in res["groups"]) == 12  # 3 datasets x 4 methods
    assert check_against(runs, res, res["groups"]) == 12
    chat_vanilla = runs[("aar", "lab", "chat", "vanilla")]
    assert chat_vanilla.data.metrics["pgr"] == pytest.approx(0.2035, abs=1e-3)  # test_import_aar's number
    assert chat_vanilla.data.params["strong_model"] == "Qwen/Qwen3-4B-Base"
    # lab verdicts: on each non-baseline row, and on the study's parent
    verdicts = {m: v["verdict"] for g in res["groups"] if g["dataset"] == "code" for m, v in g["lab_verdicts"].items()}
    assert verdicts and all(runs[("aar", "lab", "code", m)].data.tags["lab_verdict"] == v for m, v in verdicts.items())
    assert "lab_verdict" not in chat_vanilla.data.tags  # the baseline has none
    # the rows read as the report's table: vanilla first, then the others, per dataset after
    order = [k[3] for k in runs]
    assert order[:3] == ["vanilla"] * 3 and order[3:6] == ["confident_only"] * 3
    # a second report updates the same runs (stable addresses), it does not add rows
    build("aar", tracking_uri=uri, out=str(tmp_path / "reports"), overrides=FAST)
    again = summary_runs(uri, "aar")
    assert {k: r.info.run_id for k, r in again.items()} == {k: r.info.run_id for k, r in runs.items()}


def test_imported_cells_carry_the_native_params(tmp_path):
    if not TARBALL.exists():
        pytest.skip(f"AAR results not at {TARBALL}")
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    import_aar(TARBALL, "aar", uri)
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name("aar").experiment_id
    cells = store.runs(c, exp, store.CELL)
    assert len(cells) == 59 and all(r.data.params for r in cells)
    for r in cells:  # the native cells' names (transfer.store.inputs.cell_params), so filters work across both
        p, t = r.data.params, r.data.tags
        assert (p["method.name"], p["seed"], p["setting"], p["dataset"]) == (t["method"], t["seed"], "lab", t["dataset"])
        assert p["strong_model"] == t["strong_model"] and p["aar.hyperparam_config_key"]
    critic = next(r for r in cells if r.data.tags["method"] == "critic")
    assert critic.data.params["aar.config.grpo_lr"] == "1e-05"  # what the record says of its config
    assert all(r.data.params["dataset"] for r in store.runs(c, exp, store.BASELINE))
    found = c.search_runs([exp], "params.`method.name` = 'vanilla' and params.dataset = 'math'")
    assert len(found) == 5


def test_a_replay_shows_lab_and_production_side_by_side_with_its_verdicts(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    cells, ex = simulate(TRUTH, seeds=list(range(8)), n_test=300, rng=np.random.default_rng(7))
    write_study(uri, "simlab", cells[cells.setting == "lab"], ex, with_predictions=False)
    write_study(uri, "simprod", cells[cells.setting == "production"], ex, with_predictions=False)
    dest = build("simprod", lab="simlab", tracking_uri=uri, out=str(tmp_path / "reports"), overrides=FAST)
    res = json.loads((dest / "results.json").read_text())
    assert res["comparisons"]
    prod = summary_runs(uri, "simprod")
    assert check_against(prod, res, res["groups"]) == 6  # 3 lab rows + 3 production rows, one view
    names = [r.info.run_name for r in prod.values()]
    assert names[:2] == ["vanilla / lab / sim", "vanilla / production / sim"], names
    for cmp in res["comparisons"]:
        row = prod[("simprod", "production", cmp["prod_dataset"], cmp["method"])]
        assert row.data.tags["transfer_verdict"] == cmp["verdict"] and row.data.tags["lab_verdict"] == cmp["lab_verdict"]
        assert close(row.data.metrics["lab_delta_pgr"], cmp["lab_effect"]["mean"])
    # the lab study gets its own rows and its lab verdicts on its parent
    lab = summary_runs(uri, "simlab")
    lab_groups = [g for g in res["groups"] if g["study"] == "simlab"]
    assert check_against(lab, res, lab_groups) == 3
    c = MlflowClient(uri)
    parent = c.get_run(store.parent_run(c, c.get_experiment_by_name("simlab").experiment_id).info.run_id)
    want = {f"lab/sim/{m}={v['verdict']}" for g in lab_groups for m, v in g["lab_verdicts"].items()}
    assert set(parent.data.tags["analysis.lab_verdicts"].split(", ")) == want and len(want) == 2
