"""Feature extraction against the machine's limit: texts/s and achieved FLOP/s per model, backend and dtype, next to
this machine's torch matmul FLOP/s in the same dtype, float32 and bfloat16 side by side, and their feature cosine.

Achieved FLOP/s = 2 x params_used x tokens / seconds. params_used: the weights every token is multiplied by in the
layers the features use (embedding tables, which are looked up, and BERT's pooler, one token a text, left out);
tokens: real tokens after truncation (padding not counted). Attention's own products (QK^T, AV) are not counted,
so this is the useful matmul work, a lower bound on what runs. Matmul FLOP/s: torch `a @ b`, 2048^3, same threads.
Each round measures, per dtype, the matmul and then the extraction right after it, so both see the same load; the
fraction reported is the median over rounds of (extraction FLOP/s / matmul FLOP/s). vLLM rounds run one server at
a time (started before the rounds, not timed). Bar (issue 15): fraction >= 0.5 in bfloat16 for SmolLM2 and Gemma
(cosine to float32 >= 0.999).

    make bench-extraction                                    # 3 models x {hf, vllm} x {float32, bfloat16}
    python benchmarks/extraction.py --models smollm2_135m gemma3_270m --backends hf --pairs 128 --rounds 3
    python benchmarks/extraction.py --backends hf --device cuda --pairs 1024 --batch-sizes 16 256 \
        --model-dir smollm2_135m=/path/to/SmolLM2-135M-Instruct          # a GPU; local weights instead of assets
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from transfer.config import (
    group_config as load_cfg,  # conf/<group>/<name>.yaml, resolved
)
from transfer.data import load_dataset_from_config
from transfer.features.extract import pair_texts
from transfer.precision import cpu_flags, resolve_device

DTYPES = ("float32", "bfloat16")


def matmul_flops(dtype: str, device: str, n: int | None = None, seconds: float = 1.5) -> float:
    """FLOP/s of one n^3 matrix multiply in `dtype`, repeated for `seconds` after a warm-up. n: 2048 on a CPU,
    8192 on a GPU (smaller products leave a GPU launch-bound, under its limit)."""
    n = n or (8192 if device.startswith("cuda") else 2048)
    a = torch.randn(n, n, dtype=getattr(torch, dtype), device=device)
    b = torch.randn(n, n, dtype=getattr(torch, dtype), device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    a @ b
    sync()
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
        if device.startswith("cuda") and count % 50:
            continue
        sync()
    sync()
    return 2 * n ** 3 * count / (time.perf_counter() - t0)


def params_used(hf_backend) -> int:
    """Parameters multiplied with every token in the (already truncated) model: not embeddings, not BERT's pooler."""
    return sum(p.numel() for name, p in hf_backend.model.named_parameters()
               if "embed" not in name and "pooler" not in name)


def make_backend(kind: str, model: dict, dtype: str, device: str):
    if kind == "hf":
        from transfer.backends.hf import HFBackend
        return HFBackend({"name": "hf", "dtype": dtype, "device": device}, model)
    from transfer.backends.vllm import VLLMBackend
    return VLLMBackend(load_cfg("backend", "vllm", dtype=dtype, max_model_len=256), model)


def timed(backend, texts) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    feats = backend.features(texts)
    return time.perf_counter() - t0, feats


