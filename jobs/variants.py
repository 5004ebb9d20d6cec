"""Method variants: a method's knobs swept as a grid axis (jobs/grid.py composes their cells).

A variant is a conf/method/<base>.yaml with some knobs set: `method.alpha_max=0.1,0.3,1.0` (or `range(...)`) on the
command line, or a search file conf/search/<name>.yaml (`search=<name>`, i.e. `grid.search=<name>`) that declares
per method either a grid of values or a seeded random sample. Its name is readable and unique per config:
`logconf[alpha_max=0.3]#a1b2c3`, the knobs as set plus 6 hex digits of the sha256 of the method's resolved config
(without its name). That name is the method's `name`, so a variant is a method of the study like any other: its own
cells, MLflow params and tags, report rows. A knob is any field of the method's yaml but `name` and `impl`.

Every error here is one line naming the fix, raised before Ray or MLflow start.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from transfer.errors import ConfigError

NOT_KNOBS = ("name", "impl")  # what a method is, not how it is tuned
SAMPLES = ("grid", "random")
BAD_CHARS = set("'\"[],=#/ \n")  # a knob value is part of a name that MLflow filters and run names quote


@dataclass(frozen=True)
class Variant:
    base: str  # conf/method/<base>.yaml
    knobs: tuple[tuple[str, object], ...]  # (dotted knob, value), in the order declared
    source: str = field(default="", compare=False)  # "override" or "search <name>"

    def config(self, method_cfg: dict) -> dict:
        """The base method's resolved config with the knobs set and the variant's name."""
        cfg = OmegaConf.create({k: v for k, v in method_cfg.items() if k != "name"})
        for key, value in self.knobs:
            _check_type(self.base, key, OmegaConf.select(cfg, key), value)
            OmegaConf.update(cfg, key, value, merge=False)
        plain = OmegaConf.to_container(cfg, resolve=True)
        return {"name": self.name(plain), **plain}

    def name(self, unnamed_cfg: dict) -> str:
        knobs = ",".join(f"{k}={_show(v)}" for k, v in self.knobs)
        return f"{self.base}[{knobs}]#{short_hash(unnamed_cfg)}"


def _kind(v) -> str:
    return "null" if v is None else "bool" if isinstance(v, bool) else "number" if isinstance(v, (int, float)) \
        else "word"


def _check_type(method: str, knob: str, default, value) -> None:
    """A knob keeps its yaml default's kind (a number stays a number; null defaults take numbers): a wrong kind
    would fail in the method, inside Ray, one cell at a time."""
    allowed = {_kind(default), "null"} | ({"number"} if default is None else set())
    if _kind(value) not in allowed:
        kind = _kind(default)
        raise ConfigError(f"method {method!r}: knob {knob}={value!r} is a {_kind(value)}; its default "
                          f"{default!r} is a {kind}: give {'numbers' if kind == 'number' else kind + 's'}")


def short_hash(method_cfg: dict) -> str:
    """6 hex digits of a method config's sha256, its name left out (a variant's name contains it); student_l2: null
    (= head.l2) left out as config_hash leaves it out, so a method's hash is the same before and after the knob."""
    body = {k: v for k, v in method_cfg.items() if k != "name" and not (k == "student_l2" and v is None)}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:6]


def base_of(method: str) -> str:
    """The conf/method/ name a method (or variant) name comes from: `logconf[alpha_max=0.3]#a1b2c3` -> logconf."""
    return method.split("[", 1)[0]


def knobs_of(method_yaml: dict) -> list[str]:
    """A method's sweepable knobs, dotted for nested fields (prompt_format.prompt_words)."""
    out = []
    for k, v in method_yaml.items():
        if k in NOT_KNOBS:
            continue
        out += [f"{k}.{sub}" for sub in knobs_of(v)] if isinstance(v, dict) else [k]
    return out


def from_overrides(swept: dict[str, list], takers: dict[str, list[str]]) -> list[Variant]:
    """`method.<knob>=a,b` sweeps -> every combination of the swept knobs, per method that has them.
    swept: knob -> values; takers: knob -> the grid's methods that have it (jobs.grid routes them)."""
    per_method: dict[str, list[tuple[str, list]]] = {}
    for knob, values in swept.items():
        for m in takers[knob]:
            per_method.setdefault(m, []).append((knob, values))
    return [v for m, axes in per_method.items() for v in _product(m, axes, "override")]


def from_search(name: str, conf_dirs: list[Path], method_yamls) -> list[Variant]:
    """conf/search/<name>.yaml -> its variants. method_yamls: base name -> the method's yaml as a dict (or None
    when there is no conf/method/<base>.yaml)."""
    spec = load_search(name, conf_dirs)
    sample, where = spec.get("sample", "grid"), f"search {name!r}"
    out = []
    for i, (m, space) in enumerate(spec["methods"].items()):
        yaml = method_yamls(m)
        if yaml is None:
            raise ConfigError(f"{where}: unknown method {m!r} under methods: (conf/method/ has no {m}.yaml)")
        if not isinstance(space, dict) or not space:
            raise ConfigError(f"{where}: methods.{m} must map knobs to values, e.g. {m}: {{{knobs_of(yaml)[0]}: "
                              f"[a, b]}}")
        known = knobs_of(yaml)
        for knob in space:
            if knob not in known:
                raise ConfigError(f"{where}: method {m!r} has no knob {knob!r}; its knobs: {known}")
        if sample == "grid":
            axes = [(k, _choices(v, f"{where}: methods.{m}.{k}", grid=True)) for k, v in space.items()]
            out += _product(m, axes, where)
        else:
            out += _random(m, space, int(spec.get("n", 0)), [int(spec.get("seed", 0)), i], where)
    return out


