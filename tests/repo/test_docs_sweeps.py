"""Every sweep command the docs show (`make sweep ARGS="..."`, `make demo ARGS="..."`, `python -m jobs.sweep ...` in
README.md, docs/, conf/, jobs/ and the Makefile) expands to the cells it says, with its overrides in them; every
`make replay LAB=... REPLAY_ARGS="..."` composes the replay config with its overrides as written."""

from __future__ import annotations

import ast
import re
import shlex

import pytest
import yaml

import jobs.sweep as job
from jobs.variants import base_of
from transfer import paths

ROOT = paths.repo_root()
CONF = ROOT / "conf"
MAKE = re.compile(r'make (sweep|demo)\b[^"`\n]*?ARGS="([^"]*)"')
PYTHON = re.compile(r"python -m jobs\.sweep\b([^`#(\n]*)")
PLACEHOLDERS = {"my_method"}  # docs/methods.md: the method a reader is about to write
DATA_PLACEHOLDERS = {"my_prefs", "mine"}  # docs/datasets.md: the dataset yaml a reader is about to write


def examples() -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for path in [ROOT / "README.md", ROOT / "Makefile", *sorted((ROOT / "docs").glob("*.md")),
                 *sorted(CONF.rglob("*.yaml")), *sorted((ROOT / "jobs").glob("*.py"))]:
        text = path.read_text() if path.suffix != ".py" else ast.get_docstring(ast.parse(path.read_text())) or ""
        if path.suffix == ".md":  # code blocks line by line, inline code spans whole (one may wrap onto a new line)
            spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
            text = "\n".join([*re.findall(r"```[^\n]*\n(.*?)```", text, re.S), *(s.replace("\n", " ") for s in spans)])
        for m in MAKE.finditer(text):
            prefix = ["experiment=demo", "study=demo"] if m.group(1) == "demo" else []  # the Makefile's demo target
            out.append((path.name, (*prefix, *shlex.split(m.group(2)))))
        for m in PYTHON.finditer(text):
            out.append((path.name, tuple(shlex.split(m.group(1)))))
    return [(name, tuple(a for a in args if a != "...")) for name, args in out]


EXAMPLES = examples()


def test_the_docs_show_the_examples_this_test_is_about():
    shown = {" ".join(args) for _, args in EXAMPLES}
    assert "study=x method.alpha_max=0.5" in shown and "study=prod grid.settings=[production]" in shown
    assert len(EXAMPLES) >= 15


def intended(args: tuple[str, ...]) -> tuple[list, list, list, list]:
    """(settings, methods, seeds, datasets) as the docs mean them: conf/config.yaml's grid, the experiment's, then
    the args."""
    grid = dict(yaml.safe_load((CONF / "config.yaml").read_text())["grid"])
    for a in args:
        if a.startswith("experiment="):
            grid.update(yaml.safe_load((CONF / "experiment" / f"{a.split('=')[1]}.yaml").read_text()).get("grid", {}))
    for a in args:
        key, _, value = a.partition("=")
        if key.startswith("grid."):
            grid[key[5:]] = yaml.safe_load(value)
        elif key == "seed" and value.startswith("range("):  # Hydra's range(start,stop)
            grid["seeds"] = list(range(*map(int, value[6:-1].split(","))))
        elif key in ("setting", "method", "seed"):
            grid[key + "s"] = [yaml.safe_load(v) for v in value.split(",")]
    return grid["settings"], grid["methods"], grid["seeds"], grid.get("datasets")


def _variants(args: tuple[str, ...]) -> bool:
    """A swept method knob (method.k=a,b or a range) or a search file: the grid's methods become variants."""
    return any(a.startswith(("search=", "grid.search=")) or (a.startswith("method.") and "," in a) for a in args)


def _searched(args: tuple[str, ...]) -> list[str]:
    names = [a.partition("=")[2] for a in args if a.startswith(("search=", "grid.search="))]
    return [m for n in names for m in yaml.safe_load((CONF / "search" / f"{n}.yaml").read_text())["methods"]]


def select(cfg: dict, key: str):
    for part in key.split("."):
        if not isinstance(cfg, dict) or part not in cfg:
            return KeyError
        cfg = cfg[part]
    return cfg


