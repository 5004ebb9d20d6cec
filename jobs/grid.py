"""The grid: Hydra overrides (a sweep) or a transfer plan (a replay) -> typed cell specs, composed once.

A sweep's overrides are read once: `setting=x`, `method=x`, `dataset=x` and `seed=n` (or `method=a,b`,
`seed=range(0,5)`) are the grid axes `grid.settings`, `grid.methods`, `grid.datasets`, `grid.seeds`; giving an axis
both ways is an error. `grid.datasets`
(conf/data/ names; null = each setting's own) replaces the setting's data, one set of cells per dataset; a data yaml
with an `ood:` key (a conf/ood/ name, or null) also sets the setting's out-of-distribution set. `method.<field>=v`
reaches the grid's methods that have <field> (one that none has is an error), so the root config (study, grid,
runtime) is composed without it. `method.<knob>=a,b` (or a range) and `search=<name>` (grid.search) make method
variants (jobs/variants.py): each runs as a method of its own, named by its knobs and config hash, in place of
its base method (the analysis baseline also runs as itself). Each (setting, method) is composed once; its seeds
only set `seed` and resolve.

A replay composes its production setting once with the plan's overrides and puts the plan's exact method configs
and the lab's head/splits into the resolved cells: nothing is written back into override strings.

Identity is `transfer.config.config_hash` of the resolved cell, as before: finished cells of existing studies match.
Every error here is a one-line ConfigError, raised before Ray or MLflow start.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig

from jobs import variants
from jobs.compose import (baseline_method, check_names, compose_cell, compose_config, conf_dirs, grid_datasets,
                          hydra_context, method_yaml, method_yaml_or_none, ood_follows_data, parse_overrides,
                          route_method_fields, seed_list)
from jobs.grid_keys import check_grid, check_repeats
from jobs.names import check_study
from transfer.config import config_hash, to_plain
from transfer.errors import ConfigError

# a cell's key -> the grid list it comes from: `method=a,b` is grid.methods=[a,b]
AXES = {"setting": "settings", "method": "methods", "seed": "seeds", "dataset": "datasets"}


@dataclass(frozen=True)
class CellSpec:
    """One cell: (setting, method, seed) on a dataset, its resolved config and the hash that identifies it."""

    setting: str
    method: str
    seed: int
    config: dict = field(repr=False, compare=False)
    config_hash: str = ""
    dataset: str = ""

    def cell(self) -> dict:
        """The plain dict a Ray task runs and cell_config.json records (the config plus its hash)."""
        return {**self.config, "config_hash": self.config_hash}


@dataclass
class Sweep:
    """The root config (study, grid, runtime; resolved) and its cells, in (setting, dataset, method, seed) order."""

    base: dict
    cells: list[CellSpec]
    templates: dict = field(default_factory=dict, repr=False)  # (setting, dataset, method) -> (config, replacements)

    def with_seeds(self, seeds: list[int]) -> Sweep:
        """The same grid with other seeds (grid.power_seeds), from the configs already composed."""
        base = {**self.base, "grid": {**self.base["grid"], "seeds": seed_list(list(seeds))}}
        return Sweep(base, _cells(self.templates, base["grid"]), self.templates)


def expand(overrides: list[str]) -> Sweep:
    """A sweep from the command line's Hydra overrides of conf/config.yaml."""
    check_repeats(overrides)
    axes, fields, rest = _split(overrides)
    with hydra_context():
        root = compose_config(rest)
        for key, values in axes.items():
            root.grid[AXES[key]] = values
        base = to_plain(root)
        check_study(base["study"])
        grid = base["grid"]
        check_grid(grid)
        check_names(grid)
        grid["seeds"] = seed_list(grid["seeds"])
        grid["datasets"] = grid_datasets(grid.get("datasets"), rest)
        plain, swept = [o for o in fields if not o.is_sweep_override()], [o for o in fields if o.is_sweep_override()]
        found = _variants(swept, grid, rest)
        bases = list(dict.fromkeys([*grid["methods"], *(v.base for v in found)]))
        per_method = route_method_fields(plain, bases)
        templates = {}
        for s in grid["settings"]:
            for d in grid["datasets"] or [None]:
                for m in bases:
                    cfg = compose_cell([*rest, *per_method[m], f"setting={s}", f"method={m}"], d)
                    templates.update(_method_templates(s, d, m, cfg, found, grid))
        grid["methods"] = list(dict.fromkeys(m for (_, _, m) in templates))
        grid["variants"] = {name: info for name, info in grid.get("variants", {}).items() if name in grid["methods"]}
    return Sweep(base, _cells(templates, grid), templates)


