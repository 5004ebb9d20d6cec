"""The house rules, one test each: compute (transfer/) <- statistics (analysis/) <- orchestration (jobs/), and the
operations package (ops/) beside them; no import circle, no import that climbs back up, at most MAX_FLOORS floors.

Every import of every module is read from its source (AST), those inside functions included, so a lazy import
cannot hide a circle; imports under `if TYPE_CHECKING:` are annotations only and do not count. analysis/ may read
the tracking store through transfer.store, which itself imports no more of transfer/ than its paths, environment
defaults and errors: a report rebuilds without the pipeline.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("transfer", "analysis", "jobs", "ops")
MAX_FLOORS = 8
# the one module of ops/ that compute may use (transfer/backends/server.py): it imports nothing of the project
LIFECYCLE = "ops.lifecycle"
OPS_FOR_COMPUTE = {"ops", LIFECYCLE}  # ops/__init__.py is a docstring
# what analysis/ may import from transfer/, and what that may import in turn (its whole transfer/ closure)
STORE_CLOSURE = {"transfer", "transfer.store", "transfer.store.inputs", "transfer.store.view", "transfer.paths",
                 "transfer.errors", "transfer.env"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    p = ROOT.joinpath(*name.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def layer(name: str) -> str | None:
    top = name.split(".")[0]
    return top if top in LAYERS else None


def _type_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:`."""
    return {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}


def _in_functions(tree: ast.AST) -> set[int]:
    return {id(n) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(node)}


def imports(path: Path) -> dict[str, bool]:
    """{project module imported: whether every import of it is inside a function}. `from pkg import name` counts as
    pkg.name when that is a module; a relative import is resolved against the module's package; the packages above
    an imported module count too (Python runs their __init__ first)."""
    mod, out = module_name(path), {}
    tree = ast.parse(path.read_text(), str(path))
    skip, inner = _type_only(tree), _in_functions(tree)
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                pkg = mod.split(".")[: len(mod.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(pkg + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}")]
        for name in names:
            # importing a.b.c runs a/__init__ and a/b/__init__ first (but the importer's own packages are running)
            parts = name.split(".")
            for full in [".".join(parts[:k]) for k in range(1, len(parts))] + [name]:
                if layer(full) and full != mod and not mod.startswith(full + ".") and is_module(full):
                    out[full] = out.get(full, True) and id(node) in inner
    return out


SOURCES = {module_name(p): p for top in LAYERS for p in sorted((ROOT / top).rglob("*.py"))}
IMPORTS = {m: imports(p) for m, p in SOURCES.items()}
GRAPH = {m: set(i) for m, i in IMPORTS.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a circle of imports."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """A module's floor: 1 if it imports no project module, else one above the highest it imports (a circle's
    modules share one floor, so a graph with circles is measured too)."""
    rep = {m: c[0] for c in circles(graph) for m in c}
    condensed: dict[str, set[str]] = {}
    for m, deps in graph.items():
        condensed.setdefault(rep.get(m, m), set()).update(rep.get(i, i) for i in deps if i in graph
                                                          and rep.get(i, i) != rep.get(m, m))

    @cache
    def floor(m: str) -> int:
        return 1 + max((floor(i) for i in condensed.get(m, ())), default=0)

    return {m: floor(rep.get(m, m)) for m in graph}


def unit(name: str) -> str:
    """A top-level module, or the first-level package a deeper module belongs to (transfer.modes.head -> transfer.modes)."""
    return ".".join(name.split(".")[:2])


def test_the_walk_sees_imports_inside_functions():
    assert "jobs.raytasks" in GRAPH["jobs.driver"] and IMPORTS["jobs.driver"]["jobs.raytasks"]  # inside _run_on_ray
    assert "jobs.report" in GRAPH["jobs.replay"] and "transfer.store" in GRAPH["analysis.load"]
    assert "transfer.features.extract" not in GRAPH["transfer.inputs"]  # under TYPE_CHECKING: an annotation only


def test_no_import_circles():
    """Every import counted, those inside functions too: when two modules need each other, the shared names move to
    a third that both import (so no import inside a function exists to dodge a circle)."""
    assert circles(GRAPH) == []


@pytest.mark.parametrize("module, name", sorted((m, i) for m, d in IMPORTS.items() for i, inner in d.items() if inner))
def test_no_import_inside_a_function_dodges_a_circle(module, name):
    """Hoisting any function-level import of a project module to the top of its file would close no circle: each is
    lazy for time (a heavy dependency, a plugin chosen at run time), never to break a cycle."""
    top = {m: {i for i, inner in d.items() if not inner} for m, d in IMPORTS.items()}
    top[module] = top[module] | {name}
    assert circles(top) == [], f"{module} imports {name} inside a function to dodge a circle"


def test_no_import_climbs_back_up():
    """Between packages and top-level modules the imports form no circle either (e.g. a module of a package that
    imports a module which imports the package back, as seedwork -> modes -> seedwork did)."""
    units: dict[str, set[str]] = {}
    for m, deps in GRAPH.items():
        units.setdefault(unit(m), set()).update(unit(d) for d in deps if unit(d) != unit(m) and d not in LAYERS)
    assert circles(units) == []


def test_at_most_max_floors():
    got = floors(GRAPH)
    top = max(got, key=got.get)
    chain = [top]
    while GRAPH[chain[-1]]:
        chain.append(max(GRAPH[chain[-1]], key=got.get))
    assert got[top] <= MAX_FLOORS, f"{got[top]} floors: {' -> '.join(chain)}"


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if layer(m) == "transfer"))
def test_compute_imports_neither_statistics_nor_orchestration(module):
    bad = sorted(i for i in GRAPH[module] if layer(i) in ("analysis", "jobs") or (layer(i) == "ops" and i not in OPS_FOR_COMPUTE))
    assert not bad, f"{module} imports {bad}: transfer/ is the bottom layer (move the caller to jobs/)"


def test_the_lifecycle_helper_imports_no_project_module():
    assert GRAPH[LIFECYCLE] <= {"ops"}, GRAPH[LIFECYCLE]


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if layer(m) == "ops"))
def test_operations_import_neither_statistics_nor_orchestration(module):
    bad = sorted(i for i in GRAPH[module] if layer(i) in ("analysis", "jobs"))
    assert not bad, f"{module} imports {bad}: ops/ runs servers; the jobs that use them live in jobs/"


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if layer(m) == "analysis"))
def test_statistics_read_the_store_only(module):
    bad = sorted(i for i in GRAPH[module] if layer(i) in ("jobs", "ops")
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
