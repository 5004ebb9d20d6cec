"""Number formatting shared by the Markdown and LaTeX tables."""

from __future__ import annotations

import math


def _bad(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x, digits: int = 3) -> str:
    return "--" if _bad(x) else f"{x:.{digits}f}"


def ci(pair) -> str:
    lo, hi = pair if pair else (None, None)
    return "--" if _bad(lo) or _bad(hi) else f"[{lo:.3f}, {hi:.3f}]"


def pval(p) -> str:
    if _bad(p):
        return "--"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
