"""Issue 25's attacks, by class, on both confinement paths: OS namespaces (the default) and `runtime.sandbox=process`
(the opt-in for trusted code). Plugins in escape_attacks.py; each records what it achieved.

Every attack either fails its cell with a boundary error (BoundaryError / MethodError naming the limit) or changes no
number: every harness-computed metric equals an honest run's. After every test nothing the method started is alive
and no file it meant to write exists.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest
from omegaconf import OmegaConf

from transfer import paths
from transfer.cell import run_cell
from transfer.errors import BoundaryError, MethodError

pytestmark = pytest.mark.slow  # real features and real cells
METHODS = Path(__file__).parent / "methods"
PATHS = ["namespaces", "process"]
_OWN = ("method_", "boundary_")
CANARY = paths.repo_root() / "escape-canary"
PYC = paths.repo_root() / "transfer" / "__pycache__" / "escape-canary.cpython-311.pyc"


def _run(cell_and_inputs, name: str, sandbox: str, runtime: dict | None = None, **cfg):
    cell, inputs = cell_and_inputs
    method = {**OmegaConf.to_container(OmegaConf.load(METHODS / f"{name}.yaml")), **cfg}
    return run_cell({**cell, "method": method, "runtime": {**cell["runtime"], "sandbox": sandbox, **(runtime or {})}},
                    inputs)


def _scores(result) -> dict:
    """The harness's numbers, NaN as a word so that equal records compare equal (PGR is NaN where the gap is 0)."""
    return {k: "nan" if v != v else v for k, v in result.metrics.items() if not k.startswith(_OWN)}


def _method_processes() -> list:
    from transfer.sandbox import client
    z = client._zygote
    return [] if z is None or z.proc.poll() is not None else psutil.Process(z.pid).children(recursive=True)


@pytest.fixture(autouse=True)
def nothing_left_behind():
    yield
    deadline = time.monotonic() + 5
    while _method_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _method_processes()
    for p in left:
        p.kill()
    assert left == [], "processes of a method outlived its cell"
    for canary in (CANARY, PYC):
        assert not canary.exists(), f"a method wrote {canary}"
        canary.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def honest(cell_and_inputs):
    return {p: _scores(_run(cell_and_inputs, "honest", p)) for p in PATHS}


@pytest.fixture
def store(tmp_path):
    from mlflow.tracking import MlflowClient
    db = tmp_path / "store.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()  # a real store, as a sweep's
    return db


def _targets(cell_and_inputs, store: Path) -> dict:
    cell, _ = cell_and_inputs
    return {"data": cell["setting"]["data"]["path"], "cache": str(paths.home() / "features"), "store": str(store),
            "canary": str(CANARY)}


@pytest.mark.parametrize("sandbox", PATHS)
def test_the_confinement_cannot_be_undone(cell_and_inputs, honest, store, sandbox):
    """umount2(MNT_DETACH) of every mount, a read-write remount of /, a fresh user namespace: all refused (the mounts
    are locked by a nested user namespace; no capabilities; seccomp). Data, cache and store stay out of sight."""
    runtime = {"tracking_uri": f"sqlite:///{store}"}
    if sandbox == "process":  # no OS confinement to undo: the raw syscalls need ctypes, refused there
        with pytest.raises(BoundaryError, match="ctypes"):
            _run(cell_and_inputs, "undoes_confinement", sandbox, runtime, **_targets(cell_and_inputs, store))
        return
    result = _run(cell_and_inputs, "undoes_confinement", sandbox, runtime, **_targets(cell_and_inputs, store))
    m = result.metrics
    assert (m["method_undone"], m["method_saw_data"], m["method_saw_cache"], m["method_saw_store"]) == (0, 0, 0, 0)
    # the write that counts is the host's (the autouse fixture checks the canary there); a checkout under /tmp puts
    # the canary's path inside the method's private scratch tmpfs, where creating it reaches nothing outside
    if not str(CANARY).startswith("/tmp/"):
        assert m["method_wrote"] == 0
    assert _scores(result) == honest[sandbox]


@pytest.mark.parametrize("sandbox", PATHS)
def test_gold_cannot_be_read_from_the_feature_cache(cell_and_inputs, honest, store, sandbox):
    if sandbox == "process":
        with pytest.raises(BoundaryError, match="data, caches or tracking store"):
            _run(cell_and_inputs, "reads_cache_gold", sandbox, **_targets(cell_and_inputs, store))
        return
    result = _run(cell_and_inputs, "reads_cache_gold", sandbox, **_targets(cell_and_inputs, store))
    assert result.metrics["method_cache_rows"] == 0 and _scores(result) == honest[sandbox]


