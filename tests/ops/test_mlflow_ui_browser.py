"""The MLflow UI as a researcher sees it, in a real headless Chromium (Debian's `chromium`; .ci/run installs it):
a real small sweep, `python -m ops.mlflow_ui` (what `make mlflow-ui` runs) on a free loopback port, and the
rendered DOM of the experiment's runs, the parent run, a cell and the compare view of two cells.

Screenshots go to tmp_path (and to $TRANSFER_TEST_ARTIFACTS/mlflow_ui when set): the test prints the folder.
"""

from __future__ import annotations

import html
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

from transfer import paths
from transfer.store.view import ML, study_url

pytestmark = pytest.mark.slow
BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
TINY = ["setting.data.max_pairs=120", "grid.settings=[lab]", "grid.methods=[vanilla,logconf]", "grid.seeds=[0,1]",
        "head.epochs=10", "study=browse"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium(*args: str, height: int = 1000) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=15000", f"--window-size=1600,{height}", *args],
                          capture_output=True, text=True, timeout=180)


def page(url: str, shot: Path, height: int = 1000) -> str:
    """The page's visible text once the SPA has rendered, and its screenshot (`height` px tall)."""
    dom = chromium("--dump-dom", url).stdout
    chromium(f"--screenshot={shot}", url, height=height)
    assert shot.exists() and shot.stat().st_size > 10_000, f"no screenshot of {url}"
    text = re.sub(r"<script.*?</script>|<style.*?</style>", "", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))


@pytest.fixture(scope="module")
def ui(tmp_path_factory, ray_local):
    """A study made by a real sweep, and the MLflow UI serving it; stopped (its whole process group) after."""
    from jobs.sweep import main as sweep_main

    if BROWSER is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlruns.db'}"
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        assert sweep_main([*TINY, f"runtime.tracking_uri={uri}", "runtime.progress=false"]) == 0
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
        yield uri, f"http://127.0.0.1:{port}"
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


def test_the_experiment_opens_on_its_runs_with_the_cells_nested_under_the_parent(ui, shots):
    uri, base = ui
    exp, parent, cells = study(uri)
    text = page(f"{base}/#/experiments/{exp}/runs?{ML}", shots / "experiment_runs.png")
    assert "Run Name" in text and "Show more columns" in text  # the runs table, not the GenAI overview
    assert parent.info.run_name in text and f"{1 + len(cells)} matching runs" in text
    # the table lists only the parent (the cells are folded under it): its own page names them as child runs
    text = page(f"{base}/#/experiments/{exp}/runs/{parent.info.run_id}?{ML}", shots / "parent_run.png")
    listed = re.search(r"Child runs (.*?) Source", text)
    assert listed, text[:2000]
    assert sorted(n.strip() for n in listed.group(1).split(",")) == [c.info.run_name for c in cells]


def test_a_cell_shows_method_seed_setting_pgr_and_its_dataset(ui, shots):
    uri, base = ui
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
    uri, base = ui
    exp, _, cells = study(uri)
    a, b = [c for c in cells if c.data.tags["seed"] == "0"]
    runs, exps = quote(f'["{a.info.run_id}","{b.info.run_id}"]'), quote(f'["{exp}"]')
    text = page(f"{base}/#/compare-runs?runs={runs}&experiments={exps}", shots / "compare.png", height=2400)
    assert "Comparing 2 Runs" in text and a.info.run_name in text and b.info.run_name in text
    assert "No parameters to display" not in text
    params = text[text.index("Parameters Show diff only"):text.index("Metrics Show diff only")]
    methods = sorted((a.data.tags["method"], b.data.tags["method"]))
    assert re.search(r"method\.name (\S+) (\S+)", params).groups() in (tuple(methods), tuple(methods[::-1]))
    for key in ("seed 0 0", "setting lab lab", "mode head head", "dataset hh_harmless hh_harmless"):
        assert key in params, key
    assert " pgr " in text[text.index("Metrics Show diff only"):]


def test_the_study_address_opens_its_saved_view_grouped_with_the_columns_that_matter(ui, shots):
    """The address the sweep and `make mlflow-ui` print: the study's runs grouped by setting, dataset and method,
    the method/seed/setting tags and pgr with the accuracies as columns (not MLflow's Source/Models)."""
    uri, base = ui
    exp, _, cells = study(uri)
    text = page(study_url(base, exp), shots / "study_view.png")
    assert "You're viewing a shared view" in text and "Group by: setting +2" in text, text[:2000]
    header = text[text.index("Group by: setting"):text.index("Hide group")]
    for column in ("ceiling_acc", "pgr", "w2s_acc", "weak_acc", "setting", "method", "seed"):
        assert re.search(rf"\b{column}\b", header), (column, header)
    assert "Source" not in header and "Models" not in header  # MLflow's default columns, all "-" here
    for method in {c.data.tags["method"] for c in cells}:
        assert f"Group: setting: lab, dataset: hh_harmless, method: {method} 2" in text, method
