"""The scale ladder's forecast: a method's ΔPGR against log(parameters) over strong models of increasing size (the
rungs), extrapolated to the production size, before production runs (docs/ladder.md).

Per method, the rungs' per-seed ΔPGR (vs the baseline, each rung's own pooled gap as denominator, as
analysis/estimates.py) form a seed x rung table. The seeds are repeated measures: seed s draws the same split and
trains the same weak teacher on every rung, so its values are correlated across rungs. The model is

    y[s, r] = b0 + b1 * (x_r - mean x) + v_r + u_s + e[s, r],      x_r = log(params of rung r)

u_s ~ N(0, su2) a random intercept per seed, e ~ N(0, se2), and v_r ~ N(0, tau2) the rung's deviation from the line
(lack of fit: how far a real ladder bends away from a straight line in log size). On the balanced table (seeds
present on every rung) its moment estimates are closed form: se2 from the seed x rung interaction, su2 from the seed
means (statsmodels' MixedLM with a random intercept per seed gives the same slope and, when tau2 = 0, the same
variance components: tests/analysis/test_ladder.py), and tau2 from the rung means' scatter about the line beyond
what se2 explains (R - 2 degrees of freedom; truncated at 0). MixedLM itself is not used for the fit: with 3 rungs
its REML search for a rung component lands on the boundary or fails to converge, while the moment estimates are
exact for this layout.

The forecast of the production mean ΔPGR at the planned n_p production seeds mixes two members by their Akaike
weights on the rung means: the line, and a bend (a quadratic in log size). Each member's prediction variance adds
its own uncertainty (the rung means' variance tau2 + se2 / n times the leverage at x_p, plus su2 / n from the seeds
all rungs share), one more rung deviation tau2, and a new sample's (su2 + se2) / n_p; each variance is drawn as a
generalized pivotal quantity (every mean square ms with df degrees of freedom as ms df / chi2(df)) and the interval
is the mixture's quantiles. The verdict forecast draws the true
production effect from the same mixture (without the new sample's noise) and, per draw, takes the probability that
the transfer verdict's tests reach each verdict over production samples (analysis.power's computation) against the
lab's observed confirmation effect: the probability of each verdict at n_p seeds. `benchmarks/ladder_check.py`
measures both on planted truth (docs/ladder.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis import power as pw
from analysis.rules import NOT_TESTED, TRANSFER_VERDICTS
from analysis.verdicts import Margins

DRAWS = 4000  # predictive draws of the production effect (each one's verdict rates computed, not simulated)
PI_DRAWS = 40000  # draws of the interval's law: the MC error of its 2.5% quantile is < 2% of its width even on 1 df


@dataclass(frozen=True)
class Fit:
    """The ladder model fitted to one seed x rung table."""
    x: tuple            # log(params) per rung
    n: int              # seeds (present on every rung)
    means: tuple        # rung means
    b0: float           # the line at mean x
    b1: float           # slope per unit of log(params)
    se2: float          # within-seed, within-rung variance (seed x rung interaction)
    su2: float          # seed random-intercept variance
    tau2: float         # rung deviation from the line (lack of fit)
    m_line: float       # RSS of the rung means about the line / (R - 2): estimates tau2 + se2 / n
    m_seed: float       # mean square of the seed means: estimates R su2 + se2
    df_e: int
    df_seed: int
    df_line: int

    @property
    def xbar(self) -> float:
        return float(np.mean(self.x))

    @property
    def sxx(self) -> float:
        return float(np.sum((np.asarray(self.x) - self.xbar) ** 2))


def fit(y: np.ndarray, x) -> Fit:
    """y: seeds x rungs (no NaN), x: log(params) per rung (at least 3, distinct)."""
    y, x = np.asarray(y, float), np.asarray(x, float)
    n, r = y.shape
    if r < 3 or n < 2 or len(x) != r:
        raise ValueError(f"a ladder fit needs >= 3 rungs and >= 2 seeds on every rung; got {r} rungs, {n} seeds")
    rung, seed, grand = y.mean(0), y.mean(1), y.mean()
    resid = y - rung[None, :] - seed[:, None] + grand
    df_e, df_seed, df_line = (n - 1) * (r - 1), n - 1, r - 2
    se2 = float((resid ** 2).sum() / df_e)
    m_seed = float(r * ((seed - grand) ** 2).sum() / df_seed)
    xc = x - x.mean()
    b1 = float((xc * rung).sum() / (xc ** 2).sum())
    b0 = float(rung.mean())
    m_line = float(((rung - b0 - b1 * xc) ** 2).sum() / df_line)
    return Fit(tuple(x), n, tuple(float(v) for v in rung), b0, b1, se2, max(0.0, (m_seed - se2) / r),
               max(0.0, m_line - se2 / n), m_line, m_seed, df_e, df_seed, df_line)


def _component(f: Fit, x_p: float, n_p: int, degree: int, truncate: bool = True) -> dict:
    """One member of the forecast: a polynomial of `degree` in log(params) through the rung means (1: the line,
    2: a bend), its prediction at x_p, and the variances of the observed production mean and of the true effect,
    each a linear combination of the estimated mean squares: `terms` [coefficient, mean square, df] for _draws."""
    x, r = np.asarray(f.x), len(f.x)
    p = degree + 1
    X = np.vander(x - f.xbar, p, increasing=True)
    xtx = np.linalg.inv(X.T @ X)
    b = xtx @ X.T @ np.asarray(f.means)
    v = np.vander(np.array([x_p - f.xbar]), p, increasing=True)[0]
    lev = float(v @ xtx @ v)
    rss = float(((np.asarray(f.means) - X @ b) ** 2).sum())
    ms = {"e": (f.se2, f.df_e), "seed": (f.m_seed, f.df_seed)}
    c = {"e": 0.0, "seed": 0.0}
    tau2 = 0.0
    if r > p:  # a rung deviation beyond the seeds' noise, from the scatter about this member's curve
        ms["line"] = (rss / (r - p), r - p)
        tau2 = max(0.0, rss / (r - p) - f.se2 / f.n)
    if not truncate and "line" in ms:  # classical OLS on the rung means: a new rung's offset ~ the scatter itself
        c["line"] = lev + 1            # (conservative by se2 / n; every coefficient >= 0)
    elif tau2 > 0:  # the rung means' variance tau2 + se2/n is the scatter itself; one more rung adds tau2
        c["line"] = lev + 1
        c["e"] -= 1 / f.n
    else:         # no deviation beyond the seeds' noise: the rung means' variance is se2 / n
        c["e"] += lev / f.n
    if (f.m_seed - f.se2) / r > 0:  # su2 = (m_seed - se2) / r: in every rung mean (shared seeds) ...
        c["seed"] += 1 / (f.n * r)
        c["e"] -= 1 / (f.n * r)
    true = dict(c)
    obs = dict(c)
    obs["e"] += 1 / n_p  # ... and a new production sample's (su2 + se2) / n_p
    if (f.m_seed - f.se2) / r > 0:
        obs["seed"] += 1 / (r * n_p)
        obs["e"] -= 1 / (r * n_p)

    def combine(coef: dict) -> tuple[float, list]:
        var = sum(coef[k] * ms[k][0] for k in coef)
        return max(var, 1e-12), [[float(coef[k]), float(ms[k][0]), int(ms[k][1])] for k in coef if coef[k]]

    var, terms = combine(obs)
    var_true, terms_true = combine(true)
    return {"degree": degree, "mean": float(b @ v), "var": var, "true_var": var_true, "terms": terms,
            "true_terms": terms_true, "rss": rss, "slope": float(b[1]), "tau2": tau2}


SHAPES = ("auto", "line")


def bend_weight(pred: dict) -> float:
    """The forecast's weight on the bend (0 for a ladder forecast with the line alone)."""
    return float(sum(c["weight"] for c in pred["components"] if c["degree"] == 2))


