"""The transfer plan: what a replay will run and how it will be judged, fixed before any production cell runs.

`make_plan` reads the lab study (analysis/), selects its winners by the declared rule, sizes the production seeds
with analysis.power and fixes the method configs the lab ran; `build_plan` is that selection on analysed results.

A plan is plain JSON with no timestamps, so the same lab study and replay config give the same bytes and the same
sha256 (`plan_sha256` tag on the production study's parent run, `plan.json` artifact beside it: transfer.store
writes, hashes and checks it). Version 2 adds `production_datasets` (version 1 named only the lab's dataset). A
study that has results under one plan refuses to run, or to be reported, under another.
"""

from __future__ import annotations

import copy
import json

from analysis.analyze import analyze
from analysis.config import load_config
from analysis.load import load_study
from analysis.power import production_power
from analysis.verdicts import RULES, Margins
from jobs.ladder_plan import plan_section
from jobs.variants import base_of
from transfer import boundary, paths, store
from transfer.errors import ConfigError

TESTS = ["lab gain: one-sided t of per-seed dPGR > 0 on the lab's discovery seeds (selection; alpha/2, adjusted)",
         "lab effect: mean dPGR of the lab's confirmation seeds (not the seeds that selected it)",
         "production gain: one-sided t of per-seed dPGR > 0 (alpha/2, adjusted across the replayed winners)",
         "vanishes: one-sided t of production dPGR < SESOI (alpha/2, adjusted)",
         "survives: gain and one-sided Welch t of dPGR_prod - ratio_floor x dPGR_lab > 0 (alpha/2, adjusted)",
         "attenuated: gain and one-sided Welch t of dPGR_prod - dPGR_lab < 0 (alpha/2, adjusted)",
         "power: rate of each verdict over simulated lab-confirmation and production samples of the design's sizes"]


def make_plan(rcfg: dict, uri: str) -> tuple[dict, object]:
    acfg = load_config(list(rcfg["analysis"]) + [f"lab_setting={rcfg['lab_setting']}",
                                                 f"production_setting={rcfg['setting']}"])
    lab = load_study(rcfg["lab"], uri)
    res = analyze(lab, acfg)
    groups = [g for g in res["groups"] if g["setting"] == rcfg["lab_setting"]]
    if rcfg.get("lab_dataset"):
        groups = [g for g in groups if g["dataset"] == rcfg["lab_dataset"]]
    if len(groups) != 1:
        raise ConfigError(f"lab study {rcfg['lab']!r}: {len(groups)} (setting={rcfg['lab_setting']}) groups "
                          f"{[g['dataset'] for g in groups]}; pick one with replay.lab_dataset=<dataset>")
    g = groups[0]
    cells = lab.cells[(lab.cells.setting == g["setting"]) & (lab.cells.dataset == g["dataset"])]
    acfg["lab_dataset"] = g["dataset"]
    plan = build_plan(rcfg, acfg, g, lab_cells(store.client(uri), cells))
    if "stop" not in plan:
        plan["overrides"] += production_data(rcfg, plan, production_datasets(plan, rcfg["study"], uri))
        plan["production_datasets"] = production_datasets(plan, rcfg["study"], uri)
        if rcfg.get("ladder"):  # the ladder's forecast, fixed and hashed before production runs (jobs/ladder_plan.py)
            plan["ladder"] = plan_section(rcfg["ladder"], plan, uri)
    return plan, lab


def production_data(rcfg: dict, plan: dict, own: list[str]) -> list[str]:
    """The override that puts production on the lab's dataset, so a task's winner is judged on that task: the
    dataset named by replay.production_dataset (or a data override in replay.overrides), else the lab's own when it
    is a conf/data dataset, else the production setting's own (`own`; the plan's notes say why). Nothing is added
    when production already runs there, so such plans keep their sha256."""
    named, lab_ds = rcfg.get("production_dataset"), plan["lab_dataset"]
    known = sorted(p.stem for p in (paths.config_dir() / "data").glob("*.yaml"))
    in_overrides = [o for o in plan["overrides"] if o.lstrip("+~").startswith(("data@setting.data=", "setting.data="))]
    if named and in_overrides:
        raise ConfigError(f"replay.production_dataset={named} and replay.overrides {in_overrides} both name the "
                          f"production data: keep one")
    if named and named not in known:
        raise ConfigError(f"replay.production_dataset={named!r}: unknown dataset; known: {known} (conf/data/)")
    if in_overrides:
        return []
    target = named or (lab_ds if lab_ds in known else None)
    if target is None:
        plan["notes"].append(f"the lab's dataset {lab_ds!r} is not a conf/data dataset: production runs on its "
                             f"setting's own {own}; name another with replay.production_dataset=<conf/data name>")
        return []
    if named and named != lab_ds:
        plan["notes"].append(f"production dataset {named!r} named by replay.production_dataset; the lab's is "
                             f"{lab_ds!r}")
    return [] if [target] == own else [f"data@setting.data={target}"]


