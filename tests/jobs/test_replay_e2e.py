"""`run_replay` end to end on a real tiny lab study (real data, MiniLM -> SmolLM2, real Ray, a throwaway sqlite
store): plan -> production sweep -> report; the rerun runs nothing; a changed plan is refused with one line."""

from __future__ import annotations

import json

import pytest
from hydra import initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from jobs.replay import run as replay_main
from jobs.sweep import main as sweep_main
from transfer import paths, store

pytestmark = pytest.mark.slow
LAB = ["study=tinylab", "setting.data.max_pairs=40", "~setting.ood", "grid.settings=[lab]",
       "grid.methods=[vanilla,logconf]", "grid.seeds=[0,1,2]", "head.epochs=10", "runtime.progress=false"]


def test_replay_plan_sweep_report_rerun_and_changed_plan(tmp_path, monkeypatch, ray_local, capsys):
    monkeypatch.setenv("TRANSFER_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        assert sweep_main([*LAB, f"runtime.tracking_uri={uri}"]) == 0
    rcfg = OmegaConf.to_container(OmegaConf.load(paths.config_dir() / "replay" / "default.yaml"))["replay"]
    rcfg.update(lab="tinylab", setting="lab", study="tinylab-replay", tracking_uri=uri, report_dir=str(tmp_path),
                analysis=["bootstrap=200"], overrides=["~setting.ood"], runtime=["runtime.progress=false"])
    capsys.readouterr()
    assert replay_main(rcfg) == 0
    out = capsys.readouterr().out
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tinylab-replay")
    parent = client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'study'")[0]
    sha = parent.data.tags[store.PLAN_TAG]
    plan = store.stored_plan(client, parent.info.run_id)
    assert store.plan_sha256(plan) == sha and f"plan {sha}" in out
    assert plan["overrides"] == ["~setting.ood", "setting.data.max_pairs=40"]  # the lab's data subset
    assert plan["harness"]["head"]["epochs"] == 10 and plan["seeds"] == [0, 1, 2]
    cells = client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'cell'")
    assert len(cells) == 2 * 3 and all(c.info.status == "FINISHED" for c in cells)
    logconf = next(c for c in cells if c.data.tags["method"] == "logconf")
    assert json.loads(open(client.download_artifacts(logconf.info.run_id, "cell_config.json", str(tmp_path)))
                      .read())["method"] == next(m["config"] for m in plan["methods"] if m["name"] == "logconf")
    res = json.loads((tmp_path / "tinylab-replay" / "results.json").read_text())
    assert res["plan"]["sha256"] == sha and sha in (tmp_path / "tinylab-replay" / "report.md").read_text()
    assert [c["method"] for c in res["comparisons"]] == ["logconf"] and "verdict logconf" in out

    assert replay_main(rcfg) == 0  # same command: nothing new runs
    assert "6 cells, 6 already finished, 0 to run" in capsys.readouterr().out
    assert len(client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'cell'")) == 6

    changed = {**rcfg, "seeds": {**rcfg["seeds"], "min": 4}}
    assert replay_main(changed) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and sha in err and "changed: power, seeds" in err
    assert "start a new study" in err and "replay.study=<new name>" in err
