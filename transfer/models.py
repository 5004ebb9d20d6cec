"""Resolve a model config to weights on disk (a fetched asset, transfer/assets.py, or a local folder or hub id), and
fingerprint those weights for cache keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from transfer import paths
from transfer.errors import AssetError

MARKER = ".transfer-asset.json"


def recipe_hash(recipe: dict) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def asset_dir(name: str) -> Path:
    return paths.home() / "assets" / name


def is_ready(name: str, recipe: dict) -> bool:
    marker = asset_dir(name) / MARKER
    return marker.exists() and json.loads(marker.read_text()).get("recipe") == recipe_hash(recipe)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".json", ".model")


def resolve_path(model_cfg: dict) -> str:
    """A local folder for the model: `pretrained` (local path or hub id) wins, else the fetched registry asset."""
    pretrained = model_cfg.get("pretrained")
    if pretrained:
        local = Path(str(pretrained)).expanduser()
        return str(local.resolve()) if local.exists() else str(pretrained)  # a hub id, resolved by transformers
    recipe = model_cfg.get("asset")
    if not recipe:
        raise AssetError(f"model {model_cfg['name']!r} has neither `pretrained` nor an `asset:` recipe")
    if not is_ready(model_cfg["name"], recipe):
        raise AssetError(f"model {model_cfg['name']!r} is not fetched yet: run `make assets` "
                         f"(or `python -m jobs.assets {model_cfg['name']}`)")
    return str(asset_dir(model_cfg["name"]))


def weights_fingerprint(path: str) -> str:
    """sha256 over the weight, config and tokenizer files of a model folder (memoized by size and mtime)."""
    folder = Path(path)
    if not folder.is_dir():
        return hashlib.sha256(f"hub:{path}".encode()).hexdigest()  # a hub id: pin a revision for exactness
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES
                   and not p.name.startswith(".transfer"))
    stamp = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    memo = folder / ".transfer-fingerprint.json"
    try:
        cached = json.loads(memo.read_text())
        if cached["stamp"] == stamp:
            return cached["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    h = hashlib.sha256()
    for rel, *_ in stamp:
        h.update(rel.encode())
        h.update(sha256_file(folder / rel).encode())
    digest = h.hexdigest()
    try:
        memo.write_text(json.dumps({"stamp": stamp, "sha256": digest}))
    except OSError:
        pass  # a read-only model folder: hash again next time
    return digest