def production_datasets(plan: dict, study: str, uri: str) -> list[str]:
    """The datasets the production cells will run on, as the plan's setting and overrides compose them: named in the
    plan (and so in its sha256), so a changed production dataset is a changed plan."""
    from jobs.grid import from_plan

    return sorted({c.dataset for c in from_plan(plan, study, uri).cells})


def lab_cells(client, runs) -> list[dict]:
    """Lab cells with their cell_config.json (None for imported studies, which have none)."""
    out = []
    for r in runs.itertuples():
        cfg = store.read_json(client, r.run_id, store.CELL_CONFIG, r.artifact_uri)
        cfg = cfg if isinstance(cfg, dict) and "method" in cfg else None  # not a harness cell config
        out.append({"method": r.method, "seed": int(r.seed), "config": cfg})
    return out


def build_plan(rcfg: dict, analysis_cfg: dict, lab_group, lab_cells: list[dict]) -> dict:
    """rcfg: conf/replay/default.yaml's `replay`; lab_group: analysis.analyze's JSON group of the lab setting/dataset;
    lab_cells: [{'method', 'seed', 'config' (cell_config.json or None)}] of that group."""
    bl, alpha, sel = analysis_cfg["baseline_method"], analysis_cfg["alpha"], rcfg["select"]
    known = {p.stem for p in (paths.config_dir() / "method").glob("*.yaml")}
    lab_methods = [m for m in lab_group["methods"] if m != bl]
    effects = {m: _lab_effect(lab_group, m) for m in lab_methods}
    notes = []
    if sel["rule"] == "explicit":
        winners = list(sel["methods"])
    elif sel["rule"] == "holm_topk":
        ok = [m for m, e in effects.items() if e["verdict"] == "lab gain established"]
        winners = sorted(ok, key=lambda m: -effects[m]["delta_pgr"])[: int(sel["k"])]  # by confirmation effect
        if not lab_group["gap"]["defined"]:
            notes.append("lab PGR undefined (gap too small): no lab gain can be established")
    else:
        raise ConfigError(f"replay.select.rule={sel['rule']!r}: use holm_topk or explicit")
    roles = {m: "winner" for m in winners}
    if not winners:
        if sel["if_none"] == "stop":
            return {"stop": f"lab study has no winner by rule {sel['rule']} (alpha {alpha}); nothing to replay"}
        if sel["if_none"] == "lab_methods":
            roles.update({m: "control (no lab winner)" for m in lab_methods})
            notes.append("no lab winner: the lab's methods are replayed as declared controls; "
                         "they get no transfer verdict (no lab gain to transfer)")
        elif sel["if_none"] != "baseline":
            raise ConfigError(f"replay.select.if_none={sel['if_none']!r}: use lab_methods, baseline or stop")
    for m in sel["include"]:
        roles.setdefault(m, "declared")
    roles[bl] = "baseline"
    methods, harness = [], _harness(lab_cells, notes)
    for m in sorted(roles, key=lambda m: (roles[m] != "baseline", m)):
        if base_of(m) not in known:  # a variant replays its base method's code with the lab's exact config
            notes.append(f"{m!r} not replayed: no conf/method/{m}.yaml in this code")
            continue
        cfg, source = _method_config(m, lab_cells)
        boundary.check_method(cfg)
        methods.append({"name": m, "role": roles[m], "config": cfg, "config_source": source,
                        "lab": effects.get(m)})
    seeds, power = _seeds(rcfg["seeds"], {m: effects[m] for m in winners if m in effects}, lab_group, analysis_cfg)
    overrides = list(rcfg["overrides"])
    data = harness.pop("data", None)
    if rcfg["match_lab_data"] and data and not any(o.startswith("setting.data.max_pairs") for o in overrides):
        overrides.append(f"setting.data.max_pairs={'null' if data.get('max_pairs') is None else data['max_pairs']}")
    return {
        "version": 2, "lab_study": rcfg["lab"], "lab_setting": lab_group["setting"],
        "lab_dataset": lab_group["dataset"], "lab_gap": _clean(lab_group["gap"]), "lab_seeds": sorted({int(c["seed"]) for c in lab_cells}),
        "production_setting": rcfg["setting"], "study": rcfg["study"], "overrides": overrides,
        "selection": {**copy.deepcopy(sel), "winners": winners}, "methods": methods, "harness": harness,
        "seeds": seeds, "power": power, "analysis": analysis_cfg, "tests": TESTS, "rules": RULES, "notes": notes,
        # the size of the lab's search the winners were selected from (analysis/search.py), hashed with the plan
        "search": _clean(lab_group.get("family")),
    }


def _clean(x):
    return json.loads(json.dumps(x, default=float).replace("NaN", "null"))


