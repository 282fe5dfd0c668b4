"""One contract for engine.service_protocol.Service, run against both implementations:
the engine's WorkflowService on a local LMDB store (runs executed in-process by `wait`)
and cli.remote.RemoteService talking to a real `wfobj serve` (its workers run them).
Both run real containers."""

from __future__ import annotations

import inspect
import io
import uuid

import blake3
import pytest

from tests.support_e2e import start_server
from wfobj.cli.client.service import RemoteService
from wfobj.cli.context import docker_executor_factory
from wfobj.engine.protocol import Service
from wfobj.engine.service import WorkflowService
from wfobj.engine.states import RunStatus, TaskStatus
from wfobj.objstore import (
    DirectoryArchive,
    MemoryObjectStore,
    PathNotInTree,
    WfobjError,
    init_store,
    put_directory,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = "wfobj/toolbox:local"
COUNT = {
    "params": {"corpus": {"type": "file"}},
    "tasks": {
        "count": {"image": IMAGE,
                  "command": ["sh", "-c", "wc -w < /in/corpus | tr -d ' ' > /out/n.txt; "
                              "echo n=$(cat /out/n.txt) >> $WFOBJ_VARS"],
                  "inputs": {"corpus": {"param": "corpus"}},
                  "outputs": {"files": ["n.txt"], "vars": ["n"]}},
        "report": {"image": IMAGE, "command": ["sh", "-c", "echo words={{tasks.count.vars.n}}"]},
    },
}
SLOW = {"tasks": {"nap": {"image": IMAGE, "command": ["sleep", "60"]}}}


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("contract"), workers=1)
    yield srv
    assert srv.stop() == 0, srv.log()


@pytest.fixture(params=["local", "remote"])
def impl(request, tmp_path) -> tuple[Service, str]:
    """(service, the user its runs are recorded as)."""
    if request.param == "remote":
        srv = request.getfixturevalue("server")
        yield RemoteService(srv.url, srv.tokens["runner"]), "runner-user"
        return
    request.getfixturevalue("docker_client")
    store = init_store(tmp_path / "store")
    yield WorkflowService(store, executor_factory=docker_executor_factory), "alice"
    store.close()


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"  # the remote store is shared by the module


def test_both_implement_every_operation_with_the_same_parameters():
    for cls in (WorkflowService, RemoteService):
        for name, member in inspect.getmembers(Service, inspect.isfunction):
            if name.startswith("_"):
                continue
            assert hasattr(cls, name), (cls.__name__, name)
            wanted = list(inspect.signature(member).parameters)
            assert list(inspect.signature(getattr(cls, name)).parameters) == wanted, (
                cls.__name__, name)


def test_workflows_apply_list_show_versions_validate(impl):
    svc, _ = impl
    assert isinstance(svc, Service)
    name = fresh("count")
    applied, created = svc.apply_workflow(name, COUNT, user="alice")
    assert created is True and applied["name"] == name and applied["version"] == 1
    again, created = svc.apply_workflow(name, COUNT, user="alice")
    assert created is False and again == applied
    assert name in [w["name"] for w in svc.list_workflows()]
    shown = svc.get_workflow(name)
    assert shown["definition_hash"] == applied["definition_hash"]
    assert sorted(shown["definition"]["tasks"]) == ["count", "report"]
    assert [v["version"] for v in svc.workflow_versions(name)] == [1]
    by_hash = svc.get_definition(applied["definition_hash"])
    assert by_hash["definition"] == shown["definition"]
    checked = svc.validate_workflow(name, COUNT)
    assert checked["registered"] is True and checked["tasks"] == ["count", "report"]
    with pytest.raises(WfobjError, match="cycle"):
        svc.validate_workflow(name, {"tasks": {"a": {"image": IMAGE, "command": ["true"],
                                                     "after": ["a"]}}})
    with pytest.raises(WfobjError):
        svc.get_workflow(fresh("absent"))


