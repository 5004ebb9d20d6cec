"""One study (+ optionally a separate lab study) -> every number of the report, as a JSON-able dict."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analysis import significance as sig
from analysis.estimates import Group, estimate_group, transfer_ratio
from analysis.load import Study, StudyError
from analysis.verdicts import RULES, Evidence, decide


def _group_tests(g: Group, study: Study, cfg: dict) -> dict:
    """Seed-level tests vs the baseline, within one (setting, dataset), adjusted across methods."""
    bl = g.baseline
    if bl not in g.methods:
        return {}
    cells = study.cells[(study.cells.setting == g.setting) & (study.cells.dataset == g.dataset)]
    acc = cells.pivot(index="seed", columns="method", values="w2s_acc")
    # t and Wilcoxon are invariant to the pooled PGR scaling, so undefined-PGR groups are tested on accuracies
    vals = g.seed_pgr if g.defined else acc
    ex = study.examples
    ex = ex[(ex.setting == g.setting) & (ex.dataset == g.dataset)] if len(ex) else ex
    out = {}
    for m in g.methods:
        if m == bl:
            continue
        t = sig.seed_tests(vals[m], vals[bl])
        t["scale"] = "PGR" if g.defined else "accuracy (PGR undefined)"
        t["mcnemar"] = sig.mcnemar_by_seed(ex, m, bl) if len(ex) else []
        if not len(ex):
            t["mcnemar_skipped"] = "no per-example predictions in the records"
        out[m] = t
    for key in ("p_t", "p_wilcoxon"):
        adj = sig.adjust({m: out[m][key] for m in out}, cfg["correction"])
        for m in out:
            out[m][f"{key}_adj"] = adj[m]
    return out


def _pairings(lab: list[Group], prod: list[Group], cfg: dict) -> list[tuple[Group, Group]]:
    by_ds = {g.dataset: g for g in lab}
    pairs = []
    for p in prod:
        if p.dataset in by_ds:
            pairs.append((by_ds[p.dataset], p))
        elif cfg.get("lab_dataset") in by_ds:
            pairs.append((by_ds[cfg["lab_dataset"]], p))
        elif len(lab) == 1:
            pairs.append((lab[0], p))
        else:
            raise StudyError(f"production dataset {p.dataset!r} has no lab counterpart; pass --lab-dataset, "
                             f"one of {sorted(by_ds)}")
    return pairs


def _compare(lab: Group, prod: Group, studies: dict, cfg: dict) -> list[dict]:
    """Per-method lab-vs-production evidence and verdicts for one pairing, adjusted across its methods."""
    alpha, bl = cfg["alpha"], cfg["baseline_method"]
    methods = [m for m in prod.methods if m != bl and m in lab.delta and m in prod.delta]
    ex_lab, ex_prod = studies["lab"].examples, studies["prod"].examples
    rows = {}
    for m in methods:
        dl, dp = lab.delta[m], prod.delta[m]
        lab_d = pd.Series(dl["per_seed"], dtype=float)
        prod_d = pd.Series(dp["per_seed"], dtype=float)
        rows[m] = {"method": m, "lab_dataset": lab.dataset, "prod_dataset": prod.dataset,
                   "lab_delta": dl, "prod_delta": dp, "ratio": transfer_ratio(lab, prod, m, alpha),
                   "tost": sig.tost(prod.seed_pgr[m], prod.seed_pgr[bl], cfg["sesoi"]) if prod.defined
                   else {"p": float("nan"), "note": "PGR undefined"},
                   "power": sig.power(dl["estimate"], prod_d.std(ddof=1) if len(prod_d) > 1 else float("nan"),
                                      len(prod_d), alpha, cfg["power"])}
        both_ex = len(ex_lab) and len(ex_prod)
        if cfg["shrinkage_test"] in ("auto", "model") and both_ex and lab.dataset == prod.dataset:
            ex = pd.concat([ex_lab[(ex_lab.setting == lab.setting) & (ex_lab.dataset == lab.dataset)],
                            ex_prod[(ex_prod.setting == prod.setting) & (ex_prod.dataset == prod.dataset)]])
            shrink = sig.interaction_model(ex, m, bl, lab.setting, prod.setting)
            shrink["test"] = "per-example logit, method x setting, cluster-robust (seed, example)"
            shrink["sign"] = float(np.sign(shrink.get("coef_interaction", np.nan)))
        else:
            shrink = sig.welch_shrinkage(lab_d, prod_d)
            shrink["test"] = "seed-level Welch t-test of ΔPGR, production vs lab"
            shrink["sign"] = float(np.sign(shrink.get("t", np.nan)))
            if cfg["shrinkage_test"] != "seeds":
                shrink["why"] = "per-example predictions missing in a setting (or datasets differ)"
        rows[m]["shrinkage"] = shrink
    for key, get in {"p_equiv": lambda r: r["tost"]["p"], "p_shrink": lambda r: r["shrinkage"].get("p")}.items():
        adj = sig.adjust({m: get(r) for m, r in rows.items()}, cfg["correction"])
        for m in rows:
            rows[m][key + "_adj"] = adj[m]
    out = []
    for m, r in rows.items():
        lt, pt = studies["lab_tests"][lab.setting, lab.dataset][m], studies["prod_tests"][prod.setting, prod.dataset][m]
        undefined = None if lab.defined and prod.defined else "gap too small (PGR undefined) in " + \
            " and ".join(s.setting for s in (lab, prod) if not s.defined)
        e = Evidence(m, r["lab_delta"]["estimate"], r["prod_delta"]["estimate"], lt["p_t_adj"], pt["p_t_adj"],
                     r["p_equiv_adj"], r["p_shrink_adj"], r["shrinkage"]["sign"], r["power"]["achieved"],
                     r["power"]["seeds_needed"], undefined)
        r["p_lab_adj"], r["p_prod_adj"] = lt["p_t_adj"], pt["p_t_adj"]
        r["verdict"], r["reason"] = decide(e, alpha)
        out.append(r)
    return out


def analyze(study: Study, cfg: dict, lab_study: Study | None = None) -> dict:
    rng = np.random.default_rng(cfg["rng_seed"])
    sources = [("prod", study)] + ([("lab", lab_study)] if lab_study else [])
    groups, tests = [], {}
    for _, s in sources:
        for (setting, dataset), _c in s.cells.groupby(["setting", "dataset"]):
            g = estimate_group(s, setting, dataset, cfg, rng)
            groups.append((s, g))
            tests[s.name, setting, dataset] = _group_tests(g, s, cfg)
    lab_src = lab_study or study
    lab_groups = [g for s, g in groups if s is lab_src and g.setting == cfg["lab_setting"]]
    prod_groups = [g for s, g in groups if s is study and g.setting == cfg["production_setting"]]
    comparisons, notes = [], list(study.notes) + (list(lab_study.notes) if lab_study else [])
    if lab_groups and prod_groups:
        ctx = {"lab": lab_src, "prod": study,
               "lab_tests": {(k[1], k[2]): v for k, v in tests.items() if k[0] == lab_src.name},
               "prod_tests": {(k[1], k[2]): v for k, v in tests.items() if k[0] == study.name}}
        for lab, prod in _pairings(lab_groups, prod_groups, cfg):
            comparisons += _compare(lab, prod, ctx, cfg)
    else:
        notes.append(f"no verdicts: need cells with setting={cfg['lab_setting']!r} and "
                     f"setting={cfg['production_setting']!r} (or --lab STUDY); this report gives estimates only")
    return {
        "study": study.name, "lab_study": lab_study.name if lab_study else None, "config": cfg,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "notes": notes, "rules": RULES,
        "groups": [_group_json(s, g, tests[s.name, g.setting, g.dataset]) for s, g in groups],
        "comparisons": comparisons,
    }


def _group_json(s: Study, g: Group, tests: dict) -> dict:
    cells = s.cells[(s.cells.setting == g.setting) & (s.cells.dataset == g.dataset)]
    return {"study": s.name, "setting": g.setting, "dataset": g.dataset, "baseline": g.baseline,
            "methods": g.methods, "n_baseline_seeds": g.n_baseline_seeds, "paired_baseline_seeds": g.paired,
            "weak_acc": g.weak, "ceiling_acc": g.ceiling, "gap": g.gap,
            "n_test": float(cells["n_test"].median()), "pgr": g.pgr, "delta": g.delta, "tests": tests,
            "original_methods": dict(zip(cells.method, cells.original_method))}
