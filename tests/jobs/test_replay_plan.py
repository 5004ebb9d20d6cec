"""The transfer plan on SIMULATED lab studies (known truth) in a throwaway sqlite store: winner selection, seeds
from the power analysis, determinism of the hash, refusal under a changed plan, and the report under the plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from analysis.simulate import simulate
from jobs import plan as plans
from jobs.plan import make_plan
from jobs.report import build
from tests.helpers.analysis import write_study
from tests.helpers.replay import PROD, TRUTH, rcfg
from transfer import store
from transfer.errors import BoundaryError
from transfer.store import StudyError
from transfer.store.writer import StudyWriter



@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('plan') / 'mlruns.db'}"
    cells, ex = simulate(TRUTH, seeds=list(range(8)), n_test=500, rng=np.random.default_rng(3))
    write_study(uri, "simlab", cells, ex, with_predictions=False)
    return uri


def test_winners_by_holm_topk_with_exact_configs_and_powered_seeds(uri):
    plan, _ = make_plan(rcfg(), uri)
    roles = {m["name"]: m["role"] for m in plan["methods"]}
    assert roles == {"vanilla": "baseline", "logconf": "winner"}
    logconf = next(m for m in plan["methods"] if m["name"] == "logconf")
    assert logconf["config"]["alpha_max"] == 0.75 and logconf["lab"]["verdict"] == "lab gain established"
    assert logconf["lab"]["confirmation_seeds"] == [1, 3, 5, 7]  # the effect carried forward is the held-out half
    assert "conf/method/logconf.yaml" in logconf["config_source"]  # simulated lab cells carry no configs
    assert len(plan["seeds"]) >= max(8, plan["power"]["seeds_needed"] or 0) or plan["power"]["capped"]
    assert plan["analysis"]["alpha"] == 0.05 and plan["analysis"]["sesoi"] == 0.1
    assert plan["analysis"]["ratio_floor"] == 0.5 and "ratio_floor" in plan["rules"]  # margins are hashed
    assert set(plan["power"]["per_method"]) == {"logconf"}  # production seeds each winner needs
    assert store.plan_sha256(plan) == store.plan_sha256(make_plan(rcfg(), uri)[0])  # deterministic: no timestamps


def test_seed_cap_and_explicit_rule_and_no_winner(uri):
    plan, _ = make_plan(rcfg(seeds={"min": 3, "max": 3}), uri)
    assert plan["seeds"] == [0, 1, 2] and (plan["power"]["capped"] or plan["power"]["seeds_needed"] <= 3)
    plan, _ = make_plan(rcfg(select={"rule": "explicit", "methods": ["confident_only"]}), uri)
    assert {m["name"] for m in plan["methods"]} == {"vanilla", "confident_only"}
    strict = ["bootstrap=300", "alpha=1e-9"]  # nothing survives Holm at this alpha
    plan, _ = make_plan(rcfg(analysis=strict), uri)
    assert plan["selection"]["winners"] == [] and {m["role"] for m in plan["methods"]} >= {"control (no lab winner)"}
    assert make_plan(rcfg(analysis=strict, select={"if_none": "stop"}), uri)[0]["stop"].startswith("lab study has no")
    plan, _ = make_plan(rcfg(analysis=strict, select={"if_none": "baseline"}), uri)
    assert [m["name"] for m in plan["methods"]] == ["vanilla"]


def test_plan_refuses_test_selection_in_a_declared_method(uri, monkeypatch):
    bad = {"name": "logconf", "select_on": "test"}
    monkeypatch.setattr(plans, "_method_config", lambda m, cells: (bad, "x") if m == "logconf" else ({"name": m}, "x"))
    with pytest.raises(BoundaryError, match="select_on: test"):
        make_plan(rcfg(), uri)


def test_changed_plan_is_refused_once_results_exist_and_report_uses_the_plan(uri):
    plan, _ = make_plan(rcfg(), uri)
    client = MlflowClient(uri)
    cells, ex = simulate(PROD, seeds=plan["seeds"], n_test=500, rng=np.random.default_rng(4))
    parent = write_study(uri, "simlab-replay", cells, ex, with_predictions=False)
    writer = StudyWriter("simlab-replay", uri)
    assert writer.parent_id == parent
    client.set_tag(parent, store.PLAN_TAG, "0" * 64)  # results exist under some other plan
    with pytest.raises(StudyError, match="has results under plan 0000.* but this plan is .*start a new study"):
        writer.register_plan(plan, "make replay ... replay.study=<new>")
    client.delete_tag(parent, store.PLAN_TAG)
    with pytest.raises(StudyError, match=r"under plan \(none\)"):  # results that no plan declared
        writer.register_plan(plan, "retry")
    # the plan is registered when the study is fresh; here: attach it directly, then report
    sha = store.plan_sha256(plan)
    client.set_tag(parent, store.PLAN_TAG, sha)
    writer.log_files(parent, {store.PLAN_FILE: store.plan_dumps(plan)})
    assert writer.register_plan(plan, "retry") == sha  # same plan: fine
    assert store.stored_plan(client, parent) == plan
    with pytest.raises(StudyError, match="runs under plan"):
        writer.check_plan(None)
    writer.check_plan(sha)  # a replay's own sweep: fine
    out = build("simlab-replay", tracking_uri=uri, out=str(Path(uri[10:]).parent / "reports"), log=False)
    res = json.loads((out / "results.json").read_text())
    assert res["plan"]["sha256"] == sha and res["lab_study"] == "simlab"  # the lab comes from the stored plan
    assert res["config"]["bootstrap"] == 300 and sha in (out / "report.md").read_text()
    assert "(lab study `simlab` on `sim` -> production on `hh_harmless`)" in (out / "report.md").read_text()
    assert res["plan"]["lab_dataset"] == "sim" and res["plan"]["production_datasets"] == ["hh_harmless"]
    assert [c["method"] for c in res["comparisons"]] == ["logconf"]
    with pytest.raises(ValueError, match="contradicts the transfer plan"):
        build("simlab-replay", tracking_uri=uri, out=str(out.parent), overrides=["alpha=0.1"], log=False)


def test_plan_names_the_production_datasets_and_runtime_cannot_change_them(uri):
    """Plan version 2 names the datasets the production cells run on, so another production dataset is another plan;
    replay.runtime (outside the hash) takes runtime.* only."""
    from transfer.errors import ConfigError
    from jobs.grid import from_plan

    plan, _ = make_plan(rcfg(), uri)
    assert plan["version"] == 2 and plan["production_datasets"] == ["hh_harmless"]
    other, _ = make_plan(rcfg(overrides=["data@setting.data=bigbench_navigate"]), uri)
    assert other["production_datasets"] == ["bigbench_navigate"]
    assert store.plan_sha256(other) != store.plan_sha256(plan)
    assert {c.dataset for c in from_plan(other, "x", uri).cells} == {"bigbench_navigate"}
    with pytest.raises(ConfigError, match=r"replay runtime override 'setting.data.max_pairs=5': only runtime\.\*"):
        from_plan(plan, "x", uri, ["setting.data.max_pairs=5"])
    assert len(from_plan(plan, "x", uri, ["runtime.num_cpus=1"]).cells) == len(plan["seeds"]) * len(plan["methods"])


@pytest.fixture(scope="module")
def bb_uri(uri):
    """A lab study made with grid.datasets=[bigbench_epistemic_reasoning] (its data yaml says `ood: null`)."""
    cells, ex = simulate(TRUTH, seeds=list(range(8)), n_test=500, rng=np.random.default_rng(3),
                         dataset="bigbench_epistemic_reasoning")
    write_study(uri, "bblab", cells, ex, with_predictions=False)
    return uri


def test_replay_runs_on_the_labs_own_dataset_with_its_ood_by_default(bb_uri):
    from jobs.grid import from_plan

    plan, _ = make_plan(rcfg(lab="bblab", study="bblab-replay"), bb_uri)
    assert plan["lab_dataset"] == "bigbench_epistemic_reasoning"
    assert plan["production_datasets"] == ["bigbench_epistemic_reasoning"]  # not the setting's hh_harmless
    cells = from_plan(plan, "bblab-replay", bb_uri).cells
    assert {c.dataset for c in cells} == {"bigbench_epistemic_reasoning"}
    assert all(c.config["setting"].get("ood") is None for c in cells)  # `ood: null`: no HHH set in production
    # the summary and the report say which datasets
    from jobs.replay import summary
    assert "lab bblab / bigbench_epistemic_reasoning -> production / bigbench_epistemic_reasoning" in \
        summary(plan, store.plan_sha256(plan))


def test_another_production_dataset_only_when_named(bb_uri):
    from transfer.errors import ConfigError

    named, _ = make_plan(rcfg(lab="bblab", study="x", production_dataset="hh_harmless"), bb_uri)
    assert named["production_datasets"] == ["hh_harmless"]
    assert any("named by replay.production_dataset" in n for n in named["notes"])
    by_override, _ = make_plan(rcfg(lab="bblab", study="x", overrides=["data@setting.data=bigbench_navigate"]), bb_uri)
    assert by_override["production_datasets"] == ["bigbench_navigate"]
    with pytest.raises(ConfigError, match="both name the production data: keep one"):
        make_plan(rcfg(lab="bblab", study="x", production_dataset="hh_harmless",
                       overrides=["data@setting.data=bigbench_navigate"]), bb_uri)
    with pytest.raises(ConfigError, match=r"replay.production_dataset='nope': unknown dataset; known: \["):
        make_plan(rcfg(lab="bblab", study="x", production_dataset="nope"), bb_uri)


def test_a_lab_dataset_outside_conf_data_keeps_the_settings_own_and_says_so(uri):
    plan, _ = make_plan(rcfg(), uri)  # simulated lab dataset "sim"
    assert plan["production_datasets"] == ["hh_harmless"]
    assert not any(o.startswith("data@") for o in plan["overrides"])
    assert any("the lab's dataset 'sim' is not a conf/data dataset" in n for n in plan["notes"])
