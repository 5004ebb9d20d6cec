"""One entry-point style: every command is a `main(argv=None) -> int` under jobs/ or ops/, installed as a console
script ([project.scripts]) that the Makefile calls, and runnable as `python -m <module>` too."""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
MAKEFILES = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]


@pytest.mark.parametrize("name, target", sorted(SCRIPTS.items()))
def test_each_console_script_is_a_main_taking_argv(name, target):
    module, _, attr = target.partition(":")
    assert module.split(".")[0] in ("jobs", "ops") and attr == "main", target
    main = getattr(importlib.import_module(module), attr)
    params = list(inspect.signature(main).parameters.values())
    assert [p.name for p in params] == ["argv"] and params[0].default is None, f"{target}{inspect.signature(main)}"
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    assert 'if __name__ == "__main__":\n    sys.exit(main())' in source, f"{module} is not runnable as python -m"


def test_the_makefile_calls_the_console_scripts():
    recipes = "\n".join(p.read_text() for p in MAKEFILES)
    assert not re.findall(r"\$\(PY\) -m (?:jobs|ops|transfer|analysis)\b", recipes)
    called = set(re.findall(r"\$\(BIN\)/(transfer-[\w-]+)", recipes))
    assert called == set(SCRIPTS), f"scripts the Makefile does not call: {set(SCRIPTS) - called}"


def test_no_entry_module_outside_the_console_scripts():
    """A module that runs as a program is one of the commands (jobs/ and ops/; transfer/ and analysis/ have none)."""
    runnable = {".".join(p.relative_to(ROOT).with_suffix("").parts)
                for top in ("transfer", "analysis", "jobs", "ops") for p in (ROOT / top).rglob("*.py")
                if 'if __name__ == "__main__"' in p.read_text()}
    # the method process's zygote; the environment defaults the Makefile reads before anything is installed
    allowed = {t.partition(":")[0] for t in SCRIPTS.values()} | {"transfer.sandbox.zygote", "transfer.env"}
    assert runnable <= allowed, sorted(runnable - allowed)
