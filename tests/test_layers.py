"""One import direction: compute (transfer/) <- statistics (analysis/) <- orchestration (jobs/).

Every import of every module is read from its source (AST), those inside functions included, so a lazy import
cannot hide a cycle. analysis/ may read the tracking store through transfer.store, which itself imports no more of
transfer/ than its paths, environment defaults and errors: a report rebuilds without the pipeline.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("transfer", "analysis", "jobs")
# what analysis/ may import from transfer/, and what that may import in turn (its whole transfer/ closure)
STORE_CLOSURE = {"transfer", "transfer.store", "transfer.store_inputs", "transfer.store_sql", "transfer.paths", "transfer.errors", "transfer.env",
                 "transfer.mlflow_view"}  # the study's saved UI view: part of the MLflow contract, imports only json


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it; `from pkg import name` counts as pkg.name when that is a module."""
    mod, out = module_name(path), set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                pkg = mod.split(".")[: len(mod.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(pkg + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}"))
    return out


def is_module(name: str) -> bool:
    p = ROOT.joinpath(*name.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def layer(name: str) -> str | None:
    top = name.split(".")[0]
    return top if top in LAYERS else None


SOURCES = {module_name(p): p for top in LAYERS for p in sorted((ROOT / top).rglob("*.py"))}
GRAPH = {m: {i for i in imports(p) if layer(i)} for m, p in SOURCES.items()}


def test_the_walk_sees_imports_inside_functions():
    assert "transfer.inputs" in GRAPH["transfer.raytasks"]  # imported inside build_inputs
    assert "analysis.report" in GRAPH["jobs.replay"] and "transfer.store" in GRAPH["analysis.load"]


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if layer(m) == "transfer"))
def test_compute_imports_neither_statistics_nor_orchestration(module):
    bad = sorted(i for i in GRAPH[module] if layer(i) in ("analysis", "jobs"))
    assert not bad, f"{module} imports {bad}: transfer/ is the bottom layer (move the caller to jobs/)"


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if layer(m) == "analysis"))
def test_statistics_read_the_store_only(module):
    bad = sorted(i for i in GRAPH[module] if layer(i) == "jobs"
                 or (layer(i) == "transfer" and i not in STORE_CLOSURE))
    assert not bad, f"{module} imports {bad}: analysis/ reads the store (transfer.store) and nothing else of transfer/"


def test_the_store_imports_no_pipeline():
    closure, todo = set(), ["transfer.store"]
    while todo:
        m = todo.pop()
        if m in closure:
            continue
        closure.add(m)
        todo += [i for i in GRAPH.get(m, ()) if i in SOURCES]
    assert closure <= STORE_CLOSURE, f"transfer.store pulls in {sorted(closure - STORE_CLOSURE)}"


def test_a_report_loads_without_the_pipeline():
    """Importing all of analysis/ loads none of torch, Ray, vLLM, Hydra or the compute modules."""
    heavy = ("torch", "ray", "vllm", "hydra", "transformers")
    code = ("import sys, analysis.report, analysis.load, analysis.analyze, analysis.simulate; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} "
            f"or (m.startswith('transfer.') and m not in {tuple(sorted(STORE_CLOSURE))!r})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
