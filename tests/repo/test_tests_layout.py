"""The tests mirror the packages, and share helpers through tests/helpers/ only: no test file (or conftest) is
imported by another."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
MIRRORED = ("transfer", "jobs", "analysis", "ops")  # tests/<these>/... mirror the packages' folders
OWN = ("adversarial", "repo", "helpers")  # attacks on the boundary, checks of the repository, the shared helpers


def test_no_test_file_sits_flat_in_tests():
    assert sorted(p.name for p in TESTS.glob("test_*.py")) == []


def test_test_folders_mirror_the_packages():
    folders = {p.parent.relative_to(TESTS) for p in TESTS.rglob("test_*.py")}
    for folder in folders:
        top = folder.parts[0]
        assert top in MIRRORED + OWN, f"tests/{folder}: not a package of the repo ({MIRRORED}) nor {OWN}"
        if top in MIRRORED:
            assert (ROOT / folder).is_dir(), f"tests/{folder} mirrors no folder {folder}/"


def test_tests_import_helpers_never_other_tests():
    bad = []
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
                last = node.module.split(".")[-1]
                if last.startswith("test_") or last == "conftest":
                    bad.append(f"{path.relative_to(ROOT)}: from {node.module} import ...")
    assert bad == []
