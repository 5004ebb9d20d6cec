"""`python -m jobs.import_aar PATH [--study aar]`: the AAR per-seed results -> an MLflow lab study.

PATH is cache_results.tar.gz (or its unpacked folder). Written through transfer.store (an import writes the store,
so it is orchestration, not analysis/, which only reads it), per docs/tracking.md: experiment = study, a parent run
(transfer.role=study), one child run per (dataset, method, seed) cell with setting=lab, plus one run per teacher /
ceiling seed (transfer.role=baseline), because the study's PGR uses fixed baselines = the means over its 16 weak and
16 ceiling seeds, not the 5 method seeds. The records hold aggregate accuracies only (no per-example predictions).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from transfer import store
from transfer.store.writer import StudyWriter

DATASETS = ("chat", "math", "code")
METHODS = {"vanilla_w2s": "vanilla", "train_only_on_confident_labels": "confident_only",
           "ue_zeroshot": "ue_zeroshot", "critic": "critic"}
BASELINES = {"weak_artifacts": ("weak", "weak_acc"), "train_ceiling": ("ceiling", "strong_acc")}
SEED_FILE = re.compile(r"seed_(\d+)\.json$")


def _records(root: Path, dataset: str, kind: str) -> dict[int, tuple[Path, dict]]:
    """seed -> (file, record) for <dataset>_<kind>/<hyper-params>/seed_N.json; the seed comes from the file name
    (some records' own `seed` field is a stale copy, e.g. ue_zeroshot's)."""
    out = {}
    for f in sorted((root / f"{dataset}_{kind}").glob("*/seed_*.json")):
        seed = int(SEED_FILE.search(f.name).group(1))
        if seed in out:
            raise ValueError(f"two AAR records for {dataset}_{kind} seed {seed}: {out[seed][0]} and {f}")
        out[seed] = (f, json.loads(f.read_text()))
    return out


def _root(path: Path, tmp: str) -> Path:
    if path.is_dir():
        base = path
    else:
        with tarfile.open(path) as tar:
            tar.extractall(tmp, filter="data")
        base = Path(tmp)
    hits = [p for p in [base, *base.rglob("cache_results")] if (p / "chat_vanilla_w2s").is_dir()]
    if not hits:
        raise FileNotFoundError(f"{path}: no cache_results/chat_vanilla_w2s inside; is this the AAR cache_results?")
    return min(hits, key=lambda p: len(p.parts))  # the top copy; a nested duplicate (chat-0115_*) is ignored


def record_config(record: dict, f: Path) -> dict[str, object]:
    """What a record says of its own configuration, as params (`aar.*`): its hyper-parameter key (the folder it is
    in), its `config` block, and the training settings some records keep at the top (a baseline's lr, epochs ...).
    The seed inside `config` is left out: some records carry a stale copy (see _records)."""
    top = {k: record[k] for k in ("epochs", "batch_size", "lr", "scheduler", "aar_mode") if k in record}
    conf = {k: v for k, v in (record.get("config") or {}).items() if k != "seed" and not isinstance(v, (dict, list))}
    return {"aar.hyperparam_config_key": record.get("hyperparam_config_key") or f.parent.name,
            **{f"aar.{k}": v for k, v in top.items()}, **{f"aar.config.{k}": v for k, v in conf.items()}}


def cell_params(c: dict) -> dict[str, object]:
    """An imported cell's params under the native cells' names (transfer.store.inputs.cell_params: method.name,
    seed, setting, mode, dataset) and the models, then what its record says of its config."""
    return {"method.name": c["method"], "seed": c["seed"], "setting": "lab", "mode": "lora", "dataset": c["dataset"],
            "weak_model": c["weak_model"], "strong_model": c["strong_model"], "original_method": c["original_method"],
            **c["config"]}


def collect(path: Path, tmp: str) -> tuple[list[dict], list[dict], dict]:
    """-> (cells, baselines, {dataset: notes/baselines}) as plain dicts ready to log."""
    root = _root(Path(path), tmp)
    cells, bases, info = [], [], {}
    for ds in DATASETS:
        notes, seeds = [], {}
        for kind, (role, key) in BASELINES.items():
            recs = _records(root, ds, kind)
            seeds[role] = {s: r[key] for s, (_, r) in recs.items()}
            n_test = {s: r.get("detailed_eval", {}).get(role, {}).get("final_eval", {}).get("total") for s, (_, r) in recs.items()}
            for s, (f, r) in recs.items():
                bases.append({"dataset": ds, "seed": s, "role": role, "acc": r[key], "n_test": n_test.get(s),
                              "file": str(f.relative_to(root)), "model": r.get(f"{'weak' if role == 'weak' else 'strong'}_model"),
                              "config": record_config(r, f)})
        W, C = float(np.mean(list(seeds["weak"].values()))), float(np.mean(list(seeds["ceiling"].values())))
        n_ds = next(b["n_test"] for b in bases if b["dataset"] == ds and b["role"] == "ceiling" and b["n_test"])
        for b in bases:
            if b["dataset"] == ds and not b["n_test"]:
                b["n_test"] = n_ds  # weak records carry no test size; the test split is shared
        info[ds] = {"fixed_weak_baseline": W, "fixed_ceiling_baseline": C, "n_weak_seeds": len(seeds["weak"]),
                    "n_ceiling_seeds": len(seeds["ceiling"]), "n_test": n_ds, "notes": notes}
        for orig, method in METHODS.items():
            recs = _records(root, ds, orig)
            for s, (f, r) in recs.items():
                if s not in seeds["weak"] or s not in seeds["ceiling"]:
                    raise ValueError(f"{f}: no weak/ceiling record for seed {s}")
                issues = []
                if r.get("seed") != s:
                    issues.append(f"record's seed field {r.get('seed')} != file seed {s}")
                if r.get("idea_name") != orig:
                    issues.append(f"record's idea_name {r.get('idea_name')!r} != folder {orig!r}")
                fw, fc = r.get("fixed_weak_baseline"), r.get("fixed_ceiling_baseline", r.get("fixed_strong_baseline"))
                if fw is None or fc is None:
                    issues.append("record lacks fixed baselines / pgr; PGR computed here")
                elif abs(fw - W) > 1e-9 or abs(fc - C) > 1e-9:
                    issues.append(f"record's fixed baselines ({fw:.6f}, {fc:.6f}) != 16-seed means ({W:.6f}, {C:.6f})")
                w2s = float(r["transfer_acc"])
                n = r.get("detailed_eval", {}).get("strong", {}).get("final_eval", {}).get("total") or n_ds
                metrics = {"weak_acc": seeds["weak"][s], "ceiling_acc": seeds["ceiling"][s], "w2s_acc": w2s,
                           "gap": seeds["ceiling"][s] - seeds["weak"][s], "pgr": (w2s - W) / (C - W),
                           "fixed_weak_baseline": W, "fixed_ceiling_baseline": C, "n_test": float(n)}
                if r.get("pgr") is not None:
                    metrics["aar_reported_pgr"] = float(r["pgr"])
                for k in ("hard_weak_label_acc", "training_time", "total_training_time"):
                    if isinstance(r.get(k), (int, float)):
                        metrics[f"method_{k}" if k != "training_time" else "training_time"] = float(r[k])
                cells.append({"dataset": ds, "method": method, "original_method": orig, "seed": s, "file": str(f.relative_to(root)),
                              "metrics": metrics, "issues": issues, "weak_model": r.get("weak_model") or "Qwen/Qwen1.5-0.5B-Chat",
                              "strong_model": r.get("strong_model") or "Qwen/Qwen3-4B-Base",
                              "hash": hashlib.sha256(f.read_bytes()).hexdigest(), "aar_dataset_name": r.get("dataset_name", ds),
                              "config": record_config(r, f)})
                notes += [f"{orig} seed {s}: {i}" for i in issues]
    return cells, bases, info


def import_aar(path: str | Path, study: str = "aar", tracking_uri: str | None = None) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"AAR results not found: {path} (expected ../shared/data/aar/cache_results.tar.gz)")
    with tempfile.TemporaryDirectory() as tmp:
        cells, bases, info = collect(path, tmp)
    source_sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "directory"
    writer = StudyWriter(study, tracking_uri, parent_tags={
        "git_sha": "aar-import", "settings": "lab", "methods": ",".join(METHODS.values()),
        "source": "AAR cache_results", "source_sha256": source_sha,
        store.NOTE: "Imported AAR per-seed results: aggregate accuracies only, no per-example predictions."})
    done, new = writer.known_hashes(), 0
    common = {"setting": "lab", "git_sha": "aar-import", "ood_dataset": "", "training_mode": "lora"}
    for b in bases:
        h = f"baseline:{b['dataset']}:{b['role']}:{b['seed']}"
        if h in done:
            continue
        writer.log_run(f"lab/{b['dataset']}/{b['role']}/seed{b['seed']}", {
            **common, "baseline_role": b["role"], "dataset": b["dataset"], "seed": str(b["seed"]),
            "config_hash": h, "source_file": b["file"], "model": str(b["model"])},
            {f"{b['role']}_acc": b["acc"], "n_test": float(b["n_test"])}, role=store.BASELINE,
            params={"baseline_role": b["role"], "seed": b["seed"], "setting": "lab", "mode": "lora",
                    "dataset": b["dataset"], "model": str(b["model"]), **b["config"]})
        new += 1
    for c in cells:
        if c["hash"] in done:
            continue
        tags = {**common, "method": c["method"], "original_method": c["original_method"],
                "seed": str(c["seed"]), "dataset": c["dataset"], "weak_model": c["weak_model"],
                "strong_model": c["strong_model"], "config_hash": c["hash"], "source_file": c["file"],
                "aar_dataset_name": c["aar_dataset_name"], "pgr_baseline": "fixed: means of the 16 weak / 16 ceiling seeds"}
        if c["issues"]:
            tags["aar.data_issues"] = "; ".join(c["issues"])[:5000]
        writer.log_run(f"lab/{c['dataset']}/{c['method']}/seed{c['seed']}", tags, c["metrics"], cell_params(c),
                       note=f"AAR {c['original_method']} / {c['dataset']} / seed {c['seed']}")
        new += 1
    notes = [f"{ds}: {n}" for ds, i in info.items() for n in i["notes"]]
    writer.set_parent({"import_notes": "; ".join(notes) or "none"},
                      {f"{ds}.{k}": v for ds, i in info.items() for k, v in i.items() if k != "notes"})
    writer.finish()
    return {"study": study, "experiment_id": writer.experiment_id, "parent_run_id": writer.parent_id,
            "new_runs": new, "cells": len(cells), "baselines": len(bases), "datasets": info, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.import_aar", description=__doc__.splitlines()[0])
    ap.add_argument("path", help="cache_results.tar.gz or its unpacked folder")
    ap.add_argument("--study", default="aar", help="MLflow experiment name to create or complete (default: aar)")
    ap.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI or sqlite:///<repo>/mlruns.db")
    a = ap.parse_args(argv)
    try:
        out = import_aar(a.path, a.study, a.tracking_uri)
    except (FileNotFoundError, ValueError, tarfile.TarError) as e:
        print(f"jobs.import_aar: {e}", file=sys.stderr)
        return 2
    print(f"study {out['study']!r}: {out['cells']} cells, {out['baselines']} baseline runs "
          f"({out['new_runs']} new); {len(out['notes'])} data notes (tag import_notes on the parent run)")
    for n in out["notes"]:
        print("  note:", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
