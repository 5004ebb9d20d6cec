"""The transformers backend: a decoder cut after the feature layer gives bit-identical float32 features to the full
model at that layer; batches formed by token length give each text its own row back, in the caller's order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.backends import FMT, model_cfg, real_pairs
from transfer.backends.hf import HFBackend, length_batches, pool
from transfer.features.extract import pair_texts
from transfer.models import resolve_path

F32 = {"name": "hf", "dtype": "float32"}


def test_length_batches_cover_every_index_once_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 128, size=203)
    batches = length_batches(lengths, 16)
    assert sorted(np.concatenate(batches).tolist()) == list(range(203))
    assert [len(b) for b in batches] == [16] * 12 + [11]
    padded = sum(len(b) * lengths[b].max() for b in batches)
    unsorted = sum(len(b) * lengths[b].max() for b in np.array_split(np.arange(203), 13))
    assert padded < 0.7 * unsorted  # measured ~0.55 of the padded tokens of arrival-order batches
    assert all(lengths[a].max() <= lengths[b].min() for a, b in zip(batches, batches[1:]))
    assert length_batches([], 16) == []


@pytest.fixture(scope="module")
def smol_texts():
    return pair_texts(real_pairs(12), model_cfg("smollm2_135m"), FMT)  # 24 chat-formatted texts, 40-130 tokens


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2_135m", "gemma3_270m"])
def test_truncated_decoder_equals_the_full_model_at_the_layer_in_float32(name):
    from transformers import AutoModel

    model = model_cfg(name)
    texts = pair_texts(real_pairs(6), model, FMT)
    backend = HFBackend(F32, {**model, "batch_size": 4})
    full = AutoModel.from_pretrained(resolve_path(model), dtype=torch.float32).eval()
    layer = model["layer"]
    assert len(backend.model.layers) == layer < len(full.layers)  # the dropped layers are gone, not skipped
    enc = backend.tokenizer(texts, padding=True, truncation=True, max_length=model["max_tokens"],
                            return_tensors="pt")
    with torch.inference_mode():
        cut = backend.model(**enc).last_hidden_state
        ref = full.norm(full(**enc, output_hidden_states=True).hidden_states[layer])  # h_L, then the final norm
    assert torch.equal(cut, ref), f"{name}: max |diff| {(cut - ref).abs().max():.2e}"
    assert torch.equal(pool(cut, enc["attention_mask"], "mean"), pool(ref, enc["attention_mask"], "mean"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["minilm_l6", "smollm2_135m"])
def test_length_batched_rows_come_back_in_the_callers_order(name, smol_texts):
    model = model_cfg(name)
    texts = smol_texts if name == "smollm2_135m" else pair_texts(real_pairs(12), model, FMT)
    backend = HFBackend(F32, {**model, "batch_size": 5})  # batches straddle lengths: 24 texts = 5+5+5+5+4
    enc = backend.tokenizer(texts, truncation=True, max_length=model["max_tokens"])
    lengths = [len(ids) for ids in enc["input_ids"]]
    assert len(set(lengths)) > 10 and np.argsort(lengths, kind="stable").tolist() != list(range(len(texts)))
    batched = backend.features(texts)
    single = np.stack([backend.features([t])[0] for t in texts])  # one text a call: no padding, no reordering
    dist = np.linalg.norm(batched[:, None] - single[None], axis=2)
    assert (dist.argmin(1) == np.arange(len(texts))).all()  # each row is its own text's
    assert np.abs(batched - single).max() < 1e-4 * np.abs(single).max()  # padding changes nothing beyond fp noise
    shuffled = np.random.default_rng(1).permutation(len(texts))
    again = backend.features([texts[i] for i in shuffled])
    assert np.abs(again - batched[shuffled]).max() < 1e-4 * np.abs(single).max()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["minilm_l6", "smollm2_135m"])
def test_bfloat16_features_agree_with_float32(name, smol_texts):
    model = model_cfg(name)
    texts = smol_texts if name == "smollm2_135m" else pair_texts(real_pairs(12), model, FMT)
    bf16 = HFBackend({"name": "hf", "dtype": "bfloat16"}, model)
    # really in bf16: a stale GGUF quantization_config once kept the weights in float32 whatever was asked
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    a, b = bf16.features(texts), HFBackend(F32, model).features(texts)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    print(f"\n{name} hf bfloat16 vs float32: min cosine {cos.min():.6f}, max |diff| {np.abs(a - b).max():.2e}")
    assert a.dtype == np.float32 and cos.min() >= 0.999 and np.abs(a - b).max() > 0  # close, and not the same run


def test_batch_size_is_the_models_on_a_cpu_unless_the_backend_sets_one():
    model = model_cfg("minilm_l6")
    assert HFBackend({**F32, "device": "cpu"}, model).batch_size == model["batch_size"]
    assert HFBackend({**F32, "device": "cpu", "batch_size": 7}, model).batch_size == 7
