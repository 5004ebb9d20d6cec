"""Ray job entry point: compose the sweep with Hydra, run it, print the per-method table.

    python -m jobs.sweep experiment=demo
    python -m jobs.sweep study=mine grid.methods=[vanilla,logconf] grid.seeds=[0,1,2] setting.data.max_pairs=600

With `grid.power_seeds` set ({effect, max}), `grid.seeds` is a pilot: after it, the sweep runs as many seeds as the
lab verdicts need for the target power (jobs/power_seeds.py), up to `max`, then prints the lab verdicts.
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from transfer import config as _resolvers  # noqa: F401  (registers ${transfer_data:})
from transfer.submit import maybe_submit
from transfer.sweep import env_defaults, main as sweep_main


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    env_defaults()
    overrides = list(HydraConfig.get().overrides.task)
    code = sweep_main(overrides)
    grid = OmegaConf.to_container(cfg.grid, resolve=True)
    if grid.get("power_seeds") and code != 2:
        code = _power_seeds(cfg, grid, overrides) or code
    if code:
        sys.exit(code)


def _power_seeds(cfg: DictConfig, grid: dict, overrides: list[str]) -> int:
    from jobs.power_seeds import lab_verdict_lines, seeds_needed
    from transfer import paths

    uri = cfg.runtime.tracking_uri or paths.default_tracking_uri()
    count, lines = seeds_needed(cfg.study, uri, grid)
    print("\n".join(["[power] seeds from the pilot's per-seed SD (grid.power_seeds):", *[f"[power]   {x}" for x in lines]]),
          flush=True)
    code = 0
    if count > len(grid["seeds"]):
        first = min(grid["seeds"])
        seeds = sorted(set(grid["seeds"]) | set(range(first, first + count)))[:count]
        code = sweep_main([o for o in overrides if not o.startswith("grid.seeds=")]
                          + [f"grid.seeds=[{','.join(map(str, seeds))}]"])
    print("\n".join(["[power] lab verdicts (make report STUDY=" + cfg.study + " for the full report):",
                     *[f"[power]   {x}" for x in lab_verdict_lines(cfg.study, uri)]]), flush=True)
    return code


if __name__ == "__main__":
    maybe_submit("jobs.sweep")  # with RAY_ADDRESS set: run as a Ray Job on that cluster, logs streamed here
    main()
