"""Methods loaded from their shipped yaml, and views with other weak labels."""

from __future__ import annotations

import numpy as np

from transfer.methods import StudentView, load_method


def with_weak(view: StudentView, weak: np.ndarray) -> StudentView:
    return StudentView(**{**view.__dict__, "weak_probs": np.asarray(weak, dtype=np.float64)})


def method(name, **over):
    from omegaconf import OmegaConf
    from transfer import paths
    cfg = OmegaConf.to_container(OmegaConf.load(paths.config_dir() / "method" / f"{name}.yaml"))
    return load_method({**cfg, **over})
