"""Ladder configs (conf/ladder/*.yaml): every rung composes with Hydra as the ladder job composes it, and bad
ladders are refused in one line naming the fix, before Ray or MLflow start (jobs/ladder.py)."""

from __future__ import annotations

import copy

import pytest
from hydra import compose, initialize_config_dir

from jobs import ladder as jl
from transfer import paths
from transfer.errors import ConfigError


@pytest.mark.parametrize("name", jl.ladder_names())
def test_every_rung_and_production_composes(name):
    lad = jl.load_ladder(name)
    assert len(lad["rungs"]) >= 3 and lad["production"]["params_m"] > lad["rungs"][-1]["params_m"]
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        for rung in lad["rungs"]:
            cfg = compose(config_name="config", overrides=[f"setting={lad['setting']}", *jl.rung_overrides(lad, rung)])
            assert cfg.setting.name == rung["name"] and cfg.setting.strong.name == rung["model"]
            assert cfg.setting.weak.name == compose(config_name="config", overrides=[
                f"setting={lad['setting']}"]).setting.weak.name  # one weak teacher on every rung
        prod = compose(config_name="config", overrides=[f"setting={lad['setting']}",
                                                        f"model@setting.strong={lad['production']['model']}"])
        assert prod.setting.strong.params_m == lad["production"]["params_m"]


def test_the_ladders_this_issue_names():
    cpu, gpu = jl.load_ladder("cpu"), jl.load_ladder("gpu_qwen")
    assert [r["model"] for r in cpu["rungs"]] == ["smollm2_135m", "gemma3_270m", "qwen2_5_coder_0_5b"]
    assert [r["model"] for r in gpu["rungs"]] == ["qwen2_5_0_5b", "qwen2_5_1_5b", "qwen2_5_3b"]
    assert gpu["production"]["model"] == "qwen2_5_7b"
    assert (cpu["shape"], gpu["shape"]) == ("line", "auto")  # three architectures vs one family


def test_the_replayable_cpu_ladder_forecasts_a_production_setting_that_exists():
    """cpu_replayable's production is a model this CPU runs: conf/setting/production_qwen_coder runs it as the
    strong student beside the ladder's own weak teacher, so a replay can put the forecast beside its outcome."""
    lad = jl.load_ladder("cpu_replayable")
    assert [r["model"] for r in lad["rungs"]] == ["mpnet_base", "smollm2_135m", "gemma3_270m"]
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        prod = compose(config_name="config", overrides=["setting=production_qwen_coder"])
        base = compose(config_name="config", overrides=[f"setting={lad['setting']}"])
    assert prod.setting.strong.name == lad["production"]["model"] == "qwen2_5_coder_0_5b"
    assert prod.setting.weak.name == base.setting.weak.name and prod.setting.data.name == base.setting.data.name


def test_bad_ladders_are_one_line_errors(capsys):
    assert jl.main(["--lab", "x", "--ladder", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown ladder 'nope'" in err and "cpu" in err and "\n" not in err
    good = copy.deepcopy(jl.load_ladder("cpu"))
    for r in [*good["rungs"], good["production"]]:
        r.pop("params_m")
    two = {**copy.deepcopy(good), "rungs": good["rungs"][:2]}
    with pytest.raises(ConfigError, match="2 rung\\(s\\); a forecast needs at least 3"):
        jl.check_ladder(two, "two")
    swapped = copy.deepcopy(good)
    swapped["rungs"][0], swapped["rungs"][1] = swapped["rungs"][1], swapped["rungs"][0]
    with pytest.raises(ConfigError, match="rungs must increase in size, in order; got gemma3_270m 268.1 M"):
        jl.check_ladder(swapped, "swapped")
    small = copy.deepcopy(good)
    small["production"] = {"model": "gemma3_270m"}
    with pytest.raises(ConfigError, match="must be larger than the last rung"):
        jl.check_ladder(small, "small")
    with pytest.raises(ConfigError, match="no `production: {model: <conf/model name>}`"):
        jl.check_ladder({**copy.deepcopy(good), "production": None}, "noprod")
    with pytest.raises(ConfigError, match="shape 'cubic': one of \\['auto', 'line'\\]"):
        jl.check_ladder({**copy.deepcopy(good), "shape": "cubic"}, "cubic")
    unknown = copy.deepcopy(good)
    unknown["rungs"][2]["model"] = "qwen_99b"
    with pytest.raises(ConfigError, match="model 'qwen_99b' is not a conf/model name"):
        jl.check_ladder(unknown, "unknown")
