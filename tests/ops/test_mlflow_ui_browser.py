"""The MLflow UI as a researcher sees it, in a real headless Chromium (Debian's `chromium`; .ci/run installs it):
a real small sweep and its report, `python -m ops.mlflow_ui` (what `make mlflow-ui` runs) on a free loopback port,
and the rendered DOM of the study's saved view (its summary rows against the report's results.json), the
experiment's runs, the parent run, a cell and the compare view of two cells.

Screenshots go to tmp_path (and to $TRANSFER_TEST_ARTIFACTS/mlflow_ui when set): the test prints the folder.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from hydra import initialize_config_dir
from mlflow.tracking import MlflowClient

from jobs.report import build
from transfer import paths, store
from transfer.store.view import ML, open_url

pytestmark = pytest.mark.slow
BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
TINY = ["setting.data.max_pairs=120", "grid.settings=[lab]", "grid.methods=[vanilla,logconf]", "grid.seeds=[0,1,2]",
        "head.epochs=10", "study=browse"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium(*args: str, height: int = 1000, width: int = 1600) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=15000", f"--window-size={width},{height}", *args],
                          capture_output=True, text=True, timeout=180)


def page(url: str, shot: Path, height: int = 1000, width: int = 1600, profile: Path | None = None) -> str:
    """The page's visible text once the SPA has rendered, and its screenshot (`height` px tall). `profile`: a
    browser profile kept across calls (what the browser stored, e.g. the UI's GenAI / model-training choice)."""
    keep = [f"--user-data-dir={profile}"] if profile else []
    dom = chromium(*keep, "--dump-dom", url, width=width).stdout
    chromium(*keep, f"--screenshot={shot}", url, height=height, width=width)
    assert shot.exists() and shot.stat().st_size > 10_000, f"no screenshot of {url}"
    text = re.sub(r"<script.*?</script>|<style.*?</style>", "", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))


@pytest.fixture(scope="module")
def ui(tmp_path_factory, ray_local):
    """A study made by a real sweep, its report, and the MLflow UI serving it; stopped (its whole process group)
    after. Yields (store URI, UI base address, the report's results)."""
    from jobs.sweep import main as sweep_main

    if BROWSER is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    d = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{d / 'mlruns.db'}"
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        assert sweep_main([*TINY, f"runtime.tracking_uri={uri}", "runtime.progress=false"]) == 0
    res = json.loads((build("browse", tracking_uri=uri, out=str(d / "reports")) / "results.json").read_text())
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ops.mlflow_ui", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port)], start_new_session=True)
    try:
        deadline = time.time() + 240
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except OSError:
                assert server.poll() is None, "the MLflow UI exited before answering"
                assert time.time() < deadline, "the MLflow UI did not answer within 240 s"
                time.sleep(1)
        yield uri, f"http://127.0.0.1:{port}", res
    finally:
        server.send_signal(signal.SIGTERM)  # ops.mlflow_ui stops the server's group, then exits
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlflow_ui_screenshots")
    yield out
    keep = os.environ.get("TRANSFER_TEST_ARTIFACTS")
    if keep:
        shutil.copytree(out, Path(keep) / "mlflow_ui", dirs_exist_ok=True)
    print(f"\nMLflow UI screenshots: {out}" + (f" (copied to {keep}/mlflow_ui)" if keep else ""))


def study(uri):
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name("browse")
    runs = c.search_runs([exp.experiment_id])
    parent = next(r for r in runs if r.data.tags["transfer.role"] == "study")
    cells = sorted((r for r in runs if r.data.tags["transfer.role"] == "cell"), key=lambda r: r.info.run_name)
    return exp.experiment_id, parent, cells


def summaries(uri):
    c = MlflowClient(uri)
    return store.runs(c, c.get_experiment_by_name("browse").experiment_id, store.SUMMARY)


def test_the_experiment_opens_on_its_runs_with_the_cells_nested_under_the_parent(ui, shots):
    uri, base, _ = ui
    exp, parent, cells = study(uri)
    rows = summaries(uri)
    text = page(f"{base}/#/experiments/{exp}/runs?{ML}", shots / "experiment_runs.png")
    assert "Run Name" in text and "Show more columns" in text  # the runs table, not the GenAI overview
    assert parent.info.run_name in text and f"{1 + len(cells) + len(rows)} matching runs" in text
    # the table lists only the parent (cells and summary rows are folded under it): its page names them as children
    text = page(f"{base}/#/experiments/{exp}/runs/{parent.info.run_id}?{ML}", shots / "parent_run.png")
    listed = re.search(r"Child runs (.*?) Source", text)
    assert listed, text[:2000]
    assert sorted(n.strip() for n in listed.group(1).split(",")) == sorted(
        [c.info.run_name for c in cells] + [r.info.run_name for r in rows])


