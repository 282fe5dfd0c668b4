"""The node side of a cluster attempt (`wfobj exec`): fetch, run, report.

1. fetch the attempt spec's closure (spec and input blobs) into the node-local store:
   the server lists the closure's ids, the node keeps those it holds as `haves`, and
   only the rest comes, as one pack verified block by block (objstore.sync machinery);
2. run the spec with the node's Docker through the same DockerExecutor as a local
   attempt (same isolation, output collection and evidence fields);
3. store an `attempt_report` (engine/executors/attempts.py), send what of its closure the server
   lacks in verified packs, and submit the report.

The server is an AttemptServer (the HTTP one is cli/client/attempts.py); nothing here assumes
a filesystem shared with the server.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from wfobj.engine.errors import SecretUnavailable
from wfobj.objstore import ObjectId, ObjectStore
from wfobj.objstore.car import IterStream, ReceiveStats, receive_pack
from wfobj.objstore.sync import find_missing, missing_ids, plan_packs

from .attempts import load_spec, report_object
from .base import AttemptResult, Executor
from .caps import ContainerLimits
from .secret_values import GivenSecrets

MOUNTS = "/proc/mounts"
# LMDB's locks and mmap are not coherent across machines on these (LMDB's own caveat):
# a node store there could be opened by two nodes at once and damaged
NETWORK_FS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "ceph", "glusterfs",
    "fuse.glusterfs", "fuse.sshfs", "fuse.cephfs", "fuse.s3fs", "lustre", "gpfs", "beegfs",
    "9p", "virtiofs", "ocfs2", "gfs2", "panfs", "fuse.juicefs", "fuse.rclone"})


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash in names as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def network_filesystem(path: str, mounts: str | None = None) -> str | None:
    """The network filesystem type `path` would live on (its longest mount point in
    /proc/mounts), or None when that mount is local. os.statvfs cannot tell: it has no
    filesystem type."""
    target = os.path.abspath(path)
    best, fstype = "", None
    with open(mounts or MOUNTS, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 3:
                continue
            point = _unescape(fields[1])
            inside = target == point or target.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, fstype = point, fields[2]
    return fstype if fstype in NETWORK_FS else None


class AttemptServer:
    """What the node asks of the server, for the one attempt its token grants."""

    def list_objects(self, wants: Sequence[str], haves: Sequence[str]) -> list[ObjectId]:
        raise NotImplementedError

    def fetch_pack(self, wants: Sequence[str], haves: Sequence[str]) -> Iterable[bytes]:
        raise NotImplementedError

    def missing(self, ids: Sequence[str]) -> list[ObjectId]:
        raise NotImplementedError

    def send_pack(self, pieces: Iterable[bytes], size: int) -> ReceiveStats:
        raise NotImplementedError

    def submit_report(self, report_oid: str) -> None:
        raise NotImplementedError

    def secret_values(self) -> dict[str, bytes]:
        """The values of the attempt's secrets (asked only when its spec uses some),
        held in memory only; SecretUnavailable naming one the server cannot give."""
        raise NotImplementedError


@dataclass
class ExecReport:
    """What one `wfobj exec` did: bytes and objects each way, and the attempt's end."""

    spec: str
    report: str
    state: str
    fetched_objects: int = 0
    fetched_bytes: int = 0
    sent_objects: int = 0
    sent_bytes: int = 0

    def to_json(self) -> dict:
        return dict(self.__dict__)


def fetch_closure(store: ObjectStore, server: AttemptServer, spec_oid: str) -> ReceiveStats:
    """Bring the spec and its inputs into `store`: only what it lacks, each verified."""
    if spec_oid in store:
        return ReceiveStats(0, 0, 0)
    listed = server.list_objects([spec_oid], [])
    lacking = set(missing_ids(store, listed))
    haves = [oid for oid in listed if oid not in lacking]
    return receive_pack(store, IterStream(server.fetch_pack([spec_oid], haves)))


def send_closure(store: ObjectStore, server: AttemptServer, root: str) -> tuple[int, int]:
    """Send what the server lacks below `root`; returns (objects, bytes)."""
    objects = size = 0
    for pack in plan_packs(store, find_missing(store, server, [root])):
        server.send_pack(pack.pieces, pack.size)
        objects += len(pack.oids)
        size += pack.size
    return objects, size


def execute(store: ObjectStore, server: AttemptServer, spec_oid: str,
            executor_factory: Callable[[ContainerLimits], Executor], *,
            node: str | None = None, cancel: threading.Event | None = None) -> ExecReport:
    """Fetch, run and report one attempt. A task failure is a report too; only a server
    that cannot be reached or refuses raises."""
    fetched = fetch_closure(store, server, spec_oid)
    spec, limits = load_spec(store, spec_oid)
    executor = executor_factory(limits)
    if spec.secrets:
        executor.secret_source = node_secrets(server)
    try:
        result = executor.run(spec, store, cancel or threading.Event())
    finally:
        executor.close()
    if node:
        result.host = {**result.host, "name": node}
    report_oid = store_report(store, spec_oid, spec, result)
    objects, size = send_closure(store, server, report_oid)
    server.submit_report(report_oid)
    return ExecReport(spec_oid, report_oid, result.state, fetched.stored, fetched.bytes,
                      objects, size)


def node_secrets(server: AttemptServer) -> GivenSecrets:
    """The attempt's secret values from the server, in memory (never the node store)."""
    try:
        return GivenSecrets(server.secret_values())
    except SecretUnavailable as exc:
        return GivenSecrets({}, exc)


def store_report(store: ObjectStore, spec_oid: str, spec, result: AttemptResult) -> ObjectId:
    return store.put_object(report_object(spec_oid, spec, result).to_value())
