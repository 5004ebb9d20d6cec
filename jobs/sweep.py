"""Ray job entry point: compose the sweep with Hydra, run it, print the per-method table.

    python -m jobs.sweep experiment=demo
    python -m jobs.sweep study=mine grid.methods=[vanilla,logconf] grid.seeds=[0,1,2] setting.data.max_pairs=600
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from transfer import config as _resolvers  # noqa: F401  (registers ${transfer_data:})
from transfer.submit import maybe_submit
from transfer.sweep import env_defaults, main as sweep_main


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    env_defaults()
    code = sweep_main(list(HydraConfig.get().overrides.task))
    if code:
        sys.exit(code)


if __name__ == "__main__":
    maybe_submit("jobs.sweep")  # with RAY_ADDRESS set: run as a Ray Job on that cluster, logs streamed here
    main()
