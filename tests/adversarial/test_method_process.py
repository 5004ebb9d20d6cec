"""Method code runs in its own process (transfer/sandbox/): attacks on the harness itself, by class.

Each attack either fails its cell with a clear error, or provably changes no number: its cell's metrics equal an
honest rerun's, and a later cell of the baseline in the same harness process equals one run before the attack.
Both confinement paths are attacked: OS namespaces (`runtime.sandbox=namespaces`) and the fallback for platforms
that refuse them (`process`: the process boundary plus the audit hook).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from transfer.cell import run_cell
from transfer.errors import BoundaryError, MethodError

pytestmark = pytest.mark.slow  # real features and real cells
METHODS = Path(__file__).parent / "methods"
PATHS = ["namespaces", "process"]
# numbers a method's own training legitimately changes are its diagnostics; everything else is the harness's
_OWN = ("method_", "boundary_")


def _run(cell_and_inputs, name: str, sandbox: str, **cfg):
    cell, inputs = cell_and_inputs
    method = {**OmegaConf.to_container(OmegaConf.load(METHODS / f"{name}.yaml")), **cfg}
    return run_cell({**cell, "method": method, "runtime": {**cell["runtime"], "sandbox": sandbox}}, inputs)


def _scores(result) -> dict:
    """The harness's numbers, NaN as a word so that equal records compare equal (PGR is NaN where the gap is 0)."""
    return {k: "nan" if v != v else v for k, v in result.metrics.items() if not k.startswith(_OWN)}


@pytest.fixture(scope="module")
def honest(cell_and_inputs):
    Path("/tmp/transfer-leak").unlink(missing_ok=True)  # what persists_state writes, if a guard ever let it
    return {p: _scores(_run(cell_and_inputs, "honest", p)) for p in PATHS}


@pytest.mark.parametrize("sandbox", PATHS)
@pytest.mark.parametrize("attack, refused", [
    ("tampers_scorer", None), ("tampers_baseline", None), ("patches_numpy", None),
    ("writes_view_arrays", None),  # ctypes.memmove: the memory it writes is its own process's copy
    # with namespaces /tmp is the process's own; without, writes outside the cell's scratch folder are refused
    ("persists_state", {"process": "write /tmp/transfer-leak .outside its scratch folder"}),
    ("tampers_tracker", {p: "call transfer.store" for p in PATHS}),  # importing the tracker is itself refused
])
def test_rewriting_the_harness_changes_no_number(cell_and_inputs, honest, attack, refused, sandbox):
    refused = (refused or {}).get(sandbox)
    if refused:
        with pytest.raises(BoundaryError, match=refused):
            _run(cell_and_inputs, attack, sandbox)
    else:
        result = _run(cell_and_inputs, attack, sandbox)
        assert _scores(result) == honest[sandbox]  # its w2s_acc is vanilla's, not 0.97
        assert result.metrics["boundary_namespaces"] == float(sandbox == "namespaces")
    # and nothing outlives its cell: the baseline and a snooping method, run next in this process, are untouched
    assert _scores(_run(cell_and_inputs, "honest", sandbox)) == honest[sandbox]
    after = _run(cell_and_inputs, "reads_persisted", sandbox)
    assert after.metrics["method_found"] == 0 and _scores(after) == honest[sandbox]


def test_the_baseline_class_is_safe_from_a_method_in_an_earlier_cell(cell_and_inputs, compose_cfg_module):
    cell, inputs = cell_and_inputs
    vanilla = compose_cfg_module("method=vanilla")["method"]
    before = _scores(run_cell({**cell, "method": vanilla}, inputs))
    _run(cell_and_inputs, "tampers_baseline", "namespaces")
    assert _scores(run_cell({**cell, "method": vanilla}, inputs)) == before


@pytest.mark.parametrize("sandbox", PATHS)
def test_forking_after_start_is_refused(cell_and_inputs, sandbox):
    with pytest.raises(BoundaryError, match="fork the process"):
        _run(cell_and_inputs, "forks_after_start", sandbox)


@pytest.mark.parametrize("sandbox", PATHS)
def test_the_harness_memory_and_environment_are_out_of_reach(cell_and_inputs, honest, sandbox):
    if sandbox == "process":  # no namespaces: the audit hook refuses /proc/<other pid> (a swallowed refusal still fails)
        with pytest.raises(BoundaryError, match="another process's memory or environment"):
            _run(cell_and_inputs, "reads_harness_memory", sandbox, pid=os.getpid())
    else:  # refused by the hook too (defense in depth): the OS layer is tested below, below the hook's reach
        with pytest.raises(BoundaryError, match="another process's memory or environment"):
            _run(cell_and_inputs, "reads_harness_memory", sandbox, pid=os.getpid())


