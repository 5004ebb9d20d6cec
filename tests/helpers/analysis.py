"""Studies written into a real store for the analysis tests: simulated cells as the sweep would log them."""

from __future__ import annotations

import numpy as np

from analysis.simulate import predictions
from transfer import store as st
from transfer.store.writer import StudyWriter


FAST = ["bootstrap=300"]  # keeps the suite fast; statistics are checked against references, not against B


def write_study(uri: str, name: str, cells, examples, with_predictions: bool = True, seed: int = 0) -> str:
    """Experiment = study, parent run tagged transfer.role=study, one FINISHED child run per cell: written by the
    store's own writer, as a sweep writes them."""
    writer = StudyWriter(name, uri, parent_tags={
        "git_sha": "sim", "settings": ",".join(sorted(cells.setting.unique())),
        "methods": ",".join(sorted(cells.method.unique()))})
    rng = np.random.default_rng(seed)
    for c in cells.itertuples():
        tags = {"setting": c.setting, "method": c.method, "seed": str(c.seed), "dataset": c.dataset,
                "ood_dataset": "", "weak_model": "sim-weak", "strong_model": "sim-strong", "training_mode": "head",
                "config_hash": f"{c.setting}-{c.method}-{c.seed}", "git_sha": "sim"}
        metrics = {"weak_acc": c.weak_acc, "ceiling_acc": c.ceiling_acc, "w2s_acc": c.w2s_acc, "gap": c.gap,
                   "pgr": c.pgr, "n_test": c.n_test}
        files = {st.PREDICTIONS: predictions(examples, c.setting, c.seed, c.method, rng),
                 st.CELL_CONFIG: {"simulated": True}} if with_predictions else None
        writer.log_run(f"{c.setting}-{c.method}-{c.seed}", tags, metrics, files=files, note="simulated")
    writer.finish()
    return writer.parent_id