def test_trigger_wait_and_inspect_a_run(impl):
    svc, user = impl
    name = fresh("count")
    svc.apply_workflow(name, COUNT, user="alice")
    text = b"one two three four five\n"
    stored = svc.put_file(io.BytesIO(text))
    assert stored == {"hash": blake3.blake3(text).hexdigest(), "size": len(text)}
    started = svc.trigger(name=name, parameters={"corpus": stored["hash"]}, user="alice")
    assert started["state"] in (RunStatus.PENDING, RunStatus.RUNNING)
    run_id = started["run_id"]
    final = svc.wait(run_id, timeout=120)
    assert final["state"] == RunStatus.SUCCESS, final
    run = svc.get_run(run_id)
    assert run["triggered_by"] == user and run["workflow"] == name
    assert run["tasks"] == {"count": TaskStatus.SUCCESS, "report": TaskStatus.SUCCESS}
    listed = svc.list_runs(workflow=name)
    assert [r["run_id"] for r in listed["runs"]] == [run_id]
    assert run_id in [r["run_id"] for r in svc.list_runs(state="success", limit=1000)["runs"]]
    tasks = svc.run_tasks(run_id)
    assert [t["task"] for t in tasks] == ["count", "report"]
    count = svc.run_task(run_id, "count")
    assert count["vars"] == {"n": "5"} and count["attempts"] == [count["evidence_hash"]]
    files = svc.run_files(run_id)
    assert [(f["task"], f["path"]) for f in files] == [("count", "n.txt")]
    assert svc.file_info(files[0]["hash"])["produced_by"][0]["run_id"] == run_id
    lineage = svc.run_lineage(run_id)
    assert {"from": f"file:{stored['hash']}", "to": "task:count", "kind": "input"} in (
        lineage["edges"])
    assert svc.run_logs(run_id, "report")["stdout"] == "words=5\n"
    audit = svc.run_audit(run_id)
    assert audit[0]["event"] == "run_created" and audit[-1]["to"] == RunStatus.SUCCESS
    assert all(e["prev"] == p["hash"] for p, e in zip(audit, audit[1:], strict=False))
    with pytest.raises(WfobjError):
        svc.run_task(run_id, "nosuchtask")


def test_kill_ends_a_run_killed_and_a_second_kill_is_refused(impl):
    svc, user = impl
    name = fresh("slow")
    svc.apply_workflow(name, SLOW, user="alice")
    run_id = svc.trigger(name=name, user="alice")["run_id"]
    asked = svc.kill_run(run_id, user="alice")
    assert asked["run_id"] == run_id
    assert asked["state"] in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.KILLED)
    final = svc.wait(run_id, timeout=120)
    assert final["state"] == RunStatus.KILLED, final
    assert final["tasks"]["nap"] in (TaskStatus.SKIPPED, TaskStatus.KILLED)
    with pytest.raises(WfobjError, match="already killed"):
        svc.kill_run(run_id, user="alice")
    with pytest.raises(WfobjError):
        svc.get_run(str(uuid.uuid4()))


def test_trees_put_list_and_find_a_file(impl, tmp_path):
    svc, _ = impl
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"alpha\n")
    (folder / "sub" / "run.sh").write_bytes(b"#!/bin/sh\n")
    (folder / "sub" / "run.sh").chmod(0o755)
    stored = svc.put_tree(DirectoryArchive(folder))
    assert stored == put_directory(MemoryObjectStore(), folder).to_json()
    oid = stored["hash"]
    listed = svc.get_tree(oid[:10])
    assert listed["hash"] == oid and listed["size"] == 16
    assert [(e["name"], e["kind"]) for e in listed["entries"]] == [("a.txt", "file"),
                                                                  ("sub", "dir")]
    every = svc.get_tree(oid, recursive=True)
    assert [(e["path"], e["executable"]) for e in every["entries"]] == [
        ("a.txt", False), ("sub/run.sh", True)]
    assert svc.tree_file(oid, "sub/run.sh") == {
        "kind": "file", "hash": blake3.blake3(b"#!/bin/sh\n").hexdigest(), "size": 10,
        "executable": True}
    with pytest.raises(PathNotInTree, match="sub/nope"):
        svc.tree_file(oid, "sub/nope")
    with pytest.raises(WfobjError, match="'sub' in tree .* is a directory, not a file"):
        svc.tree_file(oid, "sub")  # locally NotAFile; over HTTP its 400
    with pytest.raises(WfobjError, match="is not a tree"):  # over HTTP: a 400 HttpError
        svc.get_tree(blake3.blake3(b"alpha\n").hexdigest())
