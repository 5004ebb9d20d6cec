"""transfer.store, the one owner of the MLflow contract: paginated reads (no silent cap), one artifact location."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.load import load_study
from transfer import store as st
from transfer.store.writer import StudyWriter


def test_reads_every_page(store):
    c = st.client(store)
    exp = c.get_experiment_by_name("sim").experiment_id
    whole = st.runs(c, exp, st.CELL, "FINISHED", page_size=10_000)
    paged = st.runs(c, exp, st.CELL, "FINISHED", page_size=7)  # 72 runs: 11 pages
    assert len(whole) == 72 and sorted(r.info.run_id for r in paged) == sorted(r.info.run_id for r in whole)
    first = c.search_runs([exp], f"tags.`{st.ROLE}` = 'cell'", max_results=7)
    assert len(first) == 7 and first.token  # one request stops at its page: the loop is what reads them all


def test_a_study_larger_than_a_page_loads_whole(store, monkeypatch):
    full = load_study("sim-noex", store, with_examples=False).cells
    monkeypatch.setattr(st, "PAGE", 5)
    paged = load_study("sim-noex", store, with_examples=False).cells
    assert len(full) > 5 and len(paged) == len(full)
    pd.testing.assert_frame_equal(paged.drop(columns="run_id"), full.drop(columns="run_id"))


def test_artifacts_live_beside_a_sqlite_store(tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSFER_ARTIFACT_ROOT", raising=False)
    uri = f"sqlite:///{tmp_path / 'db' / 'mlruns.db'}"
    (tmp_path / "db").mkdir()
    w = StudyWriter("x", uri)
    run = w.log_run("r", {"seed": "0"}, {"m": 1.0}, files={"a.json": {"k": 1}}, note="n")
    assert st.read_json(w.client, run, "a.json") == {"k": 1} and st.read_json(w.client, run, "b.json") is None
    loc = w.client.get_experiment(w.experiment_id).artifact_location
    assert Path(loc.removeprefix("file://")) == tmp_path / "db" / "mlartifacts" / "x"
    monkeypatch.setenv("TRANSFER_ARTIFACT_ROOT", str(tmp_path / "elsewhere"))  # a Ray Job's: the submitter's root
    assert st.artifact_location(uri, "y") == (tmp_path / "elsewhere" / "y").as_uri()
