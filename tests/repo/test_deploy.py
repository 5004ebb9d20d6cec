"""deploy/ (docs/cluster.md): the Ray cluster launcher file passes Ray's own validation (what `ray up` runs before
it contacts a machine), the KubeRay RayJob has the structure KubeRay requires, both run only make targets and jobs/
modules that exist, and the RayJob's entrypoint composes with Hydra into the GPU ladder it means. `ray up` and
`kubectl` need machines CI does not have: they are not run."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml
from hydra import compose, initialize_config_dir

from jobs import submit
from jobs.grid import expand
from transfer import paths
import transfer.config

ROOT = paths.repo_root()
LAUNCHER, RAYJOB = ROOT / "deploy" / "ray-cluster.yaml", ROOT / "deploy" / "kuberay-rayjob.yaml"


def make_targets() -> set[str]:
    text = "\n".join(p.read_text() for p in [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))])
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, re.M))


def make_calls(commands: list[str]) -> list[tuple[str, dict[str, str]]]:
    """(target, VAR=value assignments) of each `make ...` in shell command lines."""
    out = []
    for line in commands:
        for m in re.finditer(r"\bmake ([^;&|)]*)", line):
            words = shlex.split(m.group(1).split(">")[0])
            out.append((next(w for w in words if "=" not in w), dict(w.split("=", 1) for w in words if "=" in w)))
    return out


def test_the_cluster_launcher_file_passes_rays_own_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load(LAUNCHER.read_text())
    cfg = prepare_config(raw)
    validate_config(cfg)  # ray-schema.json, node types, worker counts
    assert cfg["max_workers"] == len(raw["provider"]["worker_ips"])
    head, worker = " ".join(cfg["head_start_ray_commands"]), " ".join(cfg["worker_start_ray_commands"])
    assert "ray start --head --port=6379" in head and "--dashboard-port=8265" in head
    assert "ray start --address=$RAY_HEAD_IP:6379" in worker
    assert set(submit.EXCLUDES) & {".venv", ".transfer", "mlruns.db", "mlartifacts"} <= set(raw["rsync_exclude"])
    commands = cfg["setup_commands"] + cfg["head_setup_commands"] + cfg["head_start_ray_commands"]
    calls = make_calls(commands)
    assert {t for t, _ in calls} <= make_targets() and ("venv", {}) in calls
    assert ("tracking-server", {"TRACKING_HOST": "0.0.0.0"}) in calls  # reachable from the workers
    tracking_mk = (ROOT / "mk" / "tracking.mk").read_text()
    assert all(f"$({var})" in tracking_mk for t, kv in calls if t == "tracking-server" for var in kv)


def test_rays_validation_is_strict_enough_to_mean_something():
    """The check above would catch a misspelled key: Ray refuses it."""
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load(LAUNCHER.read_text())
    raw["setup_comands"] = raw.pop("setup_commands")
    with pytest.raises(jsonschema.ValidationError, match="setup_comands"):
        validate_config(prepare_config(raw))


def test_the_rayjob_has_what_kuberay_requires(compose_cfg):
    job = yaml.safe_load(RAYJOB.read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob" and job["metadata"]["name"]
    spec = job["spec"]
    assert spec["entrypoint"] and spec["submissionMode"] in ("K8sJobMode", "HTTPMode", "InteractiveMode")
    assert spec["shutdownAfterJobFinishes"] is True  # the GPUs go back when the ladder is done
    cluster = spec["rayClusterSpec"]
    assert re.fullmatch(r"2\.\d+\.\d+", cluster["rayVersion"])
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for g in groups:
        assert all(isinstance(v, str) for v in g["rayStartParams"].values())  # the CRD's map[string]string
        pod = g["template"]["spec"]
        assert pod["containers"] and all(c["name"] and c["image"] for c in pod["containers"])
        mounts = {m["name"] for c in pod["containers"] for m in c.get("volumeMounts", [])}
        assert mounts <= {v["name"] for v in pod.get("volumes", [])}, "a volumeMount without its volume"
    for w in cluster["workerGroupSpecs"]:
        assert w["groupName"] and w["minReplicas"] <= w["replicas"] <= w["maxReplicas"]
    # a worker holds as many GPUs as the largest vLLM server of the ladder (tensor parallel on one node)
    need = max(compose_cfg(f"setting={s}")["setting"][f"{r}_backend"]["num_gpus"]
               for s in ("gpu_lab_qwen", "gpu_production_qwen") for r in ("weak", "strong"))
    gpus = [int(c["resources"]["limits"].get("nvidia.com/gpu", 0)) for w in cluster["workerGroupSpecs"]
            for c in w["template"]["spec"]["containers"]]
    assert need == 2 and max(gpus) >= need
    for w in cluster["workerGroupSpecs"]:  # Kubernetes: an extended resource's request equals its limit
        for c in w["template"]["spec"]["containers"]:
            assert c["resources"]["requests"].get("nvidia.com/gpu") == c["resources"]["limits"].get("nvidia.com/gpu")
    env = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    assert env[submit.INSIDE] == "1"  # KubeRay sets RAY_ADDRESS in the job: without this it would resubmit itself
    assert env["MLFLOW_TRACKING_URI"].startswith("http")  # a pod cannot reach a sqlite file elsewhere


def test_inside_a_job_the_entry_point_runs_instead_of_submitting_again(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:1")  # nothing there: a submission would fail loudly
    monkeypatch.setenv(submit.INSIDE, yaml.safe_load(yaml.safe_load(RAYJOB.read_text())["spec"]["runtimeEnvYAML"])
                       ["env_vars"][submit.INSIDE])
    assert submit.maybe_submit("jobs.sweep", ["study=x"]) is None


def entrypoint_steps() -> list[tuple[str, list[str]]]:
    steps = []
    for part in yaml.safe_load(RAYJOB.read_text())["spec"]["entrypoint"].split("&&"):
        words = shlex.split(part)
        if words[:2] == ["python", "-m"]:
            steps.append((words[2], words[3:]))
        else:
            assert words[0] == "cd", f"unexpected entrypoint step {part!r}"
    return steps


def test_the_rayjob_entrypoint_is_the_gpu_ladder_and_composes():
    steps = entrypoint_steps()
    assert [m for m, _ in steps] == ["jobs.sweep", "jobs.replay"]
    for module, _ in steps:
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), module
    sweep = expand(steps[0][1])  # the sweep's own composition: Hydra config -> cell specs
    assert {c.setting for c in sweep.cells} == {"gpu_lab_qwen"} and len(sweep.cells) == 2 * 5
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        replay = transfer.config.to_plain(compose("replay/default", overrides=steps[1][1]))["replay"]
        assert replay["lab"] == sweep.base["study"] and replay["setting"] == "gpu_production_qwen"
        production = compose("config", overrides=[f"setting={replay['setting']}", *replay["overrides"]])
    assert production.setting.strong_backend.tensor_parallel_size == 2
