"""`make assets`: fetch, verify (sha256) and assemble the model assets of conf/model/*.yaml into $TRANSFER_HOME/assets.

    python -m jobs.assets                # every model config that has an `asset:` block
    python -m jobs.assets smollm2_135m   # only these
"""

from __future__ import annotations

import argparse
import sys

from omegaconf import OmegaConf

from transfer import paths
from transfer.assets import fetch
from transfer.errors import AssetError


def model_configs() -> dict[str, dict]:
    return {path.stem: OmegaConf.to_container(OmegaConf.load(path), resolve=False)
            for path in sorted((paths.config_dir() / "model").glob("*.yaml"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jobs.assets", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="model configs (conf/model/<name>.yaml); default: every one with an asset")
    a = ap.parse_args(argv)
    configs = model_configs()
    try:
        for name in a.names or [n for n, c in configs.items() if c.get("asset")]:
            if name not in configs or not configs[name].get("asset"):
                raise AssetError(f"no model config conf/model/{name}.yaml with an asset: block "
                                 f"(known: {sorted(n for n, c in configs.items() if c.get('asset'))})")
            fetch(name, configs[name]["asset"])
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
