"""Shape checks of a sweep's `grid` keys: a malformed key is one line naming it and the fix, before Ray or MLflow
start (jobs.grid.expand calls these).

The shell rewrites some overrides before Python sees them. bash's brace expansion turns the unquoted
`grid.power_seeds={effect:0.25,max:30}` into two words, `grid.power_seeds=effect:0.25 grid.power_seeds=max:30`, and
Hydra keeps the last (the string "max:30"): unchecked, all pilot cells ran and then jobs/power_seeds.py crashed
(issue 24). `seed=range(0,30)` unquoted is a shell syntax error before anything starts. The fix for both is quoting.
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Mapping

from omegaconf import OmegaConf

from transfer import paths
from transfer.errors import ConfigError

QUOTE = ("quote it so the shell leaves it whole, e.g. make sweep ARGS=\"study=x "
         "'grid.power_seeds={effect:0.25,max:30}'\" (bash splits an unquoted {a,b} into two words)")
POWER_SEEDS = "grid.power_seeds={effect:<lab ΔPGR to power for, e.g. 0.25>,max:<seed cap, e.g. 30>} or null"


def check_repeats(overrides: list[str]) -> None:
    """A grid key given twice with `k:v` fragments is what brace expansion leaves of `{k:v,k2:v2}` (Hydra would keep
    the last fragment). A key repeated with whole values stays Hydra's "the last one wins"."""
    seen: dict[str, str] = {}
    for line in overrides:
        key, _, value = line.partition("=")
        key = key.lstrip("+~")
        if value and key.startswith("grid."):
            if key in seen and any(_fragment(v.partition("=")[2]) for v in (seen[key], line)):
                raise ConfigError(f"{key} given twice ({seen[key]!r}, {line!r}): the shell split one override; "
                                  f"{QUOTE}")
            seen[key] = line


def _fragment(value: str) -> bool:
    """`effect:0.25`: a piece of a {k:v,...} mapping the shell split (a whole mapping starts with `{`)."""
    return ":" in value and not value.lstrip().startswith(("{", "[", "'", '"'))


def grid_keys() -> list[str]:
    """The grid's keys, as conf/config.yaml declares them."""
    return list(OmegaConf.load(paths.config_dir() / "config.yaml").grid.keys())


def unknown_key(key: str, config: Mapping) -> str:
    """One line for a key the config does not have: the closest key at its level (`grid.seed` -> `grid.seeds`), else
    the keys there. Hydra's own hint ("use +grid.seed=...") would add a key that nothing reads, and the sweep would
    run its defaults."""
    parts, node = key.split("."), config
    for i, part in enumerate(parts):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
            continue
        here = ".".join(parts[:i])
        keys = [str(k) for k in node] if isinstance(node, Mapping) else []
        close = difflib.get_close_matches(part, keys, n=1, cutoff=0.6)
        where = f"{here}." if here else ""
        if close:
            return f"unknown key {key}: did you mean {where}{close[0]}? (conf/config.yaml and its groups)"
        if keys:
            return f"unknown key {key}: {here or 'the config'} has {', '.join(sorted(keys))} (conf/config.yaml)"
        return f"unknown key {key}: {here} is a value, not a section (conf/config.yaml)"
    return f"unknown key {key} (conf/config.yaml)"


HYDRA_UNKNOWN = re.compile(r"Could not override '([^']+)'|Key '([^']+)' is not in struct")


def hydra_unknown_key(message: str) -> str | None:
    """The key of Hydra's "Could not override 'k'. To append ... use +k=..." error, or None for other errors."""
    m = HYDRA_UNKNOWN.search(message)
    return (m.group(1) or m.group(2)) if m else None


def check_grid(grid: dict) -> None:
    """grid: the composed, resolved `grid` section. Raises a one-line ConfigError naming the key and the fix."""
    known = grid_keys()
    unknown = sorted(set(grid) - set(known))
    if unknown:  # +grid.<typo>=...: added, and read by nothing
        raise ConfigError(unknown_key(f"grid.{unknown[0]}", {"grid": dict.fromkeys(known)}))
    for axis, one in (("settings", "setting"), ("methods", "method")):
        if not isinstance(grid[axis], list) or not all(isinstance(v, str) for v in grid[axis]):
            raise ConfigError(f"grid.{axis}={grid[axis]!r}: a list of names, e.g. grid.{axis}=[a,b] "
                              f"(or {one}=a,b)")
    if not isinstance(grid["seeds"], list):
        raise ConfigError(f"grid.seeds={grid['seeds']!r}: a list of integers, e.g. grid.seeds=[0,1,2] or "
                          f"\"'seed=range(0,30)'\" (quoted: unquoted parentheses are a shell syntax error)")
    _check_power_seeds(grid.get("power_seeds"), len(grid["seeds"]))


def _check_power_seeds(spec, pilot: int) -> None:
    if spec is None:
        return
    if isinstance(spec, str) and ":" in spec:
        raise ConfigError(f"grid.power_seeds={spec!r} is a string, not {{effect, max}}: the shell split "
                          f"{{effect:0.25,max:30}}; {QUOTE}")
    if not isinstance(spec, dict) or set(spec) != {"effect", "max"}:
        raise ConfigError(f"grid.power_seeds={spec!r}: expected {POWER_SEEDS}")
    effect, cap = spec["effect"], spec["max"]
    if isinstance(effect, bool) or not isinstance(effect, numbers.Real) or not effect > 0:
        raise ConfigError(f"grid.power_seeds.effect={effect!r}: a positive lab ΔPGR to power the lab test for, "
                          f"e.g. 0.25 ({POWER_SEEDS})")
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < max(pilot, 2):
        raise ConfigError(f"grid.power_seeds.max={cap!r}: an integer seed cap at least the {pilot} pilot seeds of "
                          f"grid.seeds ({POWER_SEEDS})")
