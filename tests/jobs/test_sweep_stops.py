"""A driver that stops mid-sweep (an exception, Ctrl-C) leaves the study's parent run FAILED, never RUNNING (issue
25: a reply that crashed the driver's write used to leave it RUNNING). Real sqlite store; the Ray part is replaced
by the failure itself."""

from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from jobs import driver as sweep
from transfer.store.writer import StudyWriter


@pytest.mark.parametrize("stop", [RuntimeError("a cell's write crashed the driver"), KeyboardInterrupt()])
def test_a_stopped_driver_leaves_the_parent_run_failed(tmp_path, monkeypatch, stop):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    tracker = StudyWriter("stops", uri)

    def run_on_ray(*a, **k):
        raise stop
    monkeypatch.setattr(sweep, "_run_on_ray", run_on_ray)
    study = SimpleNamespace(base={"study": "stops", "runtime": {}, "grid": {"settings": ["lab"], "methods": ["m"]}},
                            cells=[SimpleNamespace(config_hash="h" * 64)])
    with pytest.raises(type(stop)):
        sweep._run_leased(study, tracker)
    assert MlflowClient(uri).get_run(tracker.parent_id).info.status == "FAILED"
