"""Bad data is one line from the driver, before Ray or MLflow start: nothing is left in the store."""

from __future__ import annotations

import gzip

import pytest

from jobs.sweep import main


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
