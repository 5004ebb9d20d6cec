"""Figures of a report (PNG for the Markdown, PDF for the paper), from the results dict only."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: reports build on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis import axes  # noqa: E402
from analysis.format import ci as fmt_ci  # noqa: E402

# the PDF backend's font subsetting logs ~30 INFO lines a figure, which Hydra's job logging would print
logging.getLogger("fontTools").setLevel(logging.WARNING)

# TrueType (Type 42) fonts in PDFs: camera-ready checklists reject Type 3; 8 pt reads at \columnwidth
PAPER = {"pdf.fonttype": 42, "ps.fonttype": 42, "font.size": 8, "axes.titlesize": 9, "legend.fontsize": 8}

COLORS = {"lab": "#1f77b4", "production": "#d62728"}


def _color(setting: str) -> str:
    return COLORS.get(setting, "#2ca02c")


def save_figure(fig, out: Path, name: str) -> list[str]:
    """<name>.png and .pdf in `out` (paper fonts: TrueType in the PDF), the figure closed; the file names."""
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
    ds_ = [d for g in groups for d in g["delta"].values() if d["estimate"] is not None]
    lim = axes.limits([d["estimate"] for d in ds_], [e for d in ds_ for e in (d["ci"] or ())],
                      keep=(-res["config"]["sesoi"], res["config"]["sesoi"]))
    with plt.rc_context(PAPER):
        n_rows = max(len(g["delta"]) for g in groups)
        fig, axs = plt.subplots(1, len(datasets), figsize=(3.3 * len(datasets), 0.9 + 0.38 * n_rows),
                                squeeze=False, sharex=True, gridspec_kw={"wspace": 0.6})
        handles = {}
        for ax, ds in zip(axs[0], datasets):
            gs = [g for g in groups if g["dataset"] == ds]
            methods = sorted({m for g in gs for m in g["delta"]}, key=lambda m: -_mean_effect(gs, m))
            for k, g in enumerate(gs):
                off = (k - (len(gs) - 1) / 2) * 0.25
                for i, m in enumerate(methods):
                    d = g["delta"].get(m)
                    if not d or d["estimate"] is None:
                        continue
                    _bar(ax, i + off, d["ci"], lim, True, _color(g["setting"]))
                    x, cut = axes.clip(d["estimate"], lim)
                    (h,) = ax.plot(x, i + off, "o", ms=4, color=_color(g["setting"]), clip_on=not cut)
                    if cut:  # off the axes: its numbers beside the edge
                        ax.annotate(f"{d['estimate']:+.2f}", (x, i + off), xytext=(-6 * cut, 2), fontsize=5.5,
                                    textcoords="offset points", ha="left" if cut < 0 else "right")
                    handles.setdefault(f"{g['setting']} ({g['study']})", h)
            ax.set_xlim(lim)
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
    return save_figure(fig, out, "forest_delta_pgr")


def _mean_effect(groups: list[dict], m: str) -> float:
    vals = [g["delta"][m]["estimate"] for g in groups if g["delta"].get(m) and g["delta"][m]["estimate"] is not None]
    return sum(vals) / len(vals) if vals else float("-inf")


MARKERS = "osD^vP*Xh<>p"


def _style(i: int) -> dict:
    """Colour and marker of the i-th method: 20 colours, then the next marker."""
    return {"color": plt.get_cmap("tab20")(i % 20), "marker": MARKERS[(i // 20 + i) % len(MARKERS)]}


def _points(res: dict) -> list[dict]:
    """Per (method, production dataset) of the comparisons, and the baseline: lab and production PGR with CIs."""
    by = {(g["setting"], g["dataset"]): g for g in res["groups"]}
    lab_s, prod_s = res["config"]["lab_setting"], res["config"]["production_setting"]
    pts, seen = [], set()
    for c in res["comparisons"]:
        lab_g, prod_g = by.get((lab_s, c["lab_dataset"])), by.get((prod_s, c["prod_dataset"]))
        if not lab_g or not prod_g:
            continue
        for m in (lab_g["baseline"], c["method"]):
            x, y = lab_g["pgr"].get(m), prod_g["pgr"].get(m)
            if (m, c["prod_dataset"]) in seen or not x or not y or x["estimate"] is None or y["estimate"] is None:
                continue
            seen.add((m, c["prod_dataset"]))
            pts.append({"method": m, "dataset": c["prod_dataset"], "x": x["estimate"], "xci": x["ci"],
                        "y": y["estimate"], "yci": y["ci"]})
    return pts


def _bar(ax, at: float, ci, lim, horizontal: bool, color) -> None:
    """One CI, clipped to the axes; an end cut off gets an arrowhead at the edge."""
    if ci is None or ci[0] is None or not np.isfinite(ci).all():
        return
    (lo, cut_lo), (hi, cut_hi) = axes.clip(ci[0], lim), axes.clip(ci[1], lim)
    xy = ([lo, hi], [at, at]) if horizontal else ([at, at], [lo, hi])
    ax.plot(*xy, color=color, lw=0.9, alpha=0.8, zorder=2)
    for end, cut in ((lo, cut_lo), (hi, cut_hi)):
        if cut:
            mark = ("<" if cut < 0 else ">") if horizontal else ("v" if cut < 0 else "^")
            ax.plot(*((end, at) if horizontal else (at, end)), marker=mark, ms=4, color=color, zorder=2)


def _label_spots(ax, xy: list[tuple[float, float]], texts: list[str]) -> list[tuple[float, float]]:
    """Offsets (points) for short labels beside each point that overlap no other label or point: greedy, in the
    figure's display coordinates."""
    fig = ax.figure
    fig.canvas.draw()
    to_px = ax.transData.transform
    scale = fig.dpi / 72
    taken = [(*to_px(p), 3 * scale, 3 * scale) for p in xy]  # points as small boxes (centre x, y, half w, half h)
    out = []
    for p, t in zip(xy, texts):
        px, py = to_px(p)
        w, h = (2.6 * len(t) + 1) * scale, 3.5 * scale
        for dx, dy in ((5, 4), (5, -9), (-8 - 5.2 * len(t), 4), (-8 - 5.2 * len(t), -9), (5, 12), (5, -17),
                       (-8 - 5.2 * len(t), 12), (-8 - 5.2 * len(t), -17), (0, 20), (0, -25)):
            cx, cy = px + (dx + 2.6 * len(t)) * scale, py + (dy + 3.5) * scale
            if all(abs(cx - a) > w + aw or abs(cy - b) > h + ah for a, b, aw, ah in taken):
                break
        taken.append((cx, cy, w, h))
        out.append((dx, dy))
    return out


