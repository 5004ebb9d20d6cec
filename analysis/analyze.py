"""One study (+ optionally a separate lab study) -> every number of the report, as a JSON-able dict."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analysis import significance as sig
from analysis.estimates import Group, estimate_group
from analysis.load import Study, StudyError
from analysis.search import curse_rows, family
from analysis.verdicts import RULES, Margins, lab_stage, transfer_stage


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


def with_failed_seeds(rows: dict[str, dict], failed: pd.DataFrame, setting: str, dataset: str) -> dict[str, dict]:
    """A method whose cells failed on some seeds (no finished rerun) is judged on the seeds that survived, which are
    selected by whatever made the others fail (an unconfident teacher, say): its lab verdict is inconclusive and
    says how many seeds failed, whatever the survivors show."""
    here = failed[(failed.setting == setting) & (failed.dataset == dataset)] if len(failed) else failed
    for m, row in rows.items():
        n_failed = int((here.method == m).sum()) if len(here) else 0
        row["failed_seeds"] = n_failed
        if n_failed:
            n = row["all"]["n"] + n_failed
            row["verdict"], row["reason"] = "lab inconclusive", (
                f"{n_failed} of {n} seeds FAILED (no finished rerun): the {n - n_failed} that finished are a "
                f"selected sample; rerun them (or give the method a fallback) before reading its ΔPGR "
                f"[without them: {row['verdict']}]")
    return rows


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


def _per_seed_delta(g: Group) -> dict[str, pd.Series]:
    return {m: pd.Series(d["per_seed"], dtype=float) for m, d in g.delta.items()}


def _undefined(*groups: Group) -> str | None:
    bad = [g.setting for g in groups if not g.defined]
    return f"gap too small (PGR undefined) in {' and '.join(bad)}" if bad else None


def _compare(lab: Group, prod: Group, lab_rows: dict, cfg: dict) -> list[dict]:
    """Per-method transfer verdicts for one (lab, production) pairing; the family: its methods with a lab gain."""
    margins = Margins.from_config(cfg)
    methods = [m for m in prod.methods if m != prod.baseline and m in lab_rows and m in prod.delta]
    prod_d = _per_seed_delta(prod)
    rows = transfer_stage({m: lab_rows[m] for m in methods}, {m: prod_d[m] for m in methods}, margins,
                          _undefined(lab, prod), cfg["rng_seed"])
    out = []
    for m, r in rows.items():
        conf = pd.Series(r["lab"]["confirmation"]["values"], dtype=float)
        if not (prod.defined and lab.defined):
            ratio = {"estimate": None, "ci": (None, None), "undefined": "PGR undefined"}
        elif r["lab"]["verdict"] != "lab gain established":
            ratio = {"estimate": None, "ci": (None, None), "undefined": "no lab gain to take a share of"}
        else:
            ratio = sig.fieller_ratio(prod_d[m], conf, cfg["alpha"], cfg["ratio_floor"])
        tests = {k: r[k] for k in ("gain", "vanish", "keep", "drop") if k in r}
        out.append({"method": m, "lab_dataset": lab.dataset, "prod_dataset": prod.dataset,
                    "lab_delta": lab.delta[m], "prod_delta": prod.delta[m], "lab_verdict": r["lab"]["verdict"],
                    "lab_effect": r["lab"]["confirmation"], "tests": tests, "ratio": ratio, "power": r["power"],
                    "verdict": r["verdict"], "reason": r["reason"]})
    return out


def analyze(study: Study, cfg: dict, lab_study: Study | None = None) -> dict:
    rng = np.random.default_rng(cfg["rng_seed"])
    margins = Margins.from_config(cfg)
    sources = [("prod", study)] + ([("lab", lab_study)] if lab_study else [])
    groups, tests, lab_rows, families = [], {}, {}, {}
    for _, s in sources:
        for (setting, dataset), _c in s.cells.groupby(["setting", "dataset"]):
            g = estimate_group(s, setting, dataset, cfg, rng)
            groups.append((s, g))
            tests[s.name, setting, dataset] = _group_tests(g, s, cfg)
            if setting == cfg["lab_setting"] and g.delta:
                fam = family(s.ledgers.get((setting, dataset)), g.methods, g.baseline, cfg["family"])
                families[s.name, setting, dataset] = fam
                lab_rows[s.name, setting, dataset] = with_failed_seeds(
                    lab_stage(_per_seed_delta(g), margins, _undefined(g), fam["size"]), s.failed, setting, dataset)
    groups.sort(key=lambda sg: sg[1].setting != cfg["lab_setting"])  # lab before production in every table, figure
    lab_src = lab_study or study
    lab_groups = [g for s, g in groups if s is lab_src and g.setting == cfg["lab_setting"]]
    prod_groups = [g for s, g in groups if s is study and g.setting == cfg["production_setting"]]
    comparisons, notes = [], list(study.notes) + (list(lab_study.notes) if lab_study else [])
    if lab_groups and prod_groups:
        for lab, prod in _pairings(lab_groups, prod_groups, cfg):
            comparisons += _compare(lab, prod, lab_rows.get((lab_src.name, lab.setting, lab.dataset), {}), cfg)
    else:
        notes.append(f"no transfer verdicts: need cells with setting={cfg['lab_setting']!r} and "
                     f"setting={cfg['production_setting']!r} (or --lab STUDY); lab verdicts and estimates only")
    res = with_datasets({
        "study": study.name, "lab_study": lab_study.name if lab_study else None, "config": cfg,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "notes": notes, "rules": RULES,
        "groups": [_group_json(s, g, tests[s.name, g.setting, g.dataset], lab_rows.get((s.name, g.setting, g.dataset)),
                               families.get((s.name, g.setting, g.dataset))) for s, g in groups],
        "comparisons": comparisons,
    })
    res["winners_curse"] = curse_rows(res)
    return res


def with_datasets(res: dict) -> dict:
    """res plus the method × dataset table and the meta-analysis across datasets (analysis/datasets.py)."""
    from analysis.datasets import across

    res["across_datasets"] = across(res, res["config"]["alpha"])
    return res


def _group_json(s: Study, g: Group, tests: dict, lab_rows: dict | None, fam: dict | None = None) -> dict:
    cells = s.cells[(s.cells.setting == g.setting) & (s.cells.dataset == g.dataset)]
    return {"study": s.name, "setting": g.setting, "dataset": g.dataset, "baseline": g.baseline,
            "methods": g.methods, "n_baseline_seeds": g.n_baseline_seeds, "paired_baseline_seeds": g.paired,
            "weak_acc": g.weak, "ceiling_acc": g.ceiling, "gap": g.gap, "recipe": _recipe(cells),
            "n_test": float(cells["n_test"].median()), "pgr": g.pgr, "delta": g.delta, "tests": tests,
            "original_methods": dict(zip(cells.method, cells.original_method)), "lab_verdicts": lab_rows or {},
            "data_issues": _issues(cells), "family": fam}


def _recipe(cells: pd.DataFrame) -> dict[str, float]:
    """The roles' chosen penalties over the group's seeds (median, range): what the report says the lab used."""
    out = {}
    for m in ("roles_teacher_l2", "roles_ceiling_l2"):
        v = cells.drop_duplicates("seed")[m].dropna() if m in cells else pd.Series(dtype=float)
        if len(v):
            out[m] = {"median": float(v.median()), "min": float(v.min()), "max": float(v.max())}
    return out


def _issues(cells: pd.DataFrame) -> dict[str, list[str]]:
    """method -> the distinct data issues flagged on its records (empty methods left out)."""
    if "data_issues" not in cells:
        return {}
    out = {}
    for m, col in cells.groupby("method")["data_issues"]:
        found = sorted({i.strip() for v in col if v for i in v.split(";") if i.strip()})
        if found:
            out[m] = found
    return out
