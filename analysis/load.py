"""A study in the tracking store -> tidy pandas tables (docs/tracking.md is the contract read here).

cells:     one row per finished cell: setting, dataset, method, seed, weak_acc, ceiling_acc, w2s_acc, gap, pgr, n_test
baselines: one row per (setting, dataset, seed): weak_acc, ceiling_acc, n_test. From `transfer.role=baseline` runs
           when the study has them (imported studies whose teacher/ceiling seeds differ from the method seeds),
           else from the cells themselves.
examples:  per-example test correctness: setting, dataset, seed, row (weak | ceiling | <method>), example_id, correct.
           Empty when the cells have no predictions.parquet (imported studies): per-example tests are then skipped.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field

import pandas as pd

from analysis.search import ledger
from transfer import store  # the store's reader: MLflow names, paginated queries (imports no pipeline code)
from transfer.store import StudyError  # noqa: F401  (re-exported: a study that cannot be analysed as stored)

REQUIRED_TAGS = ("setting", "method", "seed", "dataset")
REQUIRED_METRICS = ("weak_acc", "ceiling_acc", "w2s_acc")
KEY = ["setting", "dataset", "seed"]


@dataclass
class Study:
    name: str
    experiment_id: str
    parent_run_id: str | None
    cells: pd.DataFrame
    baselines: pd.DataFrame
    examples: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    tags: dict = field(default_factory=dict)
    # (setting, dataset) -> every method config tried on it in the store (analysis.search.ledger); empty: unknown
    ledgers: dict = field(default_factory=dict)
    # cells that FAILED with no finished rerun: setting, dataset, method, seed (their seeds are missing from the
    # method's sample, which the verdicts must not ignore)
    failed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["setting", "dataset", "method", "seed"]))


# what the roles' cross-validation chose for the teacher and the ceiling (transfer/roles.py); absent on old records
RECIPE_METRICS = ("roles_teacher_l2", "roles_ceiling_l2")


def _cell_row(run) -> dict:
    tags, metrics = run.data.tags, run.data.metrics
    missing = [t for t in REQUIRED_TAGS if not tags.get(t)] + [m for m in REQUIRED_METRICS if m not in metrics]
    if missing:
        raise StudyError(f"cell run {run.info.run_id} ({run.info.run_name}) lacks {missing}; see docs/tracking.md")
    row = {"run_id": run.info.run_id, **{t: tags[t] for t in REQUIRED_TAGS}, "seed": int(tags["seed"]),
           "artifact_uri": run.info.artifact_uri}
    for m in (*REQUIRED_METRICS, "gap", "pgr", "n_test", *RECIPE_METRICS):
        row[m] = metrics.get(m, float("nan"))
    row["original_method"] = tags.get("original_method", row["method"])
    row["weak_model"], row["strong_model"] = tags.get("weak_model", ""), tags.get("strong_model", "")
    # data issues flagged on the record (e.g. the AAR import's `aar.data_issues`): the report prints them as caveats
    row["data_issues"] = "; ".join(v for k, v in sorted(tags.items()) if k.endswith("data_issues") and v)
    return row


def _predictions(client, run_id: str, tmp: str, artifact_uri: str | None = None) -> pd.DataFrame | None:
    path = store.artifact(client, run_id, store.PREDICTIONS, tmp, artifact_uri)
    if path is None:
        return None
    df = pd.read_parquet(path, columns=["example_id", "split", "role", "correct"])
    return df[df["split"] == "test"]


def _examples(client, cells: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Per-example test correctness; weak/ceiling rows are taken once per seed (they are shared by its cells)."""
    parts, without = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for cell in cells.itertuples():
            pred = _predictions(client, cell.run_id, tmp, cell.artifact_uri)
            if pred is None:
                without.append(cell.run_id)
                continue
            pred = pred.assign(row=pred["role"].where(pred["role"] != "w2s", cell.method),
                               setting=cell.setting, dataset=cell.dataset, seed=cell.seed)
            parts.append(pred[KEY + ["row", "example_id", "correct"]])
    notes = []
    if without:
        notes.append(f"{len(without)} of {len(cells)} cells have no predictions.parquet: "
                     "McNemar's per-example test is skipped for them (estimates, intervals and verdicts are "
                     "seed-level and need no predictions)")
    if not parts:
        return pd.DataFrame(columns=KEY + ["row", "example_id", "correct"]), notes
    ex = pd.concat(parts, ignore_index=True).drop_duplicates(KEY + ["row", "example_id"])
    ex["correct"] = ex["correct"].astype(float)
    return ex, notes


