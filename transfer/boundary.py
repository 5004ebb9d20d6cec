"""The evaluation boundary around method code (docs/replay.md, "Evaluation boundary"): the checks and the in-process
guard. Method code runs in its own, OS-confined process (transfer/sandbox/); this guard runs *inside* that process
as defense in depth, and gives the one-line refusals.

The lab's lesson: agents gamed the evaluation. Method code (a plugin) therefore runs behind a guard:

* `check_method` refuses, before anything runs, a method whose config asks for test-based selection
  (`select_on: test`, `early_stop_on: ood`, ...) or whose class asks the harness for more than the view offers.
* `check_view` refuses a view that carries anything but the documented fields, or an array that shares memory
  with a gold-label array.
* `load_guarded` runs the method module's import and its `__init__` the same way, before `guard_method`.
* `guard_method` runs `fit`, `targets` and the returned predictor's `predict_proba` in a fresh thread, so the call
  stack the method can walk (sys._getframe, inspect.stack) holds no harness frame with gold in its locals. While
  that thread runs, a process-wide audit hook (PEP 578) refuses, *in that thread*: opening the data files, the
  feature/log-prob caches or the tracking store; any sqlite connection or network connection (the MLflow store,
  a tracking server); writing under the repo, the harness home or the data folder; changing MLFLOW_*/TRANSFER_*/
  RAY_* environment variables; starting processes or threads (they would run outside the guard); listing all
  objects or frames of the process (gc.get_objects, sys._current_frames). MLFLOW_*/TRANSFER_* variables are hidden
  from the environment meanwhile. A refused attempt raises in the method; one the method swallows is still
  recorded, and the cell fails with a BoundaryError naming it.

Without OS confinement (runtime.sandbox=process: an explicit opt-in for trusted code), the guard also confines
writes to the cell's scratch folder and refuses ctypes (see docs/replay.md for what is and is not covered on each
path).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from pathlib import Path

import numpy as np

from transfer import paths
from transfer.errors import BoundaryError

VIEW_FIELDS = {"x", "strong_a", "strong_b", "weak_probs", "example_ids", "seed", "head", "zero_shot", "kind"}
VIEW_NEEDS = {"zero_shot", "sides"}  # optional view fields the harness knows how to fill
HELD_OUT = {"test", "ood", "gold", "eval", "evaluation"}
HIDDEN_ENV = ("MLFLOW_", "TRANSFER_")
PROTECTED_ENV = ("MLFLOW_", "TRANSFER_", "RAY_")
REFUSED_EVENTS = {
    "sqlite3.connect": "open a sqlite database (the tracking store)",
    "socket.connect": "open a network connection (tracking server or evaluation service)",
    "subprocess.Popen": "start a process", "os.system": "start a process", "os.exec": "start a process",
    "os.posix_spawn": "start a process", "os.spawn": "start a process", "os.fork": "fork the process",
    "os.forkpty": "fork the process", "pty.spawn": "start a process",
    "_thread.start_new_thread": "start a thread (it would run outside the boundary)",
    "gc.get_objects": "list every object of the process", "gc.get_referrers": "walk the object graph",
    "gc.get_referents": "walk the object graph", "sys._current_frames": "read other threads' frames",
    "sys.settrace": "remove the boundary's call tracer", "sys.setprofile": "install a profiler",
}
# audit events that change the files they name: how many leading arguments are paths
CHANGES_PATHS = {"os.rename": 2, "os.remove": 1, "os.rmdir": 1, "os.truncate": 1, "os.mkdir": 1, "os.symlink": 2,
                 "os.link": 2, "os.chmod": 1, "os.chown": 1, "os.utime": 1, "shutil.rmtree": 1, "shutil.move": 2,
                 "shutil.copyfile": 2}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# packages method code may not call into at all: the tracking client (whatever its transport, pooled connections
# included), Ray (object store, cluster state) and the statistics that read the store
OFF_LIMITS = ("mlflow", "ray", "analysis", "jobs", "ops")

_guarded: dict[int, _Record] = {}  # thread id -> what that guarded thread attempted
_hook_lock = threading.Lock()
_hook_installed = False


class _Record:
    def __init__(self, who: str, read_roots: list[Path], write_roots: list[Path], scratch: Path | None = None):
        self.who, self.read_roots, self.write_roots = who, read_roots, write_roots
        self.scratch = scratch  # set where there is no OS confinement: the only place the method may write
        self.violations: list[str] = []


def check_method(cfg: dict, needs: tuple[str, ...] = ()) -> None:
    """Refuse test-based selection in a method config, and view fields the harness does not provide."""
    name = cfg.get("name", "?")
    for key, value in _items(cfg):
        leaf = key.rsplit(".", 1)[-1].lower()
        asks = any(w in leaf for w in ("select", "stop", "valid", "eval", "split", "tune", "_on"))
        if asks and isinstance(value, str) and value.strip().lower() in HELD_OUT:
            raise BoundaryError(f"method {name!r}: `{key}: {value}` asks for selection on held-out data; "
                                f"select on train_unlabel with weak labels (docs/methods.md)")
    extra = set(needs) - VIEW_NEEDS
    if extra:
        raise BoundaryError(f"method {name!r} asks the harness for {sorted(extra)}; a method may only ask for "
                            f"{sorted(VIEW_NEEDS)} (no gold, test or OOD data)")


def _items(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _items(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def check_view(view, gold: list[np.ndarray]) -> None:
    """The view has only the documented fields, and none of its arrays aliases a gold-label array."""
    names = {f.name for f in dataclasses.fields(view)}
    if names - VIEW_FIELDS:
        raise BoundaryError(f"the student view carries undocumented fields {sorted(names - VIEW_FIELDS)}")
    for f in names:
        arr = getattr(view, f)
        if isinstance(arr, np.ndarray) and any(np.shares_memory(arr, g) for g in gold if g is not None):
            raise BoundaryError(f"the student view's {f!r} shares memory with gold labels")


def protected_paths(cell: dict) -> list[str]:
    """The cell's own data files and tracking store (runtime.tracking_uri), besides the harness defaults."""
    s, uri = cell.get("setting") or {}, (cell.get("runtime") or {}).get("tracking_uri") or ""
    files = [(s.get(k) or {}).get("path") for k in ("data", "ood")]
    return [f for f in files if f] + ([uri.removeprefix("sqlite:///")] if uri.startswith("sqlite:///") else [])