def test_a_cell_shows_method_seed_setting_pgr_and_its_dataset(ui, shots):
    uri, base, _ = ui
    exp, parent, cells = study(uri)
    # MLflow's run page leaves out a NaN metric: a cell whose gap is 0 (pgr NaN) shows no pgr row
    cell = next((c for c in cells if math.isfinite(c.data.metrics["pgr"])), None)
    assert cell is not None, "every cell of the tiny study has gap 0 (pgr NaN): change its seeds or max_pairs"
    text = page(f"{base}/#/experiments/{exp}/runs/{cell.info.run_id}?{ML}", shots / "cell_run.png", height=2000)
    assert f"Parent run {parent.info.run_name}" in text
    m, t = cell.data.metrics, cell.data.tags
    assert re.search(r"Parameters \(\d+\) Parameter Value method\.name (\S+) seed (\S+) setting (\S+) mode head",
                     text).groups() == (t["method"], t["seed"], t["setting"])  # what varies first, as logged
    shown = re.search(r"Metrics \(\d+\) Metric Value .*?\bpgr (\S+)", text)
    assert shown and float(shown.group(1)) == pytest.approx(m["pgr"], abs=1e-3), "pgr is not on the cell's page"
    assert "Datasets hh_harmless" in text and "train" in text


def test_the_compare_view_lists_parameters_and_pgr(ui, shots):
    uri, base, _ = ui
    exp, _, cells = study(uri)
    a, b = [c for c in cells if c.data.tags["seed"] == "0"]
    runs, exps = quote(f'["{a.info.run_id}","{b.info.run_id}"]'), quote(f'["{exp}"]')
    text = page(f"{base}/#/compare-runs?runs={runs}&experiments={exps}", shots / "compare.png", height=2400)
    assert "Comparing 2 Runs" in text and a.info.run_name in text and b.info.run_name in text
    assert "No parameters to display" not in text
    params = text[text.index("Parameters Show diff only"):text.index("Metrics Show diff only")]
    methods = sorted((a.data.tags["method"], b.data.tags["method"]))
    assert re.search(r"method\.name (\S+) (\S+)", params).groups() in (tuple(methods), tuple(methods[::-1]))
    for key in ("seed 0 0", "setting lab lab", "mode head head", "dataset hh_harmless hh_harmless",
                f"strong_model {a.data.tags['strong_model']} {a.data.tags['strong_model']}"):
        assert key in params, key
    assert " pgr " in text[text.index("Metrics Show diff only"):]


def shown(cell: str) -> float:
    return float("nan") if cell in ("NaN", "-") else float(cell)


def test_the_printed_address_opens_the_results_table_with_the_reports_numbers(ui, shots, tmp_path):
    """The address `make mlflow-ui` and the sweep print: the study's summary rows only, vanilla first, each row's
    numbers those of the report (results.json), rounded; then a cell's page, opened without `workflowType`, is
    still in model training (the address stored the UI's choice), not on the GenAI pages."""
    uri, base, res = ui
    exp, _, cells = study(uri)
    profile = tmp_path / "profile"
    text = page(open_url(base, exp), shots / "study_view.png", width=3000, profile=profile)
    assert "You're viewing a shared view" in text and "Model training" in text, text[:2000]
    header = text[text.index("Run Name"):]
    for column in ("method.name", "setting", "dataset", "pgr", "pgr_ci_low", "pgr_ci_high", "delta_pgr", "seeds",
                   "weak_acc", "ceiling_acc", "gap", "lab_verdict", "strong_model"):
        assert re.search(rf"\b{re.escape(column)}\b", header), (column, header[:1500])
    assert "Source" not in header and "Models" not in header  # MLflow's default columns, all "-" here
    g = next(g for g in res["groups"] if g["study"] == "browse")
    # AG Grid renders the pinned run names apart from the other cells, which come in the view's column order
    # (view.COLUMNS; a tag column no row has, transfer_verdict in a lab-only study, is not rendered)
    names = re.findall(r"Hide run #\w+ (\w+) / lab / hh_harmless", text)
    assert names == g["methods"] == ["vanilla", "logconf"], text[:3000]  # the baseline first
    model = cells[0].data.tags["strong_model"]
    for m in names:
        found = re.search(rf"\b{m} lab hh_harmless (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (-|[a-z][^0-9]*?) (\d+) "
                          rf"(\S+) (\S+) (\S+) {model}\b", text)
        assert found, (m, text[:3000])
        vals = found.groups()
        pgr, delta = g["pgr"][m], g["delta"].get(m) or {}
        want = [pgr["estimate"], *(pgr["ci"] or (None, None)), delta.get("estimate"), *(delta.get("ci") or (None, None))]
        for got, w in zip(vals[:6], want):  # NaN where the report has no number (PGR undefined, the baseline's ΔPGR)
            assert (math.isnan(shown(got)) if w is None else shown(got) == pytest.approx(w, abs=5e-4)), (m, vals, want)
        lab = g["lab_verdicts"].get(m)
        assert vals[6] == (lab["verdict"] if lab else "-"), (m, vals[6])
        assert int(vals[7]) == pgr["n_seeds"] == 3
        for got, w in zip(vals[8:], (g["weak_acc"], g["ceiling_acc"], g["gap"]["estimate"])):
            assert shown(got) == pytest.approx(w, abs=5e-4) and len(got.split(".")[-1]) <= 3, (m, got, w)
    cell = cells[0]
    text = page(f"{base}/#/experiments/{exp}/runs/{cell.info.run_id}", shots / "cell_after_address.png",
                profile=profile)
    assert cell.info.run_name in text and "Model training" in text
    assert "Judges" not in text and "Agent versions" not in text, text[:1500]  # the GenAI sidebar