@pytest.mark.parametrize("source, args", EXAMPLES, ids=[f"{n}:{' '.join(a)}" for n, a in EXAMPLES])
def test_docs_example_expands_to_the_cells_it_means(source, args, compose_cfg, monkeypatch, capsys):
    """Through `python -m jobs.sweep`'s main, up to the point where it would start Ray."""
    settings, methods, seeds, datasets = intended(args)
    ran = []
    monkeypatch.setattr(job, "maybe_submit", lambda *a: None)
    monkeypatch.setattr(job, "run", lambda sweep: ran.append(sweep) or 0)
    monkeypatch.setattr(job, "_power_seeds", lambda sweep: 0)  # tests/jobs/test_grid.py covers grid.power_seeds
    unknown = sorted(set(methods) & PLACEHOLDERS)
    if unknown:
        assert job.main(list(args)) == 2 and not ran
        assert capsys.readouterr().err == f"error: grid.methods: unknown method {unknown}; known: " \
            f"{sorted(p.stem for p in (CONF / 'method').glob('*.yaml'))} (conf/method/)\n"
        return
    unknown = sorted(set(datasets or []) & DATA_PLACEHOLDERS)
    if unknown:
        assert job.main(list(args)) == 2 and not ran
        assert capsys.readouterr().err.startswith(f"error: grid.datasets: unknown dataset {unknown}; known: [")
        return
    assert job.main(list(args)) == 0
    sweep = ran[0]
    if _variants(args):  # tests/jobs/test_variants.py covers the names; here: the docs' knobs are in the variants' configs
        variants = sweep.base["grid"]["variants"]
        assert variants and all(base_of(m) in (*methods, *_searched(args)) for m in sweep.base["grid"]["methods"])
        for a in args:
            key, _, value = a.partition("=")
            if key.startswith("method.") and "," in value:
                knob = key.split(".", 1)[1]
                swept = {v["knobs"][knob] for v in variants.values() if knob in v["knobs"]}
                assert swept and swept <= {c.config["method"].get(knob) for c in sweep.cells}, a
        return
    assert [(c.setting, c.method, c.seed) for c in sweep.cells] == \
        [(s, m, n) for s in settings for _ in datasets or [None] for m in methods for n in seeds]
    if datasets:
        assert [c.dataset for c in sweep.cells] == \
            [d for _ in settings for d in datasets for _ in methods for _ in seeds]
    fields = {m: set(yaml.safe_load((CONF / "method" / f"{m}.yaml").read_text())) for m in methods}
    for a in args:
        key, _, value = a.partition("=")
        if key == "study":
            assert sweep.base["study"] == [v for k, _, v in (x.partition("=") for x in args) if k == "study"][-1]
        elif "@" in key:  # group@package=option
            assert all(select(c.config, key.split("@")[1] + ".name") == value for c in sweep.cells), a
        elif key.startswith("~"):
            assert all(select(c.config, key[1:]) is KeyError for c in sweep.cells), a
        elif key == "mode":
            assert all(c.config["mode"]["name"] == compose_cfg(a)["mode"]["name"] for c in sweep.cells), a
        elif "." in key and not key.startswith(("grid.", "hydra.")):
            expected = yaml.safe_load(value)
            cells = [c for c in sweep.cells if not key.startswith("method.") or key.split(".")[1] in fields[c.method]]
            assert cells and all(select(c.config, key) == expected for c in cells), a


# `make replay LAB=... SETTING=... REPLAY_ARGS="..."`: make puts REPLAY_ARGS unquoted into its recipe
# (mk/*.mk: python -m jobs.replay replay.lab=$(LAB) replay.setting=$(SETTING) $(REPLAY_ARGS)), so the recipe's shell
# splits the value a second time: the overrides are shlex.split twice, as the two shells do.
REPLAY = re.compile(r"make replay\b([^`\n]*)")


def replay_examples() -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(CONF.rglob("*.yaml"))]:
        for m in REPLAY.finditer(path.read_text()):
            words = dict(w.partition("=")[::2] for w in shlex.split(m.group(1), comments=True) if "=" in w)
            if "LAB" not in words or "<" in m.group(1):  # a usage line with placeholders, not a command
                continue
            out.append((path.name, (f"replay.lab={words['LAB']}", f"replay.setting={words.get('SETTING', '')}",
                                    *shlex.split(words.get("REPLAY_ARGS", "")))))
    return out


REPLAY_EXAMPLES = replay_examples()


def test_the_docs_show_replay_examples_with_overrides():
    assert len(REPLAY_EXAMPLES) >= 4 and any(len(args) > 2 for _, args in REPLAY_EXAMPLES)


@pytest.mark.parametrize("source, args", REPLAY_EXAMPLES, ids=[f"{n}:{' '.join(a)}" for n, a in REPLAY_EXAMPLES])
def test_docs_replay_example_composes_with_its_overrides(source, args):
    """Composed as `python -m jobs.replay` composes it (conf/replay/default.yaml): every override lands as written,
    and the production cells' own overrides (replay.overrides) compose into a sweep config."""
    from hydra import compose, initialize_config_dir

    import transfer.config

    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = transfer.config.to_plain(compose("replay/default", overrides=list(args)))
    for a in args:
        key, _, value = a.partition("=")
        assert select(cfg, key) == yaml.safe_load(value), a
    assert (CONF / "setting" / f"{cfg['replay']['setting']}.yaml").exists()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        compose("config", overrides=[f"setting={cfg['replay']['setting']}", *cfg["replay"]["overrides"]])
