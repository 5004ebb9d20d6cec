"""The ladder study's report: ladder.md, ladder.json and figures/ladder.png|pdf (ΔPGR against log size per method,
the rungs' means with their intervals, the forecast's line and its prediction interval fanning out to production),
also logged to the study's parent run. Reads only analysis.ladder's result (a JSON-able dict)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from analysis.figures import save_figure
from analysis.ladder import Fit, bend_weight, predict
from analysis.report import _md_table, jsonable
from analysis.rules import NOT_TESTED, TRANSFER_VERDICTS
from transfer import store


def _num(x, fmt="+.3f") -> str:
    return "—" if x is None or not np.isfinite(x) else format(x, fmt)


def _pi(p: dict | None) -> str:
    return "—" if not p else f"[{p['pi'][0]:+.3f}, {p['pi'][1]:+.3f}]"


def answer(res: dict) -> list[str]:
    """The forecast in a few lines, before the tables: per method, where the interval sits relative to 0 and how
    wide it is, and the most likely verdict (what a researcher deciding on a production run reads first)."""
    prod = res["production"]
    lines = []
    for m, e in res["methods"].items():
        p = e["delta"].get("predict")
        if not p:
            lines.append(f"- **{m}**: no forecast ({e['delta'].get('note', 'no fit')})")
            continue
        lo, hi = p["pi"]
        where = ("a gain at production: the whole interval is above 0" if lo > 0 else
                 "a loss at production: the whole interval is below 0" if hi < 0 else
                 "no direction: the interval holds both a gain and a loss")
        probs = e.get("verdicts") or {}
        likely = max(probs, key=lambda v: probs[v] if isinstance(probs[v], float) and np.isfinite(probs[v]) else -1,
                     default=None) if probs else None
        verdict = (f"; most likely verdict {likely} ({probs[likely]:.2f})" if likely and likely != "note" else "")
        if hi - lo > 1:  # wider than the distance from no recovery to full recovery
            where += "; wider than the whole PGR scale (0 to 1): the ladder does not forecast this method"
        lines.append(f"- **{m}**: ΔPGR {p['mean']:+.3f} {_pi(p)}, {hi - lo:.2f} PGR wide: {where}{verdict}")
    return ["## In short", "", f"The ladder's forecast at {prod['params_m']:g} M ({res.get('production_model')}), "
            f"{prod['seeds']} production seeds, 95% prediction intervals:", "", *lines, ""]


def markdown(res: dict, figs: list[str]) -> str:
    rungs, prod = res["rungs"], res["production"]
    names = [r["setting"] for r in rungs]
    head = ["method", *[f"{r['setting'].removeprefix('rung_')} ({r['params_m']:g} M)" for r in rungs],
            f"forecast at {prod['params_m']:g} M, {prod['seeds']} seeds [95% PI]", "weight on the bend",
            "the line alone",
            "P(survives / attenuated / vanishes / inconclusive)", "if the lab gain were established"]
    rows = []
    for m, e in res["methods"].items():
        d, p = e["delta"], e["delta"].get("predict")
        cells = [f"{_num(d['per_rung'][s]['mean'])} ± {_num(d['per_rung'][s]['se'], '.3f')}" if s in d["per_rung"]
                 else "—" for s in names]
        probs = e.get("verdicts") or {}
        alt = e.get("verdicts_if_lab_gain") or {}
        rows.append([m, *cells, f"{_num(p['mean']) if p else '—'} {_pi(p)}",
                     f"{bend_weight(p):.2f}" if p else "—",
                     _num(p["components"][0]["mean"]) if p else "—",
                     NOT_TESTED if probs.get(NOT_TESTED) == 1.0 else
                     " / ".join(_num(probs.get(v), ".2f") for v in TRANSFER_VERDICTS) if probs else "—",
                     " / ".join(_num(alt.get(v), ".2f") for v in TRANSFER_VERDICTS) if alt else "—"])
    roles = [[role, *[f"{_num(r['per_rung'][s]['mean'], '.3f')}" for s in names],
              _num(r["predict"]["components"][0]["mean"], ".3f") if r.get("predict") else "—"]
             for role, r in res["roles"].items()]
    lab = [f"- **{m}**: {e['lab']['verdict']} in the lab, confirmation-seed ΔPGR {_num(e['lab']['mean'])} "
           f"(SD {_num(e['lab']['sd'], '.3f')}, {e['lab']['n']} seeds)" for m, e in res["methods"].items() if e.get("lab")]
    out = [f"# Scale ladder `{res['ladder']}`: study {res['study']} (lab {res['lab_study']} / {res['lab_dataset']})",
           "", f"Forecast of each method's production ΔPGR (vs {res.get('baseline', 'vanilla')}) at "
           f"{prod['params_m']:g} M parameters ({res.get('production_model')}), {prod['seeds']} production seeds, "
           f"from {len(rungs)} rungs, before production runs. Model: {res['model']} (analysis/ladder.py). "
           f"Calibration on planted ladders: `make ladder-check` (docs/ladder.md).", "",
           f"Data: every rung and the lab on `{res['lab_dataset']}` with the cells' overrides "
           f"{', '.join(f'`{o}`' for o in res.get('overrides', [])) or '(none)'} (a fixed subsample where "
           f"`setting.data.max_pairs` is set).", "", *answer(res),
           "## ΔPGR per rung (mean ± SE over seeds) and the forecast", "", _md_table(head, rows), "",
           "Verdict probabilities: the true production ΔPGR drawn from the forecast, a production sample of the "
           "planned seeds per draw, the transfer rules' tests against the lab's confirmation-seed effect. A method "
           f"without an established lab gain gets no transfer test by rule ('{NOT_TESTED}'); the last column "
           "says what the forecast would give if it had one.", "", *lab, "",
           "## Weak teacher, ceiling and gap per rung", "",
           _md_table(["quantity", *[r["setting"] for r in rungs], f"the line at {prod['params_m']:g} M"], roles), "",
           "Accuracies are bounded, the line is not: its value at production says where the trend points, not an "
           "accuracy to expect.", ""]
    if res.get("wall_s") is not None:
        out += [f"Wall time of the ladder job (selection, every rung's cells, forecast, report): {res['wall_s']:.0f} s.", ""]
    for f in figs:
        if f.endswith(".png"):
            out += [f"![{f}](figures/{f})", ""]
    if res.get("notes"):
        out += ["## Notes", "", *[f"- {n}" for n in res["notes"]], ""]
    return "\n".join(out)


def figure(res: dict, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = {m: e for m, e in res["methods"].items() if e["delta"].get("predict")}
    if not methods:
        return []
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    xs = np.array([r["log_params"] for r in res["rungs"]])
    x_p = res["production"]["log_params"]
    grid = np.linspace(xs[0], x_p, 60)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    for i, (m, e) in enumerate(methods.items()):
        c = colors[i % len(colors)]
        d = e["delta"]
        means = [d["per_rung"][r["setting"]]["mean"] for r in res["rungs"]]
        ses = [d["per_rung"][r["setting"]]["se"] for r in res["rungs"]]
        ax.errorbar(xs, means, yerr=1.96 * np.asarray(ses), fmt="o", color=c, capsize=3, label=m)
        f = Fit(tuple(xs), **{k: d["fit"][k] for k in ("n", "b0", "b1", "se2", "su2", "tau2", "m_line", "m_seed",
                                                       "df_e", "df_seed", "df_line")}, means=tuple(means))
        preds = [predict(f, g, res["production"]["seeds"], res["alpha"], res.get("shape", "auto")) for g in grid]
        ax.plot(grid, [p["mean"] for p in preds], color=c, lw=1)
        ax.plot(grid, [p["components"][0]["mean"] for p in preds], color=c, lw=0.8, ls="--")  # the line alone
        ax.fill_between(grid, [p["pi"][0] for p in preds], [p["pi"][1] for p in preds], color=c, alpha=0.12)
        p = d["predict"]
        ax.errorbar([x_p], [p["mean"]], yerr=[[p["mean"] - p["pi"][0]], [p["pi"][1] - p["mean"]]], fmt="D",
                    color=c, capsize=4)
    ticks = list(xs) + [x_p]
    ax.set_xticks(ticks, [f"{math.exp(t):.0f} M" for t in ticks])
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(x_p, color="k", lw=0.5, ls=":")
    ax.set_xlabel("strong model parameters (log scale); last tick = production")
    ax.set_ylabel(f"ΔPGR vs baseline (95% PI at {res['production']['seeds']} seeds)")
    bend = " (solid; dashed: the line alone)" if res.get("shape", "auto") == "auto" else " (the line)"
    ax.set_title(f"Ladder {res['ladder']}: rung means ± 95% CI, the forecast{bend}\nand its 95% prediction interval "
                 f"at {res['production']['seeds']} production seeds", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save_figure(fig, folder, "ladder")


def outcome_figure(section: dict, rows: list[dict], folder: Path) -> list[str]:
    """The replay report's figure: per method, the ladder's rung means, its forecast at production with the
    prediction interval (fixed in the plan), and what production showed (a star). ladder_outcome.png|pdf."""
    methods = [r for r in rows if "method" in r and r["observed"] is not None and np.isfinite(r["observed"])]
    if not methods:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    xs = [math.log(r["params_m"]) for r in section["rungs"]]
    x_p = math.log(section["production"]["params_m"])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(methods):
        c, f = colors[i % len(colors)], section["methods"][r["method"]]
        shift = (i - (len(methods) - 1) / 2) * 0.03  # side by side at production
        ax.plot(xs, [f["per_rung"].get(rung["name"], np.nan) for rung in section["rungs"]], "o-", color=c, lw=0.8,
                label=r["method"])
        ax.errorbar([x_p + shift], [r["forecast"]], yerr=[[r["forecast"] - r["pi"][0]], [r["pi"][1] - r["forecast"]]],
                    fmt="D", color=c, capsize=4, mfc="white")
        ax.plot([x_p + shift], [r["observed"]], "*", color=c, ms=13, mec="k", mew=0.5)
    ticks = xs + [x_p]
    ax.set_xticks(ticks, [f"{math.exp(t):.0f} M" for t in ticks])
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(f"strong model parameters (log scale); last tick = production ({section['production']['model']})")
    ax.set_ylabel("ΔPGR vs baseline")
    ax.set_title(f"Ladder {section['ladder']}: rung means (dots), the forecast and its 95% prediction interval "
                 f"(open diamond),\nfixed in the plan before production ran, and what production showed (star)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save_figure(fig, folder, "ladder_outcome")


def write(res: dict, dest: Path, tracking_uri: str | None = None, log: bool = True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    figs = figure(res, dest / "figures")
    (dest / "ladder.md").write_text(markdown(res, figs))
    (dest / "ladder.json").write_text(json.dumps(jsonable(res), indent=1, allow_nan=False))
    if log and tracking_uri:
        c = store.client(tracking_uri)
        exp = store.find_experiment(c, res["study"])
        parent = store.parent_run(c, exp.experiment_id)
        if parent is not None:
            store.annotate(c, parent.info.run_id, {"analysis.ladder": ", ".join(
                f"{m}={e['delta']['predict']['mean']:+.3f}" for m, e in res["methods"].items()
                if e["delta"].get("predict"))}, None,
                [dest / "ladder.md", dest / "ladder.json", *[dest / "figures" / f for f in figs]], "ladder")
    return dest
