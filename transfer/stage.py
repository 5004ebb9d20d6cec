"""The per-setting input stage: every model call a study makes before its cells run, cached by content.

For one (setting, dataset): load the data, extract (or load cached) the weak and strong models' features of it and
of its OOD set, and, if some method of the sweep asks for them, the strong LM's zero-shot label log-probs in each
prompt format asked. One model (or one vLLM server) per role does all of it. Cells then get arrays only: no cell
loads a model or starts a server for its view (the training modes `prompt` and `lora` are themselves model compute).
"""

from __future__ import annotations

from transfer.backends import LazyBackend
from transfer.data import load_dataset_from_config
from transfer.features.extract import extract_pair_features
from transfer.inputs import CellInputs, zero_shot_key
from transfer.modes.prompts import zero_shot_logprobs


def build_cell_inputs(setting: dict, shard_size: int, zero_shot_formats: list[dict] = ()) -> CellInputs:
    pairs = load_dataset_from_config(setting["data"])
    ood = load_dataset_from_config(setting["ood"]) if setting.get("ood") else None
    fmt = setting["data"]["format"]
    features, zero_shot = {}, {}
    for role in ("weak", "strong"):
        model, backend_cfg = setting[role], setting[f"{role}_backend"]
        with LazyBackend(backend_cfg, model) as backend:  # one model (or one server) for all of the role's work
            features[role] = extract_pair_features(pairs, model, backend_cfg, fmt, shard_size, backend)
            if ood is not None:
                features[f"{role}_ood"] = extract_pair_features(ood, model, backend_cfg, fmt, shard_size, backend)
            if role == "strong":
                for zs_fmt in zero_shot_formats:
                    zero_shot[zero_shot_key(zs_fmt)] = zero_shot_logprobs(pairs, model, backend_cfg, zs_fmt,
                                                                          shard_size, backend)
    return CellInputs(pairs=pairs, ood=ood, features=features, zero_shot=zero_shot)
