"""Methods are plugins: `conf/method/<name>.yaml` names its class in `impl: module:Class` (transfer/plugins.py)."""

from __future__ import annotations

from transfer.methods.base import Method, Predictor, StudentView, check_kind
from transfer.plugins import resolve

__all__ = ["Method", "Predictor", "StudentView", "check_kind", "load_method"]


def load_method(cfg: dict) -> Method:
    """`impl: module:Class`; `impl: module` (or no impl: the built-in transfer.methods.<name>) takes the one concrete
    Method subclass that module defines (the `Method` it imports is the abstract base, never a default)."""
    return resolve("method", cfg.get("impl") or cfg["name"], base=Method)(cfg)
