"""A seed's shared work rebuilt in one buffer (to check a view never shares memory with it)."""

from __future__ import annotations

import numpy as np

from transfer.seedwork import SeedWork


def one_buffer(work: SeedWork) -> SeedWork:
    """The same work with every array a read-only view into one buffer, as Ray's zero-copy deserialization hands
    a task's result to the cells (tests/adversarial checks that the view's weak labels do not lead back to it)."""
    arrays = {(role, k): np.ascontiguousarray(v) for role, d in (("weak", work.weak), ("ceiling", work.ceiling))
              for k, v in d.items()}
    buf, out, at = b"".join(a.tobytes() for a in arrays.values()), {"weak": {}, "ceiling": {}}, 0
    for (role, k), a in arrays.items():
        out[role][k] = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=at)
        at += a.nbytes
    return SeedWork(key=work.key, weak=out["weak"], ceiling=out["ceiling"], recipe=work.recipe)