def bench_model(name: str, kind: str, texts_per: dict, rounds: int, device: str,
                model_dirs: dict | None = None, batch_size: int | None = None) -> list[dict]:
    model = load_cfg("model", name)
    if (model_dirs or {}).get(name):
        model["pretrained"] = model_dirs[name]
    if batch_size:
        model["batch_size"] = batch_size
    texts = texts_per[name]
    from transfer.backends.hf import HFBackend
    ref = HFBackend({"name": "hf", "dtype": "float32", "device": "cpu"}, model)  # counts only
    used = params_used(ref)
    tokens = sum(len(ids) for ids in ref.tokenizer(texts, truncation=True, max_length=model["max_tokens"])["input_ids"])
    t0 = time.perf_counter()  # the CPU-side tokenization inside every features() call, for its share of the time
    ref.tokenizer(texts, truncation=True, max_length=model["max_tokens"])
    tokenize_s = time.perf_counter() - t0
    del ref
    per = {d: {"seconds": [], "matmul": [], "feats": None} for d in DTYPES}
    # hf: both models held, dtypes alternate within a round; vllm: one server at a time, its rounds back to back
    if kind == "hf":
        backends = {d: make_backend(kind, model, d, device) for d in DTYPES}
        for d in DTYPES:  # warm-up: first-call allocations, lazy kernels; on a GPU every batch shape once (cuBLAS
            backends[d].features(texts if device.startswith("cuda") else texts[:16])  # picks kernels per new shape)
        for _ in range(rounds):
            for d in DTYPES:
                per[d]["matmul"].append(matmul_flops(d, device))
                seconds, per[d]["feats"] = timed(backends[d], texts)
                per[d]["seconds"].append(seconds)
    else:
        for d in DTYPES:
            with make_backend(kind, model, d, device) as backend:
                backend.features(texts[:16])  # starts the server (not timed)
                for _ in range(rounds):
                    per[d]["matmul"].append(matmul_flops(d, "cpu"))
                    seconds, per[d]["feats"] = timed(backend, texts)
                    per[d]["seconds"].append(seconds)
    base = per["float32"]["feats"]
    rows = []
    for d in DTYPES:
        f = per[d]["feats"]
        cos = (f * base).sum(1) / np.linalg.norm(f, axis=1) / np.linalg.norm(base, axis=1)
        achieved = [2 * used * tokens / s for s in per[d]["seconds"]]
        rows.append({
            "model": name, "backend": kind, "dtype": d, "device": device if kind == "hf" else "cpu",
            "batch_size": int(model["batch_size"]), "weights": model.get("pretrained") or "asset",
            "texts": len(texts), "tokens": tokens, "params_used": used, "rounds": rounds,
            "texts_per_s": len(texts) / statistics.median(per[d]["seconds"]),
            "tokenize_share": tokenize_s / statistics.median(per[d]["seconds"]),
            "achieved_gflops": statistics.median(achieved) / 1e9,
            "matmul_gflops": statistics.median(per[d]["matmul"]) / 1e9,
            "fraction": statistics.median(a / m for a, m in zip(achieved, per[d]["matmul"])),
            "cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
            "seconds": per[d]["seconds"],
        })
    return rows


def table(rows: list[dict]) -> str:
    out = [("| model | backend | dtype | batch | texts (tokens) | params used | texts/s | achieved GFLOP/s | "
            "matmul GFLOP/s (same dtype) | fraction | tokenizing | cosine to float32 min / mean |"), "|" + "---|" * 12]
    for r in rows:
        out.append(f"| {r['model']} | {r['backend']} ({r['device']}) | {r['dtype']} | {r['batch_size']} "
                   f"| {r['texts']} ({r['tokens']:,}) "
                   f"| {r['params_used'] / 1e6:.1f} M | {r['texts_per_s']:.1f} | {r['achieved_gflops']:.0f} | "
                   f"{r['matmul_gflops']:.0f} | {r['fraction']:.2f} | {r['tokenize_share']:.0%} | "
                   f"{r['cos_min']:.6f} / {r['cos_mean']:.6f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["smollm2_135m", "gemma3_270m", "minilm_l6"])
    ap.add_argument("--backends", nargs="+", default=["hf", "vllm"], choices=["hf", "vllm"])
    ap.add_argument("--pairs", type=int, default=128, help="real HH harmless pairs; 2 texts each")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="auto", help="hf backend: auto | cpu | cuda")
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[None],
                    help="texts per forward pass (default: each model config's batch_size)")
    ap.add_argument("--model-dir", nargs="*", default=[], metavar="NAME=PATH",
                    help="load a model from a local folder instead of its fetched asset")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()

    device = resolve_device(args.device)
    model_dirs = dict(item.split("=", 1) for item in args.model_dir)
    data_cfg = load_cfg("data", "hh_harmless", max_pairs=args.pairs)
    data = load_dataset_from_config(data_cfg)
    texts = {m: pair_texts(data, load_cfg("model", m), data_cfg["format"]) for m in args.models}
    flags = sorted(cpu_flags() & {"amx_bf16", "avx512_bf16", "avx512f", "amx_tile"})
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"{os.cpu_count()} CPUs, flags {flags}, load average before {os.getloadavg()}")
    rows = []
    for kind in args.backends:
        for name in args.models:
            for batch_size in args.batch_sizes:
                rows += bench_model(name, kind, texts, args.rounds, device, model_dirs, batch_size)
                print(table(rows[-2:]), flush=True)
    print(f"\nload average after {os.getloadavg()}\n\n{table(rows)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
