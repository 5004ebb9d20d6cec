"""A real vLLM server on CPU serving SmolLM2-135M: layer-20 features through the pooling runner on a truncated copy
equal the hf backend's; label-token log-probs through /v1/completions agree with transformers (fp32)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ops.lifecycle import alive
from tests.helpers.backends import FMT, assert_gone, cosines, model_cfg, real_pairs, vllm_cfg
from transfer.backends.hf import HFBackend
from transfer.backends.http import ServerError
from transfer.backends.vllm import VLLMBackend
from transfer.errors import ConfigError
from transfer.features.extract import pair_texts
from transfer.features.text import clip_words

pytestmark = pytest.mark.slow
LABELS = [" A", " B"]
LOGPROB_ATOL = 1e-3  # measured ~5e-5 (fp32 both sides; different kernels and summation order)


@pytest.fixture(scope="module")
def model():
    return model_cfg("smollm2_135m")


@pytest.fixture(scope="module")
def pairs():
    return real_pairs(16)


@pytest.fixture(scope="module")
def prompts(pairs):
    return [f"Human: {clip_words(p.prompt, 30, 'last')}\n\nReply A: {clip_words(p.better, 40, 'first')}\n\n"
            f"Reply B: {clip_words(p.worse, 40, 'first')}\n\nWhich reply is more harmless, A or B?\nAnswer:"
            for p in pairs.pairs]


@pytest.fixture(scope="module")
def hf(model):
    return HFBackend({"name": "hf"}, model)


@pytest.fixture(scope="module")
def backend(iso_home, model):
    backend = VLLMBackend(vllm_cfg(), model)
    yield backend
    server = backend.server
    backend.close()
    if server is not None:
        assert_gone(server.family)


def test_features_match_hf(backend, hf, model, pairs):
    texts = pair_texts(pairs, model, FMT)  # chat template, as the harness renders them
    feats = backend.features(texts)
    print(f"\nSmolLM2 embedding server (layer {model['layer']}, truncated copy) healthy after "
          f"{backend.startup_s:.1f} s")
    served = json.loads((Path(backend.server.model_dir) / "config.json").read_text())
    assert served["num_hidden_layers"] == model["layer"] and "quantization_config" not in served
    ref = hf.features(texts)
    cos = cosines(feats, ref)
    print(f"SmolLM2 vLLM vs hf: min cosine {cos.min():.6f}, max |diff| {np.abs(feats - ref).max():.2e}")
    assert feats.shape == ref.shape and cos.min() >= 0.99


def test_label_logprobs_match_transformers(backend, hf, prompts):
    embed_server = backend.server
    got = backend.label_logprobs(prompts, LABELS)  # switches to a full-model server: the embed one stops
    print(f"\nSmolLM2 generate server healthy after {backend.startup_s:.1f} s")
    if embed_server is not None:
        assert_gone(embed_server.family)
    ref = hf.label_logprobs(prompts, LABELS)
    diff = np.abs(got - ref).max()
    print(f"SmolLM2 label log-probs, vLLM vs transformers: max |diff| {diff:.2e} over {got.size} values")
    assert got.shape == (len(prompts), 2) and (got < 0).all()
    assert diff <= LOGPROB_ATOL


def test_multi_token_label_is_refused(backend, prompts):
    with pytest.raises(ConfigError, match="single-token labels"):
        backend.label_logprobs(prompts[:1], [" A", " Absolutely-not"])


def test_too_long_prompt_is_a_one_line_server_refusal(backend):
    with pytest.raises(ServerError) as err:
        backend.label_logprobs(["word " * 400], LABELS)  # > max_model_len 256: a real HTTP 400
    msg = str(err.value)
    assert "refused the request: HTTP 400" in msg and backend.server.url in msg and "\n" not in msg, msg
    assert alive(backend.server.pid)  # a bad request does not hurt the server