def _variants(swept: list[Override], grid: dict, rest: list[str]) -> list[variants.Variant]:
    """The sweep's method variants: `method.<knob>=a,b` sweeps and the search file grid.search names."""
    values = {o.key_or_group.split(".", 1)[1]: [variants.check_value(v, f"override {o.input_line!r}")
                                                  for v in o.sweep_iterator()] for o in swept}
    takers = {}
    for o in swept:
        if o.type == OverrideType.ADD:
            raise ConfigError(f"override {o.input_line!r}: a swept knob must be a field of the method's yaml "
                              f"(+method.<key> adds one value to every method; sweep only existing knobs)")
        knob = o.key_or_group.split(".", 1)[1]
        takers[knob] = [m for m in grid["methods"] if knob in variants.knobs_of(method_yaml(m))]
        if not takers[knob]:
            raise ConfigError(f"override {o.input_line!r}: no method in the grid {grid['methods']} has a knob "
                              f"{knob!r}; knobs: " + "; ".join(f"{m}: {variants.knobs_of(method_yaml(m))}"
                                                             for m in grid["methods"]))
    found = variants.from_overrides(values, takers)
    if grid.get("search"):
        found += variants.from_search(str(grid["search"]), conf_dirs(rest), method_yaml_or_none)
    return list(dict.fromkeys(found))


def _method_templates(s: str, d: str | None, m: str, cfg: DictConfig, found: list, grid: dict) -> dict:
    """(setting, dataset, name) -> (config, replacements) of method m and its variants: a method with variants runs
    as its variants only, except the analysis baseline (every ΔPGR's reference), which also runs as itself."""
    mine, out = [v for v in found if v.base == m], {}
    plain = to_plain(cfg.method)
    if m in grid["methods"] and (not mine or m == baseline_method()):
        _check_student_l2(plain, cfg.mode)
        out[(s, d, m)] = (cfg, {})
    for v in mine:
        mcfg = v.config(plain)
        _check_student_l2(mcfg, cfg.mode)
        if (s, d, m) in out and variants.short_hash(mcfg) == variants.short_hash(plain):
            continue  # the method as it runs anyway: not a second method
        grid.setdefault("variants", {})[mcfg["name"]] = {"of": m, "knobs": dict(v.knobs), "source": v.source}
        out[(s, d, mcfg["name"])] = (cfg, {"method": mcfg})
    return out


def _check_student_l2(method, mode) -> None:
    """student_l2 is the student head's L2: a training mode without a head would ignore it."""
    l2 = method.get("student_l2") if method is not None else None
    if l2 is not None and (mode or {}).get("name", "head") != "head":
        raise ConfigError(f"method {method.get('name')!r}: student_l2={l2} sets the student head's L2, and "
                          f"mode={mode.get('name')} trains no head; drop student_l2 or use mode=head")
    if l2 is not None and (isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0):
        raise ConfigError(f"method {method.get('name')!r}: student_l2={l2!r}: a number >= 0, or null for head.l2")


