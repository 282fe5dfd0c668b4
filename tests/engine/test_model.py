"""Typed stored objects: each type round-trips through its structured form, and a stored
object with an unknown field, without a required one, or of another type fails with an
error naming its hash (also at the API edge)."""

from __future__ import annotations

import io
from dataclasses import replace

import blake3
import pytest

from tests.support_api import make_api
from tests.support_engine import chain, run_with, service, trigger
from wfobj.engine.clock import parse_time
from wfobj.engine.errors import InvalidStoredObject
from wfobj.engine.executors.attempts import load_report, load_spec, report_object, spec_object
from wfobj.engine.executors.base import AttemptResult, InputFile, OutputFile, StoredText, TaskSpec
from wfobj.engine.executors.caps import ContainerLimits
from wfobj.engine.model import (
    BY_NAME,
    TYPES,
    AttemptReport,
    AttemptSpec,
    AuditEvent,
    CacheKey,
    RunManifest,
    RunRecord,
    RunTaskPage,
    RunTasks,
    TaskEvidence,
    WorkflowVersion,
    read,
)
from wfobj.engine.provenance.explain import components
from wfobj.engine.runs.state import RunState, run_ref
from wfobj.objstore import CODEC_RAW, Link, TreeBuilder, closure_ids


def finished_run(store) -> RunState:
    run_id = trigger(service(store), chain("a", "b"))
    run_with(store, run_id)
    return RunState.load(store, run_id)


def test_types_are_registered_once_by_name():
    assert len(BY_NAME) == len(TYPES)
    assert set(BY_NAME) == {"workflow_version", "image", "task_evidence", "run_record",
                            "run_tasks", "run_task_page", "audit_event", "run_manifest", "attempt_spec",
                            "attempt_report", "task_key", "definition", "schedule_version"}


def test_workflow_versions_read_back_typed_and_chain(store):
    svc = service(store)
    svc.apply_workflow("wf", chain("a"), user="alice")
    svc.apply_workflow("wf", chain("a", "b"), user="bob")
    head = read(store, store.get_ref("workflows/wf"), WorkflowVersion)
    assert (head.name, head.version, head.registered_by) == ("wf", 2, "bob")
    first = read(store, head.previous.oid, WorkflowVersion)
    assert (first.version, first.previous) == (1, None)
    assert "previous" not in first.to_value()
    assert store.put_object(head.to_value()) == store.get_ref("workflows/wf")


def test_a_real_run_reads_back_as_typed_objects_that_round_trip(store):
    run = finished_run(store)
    manifest = read(store, run.manifest_oid, RunManifest)
    assert (manifest.run_id, manifest.state, manifest.task_count) == (run.run_id, "success", 2)
    assert manifest.previous is not None and manifest.to_value() == store.get_object(
        run.manifest_oid)
    assert manifest.tasks == [] and manifest.task_states == {"success": 2}
    page = read(store, manifest.pages[0].oid, RunTaskPage)
    assert (page.run_id, page.first, len(page.buckets)) == (run.run_id, 0, 1)
    bucket = read(store, page.buckets[0].oid, RunTasks)
    assert [row["name"] for row in bucket.tasks] == ["a", "b"]
    ev = read(store, run.tasks["b"].attempts[-1], TaskEvidence)
    assert (ev.task, ev.state, ev.attempt) == ("b", "success", 1)
    assert store.put_object(ev.to_value()) == run.tasks["b"].attempts[-1]  # same bytes
    record = read(store, manifest.run.oid, RunRecord)
    assert (record.run_id, record.cache, record.resumes) == (run.run_id, False, None)
    assert "resumes" not in record.to_value() and store.put_object(record.to_value()) == (
        manifest.run.oid)
    head = read(store, manifest.audit.oid, AuditEvent)
    assert (head.seq, head.from_, head.to) == (manifest.audit_count, "running", "success")
    assert head.to_value()["from"] == "running" and "from_" not in head.to_value()
    assert store.put_object(head.to_value()) == manifest.audit.oid


