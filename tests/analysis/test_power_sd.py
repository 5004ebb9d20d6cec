"""Transfer power when the production SD is itself estimated (issue 24): the power printed from an observed SD,
averaged over the SDs a study would observe, must match the power at the true SD."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import power as pw
from analysis.verdicts import Margins

MARGINS = Margins(alpha=0.05, sesoi=0.1, ratio_floor=0.5, power=0.8, correction="holm")
LAB = {"lab_mean": 0.25, "lab_sd": 0.21, "n_lab": 10}


def _mean_printed(verdict: str, share: float, sigma: float, n: int, sd_df, studies: int = 150) -> float:
    rng = np.random.default_rng([n, int(sigma * 100)])
    out = []
    for i in range(studies):
        s = sigma * np.sqrt(rng.chisquare(n - 1) / (n - 1))  # the SD a study of n production seeds observes
        out.append(pw.production_rates(share * LAB["lab_mean"], s, n, LAB["lab_mean"], LAB["lab_sd"], LAB["n_lab"],
                                       MARGINS, 1, rng_seed=i, draw_lab=True, sd_df=sd_df)[verdict])
    return float(np.mean(out))


@pytest.mark.parametrize("verdict, share, sigma, n", [("survives", 1.0, 0.21, 5), ("vanishes", 0.0, 0.21, 10)])
def test_power_from_an_estimated_sd_matches_the_power_at_the_true_sd(verdict, share, sigma, n):
    true = pw.production_rates(share * LAB["lab_mean"], sigma, n, LAB["lab_mean"], LAB["lab_sd"], LAB["n_lab"],
                               MARGINS, 1, draws=40000, draw_lab=True)[verdict]
    plug_in = _mean_printed(verdict, share, sigma, n, sd_df=None)
    corrected = _mean_printed(verdict, share, sigma, n, sd_df=n - 1)
    assert plug_in - true > 0.025  # the SD taken as known over-predicts (+0.04 to +0.08 here)
    assert abs(corrected - true) < min(0.03, (plug_in - true) / 2)


def test_known_sds_give_the_plain_simulation():
    a = pw.production_rates(0.2, 0.2, 10, 0.25, 0.2, 10, MARGINS, 1, rng_seed=3, draw_lab=True)
    b = pw.production_rates(0.2, 0.2, 10, 0.25, 0.2, 10, MARGINS, 1, rng_seed=3, draw_lab=True, sd_df=None)
    assert a == b and abs(sum(a.values()) - 1) < 1e-9
