"""Power of the tests that decide the verdicts, at the level they are run at (one-sided alpha/2, Bonferroni over the
family: never above Holm's), and the seeds each needs.

Lab tests are one-sample t-tests, so their power is the noncentral t's (exact under normal per-seed ΔPGR). The
production verdict combines four tests that share the production sample (gain, futility, keep-share, drop), so its
power is the probability that the rules of `rules.classify` return the verdict over the laws of a lab
confirmation sample and a production sample (means normal, variances chi-square) of the study's sizes: the
probability that a design of this many seeds reaches the verdict if the effects are the ones assumed. (Holding the
observed lab sample fixed instead answers another question, and under-predicted the rates of benchmarks/verdicts.py
by 13 points.) It is computed, not simulated (production_rates): a Monte Carlo rate seeded by the design gave every
report of a design the same error (SD 0.02; with rng_seed 0, +0.014 on 'survives' and +0.019 on 'attenuated'
averaged over verdict-check's studies at 10 + 10 seeds, which its calibration inherited: issue 24). The SDs it plans
with are themselves estimates (production: from its own n seeds): taken as known, they over-predict, so the
plug-in's bias is removed by an iterated parametric bootstrap of the SD estimates (production_rates).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special, stats

from analysis.rules import TRANSFER_VERDICTS

N_MAX = 400       # seeds beyond this are reported as "out of reach"


def t_power(effect: float, sd: float, n: int, level: float) -> float:
    """Power of a one-sided one-sample t-test at `level` when the true mean exceeds the null by `effect` in the
    direction of the alternative (effect <= 0 gives power <= level)."""
    if n < 2 or not (np.isfinite(effect) and np.isfinite(sd)) or sd <= 0:
        return float("nan")
    crit = stats.t.ppf(1 - level, n - 1)
    return float(stats.nct.sf(crit, n - 1, effect / (sd / math.sqrt(n))))


def debiased(f, x: float, se: float) -> float:
    """f(true x) from a noisy estimate x of SE se, to second order: E f(x) = f(x0) + f''(x0) se^2 / 2, so
    f(x0) ~ 2 f(x) - (f(x + se) + f(x - se)) / 2. Power is steep in the effect: plugging in an estimate as if it
    were the truth under-predicted high powers by up to 15 points (benchmarks/verdicts.py); this takes off the part
    due to the effect's noise (the lab's all-seed SD, in verdicts.py, the part due to the SD's)."""
    fx = f(x)
    if not (np.isfinite(se) and se > 0 and np.isfinite(fx)):
        return fx
    return float(np.clip(2 * fx - (f(x + se) + f(x - se)) / 2, 0.0, 1.0))


def seeds_for(power_at, target: float, n_min: int = 2, n_max: int = N_MAX) -> int | None:
    """Smallest n in [n_min, n_max] with power_at(n) >= target (power rises with n), else None."""
    if not power_at(n_max) >= target:
        return None
    lo, hi = n_min, n_max
    while lo < hi:
        mid = (lo + hi) // 2
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


_LOG_DF = np.linspace(0, np.log(1e5), 4000)


@functools.lru_cache(maxsize=64)
def _t_grid(level: float) -> np.ndarray:
    return stats.t.ppf(1 - level, np.exp(_LOG_DF))


def _t_crit(level: float, df: np.ndarray) -> np.ndarray:
    """t quantiles at many (Welch, fractional) df >= 1: interpolated in log df on a cached grid; within 3e-3 of
    scipy's ppf down to level 0.0025 (worst at df near 1), 7x faster than ppf on 4,000 draws."""
    return np.interp(np.log(df), _LOG_DF, _t_grid(level))


def lab_seeds_needed(sd: float, effect: float, margins, k: int) -> dict:
    """Lab seeds in all (half of them decide) for `margins.power` to establish a true gain of `effect`, and to show
    "no lab gain >= SESOI" when the truth is no gain, at the lab tests' level (alpha/2 / k)."""
    level = margins.level / k
    n_disc = seeds_for(lambda n: t_power(effect, sd, n, level), margins.power) if effect > 0 else None
    return {"gain": 2 * n_disc if n_disc else None,
            "no_gain": seeds_for(lambda n: t_power(margins.sesoi, sd, n, level), margins.power)}


QUAD, QUAD_SD = 8, 6  # quadrature nodes per sample variance / per re-estimated SD: rates within 0.002 of 40 x 40
                      # nodes' (n, n_lab 2-400) and of 10^6 Monte Carlo draws (tests/analysis/test_power_sd.py)


