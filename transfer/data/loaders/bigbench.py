"""`loader: bigbench`: a BIG-bench JSON task (`task.json`, items with `target_scores`).

`kind: pairwise` (default): each input with its correct option vs each incorrect one (one pair per incorrect
option). `kind: binary`: each (input, option) is one item, labelled 1 for the correct option. The input's options
share a group, so they never land in two splits. `task_prefix: true` puts the task's own instruction before every
input. `path` may be a task folder, its task.json, a `benchmark_tasks` folder, the `bigbench` PyPI sdist (unpacked
or the .tar.gz itself) with `task: <name>`; a task made of subtask folders (hhh_alignment) reads `subsets` (null =
all of them). `balance_answers: true` keeps whole inputs so that each correct option is equally common (before
`max_pairs`): on a task whose answers are skewed (epistemic_reasoning: 63% "non-entailment") a teacher that always
gives the common answer otherwise looks skilled, and a student that copies it has nothing to recover.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from transfer.data.items import Item, ItemSet
from transfer.data.pairs import Pair, PairSet, group_key
from transfer.data.records import balance_answers, subsample
from transfer.errors import ConfigError, DataError

TASKS_DIR = "benchmark_tasks"


def load(cfg) -> PairSet | ItemSet:
    kind = cfg.get("kind") or "pairwise"
    if kind not in ("pairwise", "binary"):
        raise ConfigError(f"data {cfg['name']!r}: kind={kind!r} is unknown (pairwise | binary)")
    out = []
    for where, sub, text in task_files(cfg):
        try:
            task = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
        examples = task.get("examples") if isinstance(task, dict) else None
        if not isinstance(examples, list):
            raise DataError(f"{where}: no 'examples' list (not a BIG-bench JSON task)")
        prefix = str(task.get("task_prefix") or "").strip() if cfg.get("task_prefix") else ""
        tag, subset = (f"{cfg['name']}:{sub}", sub) if sub else (cfg["name"], _task_name(cfg))
        for i, ex in enumerate(examples):
            out += _examples(ex, f"{where} example {i}", subset, f"{tag}:{i}", prefix, kind, cfg.get("options"))
    if not out:
        raise DataError(f"data {cfg['name']!r}: no examples in {cfg['path']}")
    if cfg.get("balance_answers"):
        out = balance_answers(out, _answers(out, cfg["name"]), cfg.get("subsample_seed", 0))
    out = subsample(out, cfg.get("max_pairs"), cfg.get("subsample_seed", 0), by_group=kind == "binary")
    return PairSet(cfg["name"], tuple(out)) if kind == "pairwise" else ItemSet(cfg["name"], tuple(out))


def _examples(ex: object, where: str, subset: str, eid: str, prefix: str, kind: str, options: int | None) -> list:
    if not isinstance(ex, dict) or not isinstance(ex.get("input"), str) or not ex["input"].strip():
        raise DataError(f"{where}: missing field 'input' (a non-empty string)")
    scores = ex.get("target_scores")
    if not isinstance(scores, dict) or not (len(scores) == options if options else len(scores) >= 2):
        need = "exactly two" if options == 2 else f"exactly {options}" if options else "at least two"
        raise DataError(f"{where}: 'target_scores' must map {need} replies to scores")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores.values()):
        raise DataError(f"{where}: 'target_scores' values must be numbers, got {list(scores.values())}")
    best = max(scores.values())
    if list(scores.values()).count(best) != 1:
        raise DataError(f"{where}: 'target_scores' does not mark a better reply (several options score {best})")
    prompt, group = (f"{prefix} {ex['input'].strip()}" if prefix else ex["input"].strip()), group_key(ex["input"])
    correct = next(o for o, s in scores.items() if s == best)
    wrong = [o for o, s in scores.items() if s != best]
    if kind == "binary":
        return [Item(example_id=f"{eid}:{k}", prompt=prompt, text=o.strip(), group=group, label=o == correct,
                     subset=subset) for k, o in enumerate(scores)]
    return [Pair(example_id=eid if len(wrong) == 1 else f"{eid}:{j}", prompt=prompt, group=group,
                 better=correct.strip(), worse=o.strip(), subset=subset) for j, o in enumerate(wrong)]


def _answers(examples: list, name: str) -> dict[str, str]:
    """Each input's (group's) correct option; refused where options differ per input (nothing to balance)."""
    answer_of = {e.group: e.text if isinstance(e, Item) else e.better for e in examples
                 if not isinstance(e, Item) or e.label}
    kinds = set(answer_of.values())
    if len(kinds) > 10:
        raise ConfigError(f"data {name!r}: balance_answers needs a task with a fixed set of options; this one has "
                          f"{len(kinds)} different correct answers (set data.balance_answers=false)")
    return answer_of


def _task_name(cfg) -> str:
    path = Path(str(cfg["path"]))
    return cfg.get("task") or (path.parent.name if path.name == "task.json" else path.name)


def task_files(cfg) -> list[tuple[str, str, str]]:
    """[(where, subtask folder or "" for the task's own task.json, its text)] of the task `cfg` names."""
    path, task, subsets = Path(str(cfg["path"])).expanduser(), cfg.get("task"), cfg.get("subsets")
    if not path.exists():
        raise DataError(f"{path}: not found (set data.path or $TRANSFER_DATA)")
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        return _from_tar(path, task, subsets)
    if path.is_file():
        return [(str(path), "", _read(path))]
    if task:
        found = [d for d in (path / task, path / TASKS_DIR / task, path / "bigbench" / TASKS_DIR / task,
                             *path.glob(f"*/bigbench/{TASKS_DIR}/{task}")) if d.is_dir()]
        if not found:
            raise DataError(f"{path}: no task folder {task!r} here or under {TASKS_DIR}/ (bigbench sdist layout)")
        path = found[0]
    if subsets is None and (path / "task.json").exists():
        return [(str(path / "task.json"), "", _read(path / "task.json"))]
    subs = list(subsets) if subsets is not None else sorted(d.name for d in path.iterdir()
                                                            if (d / "task.json").exists())
    if not subs:
        raise DataError(f"{path}: no task.json here or in a subtask folder")
    files = [path / s / "task.json" for s in subs]
    for f in files:
        if not f.exists():
            raise DataError(f"{f}: file not found (check data.subsets)")
    return [(str(f), s, _read(f)) for f, s in zip(files, subs)]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _from_tar(path: Path, task: str | None, subsets) -> list[tuple[str, str, str]]:
    if not task:
        raise ConfigError(f"{path}: an archive holds every task; set data.task to the task's folder name")
    try:
        with tarfile.open(path) as tar:
            members = {m.name.split(f"/{TASKS_DIR}/{task}/", 1)[1]: m for m in tar.getmembers()
                       if f"/{TASKS_DIR}/{task}/" in m.name and m.name.endswith("/task.json")}
            if subsets is None:
                subs = [""] if "task.json" in members else sorted(k.split("/")[0] for k in members
                                                                    if k.count("/") == 1)
            else:
                subs = list(subsets)
            out = []
            for s in subs:
                key = f"{s}/task.json" if s else "task.json"
                if key not in members:
                    raise DataError(f"{path}: no {TASKS_DIR}/{task}/{key} in the archive "
                                    f"(check data.task, data.subsets)")
                text = tar.extractfile(members[key]).read().decode("utf-8")
                out.append((f"{path}!{members[key].name}", s, text))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the archive ({exc})") from None
    return out