def record_for(who: str, protected_files: list[str] = (), scratch: str | None = None) -> _Record:
    """A fresh record of what one guarded call attempts, with the paths it may not read or write."""
    # the data dir as configured *and* as the path helper resolves it with TRANSFER_* hidden (inside the guard)
    default_data = (paths.repo_root() or Path.cwd()).parent / "shared" / "data"
    read_roots = [Path(p).resolve() for p in protected_files if p] + store_roots() + \
        [paths.shared_data_dir(), default_data.resolve(), paths.home() / "features", paths.home() / "logprobs"]
    write_roots = read_roots + [paths.home()] + ([paths.repo_root()] if paths.repo_root() else [])
    return _Record(who, read_roots, write_roots, Path(scratch).resolve() if scratch else None)


def load_guarded(load, cfg: dict, who: str, protected_files: list[str] = (), scratch: str | None = None):
    """`load(cfg)` (the method module's import and the class's __init__: method code too) behind the boundary, then
    the method guarded (guard_method)."""
    method = run_guarded(load, cfg, record=record_for(who, protected_files, scratch))
    return guard_method(method, who, protected_files, scratch)


def guard_method(method, who: str, protected_files: list[str] = (), scratch: str | None = None):
    """Make the method's fit/targets (and its predictors) run behind the boundary. Returns the method."""
    record = lambda: record_for(who, protected_files, scratch)  # noqa: E731
    fit, targets = method.fit, method.targets
    method.fit = lambda view: GuardedPredictor(run_guarded(fit, view, record=record()), record)
    method.targets = lambda view: run_guarded(targets, view, record=record())
    return method


class GuardedPredictor:
    """The method's predictor; predict_proba runs behind the boundary too (it is method code)."""

    def __init__(self, inner, record):
        self._inner, self._record = inner, record

    def predict_proba(self, x):
        return run_guarded(self._inner.predict_proba, x, record=self._record())


def run_guarded(fn, *args, record: _Record):
    _install_hook()
    out: dict = {}

    def target():
        sys.settrace(_trace)  # before the thread is guarded: the hook refuses settrace inside
        _guarded[threading.get_ident()] = record
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            out["error"] = exc
        finally:
            _guarded.pop(threading.get_ident(), None)

    hidden = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(HIDDEN_ENV)}
    try:
        thread = threading.Thread(target=target, name=f"boundary:{record.who}", daemon=True)
        thread.start()
        thread.join()
    finally:
        os.environ.update(hidden)
    if record.violations:
        more = f" (+{len(record.violations) - 1} more)" if len(record.violations) > 1 else ""
        raise BoundaryError(f"{record.who}: tried to {record.violations[0]}{more}")
    if "error" in out:
        raise out["error"]
    return out["value"]


