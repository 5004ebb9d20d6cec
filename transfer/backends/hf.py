"""transformers in-process: pooled hidden states of one layer, and label-token log-probs.

Features are computed in the backend's dtype (`auto`: bfloat16 where the hardware runs it natively, precision.py),
by a decoder cut after the feature layer, in batches of texts of similar token length (little padding); pooling
is in float32. Label log-probs always use the full model in float32 (their checks need 1e-3 agreement).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from transfer.backends.base import Backend
from transfer.errors import ConfigError
from transfer.label_tokens import label_logprobs
from transfer.models import resolve_path
from transfer.precision import compute_dtype, resolve_device

# texts per forward pass on a GPU when backend.batch_size is null. The model configs' sizes suit a 2-core CPU; on a
# GPU every new (batch, length) shape is slow the first time, and a study sees each text once: the first pass over
# 2,048 texts took 11.3 s at 16 and 1.0 s at 256 (H200, SmolLM2, bfloat16; docs/performance.md "Feature extraction")
GPU_BATCH_SIZE = 256


class HFBackend(Backend):
    name = "hf"

    def __init__(self, backend_cfg: dict, model_cfg: dict):
        super().__init__(backend_cfg, model_cfg)
        from transformers import AutoModel, AutoTokenizer

        if backend_cfg.get("threads"):
            torch.set_num_threads(int(backend_cfg["threads"]))
        path = resolve_path(model_cfg)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        self.device = resolve_device(backend_cfg.get("device"))
        self.dtype = compute_dtype(backend_cfg)
        self.model = AutoModel.from_pretrained(path, config=plain_config(path), dtype=getattr(torch, self.dtype)).eval()
        loaded = next(self.model.parameters()).dtype
        if loaded != getattr(torch, self.dtype):
            raise RuntimeError(f"model {model_cfg['name']} loaded in {loaded}, not the backend's {self.dtype}")
        self._truncate_to_layer(model_cfg.get("layer"))
        self.model.to(self.device)
        on_gpu = self.device.startswith("cuda")
        self.batch_size = int(backend_cfg.get("batch_size")
                              or (GPU_BATCH_SIZE if on_gpu else model_cfg.get("batch_size", 16)))

    def _truncate_to_layer(self, layer: int | None) -> None:
        """Keep layers 1..L of a decoder: its output is then norm(h_L), exactly what a vLLM server of the same
        truncated model returns, and the dropped layers cost nothing."""
        if layer is None or self.model_cfg["kind"] != "causal_lm":
            return
        layers = self.model.layers
        if not 0 < layer <= len(layers):
            raise ValueError(f"model {self.model_cfg['name']}: layer {layer} outside 1..{len(layers)}")
        self.model.layers = layers[:layer]
        self.model.config.num_hidden_layers = layer
        if getattr(self.model.config, "layer_types", None):
            self.model.config.layer_types = self.model.config.layer_types[:layer]

    @torch.inference_mode()
    def features(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        if not len(texts):
            return out
        enc = self.tokenizer(list(texts), truncation=True, max_length=int(self.model_cfg["max_tokens"]))
        for idx in length_batches([len(ids) for ids in enc["input_ids"]], self.batch_size):
            batch = self.tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc}, return_tensors="pt")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            hidden = self.model(**batch).last_hidden_state.float()
            out[idx] = pool(hidden, batch["attention_mask"], self.model_cfg.get("pooling", "mean")).cpu().numpy()
        return out

    @torch.inference_mode()
    def label_logprobs(self, prompts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
        """log P(label token | prompt) under the full causal LM (every layer and the LM head, fp32), one forward
        pass per prompt batch: log-softmax of the logits at each prompt's last token."""
        if self.model_cfg["kind"] != "causal_lm":
            raise ConfigError(f"model {self.model_cfg['name']} is an encoder: it has no label-token log-probs")
        lm = self._causal_lm()
        label_ids = []
        for label in labels:
            ids = self.tokenizer(label, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                raise ConfigError(f"label {label!r} is {len(ids)} tokens for {self.model_cfg['name']}; "
                                 "label log-probs need single-token labels (e.g. ' A', ' B')")
            label_ids.append(ids[0])
        out = np.zeros((len(prompts), len(labels)), dtype=np.float64)
        batch_size = int(self.model_cfg.get("batch_size", 16))  # not the GPU's: each holds (len, vocab) fp32 logits
        for start in range(0, len(prompts), batch_size):
            enc = self.tokenizer(list(prompts[start:start + batch_size]), padding=True, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            logits = lm(**enc).logits  # right padding: each prompt's last real token is at mask.sum() - 1
            last = logits[torch.arange(logits.shape[0]), enc["attention_mask"].sum(1) - 1]
            out[start:start + logits.shape[0]] = label_logprobs(last.cpu(), label_ids, torch.float64).numpy()
        return out

    def _causal_lm(self):
        """The full model with its LM head, loaded on first use: features() keeps its truncated decoder."""
        if getattr(self, "_lm", None) is None:
            from transformers import AutoModelForCausalLM

            path = resolve_path(self.model_cfg)
            self._lm = AutoModelForCausalLM.from_pretrained(path, config=plain_config(path), dtype=torch.float32)
            self._lm = self._lm.eval().to(self.device)
        return self._lm


def plain_config(path: str):
    """The model's config without a stale GGUF `quantization_config`: assets converted from GGUF hold plain fp32
    weights, but with it transformers keeps every weight in float32 whatever dtype is asked for."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    quant = getattr(config, "quantization_config", None)
    if isinstance(quant, dict) and quant.get("quant_method") == "gguf":
        del config.quantization_config
    return config


def length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices of texts in batches of `batch_size`, shortest texts first: each batch pads to a length close to all
    of its texts'. Rows are written back by these indices, so the caller's order is kept."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1)
    if how == "last":
        last = mask.sum(1) - 1
        return hidden[torch.arange(hidden.shape[0]), last]
    raise ValueError(f"pooling={how!r} is unknown (mean | last)")
