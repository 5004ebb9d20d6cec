"""A managed vLLM server placed by resources on a real two-node cluster (tests/helpers/cluster.py): the server actor
asks for the worker node's custom resource, so Ray puts it there; its URL carries that node's address; and the
client, an extraction task pinned to the head node, gets features from it that equal the hf backend's. A real vLLM
CPU server serving MiniLM (real weights)."""

from __future__ import annotations

from urllib.parse import urlparse

import numpy as np
import pytest
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from tests.helpers.backends import FMT, assert_gone, model_cfg, real_pairs, vllm_cfg
from tests.helpers.cluster import WORKER_RESOURCE, two_nodes
from transfer.errors import TransferError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nodes():
    with two_nodes() as n:
        ray.init(address=n.address, log_to_driver=False)
        yield n


@ray.remote(num_cpus=1)
def extract_on_this_node(model: dict, backend_cfg: dict, texts: list[str]) -> dict:
    """What build_inputs does with a vLLM backend in a Ray actor: start it, request features, stop it."""
    from transfer.backends.vllm import VLLMBackend

    backend = VLLMBackend(backend_cfg, model)
    try:
        feats = backend.features(texts)
        url = ray.get(backend.server.info.remote())[0]
        actor_node, actor_ip = ray.get(backend.server.node.remote())
    finally:
        backend.close()
    return {"features": feats, "url": url, "actor_node": actor_node, "actor_ip": actor_ip,
            "client_node": ray.get_runtime_context().get_node_id(), "server_pids": backend.stopped_pids}


def test_server_runs_on_the_node_with_its_resource_and_serves_a_client_on_the_other(nodes):
    from transfer.backends.hf import HFBackend
    from transfer.features.extract import pair_texts

    model = model_cfg("minilm_l6")
    texts = pair_texts(real_pairs(20), model, FMT)
    on_head = NodeAffinitySchedulingStrategy(nodes.head_id, soft=False)
    cfg = vllm_cfg(ray_actor=True, resources={WORKER_RESOURCE: 1})
    out = ray.get(extract_on_this_node.options(scheduling_strategy=on_head).remote(model, cfg, texts), timeout=900)
    print(f"\nserver {out['url']} on node {out['actor_node'][:12]}, client on {out['client_node'][:12]}")
    assert out["actor_node"] == nodes.worker_id and out["client_node"] == nodes.head_id  # two nodes, two roles
    worker = next(n for n in ray.nodes() if n["NodeID"] == nodes.worker_id)
    assert urlparse(out["url"]).hostname == out["actor_ip"] == worker["NodeManagerAddress"]  # the node's address
    ref = HFBackend({"name": "hf"}, model).features(texts)
    feats = out["features"]
    cos = (feats * ref).sum(1) / np.linalg.norm(feats, axis=1) / np.linalg.norm(ref, axis=1)
    assert feats.shape == ref.shape and cos.min() >= 0.99
    assert_gone(out["server_pids"])  # closing the backend stopped the server on the other node


def test_a_resource_no_node_offers_is_refused_in_one_line_after_the_wait(nodes):
    from transfer.backends.ray_server import start_actor

    cfg = vllm_cfg(ray_actor=True, resources={"no_such_node": 1}, startup_timeout_s=3)
    with pytest.raises(TransferError) as err:
        start_actor(model_cfg("minilm_l6"), cfg, "embed")
    msg = str(err.value)
    assert "\n" not in msg and "not up after 6 s" in msg and "{'no_such_node': 1}" in msg
    assert WORKER_RESOURCE in msg  # what the nodes do offer
