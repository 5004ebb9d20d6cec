"""Every benchmark script still imports and answers --help: they run outside CI's suite, so a moved module (the
extraction benchmark once imported a loader that had moved) would otherwise break them unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from transfer import paths

SCRIPTS = sorted((paths.repo_root() / "benchmarks").glob("*.py"))


def test_there_are_benchmarks():
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_answers_help(script):
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300,
                          cwd=paths.repo_root(), env={**os.environ, "PYTHONPATH": str(paths.repo_root())})
    assert proc.returncode == 0, f"{script.name} --help failed:\n{proc.stderr[-2000:]}"
    assert "usage" in proc.stdout.lower() or len(proc.stdout.strip()) > 40


@pytest.mark.slow
def test_amortization_breakdown_runs_every_kind_of_method():
    """The breakdown builds each method's view itself: ccs asks for the two sides (`needs`), and a view built without
    them once failed the benchmark after its sweeps had run. Real models, 120 real pairs, an empty feature cache."""
    script = paths.repo_root() / "benchmarks" / "amortization.py"
    proc = subprocess.run([sys.executable, str(script), "--breakdown-only", "--max-pairs", "120",
                           "--methods", "vanilla,ccs"], capture_output=True, text=True, timeout=1200,
                          cwd=paths.repo_root(), env={**os.environ, "PYTHONPATH": str(paths.repo_root())})
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if "per method:" in x)
    assert "vanilla" in line and "ccs" in line and line.count(" ms") == 2, line


@pytest.mark.slow
def test_rung_layers_extracts_what_the_harness_extracts(tmp_path):
    """The layer search runs each model once and keeps every candidate layer; its configured layer must be the
    harness's own features (decoder cut after L, final norm; an encoder's last layer), or the choice would be made
    on features no cell sees. Real SmolLM2 and MPNet on 40 real pairs."""
    script = paths.repo_root() / "benchmarks" / "rung_layers.py"
    proc = subprocess.run([sys.executable, str(script), "--ladder", "cpu_replayable", "--dataset",
                           "bigbench_epistemic_reasoning", "--override", "setting.data.max_pairs=40", "--seeds", "2",
                           "--depths", "0.5", "--models", "mpnet_base", "smollm2_135m"],
                          capture_output=True, text=True, timeout=1200, cwd=paths.repo_root(),
                          env={**os.environ, "PYTHONPATH": str(paths.repo_root())})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [x for x in proc.stdout.splitlines() if "choose layer" in x]
    assert [x.split(":")[0] for x in lines] == ["rung_mpnet_base", "rung_smollm2_135m"], proc.stdout
    for x in lines:
        assert float(x.rsplit("min cosine", 1)[1]) > 0.999, x
    assert "| smollm2_135m | 15 (30) |" in proc.stdout and "| smollm2_135m | 20 (30) |" in proc.stdout
