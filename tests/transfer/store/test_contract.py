"""What a cell's run holds, written as the sweep writes it (transfer.store.writer through the background writer) into
a real sqlite store and read back through MLflow's own client, search, inputs and artifacts; a write that fails
part-way leaves a FAILED run, never a RUNNING one or a FINISHED one without its files; writes land in order."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
import time

import pandas as pd
import pytest

from jobs.driver import cell_tags
from tests.helpers import predictions
from transfer import store as st
from transfer.cell import CellResult
from transfer.config import config_hash
from transfer.store.background import BackgroundWriter
from transfer.store.inputs import cell_params
from transfer.store.writer import StudyWriter

STARTED_MS = int(time.time() * 1000) - 5000  # a cell that took 5 s
ENDED_MS = STARTED_MS + 5000


def cell_and_writer(tmp_path, compose_cfg, seed: int = 3):
    cell = compose_cfg("method=confident_only", f"seed={seed}", "setting.data.max_pairs=40")
    return {**cell, "config_hash": config_hash(cell)}, StudyWriter("contract", f"sqlite:///{tmp_path / 'mlruns.db'}")


def test_a_cell_run_holds_the_contract(tmp_path, compose_cfg):
    cell, writer = cell_and_writer(tmp_path, compose_cfg)
    metrics = {"w2s_acc": 0.75, "pgr": float("nan"), "gap": float("inf"), "n_test": 4}
    tags = cell_tags(cell, "sha")
    with BackgroundWriter() as background:
        for _ in range(2):  # the second run of the same seed reuses the first one's dataset rows
            background.put(lambda: writer.log_cell(CellResult(cell, metrics, predictions(), started_ms=STARTED_MS),
                                                   tags, ENDED_MS))
    assert background.failures() == []
    c = writer.client
    runs = st.runs(c, writer.experiment_id, st.CELL)
    assert len(runs) == 2
    for run in runs:
        info = run.info
        assert info.status == "FINISHED" and info.lifecycle_stage == "active"
        assert info.artifact_uri.endswith(f"/{info.run_id}/artifacts")
        assert (info.start_time, info.end_time) == (STARTED_MS, ENDED_MS)  # the UI's Duration: the cell's own
        assert info.run_name == tags["run_name"]
        assert run.data.params == {k: str(v) for k, v in cell_params(cell).items()}
        assert run.data.tags[st.ROLE] == st.CELL and run.data.tags[st.PARENT] == writer.parent_id
        assert run.data.tags["study"] == "contract" and run.data.tags[st.NOTE] == "lab / confident_only / seed 3"
        assert {k: v for k, v in tags.items() if k != "run_name"}.items() <= run.data.tags.items()
        assert run.data.metrics.keys() == metrics.keys() and math.isnan(run.data.metrics["pgr"])
        assert all(run.data.metrics[k] == metrics[k] for k in ("w2s_acc", "n_test"))
        assert run.data.metrics["gap"] in (math.inf, sys.float_info.max)  # a sql store keeps inf as the largest float
        assert [(m.value, m.step) for m in c.get_metric_history(info.run_id, "w2s_acc")] == [(0.75, 0)]
        inputs = {(i.dataset.name, {t.key: t.value for t in i.tags}["mlflow.data.context"])
                  for i in run.inputs.dataset_inputs}
        assert inputs == {("hh_harmless", "train"), ("hh_harmless", "eval"), ("hhh_alignment", "eval")}
        assert sorted(a.path for a in c.list_artifacts(info.run_id)) == sorted([st.PREDICTIONS, st.CELL_CONFIG])
        got = pd.read_parquet(st.artifact(c, info.run_id, st.PREDICTIONS, str(tmp_path / info.run_id)))
        pd.testing.assert_frame_equal(got, predictions())
        assert st.read_json(c, info.run_id, st.CELL_CONFIG) == json.loads(json.dumps(cell, default=str))
    with sqlite3.connect(tmp_path / "mlruns.db") as db:
        assert db.execute("select count(*) from datasets").fetchone()[0] == 3
    found = c.search_runs([writer.experiment_id], "metrics.w2s_acc > 0.5 and params.seed = '3' and "
                                                  "tags.method = 'confident_only' and attributes.status = 'FINISHED'")
    assert {r.info.run_id for r in found} == {r.info.run_id for r in runs}


def test_a_write_that_fails_part_way_leaves_a_failed_run_and_is_reported(tmp_path, compose_cfg):
    cell, writer = cell_and_writer(tmp_path, compose_cfg)
    db = sqlite3.connect(tmp_path / "mlruns.db")
    # a real failure of the database at the run's dataset inputs (as a full disk or a lock would be)
    db.execute("create trigger refuse before insert on input_tags begin select raise(abort, 'refused'); end")
    db.commit()
    db.close()
    tags = cell_tags(cell, "sha")
    with BackgroundWriter() as background:
        background.put(lambda: writer.log_cell(CellResult(cell, {"w2s_acc": 0.5}, predictions()), tags), what=tags,
                       fallback=lambda exc: writer.log_failure(tags, str(exc)))
    (what, exc), = background.failures()
    assert what == tags and "refused" in str(exc)
    runs = st.runs(writer.client, writer.experiment_id, st.CELL)
    assert sorted(r.info.status for r in runs) == ["FAILED", "FAILED"]  # the cut-off run and its error's run
    assert any("refused" in r.data.tags.get("error", "") for r in runs)


def test_no_finished_run_lacks_its_files(tmp_path, compose_cfg):
    """The files go before FINISHED: a writer killed in between leaves a RUNNING run (marked FAILED on rerun)."""
    cell, writer = cell_and_writer(tmp_path, compose_cfg)
    seen = []
    original = writer.client.set_terminated

    def record(run_id, status=None, end_time=None):
        seen.append((status, sorted(a.path for a in writer.client.list_artifacts(run_id))))
        return original(run_id, status=status, end_time=end_time)
    writer.client.set_terminated = record
    writer.log_cell(CellResult(cell, {"w2s_acc": 0.5}, predictions()), cell_tags(cell, "sha"))
    assert seen == [("FINISHED", sorted([st.PREDICTIONS, st.CELL_CONFIG]))]


def test_writes_land_in_the_order_given_and_flush_waits_for_them():
    done = []
    with BackgroundWriter() as background:
        for i in range(20):
            background.put(lambda i=i: (time.sleep(0.005), done.append(i)))
        background.flush()
        assert done == list(range(20))
        background.put(lambda: 1 / 0, what="boom")
        background.put(lambda: done.append("after"))
    assert [w for w, _ in background.failures()] == ["boom"] and done[-1] == "after"
    with pytest.raises(RuntimeError, match="closed"):
        background.put(lambda: None)
