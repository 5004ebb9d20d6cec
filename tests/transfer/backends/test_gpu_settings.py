"""The GPU-only settings compose into what a cluster needs (they cannot run here: no GPU, no hub)."""

import pytest


@pytest.mark.parametrize("setting", ["gpu_lab_qwen", "gpu_production_qwen"])
def test_gpu_settings_serve_hub_models_through_vllm_on_gpus(compose_cfg, setting):
    s = compose_cfg(f"setting={setting}")["setting"]
    for role in ("weak", "strong"):
        model, backend = s[role], s[f"{role}_backend"]
        assert model["pretrained"].startswith("Qwen/") and model["asset"] is None
        assert backend["name"] == "vllm" and backend["url"] is None and backend["ray_actor"]
        assert backend["num_gpus"] == backend["tensor_parallel_size"] >= 1
        assert backend["max_model_len"] >= model["max_tokens"] and backend["dtype"] == "bfloat16"
        assert backend["kv_cache_gib"] is None and backend["cpu_threads_bind"] is None  # CPU-only knobs off
    assert s["strong"]["params_m"] > 5 * s["weak"]["params_m"]


def test_production_gpu_setting_is_tensor_parallel(compose_cfg):
    s = compose_cfg("setting=gpu_production_qwen")["setting"]
    assert s["strong"]["params_m"] >= 14000 and s["strong_backend"]["tensor_parallel_size"] >= 2