def test_the_first_manifest_has_no_previous_field(store):
    run_id = trigger(service(store), chain("a"))
    oid = store.get_ref(run_ref(run_id))
    assert "previous" not in store.get_object(oid)
    assert read(store, oid, RunManifest).previous is None


def test_an_older_manifest_without_later_fields_still_reads(store):
    run = finished_run(store)
    value = store.get_object(run.manifest_oid)
    for late in ("started_at", "ended_at", "audit_count", "updated_at", "workflow"):
        del value[late]
    oid = store.put_object(value)
    old = read(store, oid, RunManifest)
    assert (old.started_at, old.audit_count, old.workflow) == (None, 0, None)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda v: v.update(bogus=1), "unknown field(s) bogus"),
    (lambda v: v.pop("state"), "missing field(s) state"),
    (lambda v: v.update(type="note"), "it is a 'note'"),
])
def test_a_bad_stored_object_names_its_hash(store, change, problem):
    run = finished_run(store)
    value = store.get_object(run.manifest_oid)
    change(value)
    oid = store.put_object(value)
    with pytest.raises(InvalidStoredObject) as info:
        read(store, oid, RunManifest)
    assert info.value.oid == oid and info.value.type_name == "run_manifest"
    assert str(info.value) == f"object {oid} is not a valid run_manifest: {problem}"


def test_evidence_with_an_unknown_field_is_refused_at_the_api_naming_it():
    from wfobj.objstore import MemoryObjectStore

    api = make_api(MemoryObjectStore())
    store = api.store
    run = finished_run(store)
    ev_oid = run.tasks["a"].attempts[-1]
    forged = {**store.get_object(ev_oid), "smuggled": "x"}
    with run.change(store, "2026-12-03T10:00:00.000000Z") as b:
        bad = b.put_object(forged)
        run.tasks["a"].attempts[-1] = bad
        run.dirty.add(0)
    resp = api.client.simulate_get(f"/api/runs/{run.run_id}/tasks/a", headers=api.h("reader"))
    assert resp.status_code == 500
    assert resp.json["title"] == "Invalid stored object"
    assert bad in resp.json["description"] and "smuggled" in resp.json["description"]
    ok = api.client.simulate_get(f"/api/runs/{run.run_id}/tasks/b", headers=api.h("reader"))
    assert ok.status_code == 200 and ok.json["state"] == "success"


# ---- attempt specs and reports, task keys ------------------------------------------
RUN_ID = "01a2376e-0000-7000-8000-000000000002"


def attempt_spec(store) -> tuple[TaskSpec, ContainerLimits]:
    text = store.put_blob(b"hello node\n")
    spec = TaskSpec(run_id=RUN_ID, task="upper", attempt=2, image="wfobj/toolbox:local",
                    command=["sh", "-c", "tr a-z A-Z < /in/text > /out/up.txt"],
                    env={"LC_ALL": "C"}, workdir="/work", network=False, cpus=1.5,
                    memory="64m", timeout=60.25, inputs=[InputFile("text", text, 11)],
                    output_files=["up.txt"], output_vars=["done"], pids=32)
    return spec, ContainerLimits(memory=512 << 20, pids=256, cpus=2.0)


def attempt_result(store) -> AttemptResult:
    out = store.put_blob(b"HELLO NODE\n")
    log = store.put_blob(b"")
    return AttemptResult(
        state="success", exit_code=0, stdout=StoredText(log, 0, ""),
        stderr=StoredText(log, 0, ""),
        started_at=parse_time("2026-12-04T00:01:02.000003Z"),
        ended_at=parse_time("2026-12-04T00:01:04.500000Z"), image_id="sha256:" + "ab" * 32,
        image_digests=["wfobj/toolbox@sha256:" + "cd" * 32],
        outputs=[OutputFile("up.txt", out, 11)], vars={"done": "yes"},
        host={"name": "node1", "docker_version": "27.1"}, workdir="/work",
        limits={"memory": 64 << 20, "pids": 32, "cpus": 1.5})


