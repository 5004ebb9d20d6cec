"""Every `make report STUDY=... [LAB=...] [REPORT_ARGS="..."]` the docs show (and the target's own usage line) is a
command line jobs.report accepts as written, with `--set` keys the analysis config knows: a reader who copies
one gets a report, not an argparse or settings error."""

from __future__ import annotations

import re
import shlex

import pytest

from analysis.config import load_config
from jobs.report import parser
from transfer import paths

ROOT = paths.repo_root()
ASSIGN = re.compile(r"""\s*\[?([A-Z_]+)=("[^"]*"|'[^']*'|[^\s`'"\[\])]+)\]?""")


def assignments(rest: str) -> dict[str, str]:
    """The make variables that follow `make report` (placeholders like <study> become X; [OPTIONAL] brackets go)."""
    rest, out, pos = re.sub(r"<[^>]*>", "X", rest), {}, 0
    while m := ASSIGN.match(rest, pos):
        out[m.group(1)], pos = m.group(2).strip("\"'"), m.end()
    return out


def examples() -> list[tuple[str, dict[str, str]]]:
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "mk").glob("*.mk"))]:
        for line in path.read_text().splitlines():
            out += [(path.name, assignments(rest)) for rest in line.split("make report ")[1:]]
    return out


def argv(values: dict[str, str]) -> list[str]:
    """The command mk/analysis.mk runs for these make variables."""
    return (["--study", values["STUDY"]] + (["--lab", values["LAB"]] if values.get("LAB") else [])
            + shlex.split(values.get("REPORT_ARGS", "")))


def test_the_docs_show_report_examples_with_report_args():
    found = examples()
    assert len(found) >= 10 and sum("REPORT_ARGS" in e for _, e in found) >= 3
    assert all("STUDY" in e for _, e in found), [e for e in found if "STUDY" not in e[1]]


@pytest.mark.parametrize("where,values", examples(), ids=lambda v: v if isinstance(v, str) else " ".join(
    f"{k}={x}" for k, x in v.items()))
def test_a_report_example_parses_and_its_settings_exist(where, values):
    a = parser().parse_args(argv(values))
    assert a.study
    load_config(a.set + ([f"lab_dataset={a.lab_dataset}"] if a.lab_dataset else []))  # unknown keys raise
