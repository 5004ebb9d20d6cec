"""Put an analysis' study-level numbers in the MLflow UI: one summary run per (setting, dataset, method) under each
study's parent run (analysis/rows.py makes the rows, transfer/store/summary.py writes them), and each study's lab
verdicts on its own parent run.

Called wherever analysis/ runs on a study: the sweep's closing table (estimates, no verdicts), the sweep's lab
verdicts after its power-planned seeds, and `make report` (every number and verdict). A report with a separate lab
study writes to both: the production study's rows include the lab's (lab and production side by side in one
view), and the lab study gets its own rows and verdicts.
"""

from __future__ import annotations

from analysis.rows import rows
from transfer import store
from transfer.store import summary


def models(study) -> dict[tuple[str, str, str], tuple[str, str]]:
    """{(study, setting, dataset): (weak model, strong model)} as the cells' tags name them."""
    c = study.cells
    if "weak_model" not in c:
        return {}
    firsts = c.drop_duplicates(["setting", "dataset"])
    return {(study.name, r.setting, r.dataset): (r.weak_model, r.strong_model) for r in firsts.itertuples()}


def log_rows(res: dict, studies: list, source: str, tracking_uri: str) -> dict[str, list[str]]:
    """res: analyze()'s output (or {"groups": [...], "config": ...} without verdicts); studies: the analysed
    Study objects, the one reported first. Returns {study name: summary run ids}."""
    cfg = res.get("config") or {}
    level, lab = 1 - cfg.get("alpha", 0.05), cfg.get("lab_setting", "lab")
    studies = [s for s in studies if s is not None and s.parent_run_id]
    named = {k: v for s in studies for k, v in models(s).items()}
    c, out = store.client(tracking_uri), {}
    for i, s in enumerate(studies):
        groups = res["groups"] if i == 0 else [g for g in res["groups"] if g["study"] == s.name]
        out[s.name] = summary.write(c, s.experiment_id, s.parent_run_id,
                                    rows(groups, res.get("comparisons", []), named, level, lab), source)
        own = {f"{g['setting']}/{g['dataset']}/{m}": v["verdict"] for g in res["groups"] if g["study"] == s.name
               for m, v in g.get("lab_verdicts", {}).items()}
        if own:  # a production study's own groups have none: its parent keeps the report's tags
            store.annotate(c, s.parent_run_id, {"analysis.lab_verdicts": ", ".join(f"{k}={v}" for k, v in own.items()),
                                                 "analysis.lab_verdicts_by": source})
    return out
