"""The console scripts of pyproject.toml for this interpreter, written as pip writes them, so that a test can run a
Makefile target (`make tracking-server BIN=...`) without an installed venv."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from transfer import paths


def console_scripts(folder: Path) -> Path:
    """`folder` holding one executable per [project.scripts] entry, each calling its `main()` with this Python."""
    folder.mkdir(parents=True, exist_ok=True)
    scripts = tomllib.loads((paths.repo_root() / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        module, _, attr = target.partition(":")
        path = folder / name
        path.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {attr}\nsys.exit({attr}())\n")
        path.chmod(0o755)
    return folder