def test_below_the_audit_hook_the_namespaces_hold(cell_and_inputs, honest):
    """libc open(2) through ctypes raises no audit event for the open: only the namespaces stop it. The harness's
    /proc entries do not exist in the method's PID namespace, and the data file is under an empty tmpfs."""
    cell, _ = cell_and_inputs
    result = _run(cell_and_inputs, "reads_via_libc", "namespaces", pid=os.getpid(), data=cell["setting"]["data"]["path"])
    assert result.metrics["method_opened"] == 0 and _scores(result) == honest["namespaces"]
    with pytest.raises(BoundaryError, match="through ctypes"):  # no namespaces: ctypes itself is refused
        _run(cell_and_inputs, "reads_via_libc", "process", pid=os.getpid(), data=cell["setting"]["data"]["path"])


@pytest.mark.parametrize("sandbox", PATHS)
def test_a_forged_reply_is_never_unpickled(cell_and_inputs, sandbox):
    bomb = Path("/tmp/transfer-pickle-bomb-ran")
    bomb.unlink(missing_ok=True)
    with pytest.raises(MethodError, match="failed during fit"):
        _run(cell_and_inputs, "forges_reply", sandbox)
    assert not bomb.exists()


def test_the_namespaces_hide_data_store_and_caches(cell_and_inputs, tmp_path):
    """Under namespaces the data file is not even there to open (the audit hook is not what stops it)."""
    cell, _ = cell_and_inputs
    from transfer.sandbox.client import hidden_paths
    hidden = hidden_paths(cell)
    assert any(Path(cell["setting"]["data"]["path"]).resolve().is_relative_to(Path(h).resolve()) for h in hidden)
    with pytest.raises(BoundaryError):  # the method swallows the failure; the hook still records the attempt
        _run(cell_and_inputs, "reads_data_file", "namespaces")


def test_an_unknown_sandbox_mode_is_one_line(cell_and_inputs):
    from transfer.errors import ConfigError
    with pytest.raises(ConfigError, match="runtime.sandbox='jail' is unknown"):
        _run(cell_and_inputs, "honest", "jail")


REFUSING = """
import json, logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from hydra import compose, initialize_config_dir
from transfer import paths
from transfer.cell import run_cell
import transfer.config
from transfer.data import load_dataset_from_config
from transfer.features.extract import extract_pair_features
from transfer.inputs import CellInputs
with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
    cell = transfer.config.to_plain(compose("config", overrides=["setting.data.max_pairs=40", "head.epochs=5",
                                                                 "method=vanilla", "runtime.sandbox=" + sys.argv[1]]))
s = cell["setting"]
pairs, ood = load_dataset_from_config(s["data"]), load_dataset_from_config(s["ood"])
feats = {}
for role in ("weak", "strong"):
    feats[role] = extract_pair_features(pairs, s[role], s[f"{role}_backend"], s["data"]["format"])
    feats[role + "_ood"] = extract_pair_features(ood, s[role], s[f"{role}_backend"], s["data"]["format"])
inputs = CellInputs(pairs=pairs, ood=ood, features=feats)
for _ in range(2):
    print(json.dumps(run_cell(cell, inputs).metrics), flush=True)
"""


@pytest.mark.parametrize("sandbox", ["auto", "namespaces", "process"])
def test_where_the_kernel_refuses_namespaces(cell_and_inputs, sandbox):
    """A real refusal: inside a user namespace whose user.max_user_namespaces is 0, the method process cannot
    unshare. `auto` and `namespaces` fail the cell in one line naming the opt-in (method code never runs unconfined
    by default); `process`, the opt-in, runs and says so once (not per cell), and the cells record it."""
    import json
    import shutil
    import subprocess
    import sys

    if not shutil.which("unshare"):
        pytest.skip("util-linux `unshare` is not installed")
    script = f"echo 0 > /proc/sys/user/max_user_namespaces && exec {sys.executable} -c '{REFUSING}' {sandbox}"
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script], capture_output=True,
                          text=True, timeout=600, cwd=Path(__file__).parents[2])
    if sandbox == "process":
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        assert len(runs) == 2 and all(r["boundary_namespaces"] == 0.0 for r in runs)
        assert proc.stderr.count("method code runs WITHOUT OS confinement") == 1  # said once, not per cell
    else:
        assert proc.returncode != 0
        last = proc.stderr.strip().splitlines()[-1]
        assert f"ConfigError: method 'vanilla': runtime.sandbox={sandbox} needs Linux user namespaces, and the " \
               f"kernel refused unshare" in last and "No space left on device" in last
        assert "set runtime.sandbox=process (trusted method code only" in last
