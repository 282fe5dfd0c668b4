"""Builders for sync tests: runs and workflow versions made directly as objects."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.support_e2e import ROOT, free_port
from wfobj.engine.model import RunManifest, RunTasks, WorkflowVersion, read
from wfobj.engine.upkeep.sync_policy import EngineRefPolicy
from wfobj.objstore import Link, ObjectStore, init_store
from wfobj.objstore.fsck import fsck_store


def make_run(
    store: ObjectStore, *, tasks: int = 3, seed: bytes | None = None, big: int = 0
) -> tuple[str, str]:
    """A run-shaped object graph (blobs → evidence → bucket → manifest) and its
    `runs/<id>` ref. The manifest and its bucket are valid typed objects (what the ref
    policy reads); the record and evidence below only carry links. Returns (ref name,
    manifest hash). `big` adds a chunked blob of that many bytes, linked by the record."""
    seed = seed if seed is not None else os.urandom(8)
    run_id = str(uuid.uuid4())
    record_value: dict = {"type": "run_record", "run_id": run_id, "seed": seed}
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