def from_plan(plan: dict, study: str, tracking_uri: str, runtime: Sequence[str] = ()) -> Sweep:
    """A replay's cells: the plan's production setting, methods (exact configs), seeds and lab head/splits."""
    setting = plan["production_setting"]
    for o in parse_overrides(list(runtime)):
        if o.key_or_group.split(".")[0] != "runtime":  # runtime is outside the plan's hash: it must not change a cell
            raise ConfigError(f"replay runtime override {o.input_line!r}: only runtime.* goes there; an override that "
                              f"changes the cells (data, backends, head) belongs in replay.overrides (part of the plan)")
    overrides = [*plan["overrides"], *runtime]
    for o in parse_overrides(overrides):
        if o.key_or_group in AXES or o.key_or_group.split(".")[0] in ("method", "grid", "study") \
                or o.is_sweep_override():
            raise ConfigError(f"replay override {o.input_line!r}: a replay runs the plan's setting, methods, seeds "
                              f"and study; change them in the replay config (replay.setting, replay.select, "
                              f"replay.seeds, replay.study)")
    methods = {m["name"]: m["config"] for m in plan["methods"]}
    check_names({"settings": [setting], "methods": []})
    with hydra_context():
        root = ood_follows_data(compose_config([*overrides, f"setting={setting}"]), [*overrides, f"setting={setting}"])
    base = to_plain(root)
    base["study"] = study
    base["grid"] = {**base["grid"], "settings": [setting], "methods": list(methods), "seeds": seed_list(plan["seeds"])}
    base["runtime"]["tracking_uri"] = tracking_uri
    harness = {k: plan["harness"][k] for k in ("head", "roles", "splits") if k in plan["harness"]}
    templates = {(setting, None, m): (root, {"study": study, "runtime": base["runtime"], "method": cfg, **harness})
                 for m, cfg in methods.items()}
    return Sweep(base, _cells(templates, base["grid"]), templates)


def _split(overrides: list[str]) -> tuple[dict[str, list], list[Override], list[str]]:
    """(grid axes given as setting=/method=/seed=, method.<field> overrides, every other override)."""
    axes, lines, fields, rest = {}, {}, [], []
    for o in parse_overrides(overrides):
        key = o.key_or_group
        if o.package is None and key in AXES:
            axis = f"grid.{AXES[key]}"
            if o.type != OverrideType.CHANGE:
                raise ConfigError(f"override {o.input_line!r}: a cell's {key} comes from {axis}; "
                                  f"use {key}=<value> or {axis}=[...]")
            if key in axes:
                raise ConfigError(f"{key} given twice ({lines[key]!r}, {o.input_line!r}): give it once, "
                                  f"e.g. {key}=a,b or {axis}=[a,b]")
            value = list(o.sweep_string_iterator()) if o.is_sweep_override() else o.value()
            values = value if isinstance(value, list) else [value]
            axes[key], lines[key] = (seed_list(values) if key == "seed" else [str(v) for v in values]), o.input_line
        elif o.package is None and key == "search":  # search=<name>: grid.search, the declared search's file
            if o.is_sweep_override() or o.type != OverrideType.CHANGE:
                raise ConfigError(f"override {o.input_line!r}: one search file per study, search=<name> "
                                  f"(conf/search/<name>.yaml)")
            rest.append(parse_overrides([f"grid.search={o.value()}"])[0])
        elif o.package is None and key.startswith("method.") and o.is_sweep_override():
            fields.append(o)  # a swept knob: the method's variants (jobs/variants.py)
        elif o.is_sweep_override():
            raise ConfigError(f"override {o.input_line!r} lists several values: a sweep's grid is "
                              f"grid.settings, grid.methods, grid.seeds and a method's knobs (method.<knob>=a,b); run one "
                              f"study per value of {key}")
        elif o.package is None and key.startswith("method."):
            fields.append(o)
        else:
            rest.append(o)
    for o in rest:  # the same axis both ways: which one wins would be a guess
        for k, line in lines.items():
            if o.key_or_group in ("grid", f"grid.{AXES[k]}"):
                raise ConfigError(f"{line!r} and {o.input_line!r} both set grid.{AXES[k]}: use one of them "
                                  f"({line!r} means grid.{AXES[k]}=[{line.split('=', 1)[1]}])")
    return axes, fields, [o.input_line for o in rest]


def _cells(templates: dict, grid: dict) -> list[CellSpec]:
    cells = []
    for s in grid["settings"]:
        for d in grid.get("datasets") or [None]:
            for m in grid["methods"]:
                cfg, replace = templates[(s, d, m)]
                for seed in grid["seeds"]:
                    cfg.seed = seed  # the seeds.* interpolate it
                    plain = to_plain(cfg)
                    plain.update(copy.deepcopy({**replace, "grid": grid}))
                    cells.append(CellSpec(s, m, seed, plain, config_hash(plain), plain["setting"]["data"]["name"]))
    return cells
