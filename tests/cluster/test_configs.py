"""The cluster configs users adapt parse, validate, and run the real `ttsearch run` command line."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import click
import pytest
import yaml

from ttsearch.main import app

CLUSTER_DIR = Path(__file__).resolve().parents[2] / "cluster"
SLURM_SCRIPT = CLUSTER_DIR / "slurm" / "ttsearch-slurm.sh"


def parse_ttsearch_run(argv: list[str]) -> click.Context:
    """Parse ``argv`` (starting at ``ttsearch``) with the real `run` command, without running it."""
    assert argv[:2] == ["ttsearch", "run"], argv
    run_command = app.commands["run"]
    return run_command.make_context("run", list(argv[2:]), resilient_parsing=False)


def test_ray_up_yaml_passes_rays_own_schema_and_enables_token_auth() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((CLUSTER_DIR / "ray-up-h100.yaml").read_text())
    validate_config(prepare_config(config))
    workers = config["available_node_types"]["h100_worker"]
    assert workers["resources"]["GPU"] == 8 and workers["node_config"]["InstanceType"] == "p5.48xlarge"
    assert config["available_node_types"][config["head_node_type"]]["resources"] == {"CPU": 0}
    for command in config["head_start_ray_commands"][1:] + config["worker_start_ray_commands"][1:]:
        assert "RAY_AUTH_MODE=token ray start" in command
    assert config["file_mounts"] == {"~/.ray/auth_token": "~/.ray/auth_token"}


def _ray_containers(pod_spec: dict) -> list[dict]:
    return [c for c in pod_spec["containers"] if c["name"].startswith("ray-")]


def _check_token_env(container: dict) -> None:
    env = {e["name"]: e for e in container["env"]}
    assert env["RAY_AUTH_MODE"]["value"] == "token", container["name"]
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "ttsearch-ray-auth", "key": "auth_token"}


def _check_cluster_spec(spec: dict) -> set[str]:
    """Checks a RayClusterSpec; returns the mount paths of the shared experiments volume."""
    assert spec["rayVersion"] == "2.60.0"
    pods = [spec["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in spec["workerGroupSpecs"]]
    mount_paths = set()
    for pod in pods:
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
                  if "persistentVolumeClaim" in v}
        assert claims == {"experiments": "ttsearch-experiments"}
        for container in _ray_containers(pod):
            _check_token_env(container)
            mount_paths |= {m["mountPath"] for m in container["volumeMounts"] if m["name"] == "experiments"}
    for group in spec["workerGroupSpecs"]:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "8"
    return mount_paths


def test_kuberay_raycluster_manifest() -> None:
    docs = list(yaml.safe_load_all((CLUSTER_DIR / "kuberay" / "raycluster.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "RayCluster"]
    pvc, cluster = docs
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["metadata"]["name"] == "ttsearch-experiments"
    assert cluster["apiVersion"] == "ray.io/v1"
    assert _check_cluster_spec(cluster["spec"]) == {"/mnt/experiments"}


def test_kuberay_rayjob_runs_a_valid_ttsearch_command_on_the_shared_volume() -> None:
    docs = list(yaml.safe_load_all((CLUSTER_DIR / "kuberay" / "rayjob.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["RayJob"]
    job = docs[0]
    assert job["apiVersion"] == "ray.io/v1" and job["spec"]["shutdownAfterJobFinishes"] is True
    mounts = _check_cluster_spec(job["spec"]["rayClusterSpec"])
    ctx = parse_ttsearch_run(shlex.split(job["spec"]["entrypoint"]))
    assert ctx.params["address"] == "auto"
    assert ctx.params["storage"] in mounts
    assert "storage.shared=true" in ctx.params["overrides"]
    head = job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    space_mounts = {m["mountPath"] for c in head["containers"] for m in c["volumeMounts"] if m["name"] == "spaces"}
    assert Path(ctx.params["space_file"]).parent.as_posix() in space_mounts
    _check_token_env(job["spec"]["submitterPodTemplate"]["spec"]["containers"][0])


def _run_slurm(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TTSEARCH_", "RAY_"))}
    return subprocess.run(["bash", str(SLURM_SCRIPT), *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=30)


def test_slurm_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(SLURM_SCRIPT)], check=True, timeout=30)
    assert os.access(SLURM_SCRIPT, os.X_OK)


def test_slurm_dry_run_prints_head_workers_and_a_valid_ttsearch_run() -> None:
    result = _run_slurm(["--dry-run", "spaces/quickstart.yaml", "--set", "num_samples=16", "--resume"],
                        SLURM_JOB_NODELIST="gpu[007-009],big01", SLURM_GPUS_PER_NODE="h100:8",
                        SLURM_CPUS_PER_TASK="64", SLURM_JOB_ID="4242", TTSEARCH_STORAGE="/lustre/scratch/me/tt",
                        RAY_PORT="6380", PATH="/usr/bin:/bin")  # no scontrol: the built-in expander
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line[2:].removesuffix(" &")) for line in result.stdout.splitlines()
                if line.startswith("+ ") and "wait_for_nodes" not in line]
    starts = [c for c in commands if c[:1] == ["srun"] and "start" in c]
    assert [c[c.index("-w") + 1] for c in starts] == ["gpu007", "gpu008", "gpu009", "big01"]
    head, workers = starts[0], starts[1:]
    assert "--head" in head and "--port=6380" in head and "--num-gpus=8" in head and "--num-cpus=64" in head
    assert all("--address=HEAD-IP-OF-gpu007:6380" in w and "--block" in w for w in workers)
    assert "RAY_AUTH_MODE=token" in result.stdout
    run_line = next(c for c in commands if c[:2] == ["ttsearch", "run"])
    ctx = parse_ttsearch_run(run_line)
    assert ctx.params["address"] == "HEAD-IP-OF-gpu007:6380"
    assert ctx.params["storage"] == "/lustre/scratch/me/tt" and ctx.params["name"] == "ttsearch-4242"
    assert ctx.params["resume"] is True and ctx.params["overrides"] == ("num_samples=16",)
    assert commands[-1][:1] == ["srun"] and commands[-1][-3:] == ["ray", "stop", "--force"]


@pytest.mark.parametrize("args,env,message", [
    ([], {}, "usage:"),
    (["no/such/space.yaml"], {}, "space file 'no/such/space.yaml' does not exist"),
    ([str(CLUSTER_DIR / "ray-up-h100.yaml")], {}, "TTSEARCH_STORAGE is not set"),
])
def test_slurm_script_refuses_bad_input_before_starting_anything(args: list[str], env: dict, message: str) -> None:
    result = _run_slurm(args, **env)
    assert result.returncode == 2 and message in result.stderr
    assert "srun" not in result.stdout


def test_readme_walks_through_all_three_configs() -> None:
    readme = (CLUSTER_DIR / "README.md").read_text()
    for name in ("ray-up-h100.yaml", "kuberay/raycluster.yaml", "kuberay/rayjob.yaml", "slurm/ttsearch-slurm.sh",
                 "ttsearch submit", "RAY_AUTH_TOKEN_PATH", "storage.shared"):
        assert name in readme, name
