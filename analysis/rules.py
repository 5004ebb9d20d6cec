"""The verdicts' names and the transfer rules' decision on test outcomes: what both the verdicts (analysis/verdicts.py)
and the power simulation of a production design (analysis/power.py) apply."""

from __future__ import annotations

import numpy as np

LAB_VERDICTS = ("lab gain established", "no lab gain >= SESOI", "lab inconclusive")
TRANSFER_VERDICTS = ("survives", "attenuated", "vanishes", "inconclusive")  # what the transfer tests can conclude
# No transfer test runs for a method without an established lab gain: its own name, so that it does not read as
# "inconclusive" beside a production CI that excludes 0 (issue 27). Not an outcome of the tests, so not in the tuple.
NOT_TESTED = "not tested (no lab gain)"
VERDICTS = TRANSFER_VERDICTS


def classify(vanish, gain, keep, drop):
    """The transfer rules 2-5 on booleans (scalars or arrays of Monte Carlo draws alike)."""
    return np.select([vanish, gain & keep, gain & drop], ["vanishes", "survives", "attenuated"], "inconclusive")
