"""The ladder job's report (analysis/ladder_report.py) on a SIMULATED three-rung ladder: the answer first (where each
method's interval sits, how wide it is, the most likely verdict), the tables, the figure, the JSON."""

from __future__ import annotations

import json
import math

import numpy as np

from analysis.config import load_config
from analysis.ladder import forecast
from analysis.ladder_report import write
from analysis.simulate import simulate


def test_the_report_answers_first_and_draws_its_figure(tmp_path):
    truth = {f"rung{i}": {"pgr": {"vanilla": 0.2, "logconf": 0.5 + 0.1 * i, "ccs": 0.2 - 0.15 * i},
                          "seed_sd": 0.03, "method_sd": 0.01} for i in range(3)}
    cells, _ = simulate(truth, seeds=list(range(8)), n_test=2000, rng=np.random.default_rng(2), with_examples=False)
    rungs = {"rung0": 135.0, "rung1": 270.0, "rung2": 630.0}
    res = forecast(cells, rungs, 1500.0, 10, load_config(),
                   {"logconf": {"verdict": "lab gain established", "mean": 0.3, "sd": 0.1, "n": 8},
                    "ccs": {"verdict": "no lab gain >= SESOI", "mean": -0.1, "sd": 0.1, "n": 8}}, shape="line")
    res.update(ladder="sim", study="sim-ladder", lab_study="sim", lab_dataset="simdata", production_model="big",
               wall_s=12.0)
    dest = write(res, tmp_path / "sim-ladder", log=False)
    text = (dest / "ladder.md").read_text()
    short = text.split("## In short", 1)[1].split("## ", 1)[0]
    lines = {x.split("**")[1]: x for x in short.splitlines() if x.startswith("- **")}
    assert set(lines) == {"logconf", "ccs"}
    lo, hi = res["methods"]["logconf"]["delta"]["predict"]["pi"]
    assert f"{hi - lo:.2f} PGR wide" in lines["logconf"]
    assert ("a gain at production" in lines["logconf"]) == (lo > 0)
    for m, x in lines.items():
        lo, hi = res["methods"][m]["delta"]["predict"]["pi"]
        assert ("does not forecast this method" in x) == (hi - lo > 1), x
    assert "most likely verdict not tested (no lab gain) (1.00)" in lines["ccs"]
    assert short.index("logconf") < text.index("## ΔPGR per rung")  # the answer before the tables
    assert (dest / "figures" / "ladder.png").stat().st_size > 0 and "Wall time of the ladder job" in text
    back = json.loads((dest / "ladder.json").read_text())
    assert math.isclose(back["methods"]["logconf"]["delta"]["predict"]["mean"],
                        res["methods"]["logconf"]["delta"]["predict"]["mean"])