def scatter(res: dict, out: Path) -> list[str]:
    """Lab PGR (x) vs production PGR (y) per method with CIs, on axes that an outlying method cannot stretch (it is
    drawn at the edge with an arrow, its values in the legend); each point numbered, the numbers in the legend."""
    pts = _points(res)
    if not pts:
        return []
    lim = axes.limits([v for p in pts for v in (p["x"], p["y"])],
                      [e for p in pts for ci in (p["xci"], p["yci"]) for e in (ci or ())])
    with plt.rc_context(PAPER):
        fig, ax = plt.subplots(figsize=(6.6, 4.0))
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_aspect("equal", adjustable="box")  # before the labels are placed: it moves every point on screen
        ax.plot(lim, lim, ls="--", color="grey", lw=0.8, zorder=1)
        ax.axhline(0, color="grey", lw=0.5, zorder=1)
        ax.axvline(0, color="grey", lw=0.5, zorder=1)
        handles, labels, spots, names = [], [], [], []
        several = len({p["dataset"] for p in pts}) > 1
        for i, p in enumerate(pts):
            st = _style(i)
            (x, cx), (y, cy) = axes.clip(p["x"], lim), axes.clip(p["y"], lim)
            _bar(ax, y, p["xci"], lim, True, st["color"])
            _bar(ax, x, p["yci"], lim, False, st["color"])
            h = ax.scatter([x], [y], s=26, zorder=5, edgecolors="black", linewidths=0.4, clip_on=not (cx or cy), **st)
            name = f"{i + 1}  {p['method']}" + (f" ({p['dataset']})" if several else "")
            if cx or cy:  # off the axes: an arrow from inside towards where it lies
                span = lim[1] - lim[0]
                ax.annotate("", xy=(x, y), xytext=(x - 0.09 * span * cx, y - 0.09 * span * cy),
                            arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.0}, zorder=4)
                name += f": off the axes (lab {p['x']:+.2f}, production {p['y']:+.2f})"
            handles.append(h)
            labels.append(name)
            spots.append((x, y))
            names.append(str(i + 1))
        for (x, y), t, off in zip(spots, names, _label_spots(ax, spots, names)):
            far = off not in ((5, 4), (5, -9))  # a label pushed away gets a leader line to its point
            ax.annotate(t, (x, y), xytext=off, textcoords="offset points", fontsize=6.5,
                        arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "grey", "shrinkA": 0, "shrinkB": 3}
                        if far else None)
        ax.set_xlabel("lab PGR")
        ax.set_ylabel("production PGR")
        level = int(round(100 * (1 - res["config"]["alpha"])))
        ax.set_title(f"PGR, lab vs production ({level}% CIs; dashed: production = lab)", fontsize=9)
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=6.5,
                  handletextpad=0.3, borderaxespad=0.0)
    return save_figure(fig, out, "scatter_pgr_lab_vs_production")


