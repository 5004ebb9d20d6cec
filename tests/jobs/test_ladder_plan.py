"""The ladder's forecast in a replay's plan (replay.ladder) and beside the outcome in its report, on SIMULATED
studies in a throwaway sqlite store: hashed with the plan, deterministic, refused for a ladder of another lab."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from analysis.config import load_config
from analysis.simulate import simulate
from jobs.plan import make_plan
from jobs.report import build
from tests.helpers.analysis import write_study
from tests.helpers.replay import PROD, TRUTH, rcfg
from transfer import store
from transfer.errors import ConfigError
from transfer.store.writer import StudyWriter

RUNGS = {"rung_a": 135.0, "rung_b": 270.0, "rung_c": 630.0}


def ladder_plan(lab_study: str = "simlab") -> dict:
    return {"version": 1, "kind": "ladder", "ladder": "sim", "lab_study": lab_study, "lab_dataset": "sim",
            "rungs": [{"name": n, "model": n, "params_m": p} for n, p in RUNGS.items()],
            "production": {"model": "big", "params_m": 7616.0, "seeds": 10},
            "analysis": load_config(["bootstrap=300"]), "notes": [], "methods": []}


def attach(uri: str, study: str, plan: dict) -> None:
    writer = StudyWriter(study, uri)
    writer.log_files(writer.parent_id, {store.PLAN_FILE: store.plan_dumps(plan)})
    MlflowClient(uri).set_tag(writer.parent_id, store.PLAN_TAG, store.plan_sha256(plan))


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('ladderplan') / 'mlruns.db'}"
    cells, ex = simulate(TRUTH, seeds=list(range(8)), n_test=500, rng=np.random.default_rng(3))
    write_study(uri, "simlab", cells, ex, with_predictions=False)
    rungs = {n: {"pgr": {"vanilla": 0.2, "logconf": 0.5 - 0.1 * i}, "seed_sd": 0.04, "method_sd": 0.03}
             for i, n in enumerate(RUNGS)}
    cells, ex = simulate(rungs, seeds=list(range(8)), n_test=500, rng=np.random.default_rng(5))
    write_study(uri, "simlab-ladder", cells, ex, with_predictions=False)
    attach(uri, "simlab-ladder", ladder_plan())
    write_study(uri, "otherlab-ladder", cells, ex, with_predictions=False)
    attach(uri, "otherlab-ladder", ladder_plan("otherlab"))
    return uri


def test_the_forecast_is_in_the_plan_and_its_hash(uri):
    plain, _ = make_plan(rcfg(), uri)
    plan, _ = make_plan(rcfg(ladder="simlab-ladder"), uri)
    assert "ladder" not in plain and store.plan_sha256(plan) != store.plan_sha256(plain)
    assert store.plan_sha256(plan) == store.plan_sha256(make_plan(rcfg(ladder="simlab-ladder"), uri)[0])
    lad = plan["ladder"]
    assert lad["production"] == {"model": "big", "params_m": 7616.0, "seeds": len(plan["seeds"])}
    f = lad["methods"]["logconf"]
    assert f["pi"][0] < f["delta_pgr"] < f["pi"][1] and f["per_rung"]["rung_a"] > f["per_rung"]["rung_c"]
    assert sum(f["verdicts"].values()) == pytest.approx(1.0)  # logconf is the lab's winner: a real forecast
    assert {m["name"] for m in plan["methods"]} == {"vanilla", "logconf"} and set(lad["methods"]) == {"logconf"}
    assert any("forecasts big (7616 M); this plan's production setting 'production' runs gemma3_270m" in n
               for n in lad["notes"])  # forecast and outcome about different models: said before production runs
    from jobs.replay import summary

    line = next(x for x in summary(plan, store.plan_sha256(plan)).splitlines() if "ladder forecast" in x)
    assert f"logconf          dPGR {f['delta_pgr']:+.3f}" in line and "survives" in line  # printed before any cell


def test_a_ladder_of_another_lab_or_a_plain_study_is_refused(uri):
    with pytest.raises(ConfigError, match="climbed lab otherlab / sim, not this replay's simlab / sim"):
        make_plan(rcfg(ladder="otherlab-ladder"), uri)
    with pytest.raises(ConfigError, match="'simlab' is not a ladder study"):
        make_plan(rcfg(ladder="simlab"), uri)


def test_the_report_puts_forecast_and_outcome_side_by_side(uri):
    plan, _ = make_plan(rcfg(ladder="simlab-ladder"), uri)
    cells, ex = simulate(PROD, seeds=plan["seeds"], n_test=500, rng=np.random.default_rng(4))
    write_study(uri, "simlab-replay", cells, ex, with_predictions=False)
    attach(uri, "simlab-replay", plan)
    out = build("simlab-replay", tracking_uri=uri, out=str(Path(uri[10:]).parent / "reports"), log=False)
    res = json.loads((out / "results.json").read_text())
    (row,) = [r for r in res["ladder"] if "method" in r]
    c = next(c for c in res["comparisons"] if c["method"] == "logconf")
    assert row["observed"] == pytest.approx(c["prod_delta"]["estimate"]) and row["verdict"] == c["verdict"]
    assert row["hit"] == (row["pi"][0] <= row["observed"] <= row["pi"][1])
    assert row["p_reached"] == plan["ladder"]["methods"]["logconf"]["verdicts"][c["verdict"]]
    text = (out / "report.md").read_text()
    assert "## The ladder's forecast vs what production showed" in text and "simlab-ladder" in text
    # the gap, weak and ceiling accuracies forecast too, beside production's own (not the lab's)
    roles = {r["role"]: r for r in res["ladder"] if "role" in r}
    prod = next(g for g in res["groups"] if g["study"] == "simlab-replay")
    assert set(roles) == {"gap", "weak_acc", "ceiling_acc"} == set(plan["ladder"]["roles"])
    assert roles["gap"]["observed"] == pytest.approx(prod["gap"]["estimate"])
    assert roles["ceiling_acc"]["observed"] == pytest.approx(prod["ceiling_acc"])
    assert roles["gap"]["hit"] == (roles["gap"]["pi"][0] <= roles["gap"]["observed"] <= roles["gap"]["pi"][1])
    assert "| gap | sim |" in text
    assert "ladder_outcome.png" in res["files"]["figures"] and (out / "figures" / "ladder_outcome.png").stat().st_size
