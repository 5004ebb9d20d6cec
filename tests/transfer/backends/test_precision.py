"""The dtype a backend computes in: chosen by this machine's hardware, overridable, one-line errors, and in the
feature cache key; the vLLM server gets the same choice for features and float32 for label log-probs."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.backends import model_cfg, vllm_cfg
from transfer.backends.server import server_command
from transfer.errors import ConfigError
from transfer.features.keys import feature_key
from transfer.precision import compute_dtype, cpu_bf16_fast, cpu_flags, resolve_dtype

MINILM_TEXTS = ["Human: why?\nAssistant: because", "Human: why?\nAssistant: no"]


def test_auto_follows_the_cpu_flags_and_torch_agrees():
    flags = cpu_flags()
    assert flags, "no /proc/cpuinfo flags on this Linux machine"
    native = bool(flags & {"amx_bf16", "avx512_bf16"})
    assert cpu_bf16_fast() == native
    assert resolve_dtype("auto") == ("bfloat16" if native else "float32")
    assert resolve_dtype(None) == resolve_dtype("auto")
    assert torch.cpu._is_avx512_bf16_supported() == ("avx512_bf16" in flags)  # torch's own probe says the same


def test_explicit_choice_wins_and_bad_values_are_one_line():
    assert resolve_dtype("float32") == "float32" and resolve_dtype("bfloat16") == "bfloat16"
    with pytest.raises(ConfigError) as err:
        compute_dtype({"name": "hf", "dtype": "fp16"})
    msg = str(err.value)
    assert "dtype='fp16'" in msg and "bfloat16" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="device='tpu'"):
        compute_dtype({"name": "hf", "dtype": "auto", "device": "tpu"})


def test_shipped_configs_choose_by_hardware_and_gpu_keeps_bfloat16(compose_cfg):
    native = resolve_dtype("auto")
    lab, production = (compose_cfg(f"setting={s}")["setting"] for s in ("lab", "production"))
    assert compute_dtype(lab["weak_backend"]) == compute_dtype(lab["strong_backend"]) == native
    assert compute_dtype(production["weak_backend"]) == native
    assert compute_dtype(production["strong_backend"]) == "float32"  # Gemma-3 pinned: bf16 missed the cosine bar
    assert compute_dtype({**production["strong_backend"], "dtype": "auto"}) == native  # the vLLM default itself
    assert compute_dtype(production["strong_backend"], "score_dtype") == "float32"
    gpu = compose_cfg("setting=gpu_lab_qwen")["setting"]["strong_backend"]
    assert compute_dtype(gpu) == compute_dtype(gpu, "score_dtype") == "bfloat16"
    assert compute_dtype({**gpu, "dtype": "auto"}) == "bfloat16"  # a GPU server's node decides, not this one


def test_dtype_enters_the_feature_key():
    model = model_cfg("minilm_l6")
    f32, parts = feature_key(model, {"name": "hf", "dtype": "float32"}, MINILM_TEXTS)
    assert "dtype" not in parts  # the float32 keys of before dtype existed: their caches stay valid
    bf16, parts = feature_key(model, {"name": "hf", "dtype": "bfloat16"}, MINILM_TEXTS)
    assert bf16 != f32 and parts["dtype"] == "bfloat16"
    auto, _ = feature_key(model, {"name": "hf", "dtype": "auto"}, MINILM_TEXTS)
    assert auto == (bf16 if resolve_dtype("auto") == "bfloat16" else f32)
    v32, parts = feature_key(model, vllm_cfg(dtype="float32"), MINILM_TEXTS)
    assert parts["dtype"] == "float32" and v32 != feature_key(model, vllm_cfg(dtype="bfloat16"), MINILM_TEXTS)[0]


def test_server_gets_feature_dtype_for_embed_and_score_dtype_for_generate():
    smol = model_cfg("smollm2_135m")
    cfg = vllm_cfg(dtype="bfloat16", score_dtype="float32")
    embed = server_command("/m", "smol", 1234, "embed", cfg, smol)
    generate = server_command("/m", "smol", 1234, "generate", cfg, smol)
    assert embed[embed.index("--dtype") + 1] == "bfloat16"
    assert generate[generate.index("--dtype") + 1] == "float32"
    auto = server_command("/m", "smol", 1234, "embed", vllm_cfg(), smol)
    assert auto[auto.index("--dtype") + 1] == resolve_dtype("auto")  # never vLLM's own "auto" (the config's dtype)