def load_search(name: str, conf_dirs: list[Path]) -> dict:
    """A search file, checked: `methods:` (method -> knob -> values or a range), `sample: grid | random`, and for
    random `n` (draws per method) and `seed`."""
    found = [d / "search" / f"{name}.yaml" for d in conf_dirs if (d / "search" / f"{name}.yaml").is_file()]
    if not found:
        known = sorted({p.stem for d in conf_dirs for p in (d / "search").glob("*.yaml")})
        raise ConfigError(f"search={name!r}: no conf/search/{name}.yaml; known: {known}")
    try:
        spec = OmegaConf.to_container(OmegaConf.load(found[0]), resolve=True)
    except Exception as exc:  # a yaml syntax error is a config error, in one line
        raise ConfigError(f"search {name!r} ({found[0]}): not valid yaml: {str(exc).splitlines()[0]}") from None
    where = f"search {name!r} ({found[0]})"
    extra = sorted(set(spec or {}) - {"methods", "sample", "n", "seed", "about"}) if isinstance(spec, dict) else []
    if not isinstance(spec, dict) or not isinstance(spec.get("methods"), dict) or not spec["methods"] or extra:
        why = f"unknown keys {extra}" if extra else "needs a non-empty `methods:` mapping"
        raise ConfigError(f"{where}: {why}; keys: methods (method -> knob -> values), sample (grid | random), "
                          f"n and seed (random)")
    if spec.get("sample", "grid") not in SAMPLES:
        raise ConfigError(f"{where}: sample={spec['sample']!r}; use grid (every combination) or random (n seeded "
                          f"draws per method)")
    if spec.get("sample") == "random" and not (isinstance(spec.get("n"), int) and spec["n"] > 0):
        raise ConfigError(f"{where}: sample: random needs n: <draws per method> (a positive integer)")
    return spec


def _product(method: str, axes: list[tuple[str, list]], source: str) -> list[Variant]:
    keys = [k for k, _ in axes]
    return [Variant(method, tuple(zip(keys, combo)), source) for combo in itertools.product(*[v for _, v in axes])]


def _random(method: str, space: dict, n: int, seed: list[int], where: str) -> list[Variant]:
    """n seeded draws: a list is a uniform choice, {low, high} a uniform float ({log: true}: log-uniform;
    integer bounds without log: a uniform integer)."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        draws.append(Variant(method, tuple((k, _draw(v, rng, f"{where}: methods.{method}.{k}"))
                                           for k, v in space.items()), where))
    return list(dict.fromkeys(draws))  # a repeated draw is one variant


def _draw(spec, rng: np.random.Generator, where: str):
    if isinstance(spec, dict):
        low, high, log = _range(spec, where)
        if log:
            return _round(math.exp(rng.uniform(math.log(low), math.log(high))))
        if isinstance(low, int) and isinstance(high, int):
            return int(rng.integers(low, high + 1))
        return _round(rng.uniform(low, high))
    values = _choices(spec, where)
    return values[int(rng.integers(len(values)))]


def _range(spec: dict, where: str) -> tuple:
    low, high, log = spec.get("low"), spec.get("high"), bool(spec.get("log", False))
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (low, high))
    if set(spec) - {"low", "high", "log"} or not numeric or not low < high or (log and low <= 0):
        raise ConfigError(f"{where}: a range is {{low: a, high: b}} with a < b (log: true needs a > 0), got {spec}")
    return low, high, log


def _choices(spec, where: str, grid: bool = False) -> list:
    if isinstance(spec, dict):
        raise ConfigError(f"{where}: a range {spec} needs `sample: random`; a grid lists its values, e.g. [0.1, 0.3]")
    values = spec if isinstance(spec, list) else [spec]
    if not values:
        raise ConfigError(f"{where}: no values")
    return [check_value(v, where) for v in values]


def check_value(value, where: str):
    """A knob value: a number, bool, null or a plain word (it becomes part of the variant's name)."""
    if isinstance(value, (dict, list)) or (isinstance(value, str) and (BAD_CHARS & set(value) or not value)):
        raise ConfigError(f"{where}: value {value!r} cannot name a variant; use numbers, true/false, null or "
                          f"plain words")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: value {value!r} is not finite")
    return _round(value) if isinstance(value, float) else value


def _round(x: float) -> float:
    return float(f"{x:.6g}")  # range(0.1,1,0.3) gives 0.7000000000000001: names and configs get 0.7


def _show(v) -> str:
    return "null" if v is None else str(v).lower() if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) \
        else str(v)
