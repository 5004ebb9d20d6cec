"""One resolver for the four plugin groups: methods, data loaders, training modes and backends.

A config names a plugin by a built-in name (a module of the group's package: `loader: bigbench`, `mode: head`,
`backend: vllm`, a method's `name`) or by `module:attribute` (any importable code: `loader: my_loader:load`,
`impl: my.methods:Mine`); a method or backend may also name a module alone, whose one concrete subclass of the
group's base class is taken. A built-in is imported only when chosen (a backend's heavy dependencies come with it).
An unknown name is a one-line ConfigError that lists the valid ones.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

from transfer.errors import ConfigError


@dataclass(frozen=True)
class Group:
    key: str  # how a config names one, for errors
    package: str  # built-in <name> is the module <package>.<name>
    builtins: tuple[str, ...]
    attr: str | None = None  # what a built-in module provides (a function); None: its one concrete subclass


GROUPS = {
    "method": Group("method", "transfer.methods", ("bootstrap", "ccs", "confident_only", "knn_relabel", "logconf",
                                                   "ue_consistency", "vanilla")),
    "loader": Group("data.loader", "transfer.data.loaders", ("bigbench", "bigbench_hhh", "hh_rlhf", "items", "pairs"),
                    "load"),
    "mode": Group("mode", "transfer.modes", ("head", "lora", "prompt"), "run"),
    "backend": Group("backend", "transfer.backends", ("hf", "vllm")),
}


def resolve(group: str, spec: str, base: type | None = None):
    """The plugin `spec` names in `group`: a function, or (with `base`) a concrete subclass of `base`."""
    g = GROUPS[group]
    module_name, _, attr = spec.partition(":")
    if not attr and "." not in module_name:
        if module_name not in g.builtins:
            raise ConfigError(f"{g.key}={spec!r} is unknown; use a built-in {sorted(g.builtins)} or "
                              f"'module:{g.attr or 'Class'}'")
        module_name = f"{g.package}.{module_name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"{g.key}={spec!r}: cannot import {module_name!r} ({exc})") from None
    attr = attr or g.attr
    if attr:
        found = getattr(module, attr, None)
        if found is None or (base is None and not callable(found)):
            raise ConfigError(f"{g.key}={spec!r}: {module_name!r} has no function or class {attr!r}")
    else:
        found = _one_subclass(g, spec, module, base)
    if base is not None:
        _check_class(g, spec, found, base)
    return found


def _one_subclass(g: Group, spec: str, module, base: type) -> type:
    """The one concrete subclass of `base` the module defines itself (the `base` it imports is never a default)."""
    found = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, base)
             and c.__module__ == module.__name__ and not inspect.isabstract(c)]
    if len(found) != 1:
        raise ConfigError(f"{g.key}={spec!r}: {module.__name__!r} defines {len(found)} concrete {base.__name__} "
                          f"subclasses {[c.__name__ for c in found]}; name one: {module.__name__}:<Class>")
    return found[0]


def _check_class(g: Group, spec: str, found, base: type) -> None:
    where = f"{base.__module__.rsplit('.', 1)[0]}.{base.__name__}"  # as its package exports it
    if not (isinstance(found, type) and issubclass(found, base)):
        raise ConfigError(f"{g.key}={spec!r} is not a {where} subclass")
    if inspect.isabstract(found):
        raise ConfigError(f"{g.key}={spec!r} is abstract (it lacks {', '.join(sorted(found.__abstractmethods__))}); "
                          f"name a concrete class")
