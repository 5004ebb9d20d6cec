import pytest
from jobs.grid import expand
from transfer import paths
from transfer.config import config_hash
from transfer.errors import ConfigError

CONF = paths.config_dir()


@pytest.mark.parametrize("setting", sorted(p.stem for p in (CONF / "setting").glob("*.yaml")))
def test_every_setting_composes_with_models_data_and_backends(compose_cfg, setting):
    cfg = compose_cfg(f"setting={setting}")
    s = cfg["setting"]
    assert s["name"] == setting
    for role in ("weak", "strong"):
        assert s[role]["name"] and s[role]["kind"] in ("encoder", "causal_lm")
        assert s[f"{role}_backend"]["name"]
    assert s["data"]["name"]


@pytest.mark.parametrize("method", sorted(p.stem for p in (CONF / "method").glob("*.yaml")))
def test_every_method_config_names_a_loadable_plugin(compose_cfg, method):
    from transfer.methods import load_method
    cfg = compose_cfg(f"method={method}")
    assert cfg["method"]["name"] == method
    load_method(cfg["method"])


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes(compose_cfg, experiment):
    assert compose_cfg(f"experiment={experiment}")["study"]


def test_production_strong_model_is_larger_than_lab(compose_cfg):
    lab, prod = compose_cfg("setting=lab")["setting"], compose_cfg("setting=production")["setting"]
    assert prod["strong"]["params_m"] > 1.5 * lab["strong"]["params_m"]
    assert prod["weak"]["name"] == lab["weak"]["name"] and prod["data"] == lab["data"]


def test_seeds_derive_from_the_cell_seed_but_can_be_set_apart(compose_cfg):
    assert compose_cfg("seed=7")["seeds"] == {"split": 7, "teacher": 7, "student": 7}
    assert compose_cfg("seed=7", "seeds.student=9")["seeds"] == {"split": 7, "teacher": 7, "student": 9}


def test_grid_expands_and_hash_ignores_runtime_only():
    cells = expand(["grid.methods=[vanilla,logconf]", "grid.seeds=[0,1,2]"]).cells
    again = expand(["grid.methods=[vanilla,logconf]", "grid.seeds=[0,1,2]", "runtime.num_cpus=1", "study=other"]).cells
    changed = expand(["grid.methods=[vanilla,logconf]", "grid.seeds=[0,1,2]", "method.labels=hard"]).cells
    assert len(cells) == 6 and len({c.config_hash for c in cells}) == 6
    assert [c.config_hash for c in cells] == [c.config_hash for c in again]
    # an override of a method field reaches that method's cells only
    assert sum(a.config_hash != b.config_hash for a, b in zip(cells, changed)) == 3
    assert {(c.method, c.seed) for c in cells} == {(m, s) for m in ("vanilla", "logconf") for s in (0, 1, 2)}
    assert {(c.config["method"]["name"], c.config["seed"]) for c in cells} == {(c.method, c.seed) for c in cells}
    assert config_hash(cells[0].config) == cells[0].config_hash == cells[0].cell()["config_hash"]


def test_unknown_names_are_one_line_config_errors():
    with pytest.raises(ConfigError, match=r"grid.methods: unknown method \['vanila'\]; known: \["):
        expand(["grid.methods=[vanila]"])
    with pytest.raises(ConfigError, match=r"grid.settings: unknown setting \['prod'\]"):
        expand(["grid.settings=[prod]"])
    with pytest.raises(ConfigError, match=r"override 'method.alpha=1': no method in the grid \['vanilla'\]"):
        expand(["grid.methods=[vanilla]", "method.alpha=1"])
