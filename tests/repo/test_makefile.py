"""Make targets that need an argument print their usage before installing anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("target, usage", [("replay", "usage: make replay LAB="), ("report", "usage: make report STUDY=")])
def test_usage_comes_before_any_install(tmp_path, target, usage):
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "mk", tmp_path / "mk")
    shutil.copytree(ROOT / "constraints", tmp_path / "constraints")
    run = subprocess.run(["make", target], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and usage in run.stdout
    assert not (tmp_path / ".venv").exists()  # nothing was installed first


def test_test_all_is_a_real_target():
    run = subprocess.run(["make", "-n", "test-all"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "-m pytest" in run.stdout


def test_make_exports_the_environment_defaults_of_transfer_env():
    """The Makefile reads transfer/env.py's list (one place); a value the user set wins over it."""
    from transfer import env

    base = {k: v for k, v in __import__("os").environ.items() if k not in env.DEFAULTS and not k.startswith("MAKE")}
    show = ["make", "-s", "--no-print-directory", "--eval", "show-env: ; @env", "show-env"]
    run = subprocess.run(show, cwd=ROOT, env={**base, "RAY_AUTH_MODE": "mine"}, capture_output=True, text=True,
                         timeout=60)
    got = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)
    assert run.returncode == 0 and got["RAY_AUTH_MODE"] == "mine"
    assert {k: got.get(k) for k in env.DEFAULTS if k != "RAY_AUTH_MODE"} == \
        {k: v for k, v in env.DEFAULTS.items() if k != "RAY_AUTH_MODE"}
