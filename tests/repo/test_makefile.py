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


def test_make_test_installs_or_names_the_system_programs_its_tests_need(tmp_path):
    """Not root, pdflatex and chromium absent: one line naming them, the skipped tests and the apt-get command; make
    test goes on (exit 0); CI's --require fails instead. (As root it would apt-get install them: not run here.)"""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for b in ("bash", "sed", "tr"):
        (bin_ / b).symlink_to(shutil.which(b))
    (bin_ / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_ / "apt-get").write_text("#!/bin/sh\nexit 9\n")  # present, never called by a user who is not root
    for f in ("id", "apt-get"):
        (bin_ / f).chmod(0o755)
    script = str(ROOT / ".ci" / "system-deps")
    run = subprocess.run(["bash", script], env={"PATH": str(bin_)}, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0 and run.stdout.count("\n") == 1, run.stdout + run.stderr
    assert run.stdout.startswith("make test: pdflatex, chromium")  # (and PostgreSQL where it is missing too)
    assert ("so the paper-output, MLflow UI browser" in run.stdout and "tests will skip; install with: sudo apt-get "
            "install -y --no-install-recommends texlive-latex-recommended texlive-science lmodern chromium" in run.stdout)
    strict = subprocess.run(["bash", script, "--require"], env={"PATH": str(bin_)}, capture_output=True, text=True,
                            timeout=30)
    assert strict.returncode == 1
    dry = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0 and ".ci/system-deps" in dry.stdout
