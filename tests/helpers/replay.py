"""The replay's config (conf/replay/default.yaml) for a simulated lab study."""

from __future__ import annotations

from omegaconf import OmegaConf

from transfer import paths


def rcfg(**over) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(paths.config_dir() / "replay" / "default.yaml"))["replay"]
    cfg.update(lab="simlab", study="simlab-replay", analysis=["bootstrap=300"])
    for k, v in over.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) else v
    return cfg


# planted truths of the replay-plan tests: a lab where logconf gains and its production where it does not
TRUTH = {"lab": {"pgr": {"vanilla": 0.2, "logconf": 0.5, "confident_only": 0.2}, "seed_sd": 0.04, "method_sd": 0.03}}
PROD = {"production": {"pgr": {"vanilla": 0.2, "logconf": 0.2}, "seed_sd": 0.04, "method_sd": 0.03}}