def predict(f: Fit, x_p: float, n_p: int, alpha: float = 0.05, shape: str = "auto") -> dict:
    """The production mean ΔPGR at log size x_p over n_p new seeds: point, (1 - alpha) prediction interval, and the
    predictive law of the true production effect that the verdict forecast draws from.

    The forecast is a mixture of the line and a bend (a quadratic in log size), weighted by Akaike weights of their
    fits to the rung means (known noise se2 / n): a ladder whose rungs bend moves weight to the bend, whose
    extrapolation is wider. A line alone under-covered bent ladders (saturating: 0.80-0.88; docs/ladder.md).
    With 3 rungs the bend interpolates the rung means exactly: its own tau2 is not estimable (0).

    shape="line": the line alone, its rung offsets taken from the rungs' scatter about it without truncation
    (classical OLS on the rung means): for a ladder whose rungs differ in more than size (architectures,
    tokenizers), where a rung's own offset is expected and three rungs cannot tell it from a curve
    (conf/ladder/<name>.yaml `shape:`).

    The interval is the quantiles of the mixture's law (`_draws`). Each member's law: for shape="auto", a t on
    Satterthwaite's df; for shape="line", generalized pivotal draws of its mean squares. With 3 rungs the line's
    scatter has 1 df and dominates a 7 B forecast's variance, and when it comes out small by chance Satterthwaite's
    df grows and the interval shrinks where the rung offsets are least known (planted ladders with offsets of sd
    0.15: coverage 0.88-0.90; the t on 1 df 0.98-0.99; the pivotal draws 0.94-0.96). For the auto mixture the two
    laws measured alike on bent ladders, the pivotal one wider on straight ones (4 rungs: 0.975 vs 0.968,
    2,000 ladders), so it keeps Satterthwaite's (docs/ladder.md)."""
    if shape not in SHAPES:
        raise ValueError(f"shape {shape!r}: one of {SHAPES}")
    comps = ([_component(f, x_p, n_p, 1), _component(f, x_p, n_p, 2)] if shape == "auto"
             else [_component(f, x_p, n_p, 1, truncate=False)])
    noise = max(f.se2 / f.n, 1e-12)
    aic = [c["rss"] / noise + 2 * (c["degree"] + 1) for c in comps]
    w = np.exp(-(np.asarray(aic) - min(aic)) / 2)
    w = w / w.sum()
    law = "pivotal" if shape == "line" else "t"
    members = [{k: c[k] for k in ("degree", "mean", "var", "true_var", "terms", "true_terms", "tau2")}
               | {"weight": float(wi), "law": law} for wi, c in zip(w, comps)]
    # a fixed stream: the same cells give the same interval (the forecast is hashed into the replay plan)
    lo, hi = np.quantile(_draws(members, "terms", PI_DRAWS, np.random.default_rng(0)), [alpha / 2, 1 - alpha / 2])
    mean = float(sum(wi * c["mean"] for wi, c in zip(w, comps)))
    return {"mean": mean, "pi": (float(lo), float(hi)), "n_prod": int(n_p), "prod_sd": math.sqrt(f.su2 + f.se2),
            "components": members}