def _off_limits_dirs() -> tuple[str, ...]:
    import importlib.util

    dirs = []
    for name in OFF_LIMITS:
        spec = importlib.util.find_spec(name)
        dirs += list(spec.submodule_search_locations or []) if spec else []
    # as found and resolved: code objects carry the path they were imported by (a venv reached through a symlink
    # would otherwise slip past the tracer)
    found = {str(Path(d).resolve()) + os.sep for d in dirs} | {os.path.abspath(d) + os.sep for d in dirs}
    store = Path(__file__).with_name("store")  # the tracking store's package (transfer/store/)
    return tuple(sorted(found)) + (str(store) + os.sep, str(store.resolve()) + os.sep)


def _trace(frame, event, arg):
    """Call tracer of guarded threads: a call into an off-limits package is a violation (Python calls only)."""
    global _OFF
    if _OFF is None:
        _OFF = _off_limits_dirs()
    if event == "call" and frame.f_code.co_filename.startswith(_OFF):
        record = _guarded.get(threading.get_ident())
        if record is not None:
            what = f"call {frame.f_globals.get('__name__', '?')} (tracking store, Ray or statistics)"
            record.violations.append(what)
            raise BoundaryError(f"{record.who}: may not {what} (evaluation boundary)")
    # no per-line tracing: only calls are checked


_OFF: tuple[str, ...] | None = None


def store_roots() -> list[Path]:
    """The tracking store's file and artifact folder (sqlite stores), wherever the harness put them, and a local
    tracking server's database and served artifacts (`make tracking-server`: $TRANSFER_HOME/tracking)."""
    roots = [paths.default_artifact_root(), paths.home() / "tracking"]
    uri = paths.default_tracking_uri()
    if uri.startswith("sqlite:///"):
        roots.append(Path(uri.removeprefix("sqlite:///")))
    return [r.resolve() for r in roots]


def _under(path, roots: list[Path]) -> bool:
    if isinstance(path, int):
        return False
    try:
        p = Path(os.fsdecode(path)).resolve()
    except (TypeError, ValueError, OSError):
        return False
    return any(p == r or r in p.parents for r in roots)


def _is_device(path) -> bool:
    return not isinstance(path, int) and os.fsdecode(path).startswith("/dev/")


def _other_process(path) -> bool:
    """/proc/<pid>/... of a process other than this one (the harness's memory, environment, file descriptors)."""
    if isinstance(path, int):
        return False
    parts = Path(os.fsdecode(path)).parts
    return len(parts) > 2 and parts[:2] == ("/", "proc") and parts[2].isdigit() and int(parts[2]) != os.getpid()


def _hook(event: str, args: tuple) -> None:
    record = _guarded.get(threading.get_ident())
    if record is None:
        return
    refused = None
    if event == "open":
        path, mode, flags = args[0], args[1] or "r", args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writes = any(c in str(mode) for c in "wax+") or bool(flags & _WRITE_FLAGS)  # open() or os.open()
        if _other_process(path):
            refused = f"open {os.fsdecode(path)} (another process's memory or environment)"
        elif _under(path, record.read_roots):
            refused = f"open {os.fsdecode(path)} (data, caches or tracking store)"
        elif writes and record.scratch is not None and not _under(path, [record.scratch]) \
                and not _is_device(path):
            refused = f"write {os.fsdecode(path)} (outside its scratch folder, where a later cell could read it)"
        elif writes and _under(path, record.write_roots):  # __pycache__ too: a forged .pyc is code in the harness
            refused = f"write {os.fsdecode(path)}"
    elif event in CHANGES_PATHS:  # rename, remove, truncate, ...: writes to every path they name
        for path in [a for a in args[:CHANGES_PATHS[event]] if isinstance(a, (str, bytes, os.PathLike))]:
            if _under(path, record.write_roots) or (record.scratch is not None and not _under(path, [record.scratch])):
                refused = f"change {os.fsdecode(path)} ({event})"
                break
    elif event in ("os.putenv", "os.unsetenv") and str(os.fsdecode(args[0])).startswith(PROTECTED_ENV):
        refused = f"change the environment variable {os.fsdecode(args[0])}"
    elif event.startswith("ctypes.") and record.scratch is not None:  # no namespaces: raw syscalls would pass
        refused = "call C functions through ctypes (refused where the platform gives no OS confinement)"
    elif event in REFUSED_EVENTS:
        refused = REFUSED_EVENTS[event]
    if refused:
        record.violations.append(refused)
        raise BoundaryError(f"{record.who}: may not {refused} (evaluation boundary)")


def _install_hook() -> None:
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_hook)  # cannot be removed; it does nothing outside guarded threads
            _hook_installed = True
