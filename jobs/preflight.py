"""Load every dataset a sweep's cells name once, in the driver, before Ray or MLflow start: a missing file or a
malformed line is one clear error (file, line, column, what to fix), printed once — not once per cell after the
services came up, with a FAILED parent run left behind. The same pass refuses a method (or training mode) that does
not support a dataset's task kind, and an OOD set of another kind than its dataset."""

from __future__ import annotations

import json
import warnings

from transfer.config import mode_name
from transfer.data import load_dataset_from_config
from transfer.errors import DataError, DataWarning
from transfer.methods import check_kind
from transfer.sandbox.client import describe


def check_datasets(cells, say=print) -> None:
    """cells: jobs.grid.CellSpec list. Raises the loader's DataError/ConfigError for the first bad source. Data a
    loader skipped is said once per dataset, as a `[data]` line, without the warning's source line."""
    loaded, checked, notes = {}, set(), []
    for spec in cells:
        setting = spec.config["setting"]
        sets = []
        for cfg in (setting["data"], setting.get("ood")):
            key = json.dumps(cfg, sort_keys=True, default=str) if cfg else None
            if key and key not in loaded:
                with warnings.catch_warnings(record=True) as said:  # what a loader skipped: one line each, here
                    warnings.simplefilter("always", DataWarning)     # (the input stage's tasks stay quiet)
                    loaded[key] = load_dataset_from_config(cfg)
                for w in said:
                    if issubclass(w.category, DataWarning):
                        note = f"[data] {w.message}"
                        notes += [note] if note not in notes else []
                    else:
                        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            sets.append(loaded[key] if key else None)
        data, ood = sets
        if ood is not None and ood.kind != data.kind:
            raise DataError(f"dataset {data.name!r} is {data.kind} but its OOD set {ood.name!r} is {ood.kind}: "
                            f"set `ood:` in its data yaml to an OOD set of the same kind, or null")
        method = spec.config["method"]
        what = (method["name"], data.name, data.kind, mode_name(spec.config))
        if what not in checked:
            checked.add(what)
            # asked of the method's own process: method code never runs in the driver
            check_kind(describe(method, spec.config.get("runtime")), data.kind, what[3], data.name)
        cap = setting["data"].get("max_pairs")
        if cap and ood is not None and not setting["ood"].get("max_pairs"):
            note = (f"[data] max_pairs={cap} limits {data.name!r} only; the OOD set {ood.name!r} keeps all its "
                    f"{len(ood)} examples (setting.ood.max_pairs=N, or +setting.ood.max_pairs=N, limits it)")
            if note not in notes:
                notes.append(note)
    for note in notes:
        say(note)
