"""Composition for the grid (jobs/grid.py): Hydra overrides parsed, routed and composed into configs, each failure a
one-line ConfigError that names the thing to fix (an unknown key gets the closest one: jobs/grid_keys.py).

- overrides: parse_overrides, route_method_fields (`method.<field>=v` to the methods that have the field);
- names: check_names (settings, methods), grid_datasets (conf/data/ names, also under hydra.searchpath), seed_list;
- composition: compose_config (inside an initialized Hydra, or conf/ for the call: hydra_context), compose_cell (a
  cell on a dataset, its OOD set following the data yaml's `ood:`), replay_config (the replay section).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from jobs.grid_keys import hydra_unknown_key, unknown_key
from transfer import paths
from transfer.config import register_resolvers, to_plain
from transfer.errors import ConfigError


def parse_overrides(overrides: list[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise ConfigError(f"bad override: {one_line(exc)}") from None


def route_method_fields(fields: list[Override], methods: list[str]) -> dict[str, list[str]]:
    """`method.<key>=v` applies to the grid's methods that have <key> (`+method.<key>` adds it to all)."""
    keys = {m: set(method_yaml(m)) for m in methods}
    out = {m: [] for m in methods}
    for o in fields:
        name = o.key_or_group.split(".")[1]
        takers = methods if o.type == OverrideType.ADD else [m for m in methods if name in keys[m]]
        if not takers:
            raise ConfigError(f"override {o.input_line!r}: no method in the grid {methods} has a field {name!r}")
        for m in takers:
            out[m].append(o.input_line)
    return out


def method_yaml(m: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(paths.config_dir() / "method" / f"{m}.yaml"))


def method_yaml_or_none(m: str) -> dict | None:
    return method_yaml(m) if (paths.config_dir() / "method" / f"{m}.yaml").is_file() else None


def baseline_method() -> str:
    """The analysis baseline (conf/analysis/default.yaml): ΔPGR's reference, kept as itself beside its variants."""
    return str(OmegaConf.load(paths.config_dir() / "analysis" / "default.yaml").baseline_method)


def check_names(grid: dict) -> None:
    for group in ("setting", "method"):
        names = grid[f"{group}s"]
        known = sorted(p.stem for p in (paths.config_dir() / group).glob("*.yaml"))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"grid.{group}s: unknown {group} {unknown}; known: {known} (conf/{group}/)")


def grid_datasets(names, rest: list[str]) -> list[str] | None:
    """grid.datasets: conf/data/ names (also found in `hydra.searchpath` dirs), or null for each setting's own."""
    if names is None:
        return None
    names = [str(n) for n in (names if isinstance(names, list) else [names])]
    known = sorted({p.stem for d in conf_dirs(rest) for p in (d / "data").glob("*.yaml")})
    unknown, dup = [n for n in names if n not in known], sorted({n for n in names if names.count(n) > 1})
    if not names or unknown or dup:
        why = f"unknown dataset {unknown}" if unknown else f"{dup} listed twice" if dup else "empty"
        raise ConfigError(f"grid.datasets: {why}; known: {known} (conf/data/, or a folder added with "
                          f"hydra.searchpath=[file:///path/to/conf]), or null for each setting's own dataset")
    return names


def conf_dirs(rest: list[str]) -> list[Path]:
    dirs = [paths.config_dir()]
    for o in parse_overrides([r for r in rest if r.startswith("hydra.searchpath")]):
        value = o.value()
        dirs += [Path(v.removeprefix("file://")) for v in (value if isinstance(value, list) else [value])
                 if str(v).startswith("file://")]
    return dirs


def compose_cell(overrides: list[str], dataset: str | None) -> DictConfig:
    """A cell's config on `dataset` (None: the setting's own); a data yaml's `ood:` key picks the OOD set."""
    overrides = [*overrides, *([f"data@setting.data={dataset}"] if dataset else [])]
    return ood_follows_data(compose_config(overrides), overrides)


def ood_follows_data(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """A data yaml's `ood:` key (a conf/ood/ name, or null for none) sets the setting's OOD set; without the key the
    setting's own stays (so cells on such data keep their config_hash)."""
    if "ood" not in cfg.setting.data:
        return cfg
    ood, has = cfg.setting.data.ood, "ood" in cfg.setting and cfg.setting.ood is not None
    if ood is None and has:
        return compose_config([*overrides, "setting.ood=null"])
    if ood is not None and (not has or cfg.setting.ood.get("name") != ood):
        return compose_config([*overrides, f"{'' if 'ood' in cfg.setting else '+'}ood@setting.ood={ood}"])
    return cfg


def seed_list(values: list) -> list[int]:
    try:
        if any(isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()) for v in values):
            raise ValueError
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise ConfigError(f"grid.seeds: seeds are integers, got {values}") from None


@contextmanager
def hydra_context():
    """Compose inside an initialized Hydra (jobs/replay.py's app, a test's), else initialize conf/ for the call."""
    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        yield


def compose_config(overrides: list[str], config_name: str = "config") -> DictConfig:
    register_resolvers()  # a composed config's interpolations (${transfer_data:}) may be read before to_plain
    try:
        return compose(config_name=config_name, overrides=list(overrides))
    except HydraException as exc:  # unknown group option, key or malformed override: one line that names it
        key = hydra_unknown_key(str(exc))
        if key is None:
            raise ConfigError(one_line(exc)) from None
        # a typo'd key: the closest key of the config as composed without that override (did you mean ...?)
        others = [o for o in overrides if o.lstrip("+~").partition("=")[0] != key]
        try:
            cfg = compose(config_name=config_name, overrides=others)
        except HydraException:
            cfg = compose(config_name=config_name)
        raise ConfigError(unknown_key(key, cfg)) from None


def replay_config(overrides: list[str]) -> dict:
    """The `replay` section of conf/replay/default.yaml under `overrides` (jobs/replay.py's arguments), resolved."""
    with hydra_context():
        cfg = compose_config(overrides, "replay/default")
    try:
        return to_plain(cfg)["replay"]
    except MissingMandatoryValue as exc:  # replay.lab: ???
        raise ConfigError(f"{exc.full_key} is required, e.g. python -m jobs.replay replay.lab=demo "
                          f"replay.setting=production") from None


def one_line(exc: Exception) -> str:
    return " ".join(line.strip() for line in str(exc).split("\n")[:2] if line.strip())
