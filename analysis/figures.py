"""Figures of a report (PNG for the Markdown, PDF for the paper), from the results dict only."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: reports build on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402

# the PDF backend's font subsetting logs ~30 INFO lines a figure, which Hydra's job logging would print
logging.getLogger("fontTools").setLevel(logging.WARNING)

# TrueType (Type 42) fonts in PDFs: camera-ready checklists reject Type 3; 8 pt reads at \columnwidth
PAPER = {"pdf.fonttype": 42, "ps.fonttype": 42, "font.size": 8, "axes.titlesize": 9, "legend.fontsize": 8}

COLORS = {"lab": "#1f77b4", "production": "#d62728"}


def _color(setting: str) -> str:
    return COLORS.get(setting, "#2ca02c")


def _save(fig, out: Path, name: str) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        p = out / f"{name}.{ext}"
        with plt.rc_context(PAPER):
            fig.savefig(p, dpi=160, bbox_inches="tight")
        paths.append(p.name)
    plt.close(fig)
    return paths


def _err(est, ci):
    return [[est - ci[0]], [ci[1] - est]]


def forest(res: dict, out: Path) -> list[str]:
    """ΔPGR vs the baseline with CIs, one row per method (sorted by effect), lab and production side by side (one
    panel per dataset), one legend for the figure. No figure when no ΔPGR is defined."""
    groups = [g for g in res["groups"] if any(d["estimate"] is not None for d in g["delta"].values())]
    if not groups:
        return []
    datasets = sorted({g["dataset"] for g in groups})
    with plt.rc_context(PAPER):
        n_rows = max(len(g["delta"]) for g in groups)
        fig, axes = plt.subplots(1, len(datasets), figsize=(3.3 * len(datasets), 0.9 + 0.38 * n_rows),
                                 squeeze=False, sharex=True, gridspec_kw={"wspace": 0.6})
        handles = {}
        for ax, ds in zip(axes[0], datasets):
            gs = [g for g in groups if g["dataset"] == ds]
            methods = sorted({m for g in gs for m in g["delta"]}, key=lambda m: -_mean_effect(gs, m))
            for k, g in enumerate(gs):
                off = (k - (len(gs) - 1) / 2) * 0.25
                for i, m in enumerate(methods):
                    d = g["delta"].get(m)
                    if not d or d["estimate"] is None:
                        continue
                    h = ax.errorbar(d["estimate"], i + off, xerr=_err(d["estimate"], d["ci"]), fmt="o", ms=4,
                                    capsize=2, color=_color(g["setting"]))
                    handles.setdefault(f"{g['setting']} ({g['study']})", h)
            ax.axvline(0, color="grey", lw=0.8)
            sesoi = res["config"]["sesoi"]
            ax.axvspan(-sesoi, sesoi, color="grey", alpha=0.12, lw=0)
            ax.set_yticks(range(len(methods)), methods)
            ax.invert_yaxis()
            ax.set_title(ds)
            ax.set_xlabel(f"ΔPGR vs {gs[0]['baseline']}")
        level = int(round(100 * (1 - res["config"]["alpha"])))
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), frameon=False,
                   bbox_to_anchor=(0.5, 1.0), title=f"{level}% CI (unadjusted); shaded: ±SESOI", title_fontsize=8)
    return _save(fig, out, "forest_delta_pgr")


def _mean_effect(groups: list[dict], m: str) -> float:
    vals = [g["delta"][m]["estimate"] for g in groups if g["delta"].get(m) and g["delta"][m]["estimate"] is not None]
    return sum(vals) / len(vals) if vals else float("-inf")


def scatter(res: dict, out: Path) -> list[str]:
    """Lab PGR (x) vs production PGR (y) per method with CIs; points on the diagonal transferred fully."""
    comps = res["comparisons"]
    if not comps:
        return []
    by = {(g["study"], g["setting"], g["dataset"]): g for g in res["groups"]}
    lab_key = lambda c: next(k for k in by if k[1] == res["config"]["lab_setting"] and k[2] == c["lab_dataset"])
    prod_key = lambda c: next(k for k in by if k[1] == res["config"]["production_setting"] and k[2] == c["prod_dataset"])
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    seen = set()
    for c in comps:
        lab_g, prod_g = by[lab_key(c)], by[prod_key(c)]
        for m in (c["method"], lab_g["baseline"]):
            if (m, c["prod_dataset"]) in seen:
                continue
            seen.add((m, c["prod_dataset"]))
            x, y = lab_g["pgr"].get(m), prod_g["pgr"].get(m)
            if not x or not y or x["estimate"] is None or y["estimate"] is None:
                continue
            ax.errorbar(x["estimate"], y["estimate"], xerr=_err(x["estimate"], x["ci"]),
                        yerr=_err(y["estimate"], y["ci"]), fmt="o", capsize=2)
            ax.annotate(m, (x["estimate"], y["estimate"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    lims = [min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])]
    ax.plot(lims, lims, ls="--", color="grey", lw=0.8)
    ax.set_xlabel("lab PGR")
    ax.set_ylabel("production PGR")
    ax.set_title("PGR, lab vs production (CIs)", fontsize=9)
    return _save(fig, out, "scatter_pgr_lab_vs_production")


def strip(res: dict, out: Path) -> list[str]:
    """Per-seed PGR of every method, one panel per (study, setting, dataset): the spread the means hide."""
    groups = [g for g in res["groups"] if any(p["per_seed"] for p in g["pgr"].values())]
    if not groups:
        return []
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.4), squeeze=False, sharey=True)
    for ax, g in zip(axes[0], groups):
        for i, m in enumerate(g["methods"]):
            p = g["pgr"][m]
            ys = list(p["per_seed"].values())
            xs = [i + 0.12 * ((j % 5) - 2) / 2 for j in range(len(ys))]
            ax.scatter(xs, ys, s=14, alpha=0.7, color=_color(g["setting"]))
            ax.errorbar(i + 0.3, p["estimate"], yerr=_err(p["estimate"], p["ci"]), fmt="_", color="black", capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(g["methods"])), g["methods"], rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{g['setting']} / {g['dataset']}", fontsize=8)
    axes[0][0].set_ylabel("PGR per seed (dots), estimate and CI (bar)")
    return _save(fig, out, "strip_pgr_per_seed")


CURSE_COLORS = {"naive": "#7f7f7f", "confirmation": COLORS["lab"], "production": COLORS["production"]}


def curse(res: dict, out: Path) -> list[str]:
    """Per selected variant: the naive best-of-N lab ΔPGR (all seeds), the confirmation-seed estimate and the
    production estimate, with their unadjusted CIs; the drop from the first to the others is the winner's curse."""
    rows = res.get("winners_curse") or []
    if not rows:
        return []
    with plt.rc_context(PAPER):
        fig, ax = plt.subplots(figsize=(5.0, 0.9 + 0.45 * len(rows)))
        handles = {}
        for i, r in enumerate(rows):
            for k, (key, label) in enumerate((("naive", "naive: mean of all lab seeds (its rank of N)"),
                                              ("confirmation", "lab confirmation seeds"),
                                              ("production", "production"))):
                est = r[key]
                if not est or est.get("mean") is None or est["ci"][0] is None:
                    continue
                h = ax.errorbar(est["mean"], i + (k - 1) * 0.22, xerr=_err(est["mean"], est["ci"]), fmt="o", ms=4,
                                capsize=2, color=CURSE_COLORS[key])
                handles.setdefault(label, h)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(range(len(rows)), [f"{r['method']} ({r['rank']} of {r['of']})" for r in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"ΔPGR vs {res['config']['baseline_method']}")
        level = int(round(100 * (1 - res["config"]["alpha"])))
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), frameon=False,
                   bbox_to_anchor=(0.5, 1.0), title=f"the winner's curse ({level}% CI, unadjusted)",
                   title_fontsize=8)
    return _save(fig, out, "winners_curse")
