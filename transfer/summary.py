"""The table a sweep prints at the end: per (setting, method), mean ± SE over seeds. Inference lives in analysis/."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

COLUMNS = ("weak_acc", "ceiling_acc", "w2s_acc", "pgr")


def cells_frame(runs) -> pd.DataFrame:
    rows = []
    for r in runs:
        rows.append({"setting": r.data.tags.get("setting"), "method": r.data.tags.get("method"),
                     "seed": int(r.data.tags.get("seed", -1)), **r.data.metrics})
    return pd.DataFrame(rows)


def gap_ci(gaps: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """t-interval of the mean ceiling − weak gap over seeds."""
    if len(gaps) < 2:
        return float("nan"), float("nan")
    return tuple(stats.t.interval(level, len(gaps) - 1, loc=gaps.mean(), scale=stats.sem(gaps)))


def summarize(df: pd.DataFrame) -> str:
    if df.empty:
        return "(no finished cells)"
    lines = []
    for setting, sdf in df.groupby("setting", sort=False):
        per_seed = sdf.groupby("seed")[["weak_acc", "ceiling_acc"]].first()
        gaps = (per_seed["ceiling_acc"] - per_seed["weak_acc"]).to_numpy()
        lo, hi = gap_ci(gaps)
        defined = bool(lo > 0)
        lines.append(f"\nsetting {setting}: ceiling - weak gap {gaps.mean():+.3f} (95% CI {lo:+.3f} .. {hi:+.3f}, "
                     f"{len(gaps)} seeds)" + ("" if defined else "  -> gap not clearly > 0: PGR undefined"))
        header = f"  {'method':<16}{'n':>3}  " + "  ".join(f"{c:>15}" for c in COLUMNS)
        lines += [header, "  " + "-" * (len(header) - 2)]
        for method, mdf in sdf.groupby("method", sort=False):
            cells = []
            for c in COLUMNS:
                v = mdf[c].to_numpy(dtype=float)
                if c == "pgr" and not defined:
                    cells.append(f"{'undefined':>15}")
                else:
                    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
                    cells.append(f"{v.mean():>7.3f} ± {se:5.3f}")
            lines.append(f"  {method:<16}{len(mdf):>3}  " + "  ".join(cells))
    return "\n".join(lines)