def _lab_effect(g: dict, m: str) -> dict:
    """The lab verdict and the selection-aware lab effect (confirmation seeds) of method m."""
    lv = g["lab_verdicts"].get(m) or {}
    conf, allseeds = lv.get("confirmation", {}), lv.get("all", {})
    return _clean({"verdict": lv.get("verdict"), "reason": lv.get("reason"),
                   "delta_pgr": conf.get("mean"), "confirmation_seeds": sorted(conf.get("values", {})),
                   "confirmation_sd": conf.get("sd"), "per_seed_sd": allseeds.get("sd"), "n_seeds": allseeds.get("n"),
                   "p_gain_adj": (lv.get("gain") or {}).get("p_adj"), "pgr": g["pgr"][m]["estimate"],
                   "delta_pgr_all_seeds": allseeds.get("mean")})


def _seeds(scfg: dict, winners: dict[str, dict], g, cfg: dict) -> tuple[list[int], dict]:
    """Production seeds: enough for `power` to reach 'survives' under full transfer and 'vanishes' under none, for
    each winner (its confirmation-seed effect, the lab's per-seed SD as the production SD's guess)."""
    margins, need, limits, per_method = Margins.from_config(cfg), [], [], {}
    for m, e in winners.items():
        if e["delta_pgr"] is None or e["per_seed_sd"] is None:
            continue
        n_conf = len(e["confirmation_seeds"])
        pw = production_power(e["delta_pgr"], e["per_seed_sd"], n_conf, e["per_seed_sd"], 2, margins,
                              max(len(winners), 1), cfg["rng_seed"])
        per_method[m] = {v: pw[v]["seeds_needed"] for v in ("survives", "vanishes")}
        for verdict in ("survives", "vanishes"):
            n = pw[verdict]["seeds_needed"]
            need.append(n)
            if n is None:
                both = pw[verdict].get("seeds_needed_lab_and_production")
                limits.append(f"'{verdict}' is out of reach with {n_conf} lab confirmation seeds"
                              + (f" ({both} confirmation and {both} production seeds would do)" if both else ""))
    needed = max((n for n in need if n), default=None)
    lab_n = max(v["n_seeds"] for v in g["pgr"].values())  # method seeds (AAR: 5, though 16 teacher seeds)
    floor = int(scfg["min"] if scfg["min"] is not None else lab_n)
    n = max(floor, needed or 0)
    capped = n > int(scfg["max"])
    n = min(n, int(scfg["max"]))
    why = (f"{needed} seeds give {cfg['power']:.0%} power to reach 'survives' under full transfer and 'vanishes' "
           f"under none, for every winner" if needed else "no lab effect to power (no winner): the lab's seed count")
    return list(range(int(scfg["first"]), int(scfg["first"]) + n)), {
        "seeds_needed": needed, "per_method": per_method, "floor": floor, "max": int(scfg["max"]), "capped": capped,
        "limits": limits,
        "why": why + (f"; capped at replay.seeds.max={scfg['max']}" + (": power below target" if needed and
                                                                             needed > int(scfg["max"]) else "")
                      if capped else "")
        + "".join(f"; {x}" for x in limits)}


def _method_config(m: str, lab_cells: list[dict]) -> tuple[dict, str]:
    """The exact method config the lab ran (all its cells must agree), else the repo's conf/method/<m>.yaml."""
    cfgs = {json.dumps(c["config"]["method"], sort_keys=True) for c in lab_cells
            if c["method"] == m and c.get("config")}
    if len(cfgs) > 1:
        raise ConfigError(f"lab cells of method {m!r} ran {len(cfgs)} different configs; replay one: "
                          f"replay.select.rule=explicit with a lab study of one config per method")
    if cfgs:
        return json.loads(cfgs.pop()), "lab cell_config.json"
    if base_of(m) != m:  # its base's yaml is another config: replaying it would judge a method the lab never ran
        raise ConfigError(f"lab variant {m!r} has no cell_config.json in the lab's records; replay it from a lab "
                          f"study that recorded its config, or name its knobs in conf/method/ and rerun the lab")
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(paths.config_dir() / "method" / f"{m}.yaml"), resolve=True), \
        f"conf/method/{m}.yaml (the lab records carry no config)"


def _harness(lab_cells: list[dict], notes: list[str]) -> dict:
    """Head training, the roles' fitting, split fractions and data subset the lab used (identical across its cells), if recorded."""
    out = {}
    for key, get in {"head": lambda c: c["head"], "roles": lambda c: c.get("roles"), "splits": lambda c: c["splits"],
                     "data": lambda c: {"max_pairs": c["setting"]["data"].get("max_pairs")}}.items():
        vals = {json.dumps(get(c["config"]), sort_keys=True) for c in lab_cells if c.get("config")} - {"null"}
        if len(vals) == 1:
            out[key] = json.loads(vals.pop())
        elif len(vals) > 1:
            notes.append(f"lab cells differ in {key}: production uses its own defaults")
    if not out:
        notes.append("lab records carry no cell configs: production uses this repo's head/split defaults")
    return out
