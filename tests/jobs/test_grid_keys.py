"""Malformed grid keys fail with one line naming the key and the fix, before any cell runs (issue 24)."""

from __future__ import annotations

import subprocess

import pytest

from jobs.grid import expand
import jobs.sweep as job
from transfer.errors import ConfigError


def _bash_words(arg: str) -> list[str]:
    """What bash hands a program for `arg` written unquoted (the recipe of `make sweep ARGS=...` runs in bash)."""
    out = subprocess.run(["bash", "-c", f"printf '%s\\n' {arg}"], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_bash_splits_an_unquoted_power_seeds_and_the_sweep_says_so_before_running(monkeypatch, capsys):
    words = _bash_words("grid.power_seeds={effect:0.25,max:30}")
    assert words == ["grid.power_seeds=effect:0.25", "grid.power_seeds=max:30"]  # what issue 24 ran with
    monkeypatch.setattr(job, "run", lambda sweep: pytest.fail("ran cells"))
    monkeypatch.setattr(job, "maybe_submit", lambda *a: pytest.fail("submitted a Ray Job"))
    assert job.main(["study=p", *words]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: grid.power_seeds given twice")
    assert "'grid.power_seeds={effect:0.25,max:30}'" in err  # the fix: the quoted override
    # quoted, bash leaves it whole and the sweep takes it
    quoted = _bash_words("'grid.power_seeds={effect:0.25,max:30}'")
    assert expand(quoted).base["grid"]["power_seeds"] == {"effect": 0.25, "max": 30}


@pytest.mark.parametrize("overrides, message", [
    (["grid.power_seeds=effect:0.25"], "grid.power_seeds='effect:0.25' is a string, not {effect, max}"),
    (["grid.power_seeds=max:30"], "the shell split {effect:0.25,max:30}"),
    (["grid.power_seeds={effect:0.25}"], "grid.power_seeds={'effect': 0.25}: expected grid.power_seeds={effect:"),
    (["grid.power_seeds=30"], "grid.power_seeds=30: expected"),
    (["grid.power_seeds={effect:abc,max:30}"], "grid.power_seeds.effect='abc': a positive lab ΔPGR"),
    (["grid.power_seeds={effect:0,max:30}"], "grid.power_seeds.effect=0: a positive lab ΔPGR"),
    (["grid.seeds=[0,1,2]", "grid.power_seeds={effect:0.25,max:2}"], "at least the 3 pilot seeds"),
    (["grid.power_seeds={effect:0.25,max:30.5}"], "grid.power_seeds.max=30.5: an integer seed cap"),
    (["grid.seeds=0"], "grid.seeds=0: a list of integers, e.g. grid.seeds=[0,1,2] or \"'seed=range(0,30)'\""),
    (["grid.methods=vanilla"], "grid.methods='vanilla': a list of names, e.g. grid.methods=[a,b]"),
    (["grid.settings=lab"], "grid.settings='lab': a list of names"),
    (["+grid.power_seed={effect:0.25,max:30}"], "unknown key grid.power_seed: did you mean grid.power_seeds?"),
    (["grid.power_seeds={effect:0.25,max:30}", "grid.power_seeds=max:30"], "grid.power_seeds given twice"),
])
def test_malformed_grid_keys_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError) as err:
        expand(overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_grid_key_repeated_whole_keeps_hydras_last_one_wins():
    assert expand(["grid.seeds=[0,1]", "grid.seeds=[0,1,2]"]).base["grid"]["seeds"] == [0, 1, 2]


def test_well_formed_grids_pass():
    assert expand(["experiment=demo"]).base["grid"]["power_seeds"] == {"effect": 0.25, "max": 30}
    assert [c.seed for c in expand(["method=vanilla", "seed=range(0,3)"]).cells] == [0, 1, 2]