@functools.lru_cache(maxsize=1024)
def _chi2_nodes(df: float, k: int = QUAD) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) for E g(X), X = chi2(df) / df: Gauss-Legendre on the probability scale,
    X = F^-1(u). Exact law at any df (the rates are bounded smooth functions of X, flat in its tails)."""
    u, w = np.polynomial.legendre.leggauss(k)
    return stats.chi2.ppf((u + 1) / 2, df) / df, w / 2


def _sd_nodes(sd: float, df: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The true SDs to average over: sd itself (df None), or sd x sqrt(chi2(df) / df), the SDs a study would
    re-estimate `sd` as on df degrees of freedom."""
    if not df or not np.isfinite(df):
        return np.array([sd], float), np.ones(1)
    x, w = _chi2_nodes(float(df), QUAD_SD)
    return sd * np.sqrt(x), w


def _upper_orthant(h: np.ndarray, k: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """P(Z1 > h, Z2 > k) for standard normals of correlation rho in [0, 1] (vectorized), by Owen's T:
    Phi2(x, y; rho) = Phi(x) / 2 + Phi(y) / 2 - T(x, a_x) - T(y, a_y) - beta, with x = -h, y = -k."""
    x, y, rho = np.broadcast_arrays(-np.asarray(h, float), -np.asarray(k, float), np.asarray(rho, float))
    one = rho >= 1 - 1e-12
    r = np.where(one, 0.0, rho)
    s = np.sqrt(1 - r * r)
    x0 = np.where(np.abs(x) < 1e-10, 1e-10, x)  # Phi2 is continuous; the formula's terms are not at 0
    y0 = np.where(np.abs(y) < 1e-10, 1e-10, y)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ax, ay = (y0 - r * x0) / (x0 * s), (x0 - r * y0) / (y0 * s)
        out = (special.ndtr(x0) + special.ndtr(y0)) / 2 - special.owens_t(x0, ax) - special.owens_t(y0, ay) \
            - np.where(x0 * y0 < 0, 0.5, 0.0)
    out = np.where(one, special.ndtr(np.minimum(x, y)), out)
    return np.clip(out, 0.0, 1.0)


def production_rates(delta: float, sd: float, n: int, lab_mean: float, lab_sd: float, n_lab: int,
                     margins, k: int, rng_seed: int = 0, draw_lab: bool = False,
                     sd_df: int | None = None, lab_sd_df: int | None = None) -> dict:
    """Rates of each transfer verdict over production samples of n seeds with true mean ΔPGR `delta` and SD `sd`,
    given the lab confirmation sample (mean, SD, n) as observed — or, with draw_lab, drawn anew around them (a
    design that adds lab confirmation seeds too). Tests at level margins.level / k. Normal per-seed ΔPGR: a sample's
    mean and variance are independent (normal, chi-square), so given the two variances the verdict is a region of
    the (production mean, lab mean) plane bounded by the tests' lines, whose probability is a bivariate normal
    orthant's (_upper_orthant); the variances are integrated by quadrature (_chi2_nodes). No Monte Carlo: the
    printed power is a function of the study's numbers (it was the rate over 4,000 draws seeded by the design,
    whose error, SD 0.02, every report of that design shared: issue 24). rng_seed: unused, kept for callers.

    sd_df / lab_sd_df: the df `sd` / `lab_sd` were estimated on. Power is steep in 1 / SD, and an estimated SD is
    often low (E 1/s > 1/sigma), so the rates at the estimates over-predict; the bias is removed by the iterated
    parametric bootstrap: 3 f(s) - 3 E f(s*) + E f(s**), s* the SDs re-estimated from samples of their own size
    (s x sqrt(X), X ~ chi2(df) / df) and s** re-estimated again from s* (s x sqrt(X1 X2)), whose law is taken as one
    re-estimate on df / 2 (X1 X2 and chi2(df / 2) / (df / 2) have mean 1 and variance 4 / df + O(1 / df^2)); E by
    quadrature. Against the exact mean over the SDs a study observes (production SD on n - 1 df, lab SD on 19), the
    first-order correction 2 f(s) - E f(s*) left +0.003 to +0.014 at 10 + 10 seeds, this one -0.002 to +0.003
    (and at most 0.01 at 5 to 20 production seeds; tests/analysis/test_power_sd.py)."""
    if n < 2 or n_lab < 2 or not all(np.isfinite([delta, sd, lab_mean, lab_sd])) or sd <= 0 or lab_sd < 0:
        return {v: float("nan") for v in TRANSFER_VERDICTS}
    args = (delta, n, lab_mean, n_lab, margins, k, draw_lab)
    rates = _rates(_sd_nodes(sd, None), _sd_nodes(lab_sd, None), *args)
    if not (sd_df or lab_sd_df):
        return rates
    once = _rates(_sd_nodes(sd, sd_df), _sd_nodes(lab_sd, lab_sd_df), *args)
    twice = _rates(_sd_nodes(sd, sd_df and sd_df / 2), _sd_nodes(lab_sd, lab_sd_df and lab_sd_df / 2), *args)
    return {v: float(np.clip(3 * rates[v] - 3 * once[v] + twice[v], 0.0, 1.0)) for v in rates}


def rates_at_effects(deltas, sd: float, n: int, lab_mean: float, lab_sd: float, n_lab: int, margins, k: int,
                     draw_lab: bool = False) -> dict:
    """production_rates averaged over true production effects `deltas` (draws from a predictive law: the ladder's
    forecast), the SDs taken as given."""
    deltas = np.asarray(deltas, float)
    if n < 2 or n_lab < 2 or not (np.isfinite(deltas).all() and np.isfinite([sd, lab_mean, lab_sd]).all()) \
            or sd <= 0 or lab_sd < 0:
        return {v: float("nan") for v in TRANSFER_VERDICTS}
    return _rates(_sd_nodes(sd, None), _sd_nodes(lab_sd, None), deltas, n, lab_mean, n_lab, margins, k, draw_lab)


def _rates(sd_nodes, lab_nodes, delta: float, n: int, lab_mean: float, n_lab: int, margins, k: int,
           draw_lab: bool) -> dict:
    """production_rates with the true SDs given as (nodes, weights).

    Per node (true SDs sigma_p, sigma_l; the study's SEs se_p, se_l): the production mean X ~ N(delta, tau_p^2),
    tau_p = sigma_p / sqrt(n), the lab mean Y ~ N(lab_mean, tau_l^2) (tau_l = 0 without draw_lab), and with crit,
    c_keep, c_drop the tests' t quantiles (one-sample df n - 1, Welch df at each pair of variances), the rules of
    rules.classify read: vanishes: X < V = SESOI - crit se_p; gain and not vanish: X > L = max(crit se_p, V);
    keep: X - f Y > c = c_keep S_keep; drop: X - Y < -d = -c_drop S_drop. So survives = P(X > L, X - f Y > c) and
    attenuated = P(X > L, drop, not keep) = P(X > L) - O(L, -d, 1) + O(M, -d, 1) - O(M, c, f), O(a, b, r) =
    P(X > a, X - r Y > b), M = max(L, m*), m* = (c + f d) / (1 - f) the production mean above which keep and drop
    can both hold (0 < f < 1). `delta` may be an array of true effects: the rates are then averaged over them."""
    level, f = margins.level / k, margins.ratio_floor
    q, wq = _chi2_nodes(n - 1)
    sig_p, w_sp = sd_nodes
    tau_p = np.repeat(sig_p, len(q))[:, None] / math.sqrt(n)
    se_p = np.outer(sig_p, np.sqrt(q)).ravel()[:, None] / math.sqrt(n)
    w_p = np.outer(w_sp, wq).ravel()
    sig_l, w_sl = lab_nodes
    if draw_lab:
        ql, wql = _chi2_nodes(n_lab - 1)
        tau_l = np.repeat(sig_l, len(ql))[None, :] / math.sqrt(n_lab)
        se_l = np.outer(sig_l, np.sqrt(ql)).ravel()[None, :] / math.sqrt(n_lab)
        w_l = np.outer(w_sl, wql).ravel()
    else:
        tau_l, se_l, w_l = np.zeros((1, len(sig_l))), sig_l[None, :] / math.sqrt(n_lab), w_sl
    w = np.outer(w_p, w_l)
    delta = np.asarray(delta, float).reshape(-1, 1, 1)  # an axis of true effects to average over (one, usually)

    crit = stats.t.ppf(1 - level, n - 1)
    V = margins.sesoi - crit * se_p
    L = np.maximum(crit * se_p, V)

    def bound(ratio: float) -> np.ndarray:  # the Welch test's critical value x its SE
        v_p, v_l = se_p ** 2, ratio ** 2 * se_l ** 2
        df = (v_p + v_l) ** 2 / (v_p ** 2 / (n - 1) + v_l ** 2 / (n_lab - 1))
        return _t_crit(level, df) * np.sqrt(v_p + v_l)

    def above(a, b, r: float) -> np.ndarray:  # O(a, b, r) = P(X > a, X - r Y > b)
        s_y = np.sqrt(tau_p ** 2 + r * r * tau_l ** 2)
        return _upper_orthant((a - delta) / tau_p, (b - delta + r * lab_mean) / s_y, tau_p / s_y)

    c, d = bound(f), bound(1.0)
    M = np.maximum(L, (c + f * d) / (1 - f))
    per_node = {"vanishes": special.ndtr((V - delta) / tau_p),
                "survives": above(L, c, f),
                "attenuated": special.ndtr((delta - L) / tau_p) - above(L, -d, 1.0) + above(M, -d, 1.0)
                - above(M, c, f)}
    out = {v: float(np.clip(np.mean(np.sum(w * x, axis=(-2, -1))), 0.0, 1.0)) for v, x in per_node.items()}
    out["inconclusive"] = float(max(0.0, 1.0 - sum(out.values())))
    return {v: out[v] for v in TRANSFER_VERDICTS}


SCENARIOS = {"survives": ("full transfer", 1.0), "attenuated": ("transfer at the floor", None),
             "vanishes": ("no transfer", 0.0)}


def scenario_power(verdict: str, lab_mean: float, lab_sd: float, n_lab: int, sd: float, n: int, margins, k: int,
                   sd_df: int | None = None, lab_sd_df: int | None = None, design_lab: int | None = None) -> float:
    """The power production_power prints for one scenario: the rate of `verdict` at n production seeds and
    design_lab (default n_lab) confirmation seeds, both samples drawn, if the true production ΔPGR is the
    scenario's share of the true lab effect; the lab effect estimated by `lab_mean` on n_lab seeds (its noise taken
    off by `debiased`), the SDs on sd_df / lab_sd_df df (production_rates)."""
    share = SCENARIOS[verdict][1]
    share = margins.ratio_floor if share is None else share
    m_lab = design_lab or n_lab

    def at(effect: float) -> float:
        return production_rates(share * effect, sd, n, effect, lab_sd, m_lab, margins, k, draw_lab=True,
                                sd_df=sd_df, lab_sd_df=lab_sd_df)[verdict]
    return debiased(at, lab_mean, lab_sd / math.sqrt(n_lab)) if share else at(lab_mean)


def production_power(lab_mean: float, lab_sd: float, n_lab: int, sd: float, n: int, margins, k: int,
                     rng_seed: int = 0, sd_df: int | None = None, lab_sd_df: int | None = None) -> dict:
    """For each scenario (the true production ΔPGR = the lab effect, = floor x lab effect, = 0; the true lab effect =
    `lab_mean`): the probability that a design of n_lab confirmation seeds and n production seeds reaches its verdict
    (survives, attenuated, vanishes), both samples drawn (scenario_power), and the production seeds `margins.power`
    needs (with n_lab as is; when no production count suffices, the count m needed for both). sd_df / lab_sd_df: the
    df of the two SD estimates (see production_rates). rng_seed: unused (the rates are computed, not simulated)."""
    out = {}
    for verdict, (name, share) in SCENARIOS.items():
        share = margins.ratio_floor if share is None else share
        entry = {"scenario": name, "production_delta": share * lab_mean, "achieved": float("nan"),
                 "seeds_needed": None}
        if not (np.isfinite(lab_mean) and lab_mean > 0) and verdict != "vanishes":
            entry["note"] = "no positive lab effect on the confirmation seeds to transfer"
            out[verdict] = entry
            continue

        def rate(m: int, m_lab: int = n_lab, verdict=verdict) -> float:
            return scenario_power(verdict, lab_mean, lab_sd, n_lab, sd, m, margins, k, sd_df, lab_sd_df, m_lab)

        entry["achieved"] = rate(n) if n >= 2 else float("nan")
        if np.isfinite(sd) and sd > 0 and np.isfinite(lab_sd):
            entry["seeds_needed"] = seeds_for(rate, margins.power)
            if entry["seeds_needed"] is None and verdict != "vanishes":  # the lab's own precision is the limit
                entry["seeds_needed_lab_and_production"] = seeds_for(lambda m: rate(m, m), margins.power)
        out[verdict] = entry
    return out
