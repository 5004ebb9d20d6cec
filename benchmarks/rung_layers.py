"""Each ladder rung's feature layer, chosen on training splits: the ceiling's CV accuracy per candidate layer.

A rung's strong features are one hidden layer, mean-pooled (`layer:` in conf/model/<name>.yaml). Which layer
serves a task best differs by model; a ladder whose rungs sit at arbitrary depths measures the recipe as much as
the size. Per model this script runs the lab's texts once through the whole model, keeps every candidate layer
(each exactly what the harness extracts for `layer: L`: the decoder cut after L, its final norm applied; checked
against the harness's cached features of the configured layer, cosine printed), and per seed fits the ceiling
role's head as a sweep does (transfer/roles.py: L2 penalty by grouped k-fold CV on `train_unlabel` gold only).
The layer with the best mean CV accuracy over seeds is the choice unless it beats the configured layer by no more than
one paired SE over seeds (then the configured layer stays: a change needs evidence); test is never read.

    python benchmarks/rung_layers.py --ladder cpu_replayable --dataset bigbench_epistemic_reasoning \
        --override setting.data.max_pairs=600 --seeds 5 [--production] [--depths 0.33 0.5 0.67 0.83 1.0]

Prints a table per model (layer, depth, CV accuracy mean ± SE over seeds) and the override that sets the choice
(`setting.strong.layer=L`, a rung's `overrides:` in conf/ladder/<name>.yaml). Pair tasks only.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np
import torch
from tqdm import tqdm

from jobs import ladder as jl
from jobs.compose import compose_config, hydra_context
from transfer.backends.hf import HFBackend, length_batches, pool
from transfer.config import to_plain
from transfer.data import load_dataset_from_config
from transfer.features.extract import PairFeatures, extract_pair_features, pair_texts
from transfer.roles import cv_accuracies, role_config
from transfer.seedwork import cell_splits, pair_x

from dataset_gaps import LabInputs  # benchmarks/: a script's own folder is on sys.path


def compose_cell(dataset: str, overrides: list[str]) -> dict:
    with hydra_context():  # a typo'd key gets the grid's one-line did-you-mean
        return to_plain(compose_config([f"data@setting.data={dataset}", "~setting.ood", *overrides]))


def n_layers(backend: HFBackend) -> int:
    m = backend.model
    return len(m.layers) if hasattr(m, "layers") else len(m.encoder.layer)


@torch.inference_mode()
def layer_features(backend: HFBackend, texts: list[str], layers: list[int], desc: str) -> dict[int, np.ndarray]:
    """Pooled features of every layer in `layers` from one pass: layer L of a decoder is its final norm applied to
    the hidden state after block L (what the harness's cut-after-L model returns); an encoder's is the block's
    output; the last layer is the model's own output."""
    m, cfg = backend.model, backend.model_cfg
    norm = getattr(m, "norm", None)
    out = {layer: np.zeros((len(texts), m.config.hidden_size), np.float32) for layer in layers}
    enc = backend.tokenizer(list(texts), truncation=True, max_length=int(cfg["max_tokens"]))
    total = n_layers(backend)
    with tqdm(total=len(texts), desc=desc, unit="text", file=sys.stderr) as bar:
        for idx in length_batches([len(ids) for ids in enc["input_ids"]], backend.batch_size):
            batch = backend.tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc}, return_tensors="pt")
            res = m(**batch, output_hidden_states=True)
            hs = res.hidden_states  # [embeddings, block 1, ..., block N]
            for layer in layers:
                if layer == total:  # the whole model: what the harness extracts for `layer: null`
                    h = res.last_hidden_state
                else:
                    h = norm(hs[layer]) if norm is not None else hs[layer]
                out[layer][idx] = pool(h.float(), batch["attention_mask"], cfg.get("pooling", "mean")).numpy()
            bar.update(len(idx))
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    num = (a * b).sum(1)
    return float(np.min(num / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)))


