"""A content-addressed, sharded feature cache.

Rows are computed in shards of `shard_size` texts; each shard is written to a temporary file and renamed into place,
so a crash (or a killed server) mid-extraction leaves only whole shards behind, and a rerun computes only the
missing ones. No reader ever sees a half-written file. Each shard has its SHA-256 beside it, written after it and
checked on every read: a shard changed on disk (corrupted, or replaced by someone poisoning the cache) is recomputed,
never read.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

EXTRACTOR_VERSION = 1  # bump when the extraction code changes what it computes
log = logging.getLogger(__name__)


def cache_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def texts_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(hashlib.sha256(t.encode()).digest())
    return h.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; other users of a shared cache must read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class FeatureCache:
    def __init__(self, root: Path, key: str, meta: dict, n_rows: int, shard_size: int = 256):
        self.dir = Path(root) / key
        self.n_rows, self.shard_size = n_rows, shard_size
        self.dir.mkdir(parents=True, exist_ok=True)
        meta_path = self.dir / "meta.json"
        if not meta_path.exists():
            fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                json.dump({**meta, "n_rows": n_rows, "shard_size": shard_size}, fh, indent=1, default=str)
            os.chmod(tmp, 0o644)
            os.replace(tmp, meta_path)

    @property
    def n_shards(self) -> int:
        return (self.n_rows + self.shard_size - 1) // self.shard_size

    def shard_path(self, i: int) -> Path:
        return self.dir / f"shard-{i:05d}.npy"

    def sum_path(self, i: int) -> Path:
        return self.dir / f"shard-{i:05d}.sha256"

    def missing(self) -> list[int]:
        """Shards not on disk, or without their checksum (written before this cache had them: recomputed)."""
        return [i for i in range(self.n_shards) if not (self.shard_path(i).exists() and self.sum_path(i).exists())]

    def _save(self, i: int, rows: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, rows)
        atomic_write(self.shard_path(i), buf.getvalue())
        atomic_write(self.sum_path(i), hashlib.sha256(buf.getvalue()).hexdigest().encode())  # after: see missing()

    def _load(self, i: int) -> np.ndarray | None:
        """Shard i if its bytes match its checksum, else None."""
        try:
            data, want = self.shard_path(i).read_bytes(), self.sum_path(i).read_text().strip()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() != want:
            return None
        return np.load(io.BytesIO(data), allow_pickle=False)

    def fill(self, texts: Sequence[str], compute: Callable[[Sequence[str]], np.ndarray], desc: str = "") -> np.ndarray:
        """Compute the missing shards with `compute`, then return all rows in order (a shard that fails its
        checksum is recomputed)."""
        self._compute(self.missing(), texts, compute, desc)
        shards = [self._load(i) for i in range(self.n_shards)]
        bad = [i for i, rows in enumerate(shards) if rows is None]
        if bad:
            log.warning("feature cache %s: shards %s do not match their checksums; recomputing them", self.dir, bad)
            self._compute(bad, texts, compute, desc)
            shards = [self._load(i) for i in range(self.n_shards)]
            if any(rows is None for rows in shards):
                raise ValueError(f"feature cache {self.dir}: shards change on disk as they are written; remove it "
                                 f"and rerun")
        return np.concatenate(shards)

    def _compute(self, todo: list[int], texts: Sequence[str], compute, desc: str) -> None:
        if not todo:
            return
        with tqdm(total=self.n_rows, initial=(self.n_shards - len(todo)) * self.shard_size,
                  desc=desc or "features", unit="text", mininterval=2.0) as bar:
            for i in todo:
                chunk = texts[i * self.shard_size:(i + 1) * self.shard_size]
                rows = np.asarray(compute(chunk), dtype=np.float32)
                if rows.shape[0] != len(chunk) or not np.isfinite(rows).all():
                    raise ValueError(f"{desc}: backend returned {rows.shape} rows with non-finite values "
                                     f"for a shard of {len(chunk)} texts")
                self._save(i, rows)
                bar.update(len(chunk))
