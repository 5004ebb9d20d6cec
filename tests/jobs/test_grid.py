"""jobs.grid: overrides (and replay plans) -> cell specs, composed once; no Ray, no MLflow."""

from __future__ import annotations

import copy
import re

import pytest

from jobs.grid import expand, from_plan
from jobs.names import check_study
import jobs.sweep as job
from transfer.config import config_hash
from transfer.errors import ConfigError

# config_hash values of the code before jobs.grid (per-cell Hydra composes, plan.apply's patch-and-rehash),
# with TRANSFER_DATA=/fixed/data (the data path is part of a cell's config), when the hash still included the models'
# descriptive `params_m` (`legacy_hash`): the grid composes exactly the configs it did; params_m alone changed the hash
OLD_DEFAULT = {("lab", "vanilla", 0): "7fbb26718e9236bdae310eedd00249eaa223bd15c3d6e10ba5f8ddce403a45cc",
               ("lab", "confident_only", 0): "97f0a09befd34e9661d4db035edefa280bd42d8bf069e71d0e06d1d38c5b5779"}
MIXED = ["grid.settings=[lab,production]", "grid.methods=[vanilla,logconf,ccs]", "grid.seeds=[0,3]",
         "method.alpha_max=0.5", "setting.data.max_pairs=1200"]
OLD_MIXED = {("lab", "logconf", 3): "636397fa4ddb6135746f1785e46b5768fa6fa9d98b596301843e483840b1238a",
             ("lab", "ccs", 0): "6ee77b938acbb69e0cca584bb49bb6d129006962c0bce83f3bec9ff648d3d329",
             ("production", "vanilla", 0): "18d31ae25df8c63f338e3b787230e32f6e1786c88da070871f08b62fc1f7a708",
             ("production", "logconf", 0): "f083344edc412b8664c86bd72d4ba260b03a1b0829e8e29761990e026f10cf73",
             ("production", "ccs", 3): "6fdb0d5fd1c04e4d73668c2f71aca911cfa331d34fae26183bd150951e00de63"}
PLAN = {"production_setting": "production", "seeds": [0, 1, 2],
        "overrides": ["~setting.ood", "setting.data.max_pairs=40"],
        "methods": [{"name": "vanilla", "config": {"name": "vanilla", "impl": "transfer.methods.vanilla:Vanilla",
                                                   "labels": "soft"}},
                    {"name": "logconf", "config": {"name": "logconf", "impl": "transfer.methods.logconf:LogConf",
                                                   "alpha_max": 0.6, "warmup_frac": 0.2}}],
        "harness": {"head": {"epochs": 10, "lr": 0.01, "l2": 0.3, "batch_size": None},
                    "splits": {"train_label": 0.3, "train_unlabel": 0.45, "test": 0.25}}}
OLD_REPLAY = {("vanilla", 0): "8136ce4406e9a4f9f2b3dab3c7cd7e46cee524d3883d7fd620b333b5f2898000",
              ("vanilla", 2): "179916949acdf72daaddba810c1c47899bbbc44aa7e4362df1ee0ef1995c4973",
              ("logconf", 0): "2f1f291c978235ead15e2dcee2a8d5a408d973dc03d54d971c0b3ff02c7b6545",
              ("logconf", 1): "a07ab9f7687cacade409f370ffa500ccbaff8d54cd05c9f705d30a4f95e2590d",
              ("logconf", 2): "43fa6c12e1190973ac77b737f09adcc8a4513ee284c5c18b3f6597e5aa9c87fa"}


@pytest.fixture
def fixed_data(monkeypatch):
    monkeypatch.setenv("TRANSFER_DATA", "/fixed/data")


@pytest.fixture
def legacy_hash(monkeypatch):
    """config_hash as it was before params_m left it."""
    import transfer.config

    monkeypatch.setattr(transfer.config, "NON_SEMANTIC_MODEL_KEYS", ())


def keys(sweep):
    return [(c.setting, c.method, c.seed) for c in sweep.cells]


F32 = ["setting.weak_backend.dtype=float32", "setting.strong_backend.dtype=float32"]  # what every old cell computed
# old cells had no `roles:` block (one head config for teacher, ceiling and student): without it the grid composes
# exactly the configs it did; with it (every cell now) the teacher and ceiling change, so every hash changes too
# (nor confident_only's fallback: without it, its old cells failed where it now degrades)
# (and their models read 128 tokens, not 192)
OLD = [*F32, "~roles", "setting.weak.max_tokens=128", "setting.strong.max_tokens=128"]
NO_FALLBACK = ["~method.fallback", "~method.fallback_keep"]


def test_config_hash_of_existing_cells_is_unchanged(fixed_data, legacy_hash):
    default = {(c.setting, c.method, c.seed): c.config_hash for c in expand(OLD + NO_FALLBACK).cells}
    assert len(default) == 15 and all(default[k] == v for k, v in OLD_DEFAULT.items())
    mixed = {(c.setting, c.method, c.seed): c.config_hash for c in expand(MIXED + OLD).cells}
    assert len(mixed) == 12 and all(mixed[k] == v for k, v in OLD_MIXED.items())
    now = {(c.setting, c.method, c.seed): c.config_hash for c in expand(F32).cells}
    assert all(now[k] != v for k, v in OLD_DEFAULT.items())  # refitted teacher and ceiling: new cells
    bf16 = {(c.setting, c.method, c.seed): c.config_hash
            for c in expand(["setting.strong_backend.dtype=bfloat16"]).cells}
    assert all(bf16[k] != v for k, v in OLD_DEFAULT.items())  # bfloat16 features: new cells, never "finished"


