"""The transfer power model against itself: is the printed power, computed from a noisy lab effect and noisy SDs,
on average the power at the true values?  (no make target; ~3 min)

    .venv/bin/python benchmarks/power_model.py [--studies 120]

For each verdict scenario and production seed count: the rate `analysis.power.production_rates` gives at the true
lab effect and SDs (100,000 draws), and the mean over simulated studies of what `production_power` prints from an
observed confirmation-seed effect, lab SD (19 df) and production SD (n - 1 df), with the SD-bias correction. If the
two agree, a gap between printed power and the rate `make verdict-check` reaches lies between the model of the
procedure and the procedure, not in the estimation of its inputs.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from analysis import power as pw
from analysis.verdicts import Margins

MARGINS = Margins(alpha=0.05, sesoi=0.1, ratio_floor=0.5, power=0.8, correction="holm")
EFFECT, LAB_SD, PROD_SD, N_LAB = 0.25, 0.21, 0.14, 10  # benchmarks/verdicts.py's lab and production (gap .15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=120)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| verdict | production seeds | model rate at the truth | mean printed power |\n|---|---|---|---|")
    for verdict, share in (("survives", 1.0), ("attenuated", 0.5)):
        for n in (10, 20):
            true = pw.production_rates(share * EFFECT, PROD_SD, n, EFFECT, LAB_SD, N_LAB, MARGINS, 1, 0,
                                       draws=100_000, draw_lab=True)[verdict]
            printed = []
            for i in range(args.studies):
                x = EFFECT + LAB_SD / math.sqrt(N_LAB) * rng.standard_normal()
                lab_sd = LAB_SD * math.sqrt(rng.chisquare(19) / 19)
                sd = PROD_SD * math.sqrt(rng.chisquare(n - 1) / (n - 1))
                out = pw.production_power(x, lab_sd, N_LAB, sd, n, MARGINS, 1, rng_seed=i, sd_df=n - 1, lab_sd_df=19)
                printed.append(out[verdict]["achieved"])
            print(f"| {verdict} | {n} | {true:.3f} | {np.nanmean(printed):.3f} |", flush=True)


if __name__ == "__main__":
    main()
