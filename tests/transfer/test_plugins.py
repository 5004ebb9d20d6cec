"""One plugin resolver (transfer/plugins.py) for methods, data loaders, training modes and backends: built-in names,
`module:attribute`, the valid names in every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from transfer.backends import load_backend
from transfer.backends.base import Backend
from transfer.errors import ConfigError
from transfer.methods import Method
from transfer.plugins import GROUPS, resolve

ROOT = Path(__file__).resolve().parents[2]
HELPERS = {"method": {"base"}, "loader": set(), "mode": {"lm", "prompts"}, "backend": {"base", "http", "precision",
                                                                                     "ray_server", "server", "truncate"}}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_the_builtins_are_the_packages_plugin_modules(group):
    """Adding a plugin module to a package without naming it a built-in (or the reverse) is caught here."""
    folder = ROOT.joinpath(*GROUPS[group].package.split("."))
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} - HELPERS[group]
    assert set(GROUPS[group].builtins) == modules


@pytest.mark.parametrize("group, key", [("method", "method"), ("loader", "data.loader"), ("mode", "mode"),
                                        ("backend", "backend")])
def test_an_unknown_name_lists_the_valid_ones(group, key):
    with pytest.raises(ConfigError, match=rf"^{key}='nope' is unknown; use a built-in \[") as err:
        resolve(group, "nope")
    assert all(repr(name) in str(err.value) for name in GROUPS[group].builtins)


def test_builtins_and_module_attribute_resolve_to_the_same_plugin():
    from transfer.data.loaders import bigbench
    from transfer.methods.vanilla import Vanilla
    from transfer.modes import head

    assert resolve("loader", "bigbench") is resolve("loader", "transfer.data.loaders.bigbench:load") is bigbench.load
    assert resolve("mode", "head") is head.run
    assert resolve("method", "vanilla", base=Method) is resolve("method", "transfer.methods.vanilla", base=Method) \
        is resolve("method", "transfer.methods.vanilla:Vanilla", base=Method) is Vanilla
    assert issubclass(resolve("backend", "hf", base=Backend), Backend)


def test_what_is_not_a_plugin_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="cannot import 'no_such_module'"):
        resolve("loader", "no_such_module:load")
    with pytest.raises(ConfigError, match="has no function or class 'nope'"):
        resolve("loader", "transfer.data.loaders.bigbench:nope")
    with pytest.raises(ConfigError, match="is not a transfer.backends.Backend subclass"):
        resolve("backend", "transfer.heads:train_head", base=Backend)
    with pytest.raises(ConfigError, match="^backend='nope' is unknown"):
        load_backend({"name": "nope"}, {})