@pytest.mark.parametrize("sandbox", PATHS)
def test_the_store_is_out_of_reach(cell_and_inputs, honest, store, sandbox):
    before = store.read_bytes()
    runtime = {"tracking_uri": f"sqlite:///{store}"}
    if sandbox == "process":  # the audit hook sees os.open(O_RDWR) and os.truncate
        with pytest.raises(BoundaryError, match="store.db"):
            _run(cell_and_inputs, "writes_store", sandbox, runtime, **_targets(cell_and_inputs, store))
    else:  # through libc, below the hook: the file is not in the method's filesystem
        result = _run(cell_and_inputs, "writes_store", sandbox, runtime, **_targets(cell_and_inputs, store),
                      via="libc")
        m = result.metrics
        assert (m["method_env_leak"], m["method_opened"], m["method_truncated"]) == (0, 0, 0)
    assert store.read_bytes() == before


def test_the_method_process_environment_names_no_store(store, monkeypatch):
    """/proc/self/environ is the environment the zygote was started with (only os.environ used to be scrubbed):
    it is an allow-list, with no MLFLOW_/TRANSFER_/RAY_ variable."""
    from transfer.sandbox import client
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    monkeypatch.setenv("TRANSFER_HOME", str(paths.home()))
    zygote = client._Zygote()
    try:
        environ = Path(f"/proc/{zygote.pid}/environ").read_bytes()
    finally:
        zygote.proc.kill()
        zygote.proc.wait()
    assert b"MLFLOW_" not in environ and b"TRANSFER_" not in environ and b"RAY_" not in environ
    assert b"PATH=" in environ


@pytest.mark.parametrize("sandbox", PATHS)
def test_the_checkout_cannot_be_written(cell_and_inputs, honest, sandbox):
    target = paths.repo_root() / "transfer" / "scoring.py"
    before = target.read_bytes()
    kw = {"target": str(target), "pyc": str(PYC)}
    if sandbox == "process":
        with pytest.raises(BoundaryError, match="write .*scoring.py"):
            _run(cell_and_inputs, "writes_checkout", sandbox, **kw)
    else:
        result = _run(cell_and_inputs, "writes_checkout", sandbox, **kw)
        assert (result.metrics["method_opened"], result.metrics["method_planted"]) == (0, 0)
        assert _scores(result) == honest[sandbox]
    assert target.read_bytes() == before


@pytest.mark.parametrize("sandbox", PATHS)
def test_nothing_outlives_its_cell(cell_and_inputs, honest, sandbox):
    """A detached double-forked daemon (through fork_exec, below the audit hook): gone when the cell ends (the
    PID namespace dies with its PID 1; without one, the zygote is a subreaper and the harness sweeps it)."""
    result = _run(cell_and_inputs, "outlives_cell", sandbox)
    assert result.metrics["method_spawned"] == 1 and _scores(result) == honest[sandbox]
    # nothing_left_behind checks the processes


@pytest.mark.parametrize("sandbox", PATHS)
def test_a_fork_bomb_is_capped_and_cleaned_up(cell_and_inputs, honest, sandbox):
    """350 long sleeps (through fork_exec, below the hook). With namespaces the PID namespace's pid_max (301) stops
    it, and the method, out of pids for its own threads, fails its cell; either way all of them die with it."""
    try:
        result = _run(cell_and_inputs, "fork_bomb", sandbox, n=350)
    except MethodError as exc:
        assert sandbox == "namespaces" and ("can't start new thread" in str(exc) or "closed its connection" in str(exc))
    else:
        assert _scores(result) == honest[sandbox]
        if sandbox == "namespaces":
            assert result.metrics["method_started"] < 301
    # nothing_left_behind: the 350 (or 299) sleeps are gone


@pytest.mark.parametrize("sandbox", PATHS)
def test_memory_is_limited(cell_and_inputs, honest, sandbox):
    result = _run(cell_and_inputs, "hogs_memory", sandbox, gib=6)  # runtime.method_memory_mb: 4096
    assert result.metrics["method_allocated_gib"] == 0 and _scores(result) == honest[sandbox]


