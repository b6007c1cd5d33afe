"""Multi-node clusters need shared storage (cluster/storage.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from cluster.storage import SHARED_FS_TYPES, StorageKind, check_storage_for_cluster, filesystem_type, read_mount_table
from vocab.errors import UsageError

# Lines in the real /proc/mounts format, as an HPC login node shows them.
HPC_MOUNTS = """\
/dev/sda2 / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw,nosuid,nodev 0 0
nfs01:/export/home /home nfs4 rw,relatime,vers=4.2 0 0
10.0.0.5@o2ib:/scratch /lustre/scratch lustre rw,flock 0 0
/dev/nvme0n1 /lustre/scratch/local-cache xfs rw 0 0
gpfs0 /gpfs/my\\040projects gpfs rw,relatime 0 0
"""


@pytest.fixture
def mounts(tmp_path: Path) -> Path:
    path = tmp_path / "mounts"
    path.write_text(HPC_MOUNTS)
    return path


@pytest.mark.parametrize("uri", ["s3://bucket/exp", "gs://bucket/exp", "GCS://b/x", "abfss://c@a/x", "hdfs://nn/x"])
def test_remote_uris_are_shared(uri: str) -> None:
    assert check_storage_for_cluster(uri, node_count=4) is StorageKind.REMOTE_URI


def test_single_node_accepts_any_local_path() -> None:
    assert check_storage_for_cluster("./ttsearch_results", node_count=1) is StorageKind.SINGLE_NODE
    assert check_storage_for_cluster("file:///tmp/x", node_count=1) is StorageKind.SINGLE_NODE


def test_mount_table_longest_prefix_wins(mounts: Path) -> None:
    table = read_mount_table(mounts)
    assert filesystem_type("/home/alice/exp", table) == "nfs4"
    assert filesystem_type("/lustre/scratch/alice/not-yet-created", table) == "lustre"
    assert filesystem_type("/lustre/scratch/local-cache/x", table) == "xfs"
    assert filesystem_type("/gpfs/my projects/x", table) == "gpfs"  # \040 is a space
    assert filesystem_type("/tmp/x", table) == "tmpfs"
    assert filesystem_type("/", table) == "ext4"


def test_network_filesystems_are_shared_and_local_disks_are_not(mounts: Path) -> None:
    for path in ("/home/alice/exp", "/lustre/scratch/alice", "/gpfs/my projects/x", "file:///home/a"):
        assert check_storage_for_cluster(path, 3, mounts_file=mounts) is StorageKind.SHARED_FILESYSTEM
    for path in ("/tmp/exp", "/lustre/scratch/local-cache/x", "/var/exp"):
        with pytest.raises(UsageError) as info:
            check_storage_for_cluster(path, 3, where="spaces/x.yaml: storage.path", mounts_file=mounts)
        message = str(info.value)
        assert message.startswith("spaces/x.yaml: storage.path: the Ray cluster has 3 nodes")
        assert repr(path) in message and "s3://" in message and "storage.shared: true" in message


def test_declared_shared_path_is_accepted(mounts: Path) -> None:
    assert check_storage_for_cluster("/tmp/exp", 2, declared_shared=True, mounts_file=mounts) \
        is StorageKind.DECLARED_SHARED


def test_this_machines_temp_dir_is_judged_from_the_real_mount_table(tmp_path: Path) -> None:
    fs_type = filesystem_type(tmp_path, read_mount_table())
    if fs_type in SHARED_FS_TYPES:
        assert check_storage_for_cluster(str(tmp_path), 2) is StorageKind.SHARED_FILESYSTEM
    else:
        with pytest.raises(UsageError, match="nodes but"):
            check_storage_for_cluster(str(tmp_path), 2, where="--storage")


@pytest.mark.parametrize("path,nodes,match", [
    ("", 2, "storage path is ''"),
    ("ftp://host/x", 2, "scheme 'ftp'"),
    ("/x", 0, "node count is 0"),
])
def test_bad_inputs_name_the_problem(path: str, nodes: int, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        check_storage_for_cluster(path, nodes)
