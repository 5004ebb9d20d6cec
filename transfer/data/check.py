"""Load every dataset a sweep's cells name once, in the driver, before Ray or MLflow start: a missing file or a
malformed line is one clear error (file, line, what to fix), printed once — not once per cell after the services
came up, with a FAILED parent run left behind."""

from __future__ import annotations

import json


def check_datasets(cells) -> None:
    """cells: transfer.grid.CellSpec list. Raises the loader's DataError/ConfigError for the first bad source."""
    from transfer.data import load_dataset_from_config

    seen = set()
    for spec in cells:
        setting = spec.config["setting"]
        for cfg in (setting["data"], setting.get("ood")):
            key = json.dumps(cfg, sort_keys=True, default=str) if cfg else None
            if key and key not in seen:
                seen.add(key)
                load_dataset_from_config(cfg)
