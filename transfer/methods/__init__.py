"""Methods are plugins: `conf/method/<name>.yaml` names its class in `impl: module:Class`."""

from __future__ import annotations

import importlib
import inspect

from transfer.errors import ConfigError
from transfer.methods.base import Method, Predictor, StudentView, check_kind

__all__ = ["Method", "Predictor", "StudentView", "check_kind", "load_method"]


def load_method(cfg: dict) -> Method:
    """`impl: module:Class`; `impl: module` (or no impl: transfer.methods.<name>) takes the one concrete Method
    subclass that module defines (the `Method` it imports is the abstract base, never a default)."""
    impl = cfg.get("impl") or f"transfer.methods.{cfg['name']}"
    module_name, _, cls_name = impl.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"method {cfg['name']!r}: cannot import {module_name!r} ({exc})") from None
    if cls_name:
        cls = getattr(module, cls_name, None)
    else:
        found = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, Method)
                 and c.__module__ == module.__name__ and not inspect.isabstract(c)]
        if len(found) != 1:
            raise ConfigError(f"method {cfg['name']!r}: {module_name!r} defines {len(found)} concrete Method "
                              f"subclasses {[c.__name__ for c in found]}; name one: impl: {module_name}:<Class>")
        cls = found[0]
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ConfigError(f"method {cfg['name']!r}: {impl!r} is not a transfer.methods.Method subclass")
    if inspect.isabstract(cls):
        raise ConfigError(f"method {cfg['name']!r}: {impl!r} is abstract (it lacks "
                          f"{', '.join(sorted(cls.__abstractmethods__))}); name a concrete class")
    return cls(cfg)
