"""A content-addressed, sharded feature cache.

Rows are computed in shards of `shard_size` texts; each shard is written to a temporary file and renamed into place,
so a crash (or a killed server) mid-extraction leaves only whole shards behind, and a rerun computes only the
missing ones. No reader ever sees a half-written file. Each shard has its SHA-256 beside it, written after it and
checked on every read: a shard changed on disk (corrupted, or replaced by someone poisoning the cache) is recomputed,
never read.

Each cache also keeps its texts' SHA-256 digests (`texts.npy`, in row order), so a new cache whose recipe (weights,
layer, pooling, tokens, template, backend, dtype) matches takes the rows of texts already computed elsewhere instead
of recomputing them (`Donors`): a task's binary framing reads its pair framing's rows, a subset its full set's.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

EXTRACTOR_VERSION = 1  # bump when the extraction code changes what it computes
log = logging.getLogger(__name__)
# who hears of rows as they are computed: (what, rows just done, rows newly to do); the input stage's Ray task
# forwards them to the driver's progress bar (jobs/progress.py), which otherwise sat at 0% through extraction
_LISTENERS: list[Callable[[str, int, int], None]] = []


@contextmanager
def reporting(listener: Callable[[str, int, int], None]):
    """Within: every fill tells `listener` its rows to compute, then each shard's rows as they land; this process's
    own bar stays off (its output would land on top of the listener's)."""
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        _LISTENERS.remove(listener)


def _tell(what: str, done: int, todo: int) -> None:
    for listener in _LISTENERS:
        listener(what, done, todo)


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


# meta fields that name what was embedded or how rows are laid out, not how a text becomes its row
NOT_RECIPE = ("texts", "layout", "model", "dataset", "n_rows", "shard_size")


def text_digests(texts: Sequence[str]) -> np.ndarray:
    return np.frombuffer(b"".join(hashlib.sha256(t.encode()).digest() for t in texts), dtype=np.uint8).reshape(-1, 32)


def recipe(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k not in NOT_RECIPE}


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
        """Compute the missing shards with `compute` (rows of the same texts in other caches of the same recipe
        are taken from there), then return all rows in order (a shard that fails its checksum is recomputed)."""
        digests = self.dir / "texts.npy"
        if not digests.exists():
            buf = io.BytesIO()
            np.save(buf, text_digests(texts))
            try:
                atomic_write(digests, buf.getvalue())
            except OSError as exc:  # a read-only shared cache still serves its rows; it only cannot donate them
                log.debug("feature cache %s: texts.npy not written (%s)", self.dir, exc)
        if self.missing():
            compute = Donors(self.dir).serve(compute)
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
        _tell(desc, 0, sum(len(texts[i * self.shard_size:(i + 1) * self.shard_size]) for i in todo))
        with tqdm(total=self.n_rows, initial=(self.n_shards - len(todo)) * self.shard_size,
                  desc=desc or "features", unit="text", mininterval=2.0, disable=bool(_LISTENERS)) as bar:
            for i in todo:
                chunk = texts[i * self.shard_size:(i + 1) * self.shard_size]
                rows = np.asarray(compute(chunk), dtype=np.float32)
                if rows.shape[0] != len(chunk) or not np.isfinite(rows).all():
                    raise ValueError(f"{desc}: backend returned {rows.shape} rows with non-finite values "
                                     f"for a shard of {len(chunk)} texts")
                self._save(i, rows)
                bar.update(len(chunk))
                _tell(desc, len(chunk), 0)


class Donors:
    """Rows already on disk for the same texts under the same recipe, in the other caches beside `own` (only
    complete shards that pass their checksums are read)."""

    def __init__(self, own: Path):
        self.where: dict[bytes, tuple[FeatureCache, int]] = {}
        self._shards: dict[tuple[Path, int], np.ndarray | None] = {}
        try:
            want = recipe(json.loads((own / "meta.json").read_text()))
        except (OSError, ValueError):
            return
        for meta_path in sorted(own.parent.glob("*/meta.json")):
            donor = meta_path.parent
            try:
                meta = json.loads(meta_path.read_text())
                if donor == own or recipe(meta) != want or not (donor / "texts.npy").exists():
                    continue
                digests = np.load(donor / "texts.npy", allow_pickle=False)
            except (OSError, ValueError):
                continue
            cache = FeatureCache(donor.parent, donor.name, meta, int(meta["n_rows"]), int(meta["shard_size"]))
            if digests.shape != (cache.n_rows, 32):
                continue
            for row, digest in enumerate(digests):
                self.where.setdefault(digest.tobytes(), (cache, row))

    def _row(self, cache: FeatureCache, row: int) -> np.ndarray | None:
        shard = row // cache.shard_size
        if (cache.dir, shard) not in self._shards:
            self._shards[(cache.dir, shard)] = cache._load(shard)
        rows = self._shards[(cache.dir, shard)]
        return None if rows is None else rows[row % cache.shard_size]

    def serve(self, compute: Callable[[Sequence[str]], np.ndarray]) -> Callable[[Sequence[str]], np.ndarray]:
        """`compute`, called only for the texts no donor holds."""
        if not self.where:
            return compute

        def rows(chunk: Sequence[str]) -> np.ndarray:
            found = {}
            for i, digest in enumerate(text_digests(chunk)):
                hit = self.where.get(digest.tobytes())
                row = self._row(*hit) if hit else None
                if row is not None:
                    found[i] = row
            rest = [i for i in range(len(chunk)) if i not in found]
            if rest:
                found.update(zip(rest, np.asarray(compute([chunk[i] for i in rest]), dtype=np.float32)))
            return np.stack([found[i] for i in range(len(chunk))])

        return rows
