"""Ray job entry point: replay a lab study's winners on a production setting under a pre-registered plan.

    python -m jobs.replay replay.lab=demo replay.setting=production
    python -m jobs.replay replay.lab=aar replay.lab_dataset=chat replay.setting=production
With RAY_ADDRESS set, the command submits itself as a Ray Job (transfer/submit.py) and streams its logs.
"""

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from transfer import config as _resolvers  # noqa: F401  (registers ${transfer_data:})
from transfer.submit import maybe_submit
from transfer.sweep import env_defaults


@hydra.main(version_base="1.3", config_path="../conf", config_name="replay/default")
def main(cfg: DictConfig) -> None:
    env_defaults()
    from transfer.replay import main as replay_main

    code = replay_main(OmegaConf.to_container(cfg.replay, resolve=True, throw_on_missing=True))
    if code:
        sys.exit(code)


if __name__ == "__main__":
    maybe_submit("jobs.replay")
    main()
