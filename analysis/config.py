"""The analysis settings: conf/analysis/default.yaml, plus `key=value` overrides (OmegaConf dotlist)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

DEFAULT = Path(__file__).resolve().parent.parent / "conf" / "analysis" / "default.yaml"
CORRECTIONS = ("holm", "fdr_bh")
CI_METHODS = ("t", "percentile")


class AnalysisError(ValueError):
    """A setting (or a plan's) the user must fix; the CLIs print it as one line. Anything else keeps its traceback."""


def load_config(overrides: list[str] | None = None, path: Path | None = None) -> dict:
    path = Path(path or DEFAULT)
    if not path.exists():
        raise FileNotFoundError(f"analysis config not found: {path} (expected conf/analysis/default.yaml)")
    cfg = OmegaConf.load(path)
    if overrides:
        unknown = [o.split("=", 1)[0] for o in overrides if o.split("=", 1)[0] not in cfg]
        if unknown:
            raise AnalysisError(f"unknown analysis setting(s) {unknown}; known: {sorted(cfg.keys())}")
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
        except OmegaConfBaseException as exc:
            raise AnalysisError(f"analysis settings {overrides}: {str(exc).splitlines()[0]}") from None
    out = OmegaConf.to_container(cfg, resolve=True)
    if out["correction"] not in CORRECTIONS:
        raise AnalysisError(f"correction={out['correction']!r}: use one of {CORRECTIONS}")
    if out["ci_method"] not in CI_METHODS:
        raise AnalysisError(f"ci_method={out['ci_method']!r}: use one of {CI_METHODS}")
    if not 0 < out["alpha"] < 1 or out["sesoi"] <= 0 or out["bootstrap"] < 100:
        raise AnalysisError("analysis config: need 0 < alpha < 1, sesoi > 0, bootstrap >= 100")
    if not 0 < out["ratio_floor"] < 1 or not 0 < out["power"] < 1:
        raise AnalysisError("analysis config: need 0 < ratio_floor < 1 and 0 < power < 1")
    return out