def _baselines(client, exp_id: str, cells: pd.DataFrame) -> pd.DataFrame:
    runs = store.runs(client, exp_id, store.BASELINE, "FINISHED")
    if not runs:  # the study's own cells carry their seed's teacher and ceiling
        return cells.groupby(KEY, as_index=False)[["weak_acc", "ceiling_acc", "n_test"]].mean()
    rows = []
    for run in runs:
        t, m = run.data.tags, run.data.metrics
        role = t.get("baseline_role")
        if role not in ("weak", "ceiling") or f"{role}_acc" not in m:
            raise StudyError(f"baseline run {run.info.run_id} needs tag baseline_role=weak|ceiling and metric "
                             f"<role>_acc (see docs/analysis.md)")
        rows.append({"setting": t["setting"], "dataset": t["dataset"], "seed": int(t["seed"]),
                     f"{role}_acc": m[f"{role}_acc"], "n_test": m.get("n_test", float("nan"))})
    return pd.DataFrame(rows).groupby(KEY, as_index=False).first()


def load_study(name: str, tracking_uri: str | None = None, with_examples: bool = True) -> Study:
    client = store.client(tracking_uri)
    exp = store.find_experiment(client, name)
    runs = store.runs(client, exp.experiment_id, store.CELL, "FINISHED")
    if not runs:
        raise StudyError(f"study {name!r} has no FINISHED cell runs (tag {store.ROLE}=cell); run the sweep first")
    cells = pd.DataFrame([_cell_row(r) for r in runs]).sort_values(["setting", "dataset", "method", "seed"])
    dup = cells.duplicated(["setting", "dataset", "method", "seed"], keep="last")
    notes = [f"{int(dup.sum())} duplicate cells (same setting/dataset/method/seed) ignored; newest kept"] if dup.any() else []
    cells = cells[~dup].reset_index(drop=True)
    parent = store.parent_run(client, exp.experiment_id)
    examples, ex_notes = _examples(client, cells) if with_examples else (pd.DataFrame(), [])
    if len(examples):  # fill n_test where the metric is missing
        n = examples[examples["row"] == "weak"].groupby(KEY).size().rename("n_ex").reset_index()
        cells = cells.merge(n, on=KEY, how="left")
        cells["n_test"] = cells["n_test"].fillna(cells.pop("n_ex"))
    if cells["n_test"].isna().any():
        raise StudyError(f"study {name!r}: cells without metric n_test and without predictions.parquet: "
                         f"{cells.loc[cells['n_test'].isna(), 'run_id'].tolist()[:5]}")
    tags = dict(parent.data.tags) if parent else {}
    ledgers = {(st, ds): ledger(client, st, ds) for st, ds in sorted(set(zip(cells.setting, cells.dataset)))}
    missing, failed = _missing(client, exp.experiment_id, cells, tags)
    return Study(name=name, experiment_id=exp.experiment_id, parent_run_id=parent.info.run_id if parent else None,
                 cells=cells, baselines=_baselines(client, exp.experiment_id, cells), examples=examples,
                 notes=notes + ex_notes + missing, tags=tags, failed=failed, ledgers=ledgers)


def declared_methods(tag: str) -> list[str]:
    """The parent run's `methods` tag as names: a variant's name has commas inside its brackets
    (logconf[alpha_max=0.5,student_l2=0.3]#1c213d), so the split is on the commas outside them."""
    return [m for m in re.split(r",(?![^\[]*\])", tag) if m]


def _missing(client, exp_id: str, cells: pd.DataFrame, tags: dict) -> tuple[list[str], pd.DataFrame]:
    """Methods the study declared (parent tag `methods`) without a finished cell, and failed cell runs with their
    error: a method whose cells all failed must not vanish from a report without a word. Also the failed cells
    themselves (setting, dataset, method, seed) for the verdicts."""
    notes, rows = [], []
    declared = declared_methods(tags.get("methods", ""))
    absent = sorted(set(declared) - set(cells["method"]))
    if absent:
        notes.append(f"declared in the study but without any finished cell (not in any table): {', '.join(absent)}")
    failed = store.runs(client, exp_id, store.CELL, "FAILED")
    done = set(zip(cells["setting"], cells["dataset"], cells["method"], cells["seed"].astype(str)))
    for run in failed:
        t = run.data.tags
        if (t.get("setting"), t.get("dataset"), t.get("method"), t.get("seed")) not in done:
            notes.append(f"cell {t.get('setting')}/{t.get('method')}/seed {t.get('seed')} FAILED and has no finished "
                         f"rerun: {t.get('error') or 'no error recorded (see the sweep log)'}")
            rows.append({k: t.get(k) for k in ("setting", "dataset", "method", "seed")})
    failed = pd.DataFrame(rows, columns=["setting", "dataset", "method", "seed"]).drop_duplicates()
    return notes, failed