@pytest.mark.parametrize("sandbox", PATHS)
def test_a_huge_reply_is_refused_before_it_is_allocated(cell_and_inputs, sandbox):
    me = psutil.Process()
    before = me.memory_info().rss
    with pytest.raises(MethodError, match="exceeds the .*-byte limit"):
        _run(cell_and_inputs, "huge_reply", sandbox, gib=0.5)
    assert me.memory_info().rss - before < 200 << 20  # not the 512 MiB it announced


@pytest.mark.parametrize("sandbox", PATHS)
def test_the_confinement_is_the_harness_record_not_the_methods(cell_and_inputs, sandbox):
    try:
        result = _run(cell_and_inputs, "forges_confinement", sandbox)
    except (MethodError, BoundaryError):
        return  # its forged frames broke its own replies: the cell failed
    assert result.metrics["boundary_namespaces"] == float(sandbox == "namespaces")
    assert result.tags["boundary.confinement"] == sandbox


@pytest.mark.parametrize("sandbox", PATHS)
def test_malformed_diagnostics_are_dropped_and_the_cell_is_logged(cell_and_inputs, honest, store, sandbox):
    from transfer.store.writer import StudyWriter
    from jobs.driver import cell_tags

    result = _run(cell_and_inputs, "malformed_diagnostics", sandbox)
    assert result.metrics["method_fine"] == 0.5 and result.metrics["boundary_dropped_diagnostics"] == 5
    assert "'x!'" in result.tags["boundary.dropped_diagnostics"]
    assert _scores(result) == honest[sandbox]
    writer = StudyWriter("escapes", f"sqlite:///{store}")
    cell = {**result.cell, "config_hash": "escapes", "seed": 0}
    run = writer.client.get_run(writer.log_cell(result, {**cell_tags(cell, "sha"), **result.tags}))
    assert run.info.status == "FINISHED" and run.data.metrics["method_fine"] == 0.5
    assert run.data.tags["boundary.sandbox"] == sandbox and run.data.tags["boundary.confinement"] == sandbox


@pytest.mark.parametrize("sandbox", PATHS)
def test_one_deadline_for_the_whole_call(cell_and_inputs, sandbox):
    """A reply dripped one byte every 0.4 s: each receive is quick, the call is not."""
    t0 = time.monotonic()
    with pytest.raises(MethodError, match="took longer than runtime.method_timeout_s=3"):
        _run(cell_and_inputs, "drips_reply", sandbox, {"method_timeout_s": 3})
    assert time.monotonic() - t0 < 20  # the cell's own training, plus 3 s; not 40 s of dripping


@pytest.mark.parametrize("sandbox", PATHS)
def test_a_method_that_hangs_while_loading_fails_only_its_own_cells(cell_and_inputs, compose_cfg_module, sandbox):
    from transfer.sandbox import client
    from jobs.driver import zero_shot_formats

    cell, _ = cell_and_inputs
    runtime = {**cell["runtime"], "sandbox": sandbox, "method_timeout_s": 2}
    sleepy = {**OmegaConf.to_container(OmegaConf.load(METHODS / "sleeps_in_init.yaml")), "sleep_s": 600}
    zero_shot = compose_cfg_module("method=logconf")  # a method that reads zero-shot log-probs, if any does
    client._described.clear()
    t0 = time.monotonic()
    formats = zero_shot_formats([{**cell, "method": sleepy, "runtime": runtime},
                                 {**zero_shot, "runtime": runtime}])  # the sweep's describe() step goes on
    assert time.monotonic() - t0 < 30
    assert isinstance(formats, list)
    with pytest.raises(MethodError, match="loading it took longer than runtime.method_timeout_s=2"):
        _run(cell_and_inputs, "sleeps_in_init", sandbox, {"method_timeout_s": 2}, sleep_s=600)


@pytest.mark.parametrize("sandbox", PATHS)
@pytest.mark.parametrize("name, refused", [("attacks_in_init", "open .*harmless-base|fork the process"),
                                           ("attacks_at_import", "start a process")])
def test_import_and_init_run_behind_the_guard(cell_and_inputs, name, refused, sandbox):
    cell, _ = cell_and_inputs
    with pytest.raises(BoundaryError, match=refused):
        _run(cell_and_inputs, name, sandbox, data=cell["setting"]["data"]["path"])


def test_the_default_deadline_suits_a_cell(compose_cfg_module):
    runtime = compose_cfg_module()["runtime"]
    assert runtime["method_timeout_s"] <= 300 and runtime["sandbox"] == "auto"
