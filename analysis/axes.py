"""Robust axes for the report's figures: limits that one outlying method cannot stretch, and what is cut off marked
with an arrow (issue 27: ccs at PGR -2.5 squeezed every other method of the lab-vs-production scatter into a corner)."""

from __future__ import annotations

import numpy as np

TUKEY = 1.5  # fences at the quartiles -/+ 1.5 IQR: outside them a value is drawn at the edge with an arrow


def limits(values, ends=(), keep=(0.0,), pad: float = 0.08) -> tuple[float, float]:
    """(lo, hi) spanning the values inside Tukey's fences, the interval ends (`ends`) inside them too, and `keep`,
    padded. With fewer than 5 values nothing is an outlier."""
    finite = lambda xs: np.asarray([x for x in xs if x is not None and np.isfinite(x)], float)
    v, e = finite(values), finite(ends)
    if not len(v):
        return (-1.0, 1.0)
    fence = (-np.inf, np.inf)
    if len(v) >= 5:
        q1, q3 = np.percentile(v, [25, 75])
        span = max(q3 - q1, 1e-3 * max(1.0, float(np.abs(v).max())))
        fence = (q1 - TUKEY * span, q3 + TUKEY * span)
    inside = finite([x for x in [*v, *e] if fence[0] <= x <= fence[1]])
    allv = np.concatenate([inside if len(inside) else v, finite(keep)])
    lo, hi = float(allv.min()), float(allv.max())
    width = hi - lo if hi > lo else max(abs(hi), 0.1)
    return (lo - pad * width, hi + pad * width)


def clip(x: float, lim: tuple[float, float]) -> tuple[float, int]:
    """(x inside the limits, -1/0/+1: below / inside / above them)."""
    if x < lim[0]:
        return lim[0], -1
    if x > lim[1]:
        return lim[1], 1
    return x, 0
