"""A lab's search: every variant tried on a lab (setting, dataset), and the winner's curse of the one picked.

The ledger is the tracking store itself: every FINISHED cell run, in any study but a replay (a study under a plan),
tagged with the lab's setting and dataset. A variant is a method name with one config (the `method_hash` tag; runs written before the tag count one
config per name). Every variant but the baseline is a hypothesis the lab tested, so all of them are the lab-gain
test's family (analysis.verdicts.lab_stage pads the adjustment with them): "best of 48 variants tried on this lab
since 2026-12-01", not "best of the 6 in this study".

`curse_rows` puts side by side, per selected variant, the naive best-of-N lab ΔPGR (the mean of all its seeds, the
number a search reports), the confirmation-seed estimate the harness carries forward, and production's estimate.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from scipy import stats

from transfer import store


def ledger(client, setting: str, dataset: str) -> dict:
    """Every method config evaluated on (setting, dataset) in the store: {"methods": {name: {"configs",
    "first_ms", "studies"}}}."""
    query = (f"tags.`{store.ROLE}` = '{store.CELL}' and tags.setting = '{setting}' and tags.dataset = '{dataset}' "
             f"and attributes.status = 'FINISHED'")
    methods: dict[str, dict] = {}
    for exp in client.search_experiments():
        parent = store.parent_run(client, exp.experiment_id)
        if parent is not None and parent.data.tags.get(store.PLAN_TAG):
            continue  # a replay under a plan tests the lab's picks; it searches nothing (with SETTING=lab: this lab)
        for run in store.search(client, exp.experiment_id, query):
            m = methods.setdefault(run.data.tags["method"], {"hashes": set(), "first_ms": None, "studies": set()})
            if run.data.tags.get("method_hash"):
                m["hashes"].add(run.data.tags["method_hash"])
            start = run.info.start_time
            m["first_ms"] = start if m["first_ms"] is None or (start and start < m["first_ms"]) else m["first_ms"]
            m["studies"].add(exp.name)
    return {"methods": {name: {"configs": max(1, len(m.pop("hashes"))), "first_ms": m["first_ms"],
                               "studies": sorted(m["studies"])} for name, m in methods.items()}}


def family(ledger_: dict | None, here: list[str], baseline: str, scope: str) -> dict:
    """The lab-gain test's family: the study's own methods (scope `study`), or every variant the ledger holds for
    this lab, which includes them (scope `search`)."""
    own = [m for m in here if m != baseline]
    if scope == "study" or not ledger_ or not ledger_.get("methods"):
        return {"size": len(own), "here": len(own), "scope": "study", "since": None, "studies": []}
    rows = {m: r for m, r in ledger_["methods"].items() if m != baseline}
    size = sum(r["configs"] for m, r in rows.items()) + sum(1 for m in own if m not in rows)
    first = min((r["first_ms"] for r in rows.values() if r["first_ms"]), default=None)
    since = dt.datetime.fromtimestamp(first / 1000, dt.timezone.utc).date().isoformat() if first else None
    return {"size": max(size, len(own)), "here": len(own), "scope": "search", "since": since,
            "studies": sorted({s for r in rows.values() for s in r["studies"]})}


def family_line(fam: dict) -> str:
    """'best of 48 variants tried on this lab since 2026-12-01 (5 studies; 12 in this study)'."""
    if fam["scope"] == "study":
        return f"{fam['size']} methods in this study (the family: this study's methods only)"
    return (f"{fam['size']} variants tried on this lab" + (f" since {fam['since']}" if fam["since"] else "")
            + f" ({len(fam['studies'])} studies; {fam['here']} in this study)")


def curse_rows(res: dict) -> list[dict]:
    """Per lab group: every variant the harness selected (lab gain established; else the best on discovery seeds,
    what it would have carried forward) and the naive pick (best mean over all seeds), with the naive all-seed,
    confirmation and production estimates. The confirmation estimate is unbiased for the rows picked on
    discovery seeds only: the naive pick was chosen on its confirmation seeds too."""
    alpha, out = res["config"]["alpha"], []
    prod = {(c["method"], c["lab_dataset"]): c for c in res["comparisons"]}
    for g in res["groups"]:
        lv = {m: v for m, v in (g.get("lab_verdicts") or {}).items() if v["all"]["n"]}
        if not lv:
            continue
        naive = sorted(lv, key=lambda m: -lv[m]["all"]["mean"])
        by_disc = sorted(lv, key=lambda m: -lv[m]["discovery"]["mean"])
        picked = [m for m in by_disc if lv[m]["verdict"] == "lab gain established"] or by_disc[:1]
        for m in list(dict.fromkeys([*picked, naive[0]])):
            r, c = lv[m], prod.get((m, g["dataset"]))
            how = "lab gain established" if r["verdict"] == "lab gain established" else \
                "best on discovery seeds" if m == by_disc[0] else "naive pick only"
            out.append({"setting": g["setting"], "dataset": g["dataset"], "method": m, "picked_by": how,
                        "rank": naive.index(m) + 1, "of": (g.get("family") or {}).get("size", len(naive)),
                        "naive": _t_summary(r["all"], alpha), "confirmation": _t_summary(r["confirmation"], alpha),
                        "production": ({"mean": c["prod_delta"]["estimate"], "ci": tuple(c["prod_delta"]["ci"]),
                                        "n": c["prod_delta"].get("n_seeds")} if c else None),
                        "lab_verdict": r["verdict"], "verdict": c["verdict"] if c else None})
    return out


def _t_summary(sample: dict, alpha: float) -> dict:
    """Mean and (1 - alpha) t interval of a lab sample (analysis.verdicts' _sample), unadjusted: the naive one."""
    n, mean, sd = sample["n"], sample["mean"], sample["sd"]
    if n < 2 or not np.isfinite(sd):
        return {"mean": mean, "ci": (None, None), "n": n}
    half = stats.t.ppf(1 - alpha / 2, n - 1) * sd / np.sqrt(n)
    return {"mean": mean, "ci": (mean - half, mean + half), "n": n}
