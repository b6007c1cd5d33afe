"""Is an experiment's storage path reachable from every node of a Ray cluster?

Why: Ray removed syncing trial folders to the head node in 2.7. On a cluster of several nodes
each trial writes its results and checkpoints to ``storage_path`` *from the node it runs on*, and
the driver (and ``Tuner.restore``) reads them back from the head. A node-local path therefore
splits an experiment over several disks: results go missing and resume fails. So a multi-node run
needs storage that every node sees at the same path.

What counts as shared (any one is enough):

1. A URI with a remote scheme Ray Tune writes through pyarrow: ``s3://``, ``gs://``/``gcs://``,
   ``hdfs://``, ``abfs://``/``abfss://``/``az://`` (see ``REMOTE_SCHEMES``).
2. A local path the user *declares* shared (space ``storage.shared: true`` or the CLI flag the
   driver maps onto it). Use this for a directory that every node mounts at the same path but
   that we cannot recognise: a bind mount, or several Ray nodes on one machine (as in the tests).
3. A local path on a network or cluster file system, recognised from the mount table
   (``/proc/mounts``): NFS, CIFS/SMB, Lustre, GPFS/Spectrum Scale, BeeGFS, CephFS, GlusterFS,
   WekaFS, and FUSE mounts of those or of object stores (see ``SHARED_FS_TYPES``). HPC scratch
   and home directories usually fall here, so SLURM users rarely need to declare anything.

A single-node cluster accepts any path. ``file://`` URIs are local paths.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from vocab.errors import UsageError

REMOTE_SCHEMES = frozenset({"s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "az"})

# File system types (third column of /proc/mounts) that are network or cluster file systems.
SHARED_FS_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs",
    "wekafs", "panfs", "orangefs", "pvfs2", "ocfs2", "gfs2", "afs", "9p", "virtiofs",
    "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "fuse.juicefs",
    "fuse.cephfs", "fuse.mountpoint-s3", "fuse.blobfuse", "fuse.blobfuse2", "fuse.weka",
})

DEFAULT_MOUNTS_FILE = "/proc/mounts"

SHARED_STORAGE_EXPECTED = (
    "an s3:// or gs:// URI, a path on a network file system mounted at the same place on every "
    "node (NFS, Lustre, GPFS, ...), or `storage.shared: true` in the space for a directory you "
    "know every node sees"
)


class StorageKind(str, Enum):
    """Why a storage path was judged usable for the cluster."""

    REMOTE_URI = "remote_uri"
    DECLARED_SHARED = "declared_shared"
    SHARED_FILESYSTEM = "shared_filesystem"
    SINGLE_NODE = "single_node"  # node-local, fine because there is only one node


@dataclass(frozen=True)
class MountEntry:
    """One line of a mount table: where a file system is mounted and its type."""

    mount_point: str
    fs_type: str


def _unescape_mount_field(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    for escaped, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(escaped, char)
    return field


def read_mount_table(mounts_file: str | os.PathLike[str] = DEFAULT_MOUNTS_FILE) -> list[MountEntry]:
    """Parse a mount table in the /proc/mounts format; an unreadable file gives an empty table."""
    try:
        text = Path(mounts_file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            entries.append(MountEntry(_unescape_mount_field(fields[1]), fields[2]))
    return entries


def filesystem_type(path: str | os.PathLike[str], mounts: list[MountEntry]) -> str | None:
    """Type of the file system holding ``path``: the mount with the longest matching prefix.

    ``path`` need not exist yet (an experiment folder is created by the run); it is made absolute
    and symlinks in its existing part are resolved.
    """
    resolved = PurePosixPath(os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(path)))))
    best: MountEntry | None = None
    for entry in mounts:
        mount_point = PurePosixPath(entry.mount_point)
        if resolved == mount_point or mount_point in resolved.parents:
            if best is None or len(mount_point.parts) >= len(PurePosixPath(best.mount_point).parts):
                best = entry  # later lines shadow earlier ones at the same mount point
    return best.fs_type if best else None


def uri_scheme(storage_path: str) -> str:
    """Lower-case scheme of a URI (``"s3"``), or ``""`` for a plain local path."""
    if "://" not in storage_path:
        return ""
    return urlparse(storage_path).scheme.lower()


def check_storage_for_cluster(
    storage_path: str,
    node_count: int,
    declared_shared: bool = False,
    where: str = "storage.path",
    mounts_file: str | os.PathLike[str] = DEFAULT_MOUNTS_FILE,
) -> StorageKind:
    """Raise ``UsageError`` when a cluster of ``node_count`` nodes is given node-local storage.

    Call it in the driver after ``ray.init`` with the number of alive nodes. Returns why the path
    is acceptable. ``where`` names the field in messages (e.g. ``"spaces/x.yaml: storage.path"``
    or ``"--storage"``); ``mounts_file`` exists for tests that supply their own mount table.
    """
    if not isinstance(storage_path, str) or not storage_path.strip():
        raise UsageError(f"storage path is {storage_path!r}", where=where,
                         expected="a local path or a URI such as s3://bucket/experiments")
    if node_count < 1:
        raise UsageError(f"node count is {node_count}", where=where, expected="at least 1 node")
    scheme = uri_scheme(storage_path)
    if scheme in REMOTE_SCHEMES:
        return StorageKind.REMOTE_URI
    if scheme not in ("", "file"):
        raise UsageError(
            f"storage URI scheme {scheme!r} in {storage_path!r} is not supported", where=where,
            expected=f"one of {', '.join(sorted(REMOTE_SCHEMES))}, file://, or a local path",
        )
    local_path = urlparse(storage_path).path if scheme == "file" else storage_path
    if node_count == 1:
        return StorageKind.SINGLE_NODE
    if declared_shared:
        return StorageKind.DECLARED_SHARED
    fs_type = filesystem_type(local_path, read_mount_table(mounts_file))
    if fs_type is not None and fs_type.lower() in SHARED_FS_TYPES:
        return StorageKind.SHARED_FILESYSTEM
    found = f"a local {fs_type} file system" if fs_type else "a file system not in the mount table"
    raise UsageError(
        f"the Ray cluster has {node_count} nodes but {storage_path!r} is on {found}: trials on "
        "other nodes would write their results and checkpoints to their own disks, and the "
        "experiment could not be collected or resumed",
        where=where, expected=SHARED_STORAGE_EXPECTED,
    )