def test_a_models_parameter_count_is_not_part_of_a_cells_identity(fixed_data):
    hashes = [c.config_hash for c in expand(["grid.seeds=[0]", *F32]).cells]
    assert hashes == [c.config_hash for c in expand(["grid.seeds=[0]", *F32, "setting.strong.params_m=1"]).cells]
    assert hashes != [c.config_hash for c in expand(["grid.seeds=[0]", *F32, "setting.strong.layer=19"]).cells]
    assert expand(["grid.seeds=[0]", *OLD]).cells[0].config_hash == \
        "816facfc2a9f300319baaabf1c07a608bcdb6308e2145482b8264b7faaa65b23"  # (lab, vanilla, 0) before `roles:`


def test_method_setting_seed_overrides_set_the_grid():
    assert keys(expand(["method=logconf"])) == [("lab", "logconf", s) for s in range(5)]
    assert keys(expand(["seed=3"])) == [("lab", m, 3) for m in ("vanilla", "confident_only", "logconf")]
    assert keys(expand(["setting=production", "method=vanilla", "seed=1"])) == [("production", "vanilla", 1)]
    assert keys(expand(["method=vanilla,ccs", "seed=range(0,2)"])) == [("lab", m, s) for m in ("vanilla", "ccs")
                                                                       for s in (0, 1)]
    assert keys(expand(["experiment=demo", "method=ccs"])) == [("lab", "ccs", s) for s in range(6)]
    one = expand(["method=logconf", "seed=3", "dataset=bigbench_navigate"])
    same = expand(["grid.methods=[logconf]", "grid.seeds=[3]", "grid.datasets=[bigbench_navigate]"])
    assert one.base["grid"] == same.base["grid"] and one.cells == same.cells
    assert [c.cell() for c in one.cells] == [c.cell() for c in same.cells]
    assert {c.dataset for c in one.cells} == {"bigbench_navigate"}


