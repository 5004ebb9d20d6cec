"""Paper-ready outputs: the LaTeX tables compile in a two-column article without overfull boxes, and the figures'
PDFs embed TrueType (Type 42) fonts, never Type 3. Needs pdflatex (texlive-latex-recommended + texlive-science),
which `make test` installs as root (.ci/system-deps) or names; skipped, saying so, where it is missing."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from analysis.analyze import analyze
from analysis.config import load_config
from analysis.simulate import as_study, planted
from analysis.tables import PREAMBLE, write_tables
from jobs.report import build
from tests.helpers.analysis import FAST


needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (apt: "
                                    "texlive-latex-recommended texlive-science)")


def compile_paper(folder, tables: list[str]):
    """The tables \\input into a two-column article in `folder`, compiled: (pdflatex's result, its log)."""
    body = "\n".join(rf"\input{{{t}}}\clearpage" for t in tables)
    (folder / "paper.tex").write_text(rf"""\documentclass[twocolumn]{{article}}
\usepackage[T1]{{fontenc}}\usepackage{{lmodern}}{PREAMBLE}
\begin{{document}}
{body}
\end{{document}}
""")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=folder,
                         capture_output=True, text=True, timeout=300)
    return run, (folder / "paper.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    return build("sim", tracking_uri=store, out=str(tmp_path_factory.mktemp("paper")), overrides=FAST, log=False)


@needs_pdflatex
def test_tables_compile_in_a_two_column_paper(report, tmp_path):
    tables = sorted((report / "tables").glob("*.tex"))
    assert {t.stem for t in tables} >= {"pgr", "delta_pgr", "lab_verdicts", "verdicts", "verdict_tests"}
    run, log = compile_paper(tmp_path, [str(t) for t in tables])
    assert run.returncode == 0, log[-3000:]
    for bad in ("Overfull \\hbox", "not set up for use with LaTeX", "Missing character"):
        assert bad not in log, [line for line in log.splitlines() if bad in line][:5]


def test_figures_embed_truetype_fonts_and_none_is_empty(report):
    pdfs = sorted((report / "figures").glob("*.pdf"))
    assert pdfs
    for pdf in pdfs:
        data = pdf.read_bytes()
        assert b"/Type3" not in data and b"/FontFile2" in data, pdf.name  # Type 42 = embedded TrueType
    res = json.loads((report / "results.json").read_text())
    assert res["comparisons"]  # the simulated study has both settings, so every figure has something to show


@needs_pdflatex
def test_a_real_studys_long_variant_and_dataset_names_compile_within_the_page(tmp_path):
    """The demo's names ('#' in every variant, 40-character names) broke pdflatex, then overflowed the page."""
    cells, ex = planted({"lab": {"delta": 0.0}, "production": {"delta": 0.0, "ceiling": 0.75}},
                        {"lab": list(range(8)), "production": list(range(8))}, 400, np.random.default_rng(3),
                        dataset="bigbench_epistemic_reasoning")
    cells = cells.assign(method=cells.method.replace({"treated": "logconf[alpha_max=0.25,student_l2=0.03]#f564bc"}))
    tables = write_tables(analyze(as_study(cells, ex.iloc[:0]), load_config(FAST)), tmp_path / "tables")
    assert {"pgr.tex", "lab_verdicts.tex", "verdicts.tex"} <= set(tables)
    run, log = compile_paper(tmp_path, [f"tables/{t}" for t in tables])
    assert run.returncode == 0, log[-2000:]
    assert "Overfull \\hbox" not in log, [line for line in log.splitlines() if "Overfull" in line]
