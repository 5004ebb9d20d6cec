"""Ray job entry point: read the sweep's Hydra overrides once (jobs.grid), run its cells, print the table
(jobs/summary.py).

    python -m jobs.sweep experiment=demo
    python -m jobs.sweep study=mine grid.methods=[vanilla,logconf] grid.seeds=[0,1,2] setting.data.max_pairs=600
    python -m jobs.sweep study=mine method=logconf seed=3            # a one-method, one-seed grid
    python -m jobs.sweep study=x method.alpha_max=0.5               # a method field: the grid's methods that have it

The arguments are Hydra overrides of conf/config.yaml; `setting=`, `method=`, `dataset=` and `seed=` set the grid
(`grid.settings`, `grid.methods`, `grid.datasets`, `grid.seeds`). An unknown key is one line naming the closest
known one ("unknown key grid.seed: did you mean grid.seeds?"). Hydra's own options (-m/--multirun, --cfg, ...) are refused: a
sweep is one study and its grid is its multirun. Bad overrides fail with one line before Ray or MLflow start (with
RAY_ADDRESS set, before the Ray Job is submitted).

With `grid.power_seeds` set ({effect, max}), `grid.seeds` is a pilot: after it, the sweep runs as many seeds as the
lab verdicts need for the target power (jobs/power_seeds.py), up to `max`, then prints the lab verdicts.
"""

import logging
import sys

from jobs.driver import run
from jobs.grid import Sweep, expand
from jobs.preflight import check_datasets
from jobs.submit import maybe_submit
from jobs.summary import summarize
from transfer import env, paths
from transfer.errors import TransferError


def main(argv: list[str] | None = None) -> int:
    """The process exit code: 0 done, 1 some cells failed, 2 a one-line error."""
    argv = sys.argv[1:] if argv is None else list(argv)
    env.apply()
    if {"-h", "--help"} & set(argv):
        print(__doc__)
        return 0
    try:
        sweep = expand(_overrides(argv))
    except TransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    maybe_submit("jobs.sweep", argv)  # with RAY_ADDRESS set: run as a Ray Job on that cluster, logs streamed here
    try:  # where the cells run (here, or inside the Ray Job): bad data is one line before Ray or MLflow start
        check_datasets(sweep.cells)
    except TransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,  # what @hydra.main's job logging showed
                        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    code = run(sweep)
    if code != 2:
        print(summarize(sweep.base["study"], _uri(sweep)), flush=True)
    if sweep.base["grid"].get("power_seeds") and code != 2:
        code = _power_seeds(sweep) or code
    return code


def _uri(sweep: Sweep) -> str:
    return sweep.base["runtime"]["tracking_uri"] or paths.default_tracking_uri()


def _overrides(argv: list[str]) -> list[str]:
    for arg in argv:
        if arg in ("-m", "--multirun"):
            raise TransferError("multirun (-m) is not supported: a sweep is one study; list its values in "
                                "grid.settings=[...], grid.methods=[...], grid.seeds=[...] (or method=a,b seed=0,1)")
        if arg.startswith("-"):
            raise TransferError(f"unsupported option {arg!r}: python -m jobs.sweep takes Hydra overrides "
                                f"(key=value) only, e.g. study=x grid.methods=[vanilla] (see conf/config.yaml)")
    return list(argv)


def _power_seeds(sweep: Sweep) -> int:
    from jobs.power_seeds import lab_verdict_lines, seeds_needed

    study, grid = sweep.base["study"], sweep.base["grid"]
    uri = _uri(sweep)
    count, lines = seeds_needed(study, uri, grid)
    print("\n".join(["[power] seeds from the pilot's per-seed SD (grid.power_seeds):", *[f"[power]   {x}" for x in lines]]),
          flush=True)
    code = 0
    if count > len(grid["seeds"]):
        first = min(grid["seeds"])
        code = run(sweep.with_seeds(sorted(set(grid["seeds"]) | set(range(first, first + count)))[:count]))
        print(summarize(study, uri), flush=True)
    print("\n".join(["[power] lab verdicts (make report STUDY=" + study + " for the full report):",
                     *[f"[power]   {x}" for x in lab_verdict_lines(study, uri)]]), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