@pytest.mark.parametrize("overrides, message", [
    (["method=logconf", "grid.methods=[vanilla]"],
     "'method=logconf' and 'grid.methods=[vanilla]' both set grid.methods: use one of them"),
    (["seed=1", "grid.seeds=[2,3]"], "both set grid.seeds"),
    (["setting=lab", "+grid.settings=[production]"], "both set grid.settings"),
    (["method=vanilla", "method=logconf"], "method given twice"),
    (["~method"], "a cell's method comes from grid.methods"),
    (["seed=x"], "grid.seeds: seeds are integers"),
    (["head.lr=0.1,0.01"], "lists several values: a sweep's grid is grid.settings, grid.methods, grid.seeds and a "
                           "method's knobs"),
    (["method=vanila"], "grid.methods: unknown method ['vanila']"),
    (["head.lrr=1"], "unknown key head.lrr: did you mean head.lr?"),
    (["setting.data.max_pair=3"], "unknown key setting.data.max_pair: did you mean setting.data.max_pairs?"),
    (["runtime.nope=1"], "unknown key runtime.nope: runtime has cell_retries, "),
    (["dataset=bigbench_navigate", "grid.datasets=[bigbench_winowhy]"], "both set grid.datasets"),
    (["dataset=nope"], "grid.datasets: unknown dataset ['nope']"),
    (["grid.methods=[vanilla,"], "bad override:"),
    (["grid.methods=[vanilla,ccs]", "method.alpha_max=0.5"],
     "override 'method.alpha_max=0.5': no method in the grid ['vanilla', 'ccs'] has a field 'alpha_max'"),
])
def test_bad_overrides_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError) as err:
        expand(overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_method_field_reaches_only_the_methods_that_have_it():
    sweep = expand(["grid.methods=[vanilla,logconf,ccs,ue_consistency]", "grid.seeds=[0]", "method.alpha_max=0.5",
                    "method.prompt_format.prompt_words=30"])
    plain = {c.method: c.config["method"] for c in expand(["grid.methods=[vanilla,logconf,ccs,ue_consistency]",
                                                             "grid.seeds=[0]"]).cells}
    got = {c.method: c.config["method"] for c in sweep.cells}
    assert got["vanilla"] == plain["vanilla"] and got["logconf"] == {**plain["logconf"], "alpha_max": 0.5}
    for m in ("ccs", "ue_consistency"):
        assert got[m] == {**plain[m], "prompt_format": {**plain[m]["prompt_format"], "prompt_words": 30}}
    assert sweep.base["method"]["name"] == "vanilla"  # the root config never saw the method fields


@pytest.mark.parametrize("argv, message", [
    (["-m", "method=vanilla,logconf"], "multirun (-m) is not supported"),
    (["--multirun", "seed=0,1"], "grid.seeds=[...]"),
    (["--cfg", "job"], "unsupported option '--cfg'"),
    (["method=logconf", "grid.methods=[vanilla]"], "both set grid.methods"),
    (["setting=prod"], "unknown setting ['prod']"),
    (["grid.seed=[0]"], "unknown key grid.seed: did you mean grid.seeds?"),  # not Hydra's "+grid.seed" hint
    (["+grid.seed=[0]"], "unknown key grid.seed: did you mean grid.seeds?"),  # which ran the 15 default cells
    (["study=my study"], "study='my study': a study name is letters, digits, '.', '_' and '-' (it is printed as a "
                         "make argument and is a folder under reports/), e.g. study=my-study"),
    (["study='a&b'"], "study='a&b': a study name is"),
])
def test_entry_point_refuses_before_ray_or_mlflow_with_one_line(argv, message, monkeypatch, capsys):
    monkeypatch.setattr(job, "run", lambda sweep: pytest.fail("ran a sweep"))
    monkeypatch.setattr(job, "maybe_submit", lambda *a: pytest.fail("submitted a Ray Job"))
    assert job.main(argv) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and out.err.startswith("error: ") and message in out.err


def test_entry_point_help_prints_its_usage(capsys):
    assert job.main(["--help"]) == 0 and "method=logconf seed=3" in capsys.readouterr().out


def test_power_seeds_reruns_the_same_grid_with_more_seeds(monkeypatch, capsys):
    import jobs.power_seeds as ps

    runs = []
    monkeypatch.setattr(job, "run", lambda sweep: runs.append(sweep) or 0)
    monkeypatch.setattr(job, "maybe_submit", lambda *a: None)
    monkeypatch.setattr(ps, "seeds_needed", lambda study, uri, grid: (5, [f"{study}: 5 seeds"]))
    monkeypatch.setattr(ps, "lab_verdict_lines", lambda study, uri: ["logconf inconclusive"])
    argv = ["study=p", "grid.methods=[vanilla,logconf]", "grid.seeds=[2,3]", "grid.power_seeds={effect:0.25,max:9}",
            "method.alpha_max=0.5"]
    assert job.main(argv) == 0
    assert [sorted({c.seed for c in s.cells}) for s in runs] == [[2, 3], [2, 3, 4, 5, 6]]
    again = expand([*argv[:2], "grid.seeds=[2,3,4,5,6]", *argv[3:]])
    assert runs[1].base == again.base and [c.cell() for c in runs[1].cells] == [c.cell() for c in again.cells]
    out = capsys.readouterr().out
    assert "[power] seeds from the pilot's per-seed SD (grid.power_seeds):\n[power]   p: 5 seeds" in out
    assert "[power] lab verdicts (make report STUDY=p for the full report):\n[power]   logconf inconclusive" in out


def test_replay_cells_come_from_the_plan_with_the_old_hashes(fixed_data, legacy_hash):
    plan = copy.deepcopy(PLAN)
    plan["overrides"] += ["setting.weak_backend.dtype=float32", *OLD[2:]]  # what the old cells computed
    sweep = from_plan(plan, "sim-replay", "sqlite:///x.db", ["runtime.progress=false"])
    assert keys(sweep) == [("production", m, s) for m in ("vanilla", "logconf") for s in (0, 1, 2)]
    hashes = {(c.method, c.seed): c.config_hash for c in sweep.cells}
    assert all(hashes[k] == v for k, v in OLD_REPLAY.items())
    for c in sweep.cells:
        assert c.config["method"] == next(m["config"] for m in PLAN["methods"] if m["name"] == c.method)
        assert c.config["head"] == PLAN["harness"]["head"] and c.config["splits"] == PLAN["harness"]["splits"]
        assert c.config["setting"]["data"]["max_pairs"] == 40 and "ood" not in c.config["setting"]
        assert c.config["study"] == "sim-replay" and c.config_hash == config_hash(c.config)
    assert sweep.base["grid"] == {"settings": ["production"], "methods": ["vanilla", "logconf"], "seeds": [0, 1, 2],
                                  "power_seeds": None, "datasets": None, "search": None}
    assert sweep.base["runtime"]["tracking_uri"] == "sqlite:///x.db" and sweep.base["runtime"]["progress"] is False


@pytest.mark.parametrize("override", ["method.alpha_max=0.1", "grid.seeds=[0]", "study=other", "seed=1",
                                      "setting=lab", "method=ccs"])
def test_replay_refuses_overrides_that_would_change_the_plan(override):
    plan = {**copy.deepcopy(PLAN), "overrides": [*PLAN["overrides"], override]}
    with pytest.raises(ConfigError, match=re.escape(f"replay override {override!r}: a replay runs the plan's")):
        from_plan(plan, "sim-replay", "sqlite:///x.db")


def test_study_names_pass_a_shell_and_a_path_unquoted():
    assert check_study("demo-replay-production") == "demo-replay-production" and check_study(7) == "7"
    for bad in ("my study", "a/b", "x;y", "-x", "", "a'b"):
        with pytest.raises(ConfigError):
            check_study(bad)