def stored_as(store, typed, layout: dict) -> str:
    """`typed` stores as exactly `layout` (same bytes, same hash) and reads back equal."""
    assert typed.to_value() == layout
    oid = store.put_object(typed.to_value())
    assert oid == store.put_object(layout)
    assert read(store, oid, type(typed)) == typed
    return oid


def test_an_attempt_spec_is_stored_in_the_same_bytes_and_reads_back(store):
    spec, limits = attempt_spec(store)
    typed = spec_object(spec, limits)
    # the field layout of docs/object-model.md, as a literal: the typed class must not
    # change a stored spec's bytes (and so its hash)
    layout = {
        "type": "attempt_spec", "run_id": RUN_ID, "task": "upper", "attempt": 2,
        "image": "wfobj/toolbox:local", "command": list(spec.command), "env": {"LC_ALL": "C"},
        "workdir": "/work", "network": False, "cpus": "1.5", "memory": "64m",
        "timeout": "60.25", "pids": 32,
        "inputs": [{"name": "text", "blob": Link(spec.inputs[0].oid, CODEC_RAW), "size": 11}],
        "output_files": ["up.txt"], "output_vars": ["done"],
        "default_limits": {"memory": 512 << 20, "pids": 256, "cpus": "2"}}
    oid = stored_as(store, typed, layout)
    assert load_spec(store, oid) == (spec, limits)


def test_an_attempt_report_is_stored_in_the_same_bytes_and_reads_back(store):
    spec, limits = attempt_spec(store)
    spec_oid = store.put_object(spec_object(spec, limits).to_value())
    result = attempt_result(store)
    typed = report_object(spec_oid, spec, result)
    stream = {"blob": Link(result.stdout.oid, CODEC_RAW), "size": 0, "text": ""}
    layout = {
        "type": "attempt_report", "spec": Link(spec_oid), "run_id": RUN_ID, "task": "upper",
        "attempt": 2, "state": "success", "exit_code": 0, "stdout": stream,
        "stderr": stream, "started_at": "2026-12-04T00:01:02.000003Z",
        "ended_at": "2026-12-04T00:01:04.500000Z", "image_id": result.image_id,
        "image_digests": result.image_digests,
        "outputs": [{"path": "up.txt", "kind": "file",
                     "blob": Link(result.outputs[0].oid, CODEC_RAW), "size": 11}],
        "vars": {"done": "yes"}, "host": {"name": "node1", "docker_version": "27.1"},
        "workdir": "/work", "error": None,
        "limits": {"memory": 64 << 20, "pids": 32, "cpus": "1.5"}}
    oid = stored_as(store, typed, layout)
    assert load_report(store, oid) == (spec_oid, result)


def test_directories_travel_in_specs_and_reports_as_links_to_their_trees(store):
    """A `dir` input is linked as a tree in the spec (its closure holds every file of it),
    a directory output as a tree in the report; a file input keeps its form from before
    trees. A report whose directory links a blob is refused."""
    tree = put_directory_of(store, {"a.txt": b"A", "sub/b.txt": b"B"})
    spec, limits = attempt_spec(store)
    spec = replace(spec, inputs=[*spec.inputs, InputFile("data", tree.oid, tree.size, "dir")])
    value = spec_object(spec, limits).to_value()
    assert value["inputs"][0] == {"name": "text", "blob": Link(spec.inputs[0].oid, CODEC_RAW),
                                  "size": 11}
    assert value["inputs"][1] == {"name": "data", "kind": "dir", "tree": Link(tree.oid),
                                  "size": 2}
    spec_oid = store.put_object(value)
    assert load_spec(store, spec_oid) == (spec, limits)
    assert set(closure_ids(store, [spec_oid], [])) >= {tree.oid, b3(b"A"), b3(b"B")}
    result = replace(attempt_result(store),
                     outputs=[OutputFile("parts", tree.oid, tree.size, "dir")])
    report = report_object(spec_oid, spec, result).to_value()
    assert report["outputs"] == [{"path": "parts", "kind": "dir", "tree": Link(tree.oid),
                                  "size": 2}]
    assert load_report(store, store.put_object(report)) == (spec_oid, result)
    forged = {**report, "outputs": [{"path": "parts", "kind": "dir", "tree": Link(b3(b"A")),
                                     "size": 1}]}
    with pytest.raises(InvalidStoredObject, match="does not link a dir"):
        load_report(store, store.put_object(forged))


