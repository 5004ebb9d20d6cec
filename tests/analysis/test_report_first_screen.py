"""The report answers on its first screen (issue 27): the verdicts in a sentence before any table, the plan and the
definitions below; 'not tested (no lab gain)' where no transfer test ran; an SE that is the CI's; no table of dashes;
figures whose axes one outlying method cannot stretch. Planted-truth studies, SIMULATED."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis import axes, figures, tables
from analysis.analyze import analyze
from analysis.config import load_config
from analysis.load import declared_methods
from analysis.report import markdown
from analysis.rules import NOT_TESTED
from analysis.significance import ratio_interval
from analysis.simulate import as_study, planted
from tests.helpers.analysis import FAST

PLAN = {"sha256": "ab" * 32, "methods": {"vanilla": "baseline", "better": "winner"}, "seeds": list(range(20)),
        "tests": ["production gain: one-sided t"], "lab_study": "lab", "lab_dataset": None, "production_datasets": None}


def _res(lab_d: float, prod_d: float, settings=("lab", "production")) -> dict:
    truth = {"lab": {"delta": lab_d}, "production": {"delta": prod_d, "ceiling": 0.75}}
    cells, ex = planted({s: truth[s] for s in settings}, {s: list(range(20)) for s in settings}, 2000,
                        np.random.default_rng(3))
    return analyze(as_study(cells, ex), load_config(FAST))


@pytest.fixture(scope="module")
def no_gain():
    return _res(0.0, -0.3)


@pytest.fixture(scope="module")
def survives():
    return _res(0.3, 0.3)


def test_the_answer_comes_before_any_table_and_the_plan_after_them(survives):
    md = markdown({**survives, "plan": PLAN}, [])
    first = md.split("\n## ", 1)[0]  # the first screen: everything above the first section
    (c,) = survives["comparisons"]
    assert c["verdict"] == "survives"
    assert "**Answer.**" in first and f"**{c['method']}**: lab ΔPGR {c['lab_delta']['estimate']:+.3f}" in first
    assert "production" in first and "**survives**" in first and "|" not in first and PLAN["sha256"] not in first
    assert md.index("## Results") < md.index(PLAN["sha256"]) < md.index("## Methods")


def test_no_lab_gain_reads_not_tested_and_says_there_is_nothing_to_transfer(no_gain, tmp_path):
    (c,) = no_gain["comparisons"]
    assert c["verdict"] == NOT_TESTED and c["prod_delta"]["ci"][1] < 0  # production clearly worse, yet not tested
    md = markdown(no_gain, [])
    first = md.split("\n## ", 1)[0]
    assert "No method established a lab gain" in first and "nothing to transfer" in first
    assert "1 below and 0 above the baseline" in first
    assert "inconclusive" not in md.split("## What the verdicts mean")[0].replace("lab inconclusive", "")
    # the transfer table keeps its estimates and drops the all-dash p-value columns, saying why
    assert "No transfer test ran" in md and "| p gain |" not in md
    written = tables.write_tables(no_gain, tmp_path)
    assert "verdicts.tex" in written and "verdict_tests.tex" not in written


def test_a_lab_only_report_has_no_transfer_definitions():
    md = markdown(_res(0.3, 0.0, settings=("lab",)), [])
    assert "Lab gain established on `lab / " in md.split("\n## ", 1)[0]
    for transfer_only in ("**survives**", "**attenuated**", "**vanishes**", NOT_TESTED, "ratio floor", "Transfer ("):
        assert transfer_only not in md, transfer_only
    assert "**lab gain established**" in md


def test_the_se_shown_is_the_one_the_ci_is_built_from(survives):
    # with a noise-free denominator Fieller's interval is exactly the estimate -/+ t x SE
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.3, 0.1, 12), np.full(12, 0.5)
    r = ratio_interval(a.mean(), b.mean(), [(a, b)], 0.05)
    half = stats.t.ppf(0.975, 11) * r["se"]
    assert r["ci"] == pytest.approx((a.mean() / 0.5 - half, a.mean() / 0.5 + half), rel=1e-8)
    # and in the report: every PGR CI is about estimate -/+ t x SE (the gap is precise here), not 5 SEs wide
    for g in survives["groups"]:
        for m, p in g["pgr"].items():
            t = stats.t.ppf(0.975, p["n_seeds"] - 1)
            assert (p["ci"][1] - p["ci"][0]) / (2 * t * p["se"]) == pytest.approx(1.0, abs=0.1), (g["setting"], m)
    assert tables.PGR_HEAD[3] == "SE (the CI's)"


def test_robust_limits_leave_one_outlier_out_and_mark_it():
    vals = [0.1, 0.0, -0.1, 0.05, -0.05, 0.2, -2.5]
    lo, hi = axes.limits(vals)
    assert lo > -0.5 and hi < 0.5 and lo <= -0.1 and hi >= 0.2
    assert axes.clip(-2.5, (lo, hi)) == (lo, -1) and axes.clip(0.0, (lo, hi)) == (0.0, 0)
    assert axes.limits([0.1, -2.5]) [0] < -2.5  # two values: nothing is an outlier


def test_the_scatter_keeps_its_axes_when_one_method_is_far_out(survives, tmp_path, monkeypatch):
    res = {**survives, "groups": [dict(g, pgr=dict(g["pgr"])) for g in survives["groups"]]}
    for k, g in enumerate(res["groups"]):
        extra = {f"m{i}": dict(g["pgr"]["vanilla"], estimate=0.1 * i) for i in range(5)}
        extra["far"] = dict(g["pgr"]["vanilla"], estimate=-3.0 - k, ci=[-4.0 - k, -2.0 - k])
        g["pgr"].update(extra)
    res["comparisons"] = [*res["comparisons"], *[dict(res["comparisons"][0], method=m)
                                                 for m in [*(f"m{i}" for i in range(5)), "far"]]]
    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, out, name: drawn.append(fig) or [name])
    assert figures.scatter(res, tmp_path) == ["scatter_pgr_lab_vs_production"]
    ax = drawn[0].axes[0]
    assert ax.get_xlim()[0] > -1.0 and ax.get_ylim()[0] > -1.0  # not stretched to -3 / -4
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 8 and any(t.startswith("8  far: off the axes (lab -3.00, production -4.00)") for t in labels)


def test_declared_variant_names_keep_their_commas():
    tag = "vanilla,logconf[alpha_max=0.5,student_l2=0.3]#1c213d,ccs"
    assert declared_methods(tag) == ["vanilla", "logconf[alpha_max=0.5,student_l2=0.3]#1c213d", "ccs"]
