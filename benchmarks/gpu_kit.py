"""Pack what the GPU checks need for a machine with no hub and a small upload limit; unpack it there.

A GPU box lent for a few minutes (no network, tens of MiB of upload) cannot fetch the model assets. `pack` writes
one tar.gz with: the real HH pairs; the models named in --real with their real weights (stored float16 to halve
them; the GPU checks compare float32 with bfloat16 compute, both from the same float16-rounded weights); the models
named in --config-only with their config and tokenizer but NO weights. `unpack` extracts it into a TRANSFER_HOME and
gives each config-only model random weights (the architecture's own initialisation, seed 0). Every asset folder it
writes says which kind it holds in `.transfer-asset.json` ("weights": "real (float16)" | "random init").
Throughput does not depend on the weights' values; agreement numbers from random-init models are labelled so.

    python benchmarks/gpu_kit.py pack .devkit/kit.tar.gz --real minilm_l6 --config-only smollm2_135m gemma3_270m
    python benchmarks/gpu_kit.py unpack .devkit/kit.tar.gz /tmp/kithome   # then TRANSFER_HOME=/tmp/kithome
"""

from __future__ import annotations

import argparse
import json
import shutil
import tarfile
import tempfile
from pathlib import Path

from transfer import models, paths
from transfer.config import group_config

TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "chat_template.jinja", "generation_config.json", "vocab.txt", "modules.json")
DATA = Path("hh-rlhf") / "harmless-base-test.jsonl.gz"


def model_recipe(name: str) -> dict:
    return group_config("model", name)["asset"]


def pack(out: Path, real: list[str], config_only: list[str]) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / DATA.parent).mkdir(parents=True)
        shutil.copy(paths.shared_data_dir() / DATA, root / DATA)
        for name in real + config_only:
            src, dst = models.asset_dir(name), root / "models" / name
            if not models.is_ready(name, model_recipe(name)):
                raise SystemExit(f"model {name} is not fetched here: run `make assets` first")
            dst.mkdir(parents=True)
            for f in TOKENIZER_FILES:
                if (src / f).exists():
                    shutil.copy(src / f, dst / f)
            if name in real:
                tensors = {k: v.to(torch.float16) if v.is_floating_point() else v
                           for k, v in load_file(src / "model.safetensors").items()}
                save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
            (dst / "KIT").write_text("real (float16)" if name in real else "random init")
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:gz") as tar:
            tar.add(root, arcname="kit")
    print(f"{out}: {out.stat().st_size / 2**20:.1f} MiB")


def random_weights(folder: Path) -> None:
    """Save the architecture's own random initialisation (seed 0) beside the config and tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    if getattr(config, "quantization_config", None):
        del config.quantization_config  # GGUF-converted assets record it; the weights here are plain
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(folder)


def unpack(archive: Path, home: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        kit = Path(tmp) / "kit"
        (home / "data" / DATA.parent).mkdir(parents=True, exist_ok=True)
        shutil.copy(kit / DATA, home / "data" / DATA)
        for folder in sorted((kit / "models").iterdir()):
            weights = (folder / "KIT").read_text()
            if weights == "random init":
                random_weights(folder)
            target = home / "assets" / folder.name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(folder, target)
            (target / models.MARKER).write_text(json.dumps({"name": folder.name, "weights": weights,
                                                            "recipe": models.recipe_hash(model_recipe(folder.name))}))
            print(f"{target}: {weights}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("out", type=Path)
    p.add_argument("--real", nargs="*", default=["minilm_l6"])
    p.add_argument("--config-only", nargs="*", default=["smollm2_135m", "gemma3_270m"])
    u = sub.add_parser("unpack")
    u.add_argument("archive", type=Path)
    u.add_argument("home", type=Path, help="a TRANSFER_HOME; the data land in <home>/data (TRANSFER_DATA)")
    args = ap.parse_args()
    if args.cmd == "pack":
        pack(args.out, args.real, args.config_only)
    else:
        unpack(args.archive, args.home)


if __name__ == "__main__":
    main()
