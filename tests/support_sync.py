"""Builders for sync tests: runs and workflow versions made directly as objects."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from tests.support_e2e import ROOT, free_port
from wfobj.engine.model import RunManifest, RunTasks, WorkflowVersion, read
from wfobj.engine.upkeep.sync_policy import EngineRefPolicy
from wfobj.objstore import Link, ObjectStore, init_store
from wfobj.objstore.car import (
    IterStream,
    block_bytes,
    block_of,
    header_bytes,
    iter_pack,
    receive_pack,
)
from wfobj.objstore.fsck import fsck_store
from wfobj.objstore.sync import Remote
from wfobj.objstore.trees import TreeBuilder, read_tree


def make_run(
    store: ObjectStore, *, tasks: int = 3, seed: bytes | None = None, big: int = 0,
    links: dict[str, Link] | None = None,
) -> tuple[str, str]:
    """A run-shaped object graph (blobs → evidence → bucket → manifest) and its
    `runs/<id>` ref. The manifest and its bucket are valid typed objects (what the ref
    policy reads); the record and evidence below only carry links. Returns (ref name,
    manifest hash). `big` adds a chunked blob of that many bytes, linked by the record,
    and `links` more fields of the record (a tree of outputs, say)."""
    seed = seed if seed is not None else os.urandom(8)
    run_id = str(uuid.uuid4())
    record_value: dict = {"type": "run_record", "run_id": run_id, "seed": seed,
                          **(links or {})}
    if big:
        oid, _ = store.put_stream(io.BytesIO(os.urandom(big)))
        record_value["big"] = Link.blob(oid)
    record = store.put_object(record_value)
    rows = []
    prev_audit = None
    for index in range(tasks):
        out = store.put_blob(seed + b"output %d " % index + os.urandom(64))
        log = store.put_blob(b"stdout of task %d for " % index + seed)
        ev = {
            "type": "task_evidence",
            "task": f"t{index}",
            "outputs": [Link.blob(out)],
            "stdout": Link.blob(log),
        }
        rows.append({"name": f"t{index}", "state": "success",
                     "attempts": [Link.obj(store.put_object(ev))]})
        audit = {"type": "audit_event", "seq": index, "prev": prev_audit}
        prev_audit = Link.obj(store.put_object(audit))
    bucket = store.put_object(RunTasks(run_id=run_id, first=0, tasks=rows).to_value())
    manifest = RunManifest(run_id=run_id, run=Link.obj(record), state="success",
                           tasks=[Link.obj(bucket)], task_count=tasks, audit=prev_audit,
                           audit_count=tasks)
    mid = store.put_object(manifest.to_value())
    name = f"runs/{run_id}"
    assert store.add_ref_if_new(name, mid)
    return name, mid


def make_workflow_version(
    store: ObjectStore, name: str, body: str, previous: str | None = None
) -> str:
    """A workflow_version object linking its definition and the version before it."""
    definition = store.put_object({"type": "definition", "name": name, "body": body})
    number = read(store, previous, WorkflowVersion).version + 1 if previous else 1
    version = WorkflowVersion(
        name=name, version=number, definition=Link.obj(definition), registered_by="sync-test",
        registered_at="2026-12-04T00:00:00.000000Z",
        previous=Link.obj(previous) if previous else None)
    return store.put_object(version.to_value())


def wide_tree(store: ObjectStore, files: int, big: int = 0, big_size: int = 6 << 20
               ) -> tuple[str, list[str]]:
    """A tree of one folder: `files` tiny files, then (by name) `big` chunked files of
    `big_size` random bytes. Returns (tree hash, the big files' hashes)."""
    builder = TreeBuilder(store)
    for index in range(files):
        builder.add_file(f"f{index:06d}", io.BytesIO(b"file %d " % index + os.urandom(8)))
    for index in range(big):
        builder.add_file(f"z{index:03d}", io.BytesIO(os.urandom(big_size)))
    root = builder.finish().oid
    entries = read_tree(store, root).entries
    return root, [e.oid for e in entries if e.name.startswith("z")]


def deliver(source: ObjectStore, target: ObjectStore, oids: Iterable[str]) -> None:
    """Copy `oids` (children first) to `target` as a pack, as a push cut short would."""
    receive_pack(target, IterStream(iter_pack(source, oids)))


def sent_bytes(store: ObjectStore, oids: Iterable[str], packs: int) -> int:
    """The wire bytes of sending `oids` from `store` in `packs` packs."""
    return packs * len(header_bytes()) + sum(
        len(block_bytes(*block_of(store, oid))) for oid in oids)


class CutRemote:
    """Any Remote whose transport dies after `packs` packs: a push killed part-way."""

    def __init__(self, remote: Remote, packs: int):
        self.remote, self.packs = remote, packs

    def send_pack(self, pieces, size):
        if self.packs == 0:
            raise ConnectionError("transport died")
        self.packs -= 1
        return self.remote.send_pack(pieces, size)

    def __getattr__(self, name: str):
        return getattr(self.remote, name)


def set_workflow(store: ObjectStore, name: str, oid: str) -> None:
    ref = f"workflows/{name}"
    current = dict(store.refs()).get(ref)
    assert store.set_ref_if_equals(ref, current, oid)


def verify_store(store: ObjectStore) -> int:
    """`wfobj fsck` must find the store clean (hashes, canonical form, chunked content,
    closure, refs). Returns the number of objects."""
    report = fsck_store(store)
    assert report.ok, [str(d) for d in report.damage]
    return report.total


class RecordingPolicy(EngineRefPolicy):
    """The engine's ref policy, remembering each batch of refs it was told moved."""

    def __init__(self) -> None:
        self.moved: list[list[str]] = []

    def refs_updated(self, store: ObjectStore, names: list[str]) -> None:
        self.moved.append(list(names))
        super().refs_updated(store, names)


def sync_app(store: ObjectStore, policy: EngineRefPolicy | None = None):
    """A Falcon app with only the sync routes (and the API's error mapping) over `store`."""
    import falcon

    from wfobj.api import errors
    from wfobj.api.sync import add_sync_routes

    app = falcon.App()
    errors.install(app)
    add_sync_routes(app, store, policy or EngineRefPolicy())
    return app


def bare_sync_app():
    """gunicorn entry for server tests: only the sync routes over $WFOBJ_STORE."""
    from wfobj.objstore import open_store

    return sync_app(open_store(os.environ["WFOBJ_STORE"]))


def serve_sync(store_path: Path) -> tuple[subprocess.Popen, str]:
    """gunicorn serving only the sync routes over a new store at `store_path`; (process, url)."""
    init_store(store_path).close()
    port = free_port()
    env = dict(os.environ, WFOBJ_STORE=str(store_path))
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "--pythonpath",
            str(ROOT),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "tests.support_sync:bare_sync_app()",
        ],
        env=env,
        cwd=ROOT,
    )
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("gunicorn exited") from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("gunicorn did not start")
