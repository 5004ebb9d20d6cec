"""The table a sweep (and a replay) prints at the end: per (setting, method), mean ± SE over seeds of the accuracies,
and the study-level PGR from analysis/ (the same estimator, CI level and "gap too small" rule as `make report`).
Seed-level numbers only: the cells' per-example predictions are not read. The table also goes on the study's
parent run (its description, `summary/summary.txt`, and `summary.<setting>.<dataset>.<method>.pgr` metrics) and
as the study's summary runs (jobs/ui_rows.py), so the MLflow UI shows the study's result without `make report`,
which later adds the verdicts."""

from __future__ import annotations

import numpy as np


NA = "n/a"  # an SE or CI that needs more seeds: one seed has no spread (it printed "± nan" and a zero-width CI)


def _mean_se(v: np.ndarray) -> str:
    if len(v) < 2:
        return f"{v.mean():>7.3f} ± {NA:>5}"
    return f"{v.mean():>7.3f} ± {v.std(ddof=1) / np.sqrt(len(v)):5.3f}"


def _pgr(p: dict) -> str:
    """Estimate ± the CI's SE [CI], or n/a where the CI needs more seeds."""
    if p["estimate"] is None:
        return "undefined"
    lo, hi = p["ci"]
    if p["n_seeds"] < 2 or not np.isfinite([lo, hi, p.get("se", np.nan)]).all():
        return f"{p['estimate']:+.2f} ± {NA} [CI {NA}" + (": 1 seed]" if p["n_seeds"] < 2 else "]")
    return f"{p['estimate']:+.2f} ± {p['se']:.2f} [{lo:+.2f}, {hi:+.2f}]"


def summarize(study: str, tracking_uri: str, log: bool = True) -> str:
    from analysis.config import load_config
    from analysis.estimates import estimate_group
    from analysis.load import StudyError, load_study
    from analysis.rows import group_dict
    from jobs.ui_rows import log_rows

    try:
        s = load_study(study, tracking_uri, with_examples=False)
    except StudyError as exc:
        return f"(no table: {exc})"
    cfg = {**load_config(), "bootstrap": 1000}
    rng = np.random.default_rng(cfg["rng_seed"])
    level, lines, metrics, groups = f"{1 - cfg['alpha']:.0%}", [], {}, []
    for (setting, dataset), cells in s.cells.groupby(["setting", "dataset"], sort=False):
        g = estimate_group(s, setting, dataset, cfg, rng)
        groups.append(group_dict(g, study))
        lo, hi = g.gap["ci"]
        metrics[f"summary.{setting}.{dataset}.gap"] = g.gap["estimate"]
        gap_ci = f"{lo:+.3f} .. {hi:+.3f}" if g.n_baseline_seeds > 1 else NA
        lines.append(f"\n{setting} / {dataset}: ceiling − weak gap {g.gap['estimate']:+.3f} "
                     f"({level} CI {gap_ci}, {g.n_baseline_seeds} seed{'s' * (g.n_baseline_seeds != 1)})"
                     + ("" if g.defined else "  -> gap too small: PGR undefined"))
        pgr_head = f"PGR [{level} CI]"
        w = max(16, *(len(m) + 2 for m in g.methods))  # variant names are long
        header = f"  {'method':<{w}}{'seeds':>5}  {'weak_acc':>15}  {'ceiling_acc':>15}  {'w2s_acc':>15}  {pgr_head:>24}"
        lines += [header, "  " + "-" * (len(header) - 2)]
        for method in g.methods:
            m = cells[cells.method == method]
            p = g.pgr[method]
            if p["estimate"] is not None:
                metrics[f"summary.{setting}.{dataset}.{method}.pgr"] = p["estimate"]
            pgr = _pgr(p)
            lines.append(f"  {method:<{w}}{len(m):>5}  " + "  ".join(
                _mean_se(m[c].to_numpy(float)) for c in ("weak_acc", "ceiling_acc", "w2s_acc")) + f"  {pgr:>24}")
    lines.append(f"\nPGR: study-level estimate ± the SE its CI is built from [{level} CI over seeds; {NA}: needs "
                 f"2 seeds or more]; "
                 f"significance and verdicts: make report STUDY={study}")
    text = "\n".join(lines)
    if log and s.parent_run_id:
        _on_parent_run(s.parent_run_id, tracking_uri, study, text, metrics)
        log_rows({"groups": groups, "config": cfg}, [s], "sweep table (no verdicts yet)", tracking_uri)
    return text


def _on_parent_run(run_id: str, tracking_uri: str, study: str, text: str, metrics: dict) -> None:
    from transfer import store

    note = f"**{study}**: the sweep's summary (verdicts: `make report STUDY={study}`)\n```{text}\n```"
    c = store.client(tracking_uri)
    store.annotate(c, run_id, {store.NOTE: note[:5000]}, {k: v for k, v in metrics.items() if np.isfinite(v)})
    c.log_text(run_id, text.strip() + "\n", "summary/summary.txt")

