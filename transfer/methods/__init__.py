"""Methods are plugins: `conf/method/<name>.yaml` names its class in `impl: module:Class`."""

from __future__ import annotations

import importlib

from transfer.errors import ConfigError
from transfer.methods.base import Method, Predictor, StudentView, check_kind

__all__ = ["Method", "Predictor", "StudentView", "check_kind", "load_method"]


def load_method(cfg: dict) -> Method:
    impl = cfg.get("impl") or f"transfer.methods.{cfg['name']}:Method"
    module_name, _, cls_name = impl.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"method {cfg['name']!r}: cannot import {module_name!r} ({exc})") from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ConfigError(f"method {cfg['name']!r}: {impl!r} is not a transfer.methods.Method subclass")
    return cls(cfg)