def _draws(members: list[dict], terms: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws from the forecast's mixture: a member by its weight, then its law. A member's variance is a linear
    combination sum_k c_k ms_k of mean squares (`terms`: 'terms' for the observed production mean, 'true_terms'
    for the true effect, without a new sample's noise), and its law is one of
    - 'pivotal': mean + sqrt(V) z, V a generalized pivotal quantity (Weerahandi 1993): each true variance drawn as
      ms_k df_k / chi2(df_k), so a mean square on 1 df carries its own uncertainty whatever the well-known ones
      (seeds, noise) weigh;
    - 't': mean + sqrt(sum c_k ms_k) t, on Satterthwaite's df for that sum.
    A member without terms (a fixed law, as benchmarks/ladder_check.py's reference) draws N(mean, var)."""
    pick = rng.choice(len(members), size=n, p=np.asarray([c["weight"] for c in members]))
    out = np.empty(n)
    for i, c in enumerate(members):
        k = pick == i
        m = int(k.sum())
        if not m:
            continue
        if terms not in c:
            out[k] = c["mean"] + math.sqrt(c["true_var" if terms == "true_terms" else "var"]) * rng.standard_normal(m)
        elif c["law"] == "pivotal":
            v = np.zeros(m)
            for coef, ms, df in c[terms]:
                v += coef * ms * df / rng.chisquare(df, m)
            out[k] = c["mean"] + np.sqrt(np.maximum(v, 1e-12)) * rng.standard_normal(m)
        else:
            var = max(sum(coef * ms for coef, ms, _ in c[terms]), 1e-12)
            den = sum((coef * ms) ** 2 / df for coef, ms, df in c[terms])
            df = min(var ** 2 / den, 1e6) if den > 0 else 1e6
            out[k] = c["mean"] + math.sqrt(var) * rng.standard_t(df, m)
    return out


def draw_effects(pred: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of the true production effect from the forecast's predictive law (the mixture, without the new
    sample's noise)."""
    return _draws(pred["components"], "true_terms", n, rng)


def verdict_probabilities(pred: dict, lab: dict | None, margins: Margins, k: int = 1, rng_seed: int = 0,
                          draws: int = DRAWS) -> dict:
    """P(each transfer verdict) at pred['n_prod'] production seeds: the true production ΔPGR drawn from the
    forecast's predictive law (t, `true_df`), the verdict's probability over production samples of that many seeds
    computed at each draw (per-seed SD `prod_sd`; analysis.power.rates_at_effects), the lab's confirmation sample
    as observed (lab: {'mean', 'sd', 'n'}), the tests at alpha/2/k as analysis.power runs them. Without an
    established lab gain no transfer test runs: NOT_TESTED, with probability 1."""
    if not lab or lab.get("verdict", "lab gain established") != "lab gain established":
        return {v: 0.0 for v in TRANSFER_VERDICTS} | {
            NOT_TESTED: 1.0, "note": f"no lab gain to transfer: '{NOT_TESTED}' whatever production shows"}
    if not all(np.isfinite([lab["mean"], lab["sd"], pred["mean"], pred["prod_sd"]])) or lab["n"] < 2:
        return {v: float("nan") for v in TRANSFER_VERDICTS}
    rng = np.random.default_rng([rng_seed, pred["n_prod"], int(lab["n"])])
    delta = draw_effects(pred, draws, rng)
    return pw.rates_at_effects(delta, max(pred["prod_sd"], 1e-9), pred["n_prod"], lab["mean"], lab["sd"],
                               int(lab["n"]), margins, k)


def seed_table(cells: pd.DataFrame, rungs: dict[str, float], method: str, baseline: str,
               value: str = "delta") -> pd.DataFrame:
    """Seeds x rungs (in `rungs` order: setting -> params) of one quantity: 'delta' (ΔPGR of `method` vs `baseline`,
    each rung's pooled gap as denominator), 'pgr', 'gap', 'weak_acc', 'ceiling_acc' or 'w2s_acc'. Only seeds
    present on every rung (the balanced table the fit needs)."""
    cols = {}
    for setting in rungs:
        c = cells[cells.setting == setting]
        base = c.drop_duplicates("seed").set_index("seed")
        W, C = base["weak_acc"].mean(), base["ceiling_acc"].mean()
        own = c[c.method == method].set_index("seed")["w2s_acc"]
        if value == "delta":
            ref = c[c.method == baseline].set_index("seed")["w2s_acc"]
            cols[setting] = (own - ref) / (C - W)
        elif value == "pgr":
            cols[setting] = (own - W) / (C - W)
        elif value == "gap":
            cols[setting] = base["ceiling_acc"] - base["weak_acc"]
        else:
            cols[setting] = own if value == "w2s_acc" else base[value]
    return pd.DataFrame(cols).dropna()


def forecast(cells: pd.DataFrame, rungs: dict[str, float], production: float, n_prod: int, cfg: dict,
             labs: dict[str, dict] | None = None, k: int | None = None, shape: str = "auto") -> dict:
    """Every method's forecast (ΔPGR, and the gap, weak and ceiling accuracies) at `production` params, n_prod
    seeds. rungs: setting -> params (increasing); labs: method -> the lab's {'verdict', 'mean', 'sd', 'n'} (its
    confirmation-seed effect and all-seed SD); k: the verdict family's size (default: the methods with a lab
    gain). JSON-able."""
    margins, bl, alpha = Margins.from_config(cfg), cfg["baseline_method"], cfg["alpha"]
    x = {s: math.log(p) for s, p in rungs.items()}
    x_p = math.log(production)
    labs = labs or {}
    methods = sorted(set(cells[cells.setting.isin(list(rungs))].method) - {bl})
    k = k or max(1, sum(1 for m in methods if (labs.get(m) or {}).get("verdict") == "lab gain established"))
    out = {"rungs": [{"setting": s, "params_m": p, "log_params": x[s]} for s, p in rungs.items()],
           "production": {"params_m": production, "log_params": x_p, "seeds": n_prod}, "alpha": alpha,
           "model": "per-seed value ~ line in log(params) + rung deviation (tau2) + seed intercept (su2) + noise "
                    "(se2); moment estimates on the balanced seed x rung table; prediction interval from generalized "
                    "pivotal draws of the mean squares; " + ("the line mixed with a bend (quadratic in log size) by Akaike weights"
                                            if shape == "auto" else "the line alone (shape: line)"),
           "shape": shape, "methods": {}, "roles": {}}
    for role in ("gap", "weak_acc", "ceiling_acc"):
        out["roles"][role] = _one(seed_table(cells, rungs, bl, bl, role), x, x_p, n_prod, alpha, shape)
    out["notes"] = []
    for s, g in out["roles"]["gap"]["per_rung"].items():
        half = stats.t.ppf(1 - alpha / 2, max(g["n"] - 1, 1)) * g["se"]
        if not (np.isfinite(half) and g["mean"] - half > 0):
            out["notes"].append(f"rung {s}: the gap's {1 - alpha:.0%} CI includes 0 ({g['mean']:+.3f} ± {half:.3f}): "
                                f"its ΔPGR divides by a gap indistinguishable from 0 (the report would call PGR "
                                f"undefined there); read its rung mean with care")
    for m in methods:
        entry = {"delta": _one(seed_table(cells, rungs, m, bl, "delta"), x, x_p, n_prod, alpha, shape),
                 "pgr": _one(seed_table(cells, rungs, m, bl, "pgr"), x, x_p, n_prod, alpha, shape)}
        d = entry["delta"]
        if "predict" in d:
            entry["verdicts"] = verdict_probabilities(d["predict"], labs.get(m), margins, k, cfg["rng_seed"])
            entry["verdicts_if_lab_gain"] = verdict_probabilities(
                d["predict"], {**(labs.get(m) or {}), "verdict": "lab gain established"}, margins, k,
                cfg["rng_seed"]) if labs.get(m) else None
        entry["lab"] = labs.get(m)
        out["methods"][m] = entry
        bend = bend_weight(d["predict"]) if d.get("predict") else 0.0
        span, reach = max(x.values()) - min(x.values()), x_p - max(x.values())
        if bend > 0.5 and reach > span:
            out["notes"].append(
                f"{m}: the forecast rests on a bend through the rungs (weight {bend:.2f}) carried {reach / span:.1f} "
                f"times the ladder's span beyond its last rung; the line alone says "
                f"{d['predict']['components'][0]['mean']:+.3f}. A bent rung (another architecture, a smaller gap) "
                f"and a real curve look alike on {len(x)} rungs: read the interval, not the point")
    return out


def _one(table: pd.DataFrame, x: dict, x_p: float, n_prod: int, alpha: float, shape: str = "auto") -> dict:
    per_rung = {s: {"mean": float(table[s].mean()) if len(table) else float("nan"),
                    "se": float(table[s].std(ddof=1) / math.sqrt(len(table))) if len(table) > 1 else float("nan"),
                    "n": int(len(table))} for s in table.columns}
    if len(table) < 2 or len(table.columns) < 3:
        return {"per_rung": per_rung, "note": f"{len(table)} seeds on every rung: no fit (needs >= 2)"}
    f = fit(table.to_numpy(), [x[s] for s in table.columns])
    return {"per_rung": per_rung, "fit": {k: v for k, v in asdict(f).items() if k not in ("x", "means")},
            "predict": predict(f, x_p, n_prod, alpha, shape)}