def one_model(label: str, overrides: list[str], a) -> dict:
    cell = compose_cell(a.dataset, [*a.override, *overrides])
    s = cell["setting"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = load_dataset_from_config(s["data"])
    if pairs.kind != "pairwise":
        raise SystemExit(f"error: {a.dataset} is a {pairs.kind} task; rung_layers.py handles pair tasks only")
    model_cfg = dict(s["strong"])
    backend = HFBackend(s["strong_backend"], {**model_cfg, "layer": None})
    total = n_layers(backend)
    layers = sorted({max(1, min(total, round(d * total))) for d in a.depths} | (
        {model_cfg["layer"]} if model_cfg.get("layer") else {total}))
    texts = pair_texts(pairs, model_cfg, s["data"]["format"])
    t0 = time.perf_counter()
    feats = layer_features(backend, texts, layers, f"{model_cfg['name']} ({total} layers)")
    seconds = time.perf_counter() - t0
    n = len(pairs)
    per_layer = {layer: PairFeatures(better=f[:n], worse=f[n:]) for layer, f in feats.items()}
    configured = model_cfg.get("layer") or total
    cached = extract_pair_features(pairs, model_cfg, s["strong_backend"], s["data"]["format"])  # the harness's own
    check = min(cosine(per_layer[configured].better, cached.better), cosine(per_layer[configured].worse, cached.worse))
    ceiling_cfg = role_config(cell, "ceiling")
    grid = [float(v) for v in ceiling_cfg["l2_grid"]]
    acc = {layer: [] for layer in layers}
    for seed in range(a.seeds):
        c = {**cell, "seeds": {"split": seed, "teacher": seed, "student": seed}}
        tu = cell_splits(c, LabInputs(pairs, None))[0]["train_unlabel"]
        for layer, f in per_layer.items():
            cv = cv_accuracies(pair_x(f, tu), tu.a_is_better, grid, folds=int(ceiling_cfg["folds"]), seed=seed,
                               bias=False, groups=tu.groups)
            acc[layer].append(float(np.nanmax(cv)))
    means = {layer: float(np.mean(v)) for layer, v in acc.items()}
    top = max(layers, key=lambda layer: (means[layer], -abs(layer - configured)))  # ties: nearest the configured
    # one-SE rule: the configured layer stays unless the top one beats it by more than the paired SE over seeds
    diff = np.asarray(acc[top]) - np.asarray(acc[configured])
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else 0.0
    best = configured if diff.mean() <= se else top
    return {"top": top, "margin": float(diff.mean()), "margin_se": se, "label": label, "model": model_cfg["name"], "total": total, "layers": layers, "acc": acc, "means": means,
            "best": best, "configured": configured, "check": check, "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ladder", required=True, help="conf/ladder/<name>")
    ap.add_argument("--dataset", required=True, help="conf/data/<name>: the lab's dataset")
    ap.add_argument("--override", action="append", default=[], help="a Hydra override of every model's cell")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--depths", type=float, nargs="+", default=[0.33, 0.5, 0.67, 0.83, 1.0],
                    help="candidate layers as fractions of the model's depth (the configured layer is always added)")
    ap.add_argument("--production", action="store_true", help="also the ladder's production model")
    ap.add_argument("--models", nargs="+", help="only these of the ladder's models (conf/model names)")
    a = ap.parse_args()
    lad = jl.load_ladder(a.ladder)
    models = [(r["name"], r["model"], jl.rung_overrides(lad, r)) for r in lad["rungs"]]
    if a.production:
        models.append(("production", lad["production"]["model"],
                       [f"model@setting.strong={lad['production']['model']}"]))
    if a.models:
        unknown = set(a.models) - {m for _, m, _ in models}
        if unknown:
            ap.error(f"--models {sorted(unknown)}: not in ladder {a.ladder} ({[m for _, m, _ in models]})")
        models = [x for x in models if x[1] in a.models]
    rows = [one_model(label, [f"setting={lad['setting']}", *ov], a) for label, _, ov in models]
    print(f"\nladder {a.ladder}, dataset {a.dataset}, overrides {a.override or 'none'}; the ceiling's CV accuracy on "
          f"train_unlabel gold (best penalty of the grid), mean ± SE over {a.seeds} seeds\n")
    print("| model | layer (of) | depth | CV accuracy | |")
    print("|---|---|---|---|---|")
    for r in rows:
        for layer in r["layers"]:
            v = np.asarray(r["acc"][layer])
            tag = " ".join(t for t, on in (("**chosen**", layer == r["best"]), ("configured", layer == r["configured"]),
                                            ("best mean", layer == r["top"] != r["best"])) if on)
            print(f"| {r['model']} | {layer} ({r['total']}) | {layer / r['total']:.2f} | {v.mean():.3f} ± "
                  f"{v.std(ddof=1) / math.sqrt(len(v)):.3f} | {tag} |")
    print()
    for r in rows:
        why = (f"the best mean, layer {r['top']}, is {r['margin']:+.3f} ± {r['margin_se']:.3f} (paired SE) above the "
               f"configured {r['configured']}")
        why = (f"configured; {why}: within one SE, kept" if r["best"] == r["configured"] != r["top"] else
               "configured, and the best mean" if r["best"] == r["configured"] else why)
        print(f"{r['label']}: choose layer {r['best']} of {r['total']} ({why}); override "
              f"setting.strong.layer={r['best']}; one pass {r['seconds']:.0f} s; configured layer vs the harness's "
              f"cached features: min cosine {r['check']:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
