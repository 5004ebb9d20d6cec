"""deploy/kuberay-ladder.yaml: the GPU scale ladder as a KubeRay RayJob has what KubeRay requires, its entrypoint's
lab sweep composes on the ladder's base setting, and its ladder job names a ladder that loads and whose every rung
composes. `kubectl` needs a cluster CI does not have: it is not run."""

from __future__ import annotations

import shlex

import yaml

from jobs import ladder as jl
from jobs import submit
from jobs.grid import expand
from transfer import paths

JOB = paths.repo_root() / "deploy" / "kuberay-ladder.yaml"


def steps() -> list[tuple[str, list[str]]]:
    out = []
    for part in yaml.safe_load(JOB.read_text())["spec"]["entrypoint"].split("&&"):
        words = shlex.split(part)
        if words[:2] == ["python", "-m"]:
            out.append((words[2], words[3:]))
    return out


def test_the_ladder_rayjob_is_a_rayjob_with_gpus_and_a_tracking_server():
    job = yaml.safe_load(JOB.read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    gpus = [int(c["resources"]["limits"].get("nvidia.com/gpu", 0))
            for w in spec["rayClusterSpec"]["workerGroupSpecs"] for c in w["template"]["spec"]["containers"]]
    assert max(gpus) >= 1
    env = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    assert env[submit.INSIDE] == "1" and env["MLFLOW_TRACKING_URI"].startswith("http") and env["HF_HUB_OFFLINE"] == "0"


def test_the_entrypoint_climbs_the_gpu_ladder_from_its_own_lab():
    (sweep_mod, sweep_args), (ladder_mod, ladder_args) = steps()
    assert (sweep_mod, ladder_mod) == ("jobs.sweep", "jobs.ladder")
    sweep = expand(sweep_args)
    a = jl.parser().parse_args(ladder_args)
    lad = jl.load_ladder(a.ladder)
    assert a.lab == sweep.base["study"] and {c.setting for c in sweep.cells} == {lad["setting"]}
    assert lad["production"]["model"] == "qwen2_5_7b" and len(lad["rungs"]) == 3