def put_directory_of(store, files: dict[str, bytes]):
    builder = TreeBuilder(store)
    for path, data in files.items():
        builder.add_file(path, io.BytesIO(data))
    return builder.finish()


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def test_a_task_key_reads_back_typed_and_round_trips(store):
    run_id = trigger(service(store), chain("a", "b"), cache=True)
    run_with(store, run_id)
    run = RunState.load(store, run_id)
    ev = read(store, run.tasks["b"].attempts[-1], TaskEvidence)
    key = read(store, ev.cache_key.oid, CacheKey)
    assert key.to_value() == store.get_object(ev.cache_key.oid)
    assert store.put_object(key.to_value()) == ev.cache_key.oid
    assert key.command == ev.command and key.network is False
    parts = components(key)
    assert parts["image_id"] == key.image_id and parts["outputs.files"] == []


def stored_spec(store) -> str:
    return store.put_object(spec_object(*attempt_spec(store)).to_value())


def stored_report(store) -> str:
    spec, limits = attempt_spec(store)
    spec_oid = store.put_object(spec_object(spec, limits).to_value())
    return store.put_object(report_object(spec_oid, spec, attempt_result(store)).to_value())


def stored_key(store) -> str:
    run_id = trigger(service(store), chain("a"), cache=True)
    run_with(store, run_id)
    run = RunState.load(store, run_id)
    return read(store, run.tasks["a"].attempts[-1], TaskEvidence).cache_key.oid


NEW_TYPES = {"attempt_spec": (stored_spec, AttemptSpec, "default_limits"),
             "attempt_report": (stored_report, AttemptReport, "spec"),
             "task_key": (stored_key, CacheKey, "image_id")}


@pytest.mark.parametrize("kind", NEW_TYPES)
@pytest.mark.parametrize("change", ["unknown", "missing"])
def test_a_new_type_refuses_unknown_and_missing_fields_naming_the_hash(store, kind, change):
    make, cls, required = NEW_TYPES[kind]
    value = store.get_object(make(store))
    if change == "unknown":
        value["smuggled"] = 1
        problem = "unknown field(s) smuggled"
    else:
        del value[required]
        problem = f"missing field(s) {required}"
    oid = store.put_object(value)
    with pytest.raises(InvalidStoredObject) as info:
        read(store, oid, cls)
    assert (info.value.oid, info.value.type_name) == (oid, kind)
    assert str(info.value) == f"object {oid} is not a valid {kind}: {problem}"


@pytest.mark.parametrize(("load", "make", "change", "problem"), [
    (load_spec, stored_spec, lambda v: v.update(type="attempt_report"),
     "it is a 'attempt_report'"),
    (load_spec, stored_spec, lambda v: v["inputs"][0].update(blob="not a link"),
     "AttributeError"),
    (load_spec, stored_spec, lambda v: v.update(cpus="many"), "ValueError"),
    (load_report, stored_report, lambda v: v.update(state="great"),
     "state 'great' is not one of"),
    (load_report, stored_report, lambda v: v.update(started_at="yesterday"), "ValueError"),
    (load_report, stored_report, lambda v: v.pop("limits"), "missing field(s) limits"),
])
def test_a_bad_attempt_object_is_refused_naming_its_hash(store, load, make, change, problem):
    value = store.get_object(make(store))
    change(value)
    oid = store.put_object(value)
    with pytest.raises(InvalidStoredObject) as info:
        load(store, oid)
    assert info.value.oid == oid and problem in info.value.problem
