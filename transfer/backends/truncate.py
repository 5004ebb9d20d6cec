"""A model folder vLLM can serve: layers >= L dropped (layer-L features), and no stale GGUF quantization_config.

vLLM cannot return an intermediate layer (`--hf-overrides num_hidden_layers` fails on load), but a model whose
later layers are gone ends in norm(h_L): exactly what the hf backend computes for `layer: L`. Assets converted from
GGUF hold plain fp32 weights but keep `quantization_config: {quant_method: gguf}` in config.json, which vLLM
rejects; the served copy drops it (weights are then symlinked, not copied). A copy is built once per
(weights, L) under <home>/vllm/served and renamed into place, so a crash never leaves half a folder.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from transfer import paths
from transfer.errors import ConfigError
from transfer.models import weights_fingerprint

LAYER_KEY = re.compile(r"(?:^|\.)layers\.(\d+)\.")
DONE = ".transfer-truncated.json"


def _keep(name: str, layer: int) -> bool:
    m = LAYER_KEY.search(name)
    return m is None or int(m.group(1)) < layer


def _stale_gguf(config: dict) -> bool:
    return (config.get("quantization_config") or {}).get("quant_method") == "gguf"


def _truncate_config(config: dict, layer: int | None, where: str) -> dict:
    if _stale_gguf(config):
        config = {k: v for k, v in config.items() if k != "quantization_config"}
    if layer is None:
        return config
    total = config.get("num_hidden_layers")
    if total is None:
        raise ConfigError(f"{where}/config.json has no num_hidden_layers: cannot serve layer {layer} of it")
    if not 0 < layer <= total:
        raise ConfigError(f"{where}: layer {layer} outside 1..{total}")
    config = dict(config, num_hidden_layers=layer)
    if isinstance(config.get("layer_types"), list):  # Gemma3/Qwen3 list one attention type per layer
        config["layer_types"] = config["layer_types"][:layer]
    return config


def _copy_weights(src: Path, dst: Path, layer: int) -> None:
    """Filter each safetensors shard on its own (bounded memory for large models); keep the shard layout."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    shards = sorted(src.glob("*.safetensors"))
    if not shards:
        raise ConfigError(f"{src}: no *.safetensors weights to truncate")
    kept_in: dict[str, str] = {}
    for shard in shards:
        with safe_open(str(shard), framework="pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys() if _keep(k, layer)}
            metadata = fh.metadata() or {"format": "pt"}
        if tensors:
            save_file(tensors, str(dst / shard.name), metadata=metadata)
            kept_in.update({k: shard.name for k in tensors})
    index = src / "model.safetensors.index.json"
    if index.exists():
        meta = json.loads(index.read_text()).get("metadata", {})
        (dst / index.name).write_text(json.dumps({"metadata": meta, "weight_map": kept_in}, indent=1))


def _resolve_local(model_path: str) -> Path:
    local = Path(model_path)
    if local.is_dir():
        return local
    from huggingface_hub import snapshot_download  # a hub id: needs the hub (GPU clusters), not used on CPU here

    return Path(snapshot_download(model_path, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt",
                                                              "*.jinja", "*.tiktoken"]))


def _link_weights(src: Path, dst: Path) -> None:
    for f in src.glob("*.safetensors"):
        (dst / f.name).symlink_to(f.resolve())
    index = src / "model.safetensors.index.json"
    if index.exists():
        shutil.copy2(index, dst / index.name)


def servable_model(model_path: str, layer: int | None = None) -> str:
    """`model_path` itself when vLLM can serve it as is, else a prepared copy (first `layer` layers, clean config)."""
    local = Path(model_path)
    if layer is None and not (local.is_dir() and _stale_gguf(json.loads((local / "config.json").read_text()))):
        return model_path
    src = _resolve_local(model_path)
    key = f"{weights_fingerprint(str(src))[:16]}-{'L' + str(layer) if layer else 'full'}"
    out = paths.home() / "vllm" / "served" / key
    if (out / DONE).exists():
        return str(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{key}."))
    try:
        config = _truncate_config(json.loads((src / "config.json").read_text()), layer, str(src))
        for f in src.iterdir():  # tokenizer, generation config, chat template, pooling configs ...
            skip = f.suffix == ".safetensors" or f.name.startswith(".transfer") or f.name in (
                "config.json", "model.safetensors.index.json")
            if f.is_file() and not skip:
                shutil.copy2(f, tmp / f.name)
        (tmp / "config.json").write_text(json.dumps(config, indent=1))
        _copy_weights(src, tmp, layer) if layer else _link_weights(src, tmp)
        (tmp / DONE).write_text(json.dumps({"source": str(src), "layer": layer}))
        if out.exists():  # an unfinished earlier copy
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(out)