def strip(res: dict, out: Path) -> list[str]:
    """Per-seed PGR of every method, one panel per (study, setting, dataset), lab first, methods as rows (their
    names are long): the spread the means hide. A dot beyond the robust limits sits at the edge as an arrowhead."""
    groups = [g for g in res["groups"] if any(p["per_seed"] for p in g["pgr"].values())]
    if not groups:
        return []
    methods = list(dict.fromkeys(m for g in groups for m in g["methods"]))
    vals = [v for g in groups for p in g["pgr"].values() for v in p["per_seed"].values()]
    lim = axes.limits(vals, [e for g in groups for p in g["pgr"].values() for e in (p["ci"] or ())])
    with plt.rc_context(PAPER):
        fig, axs = plt.subplots(1, len(groups), figsize=(2.2 + 2.4 * len(groups), 0.8 + 0.2 * len(methods)),
                                squeeze=False, sharey=True)
        for ax, g in zip(axs[0], groups):
            for i, m in enumerate(methods):
                p = g["pgr"].get(m)
                if not p or not p["per_seed"]:
                    continue
                ys = list(p["per_seed"].values())
                jitter = [i - 0.1 + 0.07 * ((j % 5) - 2) for j in range(len(ys))]  # above the CI, inside the row
                cut = [axes.clip(v, lim) for v in ys]
                ax.scatter([c[0] for c in cut if not c[1]], [y for y, c in zip(jitter, cut) if not c[1]], s=7,
                           alpha=0.6, color=_color(g["setting"]), linewidths=0)
                for side in (-1, 1):  # seeds beyond the axes: an arrowhead at the edge and how many
                    n = sum(c[1] == side for c in cut)
                    if n:
                        edge = lim[0] if side < 0 else lim[1]
                        ax.plot(edge, i - 0.1, marker="<" if side < 0 else ">", ms=4, clip_on=False,
                                color=_color(g["setting"]))
                        ax.annotate(str(n), (edge, i - 0.1), xytext=(5 * -side, -2), textcoords="offset points",
                                    fontsize=5.5, ha="left" if side < 0 else "right")
                if p["estimate"] is not None:
                    _bar(ax, i + 0.22, p["ci"], lim, True, "black")
                    x, cut_est = axes.clip(p["estimate"], lim)
                    ax.plot(x, i + 0.22, marker="|", ms=6, color="black", clip_on=not cut_est)
                    if cut_est:  # the estimate itself is off the axes: its numbers instead
                        ax.annotate(f"{p['estimate']:+.2f} {fmt_ci(p['ci'])}", (x, i + 0.22), fontsize=5.5,
                                    xytext=(-8 * cut_est, -2), textcoords="offset points",
                                    ha="left" if cut_est < 0 else "right")
            ax.set_xlim(lim)
            ax.axvline(0, color="grey", lw=0.8)
            ax.set_title(f"{g['setting']} / {g['dataset']}", fontsize=8)
            ax.set_xlabel("PGR")
        axs[0][0].set_yticks(range(len(methods)), methods, fontsize=6.5)
        axs[0][0].invert_yaxis()
        fig.suptitle("PGR per seed (dots), estimate and CI (black); arrowheads: beyond the axes", fontsize=8)
    return save_figure(fig, out, "strip_pgr_per_seed")


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
    return save_figure(fig, out, "winners_curse")
