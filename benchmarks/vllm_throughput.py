"""Throughput of the harness's vLLM feature extraction vs raw HTTP requests to the same server, same inputs.

One managed server; each round runs both (their order alternating between rounds) so a pair sees the same machine
load; the ratio is the median over rounds of raw time / harness time (robust to load swings on a shared machine).
Raw = what a user would write by hand: POST /v1/embeddings with the same batches, JSON floats, one `requests` call
per batch. Target: harness/raw >= 0.9.

    make bench-vllm                                   # SmolLM2-135M layer 20 on 200 real HH texts
    python benchmarks/vllm_throughput.py --model minilm_l6 --pairs 200 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import requests

from transfer import paths
from transfer.backends.vllm import VLLMBackend
from transfer.config import (
    group_config as load_cfg,  # conf/<group>/<name>.yaml, resolved
)
from transfer.data.loaders import hh_rlhf
from transfer.features.extract import pair_texts
from transfer.models import resolve_path


def raw_features(url: str, served: str, texts: list[str], batch: int, max_tokens: int) -> np.ndarray:
    rows = []
    with requests.Session() as s:
        for start in range(0, len(texts), batch):
            r = s.post(f"{url}/v1/embeddings", json={"model": served, "input": texts[start:start + batch],
                                                      "truncate_prompt_tokens": max_tokens}, timeout=600)
            r.raise_for_status()
            rows += [d["embedding"] for d in sorted(r.json()["data"], key=lambda d: d["index"])]
    return np.asarray(rows, dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2_135m")
    ap.add_argument("--pairs", type=int, default=100, help="real HH pairs; 2 texts each")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default=None, help="override conf/backend/vllm.yaml's dtype (e.g. bfloat16)")
    args = ap.parse_args()

    model = load_cfg("model", args.model)
    backend_cfg = load_cfg("backend", "vllm", max_model_len=256)
    backend_cfg["dtype"] = args.dtype or backend_cfg["dtype"]
    data = hh_rlhf.load({"name": "hh_harmless", "subset": "harmless-base", "max_pairs": args.pairs,
                         "path": str(paths.shared_data_dir() / "hh-rlhf" / "harmless-base-test.jsonl.gz")})
    fmt = load_cfg("data", "hh_harmless")["format"]
    texts = pair_texts(data, model, fmt)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_path(model))
    n_tokens = sum(len(ids) for ids in tok(texts, truncation=True, max_length=model["max_tokens"])["input_ids"])

    backend = VLLMBackend(backend_cfg, model)
    try:
        backend.features(texts[:4])  # start the server and warm it up
        url, served, batch = backend.server.url, model["name"], backend.batch
        print(f"{args.model} ({backend_cfg['dtype']}): server healthy after {backend.startup_s:.1f} s at {url}; "
              f"{len(texts)} texts, {n_tokens} tokens, {batch} texts per request")
        runs = {"harness": lambda: backend.features(texts),
                "raw": lambda: raw_features(url, served, texts, batch, model["max_tokens"])}
        times, out = {"harness": [], "raw": []}, {}
        for r in range(args.repeats):
            for name in (("harness", "raw") if r % 2 == 0 else ("raw", "harness")):
                t = time.perf_counter()
                out[name] = runs[name]()
                times[name].append(time.perf_counter() - t)
        assert np.allclose(out["harness"], out["raw"], atol=1e-5), "harness and raw requests disagree"
    finally:
        backend.close()

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'':8} {'texts/s':>9} {'tokens/s':>9}   (median of {args.repeats} rounds)")
    for k in ("harness", "raw"):
        print(f"{k:8} {len(texts) / med[k]:9.1f} {n_tokens / med[k]:9.0f}")
    ratio = statistics.median(r / h for h, r in zip(times["harness"], times["raw"]))
    print(f"throughput ratio harness/raw = {ratio:.3f} (median over rounds; target >= 0.9); "
          f"ratio of medians {med['raw'] / med['harness']:.3f}")
    print(json.dumps({"model": args.model, "texts": len(texts), "tokens": n_tokens, "startup_s": backend.startup_s,
                      "harness_s": times["harness"], "raw_s": times["raw"], "ratio": ratio}))


if __name__ == "__main__":  # vLLM's helpers spawn processes: keep module import side-effect free
    main()
