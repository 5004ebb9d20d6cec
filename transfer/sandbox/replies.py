"""What the harness accepts back from a method process, beyond arrays' shapes: diagnostics and reply sizes.

Diagnostics become MLflow metrics (`method_<key>`): a key MLflow would refuse, a value that is not a finite number,
or more keys than a cell should log, would otherwise crash the driver's write of the cell. Each one refused is
dropped and named in the cell's tags (`boundary.dropped_diagnostics`); the rest are logged.
"""

from __future__ import annotations

import math
import re

from transfer.errors import BoundaryError

KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # a subset of what MLflow accepts, short enough for any backend
MAX_KEYS = 64
NPY_HEADER = 4096  # an .npy header is at most a few hundred bytes


def array_bytes(n: int) -> int:
    """The largest frame an array of n float64/int64 values may take on the wire."""
    return 8 * int(n) + NPY_HEADER


def diagnostics(raw, who: str) -> tuple[dict[str, float], list[str]]:
    """(the diagnostics kept, as floats; a short description of each one dropped)."""
    if not isinstance(raw, dict):
        raise BoundaryError(f"{who}: diagnostics must be a dict of numbers")
    kept, dropped = {}, []
    for key, value in raw.items():
        name = ascii(key)[:40]
        if len(kept) >= MAX_KEYS:
            dropped.append(f"{name} (more than {MAX_KEYS})")
        elif not isinstance(key, str) or not KEY.fullmatch(key):
            dropped.append(f"{name} (key: letters, digits, _ . - only, at most 64)")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            dropped.append(f"{name} (not a number)")
        elif not math.isfinite(float(value)):
            dropped.append(f"{name} (not finite)")
        else:
            kept[key] = float(value)
    return kept, dropped
