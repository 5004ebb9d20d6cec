"""Bad data is one line from the driver, before Ray or MLflow start: nothing is left in the store."""

from __future__ import annotations

import gzip

import pytest

from jobs.grid import expand
from jobs.preflight import check_datasets
from jobs.sweep import main
from transfer.errors import DataWarning


@pytest.mark.parametrize("content, expected", [
    (None, "file not found"),
    ('{"chosen": "x"}\n{bad json\n', ":2: not valid JSON"),
])
def test_bad_data_fails_once_before_any_service(tmp_path, capsys, content, expected):
    path = tmp_path / "pairs.jsonl.gz"
    if content is not None:
        with gzip.open(path, "wt") as f:
            f.write(content)
    store = tmp_path / "mlruns.db"
    code = main(["study=bad", f"setting.data.path={path}", "grid.methods=[vanilla,logconf]", "grid.seeds=[0,1,2]",
                 f"runtime.tracking_uri=sqlite:///{store}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expected in err[0] and str(path) in err[0], err
    assert not store.exists()  # no MLflow store, no parent run: nothing half-written


def test_data_a_loader_skipped_is_said_once_as_one_line_without_a_warnings_source_line(recwarn):
    said = []
    cells = expand(["grid.datasets=[hh_harmless]", "grid.methods=[vanilla,logconf]", "grid.seeds=[0,1]"]).cells
    check_datasets(cells, say=said.append)
    skipped = [s for s in said if "skipped 5 pairs" in s]
    assert len(skipped) == 1 and skipped[0].startswith("[data] harmless-base-test.jsonl.gz: skipped 5 pairs")
    assert not [w for w in recwarn if issubclass(w.category, DataWarning)]  # not printed again as a warning
