"""Two drivers opening the same new study at the same instant (two users launching one study on a shared tracking
server): neither crashes on the experiment the other just created, and both end up on one parent run, the one the
study lease (jobs/lease.py) then guards. Real processes on a real sqlite store, and on a real tracking server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.tracking import serve
from transfer import paths, store

ROOT = paths.repo_root()
RACER = """
import sys, time
from pathlib import Path
from transfer.store.writer import StudyWriter
go = Path(sys.argv[3])
Path(f"{go}.{sys.argv[4]}").touch()  # ready: imports done
while not go.exists():
    time.sleep(0.001)
print(StudyWriter(sys.argv[2], sys.argv[1]).parent_id)
"""


@pytest.fixture(scope="module")
def server():
    yield from serve()


def race(uri: str, study: str, tmp: Path) -> list[str]:
    """Both drivers released at once; the parent run id each ended up with."""
    go = tmp / f"go-{study}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", RACER, uri, study, str(go), str(i)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    deadline = time.time() + 300
    while not all(Path(f"{go}.{i}").exists() for i in range(2)):
        assert time.time() < deadline and all(p.poll() is None for p in procs), "a driver never got ready"
        time.sleep(0.05)
    go.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return [out.strip().splitlines()[-1] for out, _ in outs]


@pytest.mark.parametrize("where", ["sqlite", pytest.param("server", marks=pytest.mark.slow)])
def test_two_drivers_opening_one_new_study_at_once_share_one_parent(where, tmp_path, request):
    uri = f"sqlite:///{tmp_path / 'race.db'}" if where == "sqlite" else request.getfixturevalue("server").uri
    c = store.client(uri)
    for round_ in range(3):  # the window is narrow: a few rounds
        study = f"race-{round_}"
        first, second = race(uri, study, tmp_path)
        assert first == second, f"round {round_}: two parent runs"
        exp = store.find_experiment(c, study).experiment_id
        assert [r.info.run_id for r in store.runs(c, exp, store.STUDY)] == [first]
