"""A real vLLM server on CPU serving MiniLM as an embedding model: features equal the hf backend's, attaching by
URL works, and a server killed mid-extraction loses nothing: the rerun computes only the missing shards."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from ops.lifecycle import alive
from tests.helpers.backends import FMT, assert_gone, cosines, model_cfg, real_pairs, vllm_cfg
from transfer import paths
from transfer.backends.hf import HFBackend
from transfer.backends.http import ServerError
from transfer.backends.vllm import VLLMBackend
from transfer.features.cache import FeatureCache
from transfer.features.extract import PAIR_LAYOUT, cache_texts, extract_pair_features, pair_texts
from transfer.features.keys import feature_key

pytestmark = pytest.mark.slow


def vllm_processes_of(home) -> list[int]:
    """Live vLLM processes on this machine started for TRANSFER_HOME=home (directly, or by a Ray actor)."""
    def read(p, what):
        try:
            return open(f"/proc/{p}/{what}", "rb").read().decode(errors="replace")
        except OSError:
            return ""
    mine = f"TRANSFER_HOME={home}\0"
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and alive(int(p.name))
            and any(m in read(p.name, "cmdline") for m in ("vllm.entrypoints", "VLLM::"))
            and mine in read(p.name, "environ")]


@pytest.fixture(scope="module")
def model():
    return model_cfg("minilm_l6")


@pytest.fixture(scope="module")
def pairs():
    return real_pairs(40)


@pytest.fixture(scope="module")
def texts(pairs, model):
    return pair_texts(pairs, model, FMT)


@pytest.fixture(scope="module")
def hf_features(texts, model):
    return HFBackend({"name": "hf"}, model).features(texts)


@pytest.fixture(scope="module")
def managed(iso_home, model):
    backend = VLLMBackend(vllm_cfg(), model)
    backend.features(["start the server"])
    server = backend.server
    print(f"\nMiniLM embedding server healthy after {server.startup_s:.1f} s")
    yield backend
    backend.close()
    assert_gone(server.family)


def test_features_match_hf(managed, texts, hf_features):
    feats = managed.features(texts)
    cos = cosines(feats, hf_features)
    print(f"\nMiniLM vLLM vs hf: min cosine {cos.min():.6f}, max |diff| {np.abs(feats - hf_features).max():.2e}")
    assert feats.shape == hf_features.shape and feats.dtype == np.float32
    assert cos.min() >= 0.99


def test_attach_by_url_gives_the_same_features_and_manages_nothing(managed, texts):
    from transfer.precision import compute_dtype

    attached = VLLMBackend(vllm_cfg(url=managed.server.url), managed.model_cfg)
    a, b = attached.features(texts[:8]), managed.features(texts[:8])
    # one server, so the same features up to its arithmetic: in bfloat16, requests batched differently round
    # differently (measured: max |diff| 2.6e-3); in float32 they agree to 1e-6
    bf16 = compute_dtype(managed.backend_cfg) == "bfloat16"
    np.testing.assert_allclose(a, b, atol=1e-2 if bf16 else 1e-6)
    assert cosines(a, b).min() > (0.9999 if bf16 else 0.999999)
    attached.close()
    assert alive(managed.server.pid)  # closing an attached backend leaves the deployment alone
    assert managed.server.pid in vllm_processes_of(os.environ["TRANSFER_HOME"])  # (the leftover check sees it)


def test_server_killed_mid_extraction_then_rerun_resumes(managed, model, pairs, texts, hf_features, ray_local,
                                                         iso_home):
    """Last in this module: it kills the module's server for real (SIGKILL to its process group). The rerun goes
    through the pipeline's extract_pair_features with the server hosted in a Ray actor (0 GPUs here)."""
    attach = vllm_cfg(url=managed.server.url, retries=2, backoff_s=0.2)
    stored, _ = cache_texts(pairs, model, FMT)  # the order the cache keeps them in (no gold in it)
    key, parts = feature_key(model, attach, stored, PAIR_LAYOUT)
    shard = 16
    cache = FeatureCache(paths.home() / "features", key, parts, len(texts), shard)
    assert cache.n_shards == 5 and cache.missing() == list(range(5))
    backend, calls = VLLMBackend(attach, model), []

    def compute(chunk):
        calls.append(len(chunk))
        if len(calls) == 3:  # two shards are on disk; the kill races this shard's request
            threading.Thread(target=os.killpg, args=(managed.server.pid, signal.SIGKILL)).start()
        return backend.features(chunk)

    with pytest.raises(ServerError) as err:
        cache.fill(stored, compute)
    assert managed.server.url in str(err.value) and "unreachable after 3 tries" in str(err.value)
    done = [i for i in range(cache.n_shards) if i not in cache.missing()]
    assert done in ([0, 1], [0, 1, 2]), done
    stamps = {i: cache.shard_path(i).stat().st_mtime_ns for i in done}

    feats = extract_pair_features(pairs, model, vllm_cfg(ray_actor=True), FMT, shard_size=shard)  # a fresh server
    rows = np.concatenate([feats.better, feats.worse])
    assert cache.missing() == []
    assert {i: cache.shard_path(i).stat().st_mtime_ns for i in done} == stamps  # kept, not recomputed
    assert cosines(rows, hf_features).min() >= 0.99
    assert len(list((iso_home / "logs").glob("vllm-minilm_l6-embed-*.log"))) == 2  # the actor's server logged here
    assert vllm_processes_of(iso_home) == []  # the killed server and the actor's server are both gone
