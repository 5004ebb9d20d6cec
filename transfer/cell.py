"""One cell of a study (setting × method × seed [× mode]): weak teacher, ceiling, W2S student, scored by the harness.

`run_cell` is a plain function: called in-process, by a Ray task, or inside a Ray Job. Ray is never imported here.
The training mode (transfer/modes/: head, prompt, lora) decides what the ceiling and the student are; the weak
teacher is always a head on the weak model's features, and scoring is always here. Method code runs in the cell's
own method process (transfer/sandbox/); this process only sends it the view and reads back arrays. The weak teacher and the head
mode's ceiling do not depend on the method: a sweep computes them once per seed (transfer/seedwork.py) and passes
them in; called without them, the cell trains both itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from transfer import boundary, scoring
from transfer.config import mode_name
from transfer.data.splits import Split
from transfer.errors import TransferError
from transfer.inputs import CellInputs, zero_shot_format, zero_shot_key
from transfer.methods import StudentView, check_kind
from transfer.methods.base import student_head
from transfer.modes import ModeInputs, run_mode
from transfer.modes.prompts import orient_zero_shot, zero_shot_logprobs
from transfer.sandbox.client import method_process
from transfer.seedwork import SeedWork, cell_splits, compute_seed_work, head_config, pair_x, seed_key

if TYPE_CHECKING:  # an annotation only
    from transfer.features.extract import PairFeatures


@dataclass
class CellResult:
    cell: dict
    metrics: dict[str, float]
    predictions: pd.DataFrame
    where: dict[str, str] = field(default_factory=dict)  # the Ray node it ran on (jobs.raytasks), logged as tags
    started_ms: int | None = None  # when run_cell began (ms since the epoch): the run's start in the MLflow UI
    tags: dict[str, str] = field(default_factory=dict)  # the harness's record of the method's boundary


def pair_inputs(feats: PairFeatures, split: Split) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    return feats.inputs(split.index, split.a_is_better)  # binary items: (f(text), None, None)


def student_view(cell: dict, inputs: CellInputs, tu: Split, weak_tu: np.ndarray, needs: tuple[str, ...]) -> StudentView:
    """What the method sees of train_unlabel: strong inputs and weak labels, never gold."""
    if "sides" in needs:
        xs, a, b = pair_inputs(inputs.features["strong"], tu)
    else:  # two more (n, dim) arrays to make and send each cell's method process: only for methods that ask
        xs, a, b = pair_x(inputs.features["strong"], tu), None, None
    zero_shot = None
    if "zero_shot" in needs:  # the strong LM's own label log-probs, both orders, from the input stage
        fmt, s = zero_shot_format(cell), cell["setting"]
        zs = inputs.zero_shot.get(zero_shot_key(fmt))
        if zs is None:  # a cell called outside a sweep: compute (or read the cache) here
            zs = zero_shot_logprobs(inputs.pairs, s["strong"], s["strong_backend"], fmt)
        zero_shot = orient_zero_shot(zs, tu.index, tu.a_is_better)  # A/B as the view shows them: no gold in it
    ids = inputs.column("pairs", "example_id")
    return StudentView(x=xs, strong_a=a, strong_b=b, weak_probs=weak_tu, example_ids=tuple(ids[tu.index]),
                       seed=int(cell["seeds"]["student"]),
                       head=student_head(head_config(cell, inputs.pairs.kind), cell["method"]),
                       zero_shot=zero_shot, kind=inputs.pairs.kind)


def run_cell(cell: dict, inputs: CellInputs, shared: SeedWork | None = None) -> CellResult:
    """Score one cell. `shared`: its seed's weak teacher and ceiling (transfer.seedwork), computed once for all
    methods of the seed; without it the cell computes them itself (the same numbers, bit for bit)."""
    started_ms, seeds = int(time.time() * 1000), cell["seeds"]
    if shared is None:
        shared = compute_seed_work(cell, inputs)
    elif shared.key != seed_key(cell):
        raise TransferError(f"cell {cell.get('config_hash', '?')[:12]}: shared seed work {shared.key[:12]} is not "
                            f"this cell's ({seed_key(cell)[:12]})")
    torch.manual_seed(int(seeds["student"]))
    splits, ood = shared.splits if shared.splits else cell_splits(cell, inputs)
    tl, tu, te = splits["train_label"], splits["train_unlabel"], splits["test"]
    weak, ceiling = shared.weak, shared.ceiling

    # ceiling and W2S student, as the training mode defines them; the method sees only the view (no gold), in its
    # own process (transfer.sandbox): nothing it does there reaches this interpreter, the scores or a later cell
    boundary.check_method(cell["method"])  # no test-based selection, before any method code is loaded
    with method_process(cell) as method:
        check_kind(method, inputs.pairs.kind, mode_name(cell), inputs.pairs.name)  # e.g. ccs on binary items
        boundary.check_method(cell["method"], method.needs)  # no view fields beyond the documented ones
        # the view gets its own copy of the weak labels: never memory shared with the seed's other outputs
        view = student_view(cell, inputs, tu, np.array(weak["train_unlabel"]), method.needs)
        boundary.check_view(view, [tu.a_is_better, te.a_is_better] + ([ood.a_is_better] if ood is not None else []))
        out = run_mode(ModeInputs(cell=cell, pairs=inputs.pairs, ood_pairs=inputs.ood, features=inputs.features,
                                  train_unlabel=tu, test=te, ood=ood, method=method, view=view, ceiling=ceiling))
        method_diagnostics, confinement, dropped = method.diagnostics, method.confinement, method.dropped
    who = f"method {cell['method']['name']!r} ({mode_name(cell)} mode)"
    di = out.diag_index
    w2s_tu = scoring.check_probs(out.w2s["train_unlabel"], len(di), who)
    w2s_te = scoring.check_probs(out.w2s["test"], len(te), who)
    ceil_te = scoring.check_probs(out.ceiling["test"], len(te), f"ceiling ({mode_name(cell)} mode)")
    weak_tu, weak_te = weak["train_unlabel"], weak["test"]

    weak_acc, ceil_acc = scoring.accuracy(weak_te, te.a_is_better), scoring.accuracy(ceil_te, te.a_is_better)
    w2s_acc = scoring.accuracy(w2s_te, te.a_is_better)
    metrics = {
        "weak_acc": weak_acc, "ceiling_acc": ceil_acc, "w2s_acc": w2s_acc, "gap": ceil_acc - weak_acc,
        "pgr": scoring.pgr(weak_acc, w2s_acc, ceil_acc),
        **scoring.copying_diagnostics(w2s_tu, weak_tu[di], tu.a_is_better[di]),
        "student_weak_agreement_test": scoring.agreement(w2s_te, weak_te), "w2s_ece_test": scoring.ece(w2s_te, te.a_is_better),
        "n_train_label": len(tl), "n_train_unlabel": len(tu), "n_test": len(te), "n_train_unlabel_scored": len(di),
        **{f"method_{k}": float(v) for k, v in method_diagnostics.items()},
        "boundary_namespaces": float(confinement == "namespaces"),  # the harness's knowledge, never the method's
        "boundary_dropped_diagnostics": float(len(dropped)),
        **{k: float(v) for k, v in shared.recipe.items()},  # the roles' cross-validated penalties (transfer/roles.py)
        **{f"mode_{k}": float(v) for k, v in out.diagnostics.items()},
    }
    ids, subsets = inputs.column("pairs", "example_id"), inputs.column("pairs", "subset")
    rows = [("test", role, ids[te.index], subsets[te.index], probs, te.a_is_better)
            for role, probs in (("weak", weak_te), ("ceiling", ceil_te), ("w2s", w2s_te))]
    tu_i = tu.index[di]
    rows += [("train_unlabel", role, ids[tu_i], subsets[tu_i], probs, tu.a_is_better[di])
             for role, probs in (("weak", weak_tu[di]), ("w2s", w2s_tu))]

    if ood is not None:
        ood_ids, ood_sub = inputs.column("ood", "example_id"), inputs.column("ood", "subset")
        for role, probs in (("weak", weak["ood"]), ("ceiling", out.ceiling["ood"]), ("w2s", out.w2s["ood"])):
            probs = scoring.check_probs(probs, len(ood), role)
            metrics[f"ood_{role}_acc"] = scoring.accuracy(probs, ood.a_is_better)
            rows.append(("ood", role, ood_ids[ood.index], ood_sub[ood.index], probs, ood.a_is_better))
        metrics["n_ood"] = len(ood)
    tags = {"boundary.confinement": confinement,
            **({"boundary.dropped_diagnostics": "; ".join(dropped)[:2000]} if dropped else {})}
    return CellResult(cell=cell, metrics=metrics, predictions=scoring.prediction_frame(rows), started_ms=started_ms,
                      tags=tags)
