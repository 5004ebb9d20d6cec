"""The ladder's forecast as a section of a replay's plan (`replay.ladder=<ladder study>`), and the forecast itself
from a ladder study in the store. Shared by jobs/plan.py (the plan) and jobs/ladder.py (the ladder job).

The section is computed from the ladder study's finished cells, its stored ladder plan and *this* replay plan's
production seeds and lab effects, so it is fixed - and hashed with the plan - before any production cell runs; the
report later puts it beside what production showed (analysis.ladder_outcome.outcome_rows).
"""

from __future__ import annotations

import json

from analysis.config import load_config
from analysis.ladder import bend_weight, forecast
from analysis.load import load_study
from transfer import store
from transfer.errors import ConfigError
from jobs.grid import from_plan


def lab_effects(plan: dict) -> dict[str, dict]:
    """method -> the lab's verdict and confirmation-seed effect (what production is compared with)."""
    out = {}
    for m in plan["methods"]:
        lab = m.get("lab") or {}
        if lab.get("delta_pgr") is not None:
            out[m["name"]] = {"verdict": lab["verdict"], "mean": lab["delta_pgr"], "sd": lab["confirmation_sd"],
                              "n": len(lab["confirmation_seeds"])}
    return out


def forecast_study(study: str, uri: str, lplan: dict, n_prod: int | None = None, labs: dict | None = None,
                   k: int | None = None) -> dict:
    """The forecast from a ladder study's finished cells (reads the store only)."""
    s = load_study(study, uri, with_examples=False)
    cfg = load_config([f"{k_}={'null' if v is None else v}" for k_, v in lplan["analysis"].items()])
    rungs = {r["name"]: r["params_m"] for r in lplan["rungs"]}
    res = forecast(s.cells, rungs, lplan["production"]["params_m"], n_prod or lplan["production"]["seeds"], cfg,
                   lab_effects(lplan) if labs is None else labs, k, lplan.get("shape", "auto"))
    res.update(ladder=lplan["ladder"], study=study, lab_study=lplan["lab_study"], lab_dataset=lplan["lab_dataset"],
               production_model=lplan["production"].get("model"), baseline=cfg["baseline_method"],
               overrides=list(lplan.get("overrides", [])),
               notes=list(lplan["notes"]) + s.notes + res["notes"])
    return res


def plan_section(ladder_study: str, plan: dict, uri: str) -> dict:
    """The forecast for this replay plan: its production seeds, its lab effects, its family of winners."""
    c = store.client(uri)
    exp = store.find_experiment(c, ladder_study)
    parent = store.parent_run(c, exp.experiment_id)
    lplan = store.stored_plan(c, parent.info.run_id) if parent else None
    if not lplan or lplan.get("kind") != "ladder":
        raise ConfigError(f"replay.ladder={ladder_study!r} is not a ladder study (no ladder plan on its parent run); "
                          f"run make ladder LAB={plan['lab_study']} first")
    if (lplan["lab_study"], lplan["lab_dataset"]) != (plan["lab_study"], plan["lab_dataset"]):
        raise ConfigError(f"replay.ladder={ladder_study!r} climbed lab {lplan['lab_study']} / {lplan['lab_dataset']}, "
                          f"not this replay's {plan['lab_study']} / {plan['lab_dataset']}")
    winners = plan["selection"]["winners"]
    res = forecast_study(ladder_study, uri, lplan, len(plan["seeds"]), lab_effects(plan), max(len(winners), 1))
    methods = {}
    for m, e in res["methods"].items():
        p = e["delta"].get("predict")
        if p:
            methods[m] = {"delta_pgr": p["mean"], "pi": list(p["pi"]), "bend_weight": bend_weight(p),
                          "per_rung": {s: v["mean"] for s, v in e["delta"]["per_rung"].items()},
                          "verdicts": {v: e["verdicts"][v] for v in ("survives", "attenuated", "vanishes",
                                                                     "inconclusive")},
                          "verdicts_note": e["verdicts"].get("note")}
    roles = {r: {"forecast": e["predict"]["mean"], "pi": list(e["predict"]["pi"]),
                 "per_rung": {s: v["mean"] for s, v in e["per_rung"].items()}}
             for r, e in res["roles"].items() if e.get("predict")}
    notes = list(res["notes"])
    strong = from_plan(plan, plan["study"], uri).cells[0].config["setting"]["strong"] if plan["methods"] else {}
    if strong and strong.get("name") != lplan["production"].get("model"):
        notes.append(f"the ladder forecasts {lplan['production'].get('model')} ({lplan['production']['params_m']:g} M); "
                     f"this plan's production setting {plan['production_setting']!r} runs {strong.get('name')} "
                     f"({strong.get('params_m')} M): forecast and outcome are about different models")
    section = {"study": ladder_study, "ladder": lplan["ladder"], "ladder_plan_sha256": store.plan_sha256(lplan),
               "rungs": [{"name": r["name"], "model": r["model"], "params_m": r["params_m"]} for r in lplan["rungs"]],
               "production": {"model": lplan["production"].get("model"), "params_m": lplan["production"]["params_m"],
                              "seeds": len(plan["seeds"])},
               "alpha": res["alpha"], "model": res["model"], "methods": methods, "roles": roles, "notes": notes}
    return json.loads(json.dumps(section, default=float).replace("NaN", "null"))
