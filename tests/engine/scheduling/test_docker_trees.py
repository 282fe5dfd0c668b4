"""Directories with the real Docker executor: a `dir` param mounted read-only as a folder,
an output directory recorded as the tree `put_directory` makes of the same content, a
downstream task reading that tree (whole, or one file inside it), the cache keyed on the
input tree, and run_files listing the files inside."""

from __future__ import annotations

import os

import blake3
import pytest

from tests.support_engine import claim, service
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.objstore import MemoryObjectStore, put_directory

pytestmark = pytest.mark.docker

# what a task sees is written to /out/seen.txt, not stdout: Docker may end a followed log
# stream of a container that exits at once before its output (a flake of its own)
LOOK = r"""
exec > /out/seen.txt
(echo x > /in/data/new.txt) 2>/dev/null && echo in-writable || echo in-readonly
(echo x >> /in/data/a.txt) 2>/dev/null && echo file-writable || echo file-readonly
(rm /in/data/sub/b.txt) 2>/dev/null && echo removable || echo not-removable
cat /in/data/a.txt /in/data/sub/b.txt
test -x /in/data/run.sh && echo exec-kept
mkdir -p /out/made/deep /out/made/empty
cat /in/data/a.txt /in/data/a.txt > /out/made/one.txt
printf two > /out/made/deep/two.txt
cp /in/data/run.sh /out/made/run.sh
"""
TREES = {
    "params": {"data": {"type": "dir"}},
    "tasks": {
        "look": {"image": "wfobj/toolbox:local", "command": ["sh", "-c", LOOK],
                 "inputs": {"data": {"param": "data"}},
                 "outputs": {"files": ["made", "seen.txt"]}},
        "read": {"image": "wfobj/toolbox:local",
                 "command": ["sh", "-c", "cat /in/made/deep/two.txt /in/made/one.txt > /out/got.txt"
                             "; ls -A /in/made > /out/ls.txt"],
                 "inputs": {"made": {"task": "look", "file": "made"}},
                 "outputs": {"files": ["got.txt", "ls.txt"]}},
        "one": {"image": "wfobj/toolbox:local", "command": ["cp", "/in/two", "/out/two"],
                "inputs": {"two": {"task": "look", "file": "made/deep/two.txt"}},
                "outputs": {"files": ["two"]}},
    },
}


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def folder(root, files: dict[str, bytes], executable=(), empty=()) -> str:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    for path in executable:
        os.chmod(root / path, 0o755)
    for path in empty:
        (root / path).mkdir(parents=True)
    return str(root)


def text(store, view: dict, path: str) -> str:
    """The content of the output `path` of a task's evidence `view`."""
    [out] = [o for o in view["outputs"] if o["path"] == path]
    return store.get_raw(out["hash"]).decode()


def run(svc, docker_client, data: str, cache: bool) -> str:
    run_id = svc.trigger(name="trees", parameters={"data": data}, user="alice",
                         cache=cache)["run_id"]
    claim(svc.store, run_id)
    state = RunScheduler(svc.store, run_id, DockerExecutor(docker_client),
                         concurrency=2).run_to_end()
    assert state == "success", svc.run_tasks(run_id)
    return run_id


def test_directories_in_and_out_of_containers(store, docker_client, tmp_path):
    svc = service(store)
    svc.apply_workflow("trees", TREES, user="alice")
    given = folder(tmp_path / "given", {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n",
                                        "run.sh": b"#!/bin/sh\necho hi\n"},
                   executable=["run.sh"])
    data = put_directory(store, given).oid
    run_id = run(svc, docker_client, data[:12], cache=False)

    look = svc.run_task(run_id, "look")
    assert text(store, look, "seen.txt").splitlines() == [
        "in-readonly", "file-readonly", "not-removable", "alpha", "beta", "exec-kept"]
    assert look["inputs"] == [{"name": "data", "path": "/in/data", "kind": "dir",
                               "hash": data, "size": 6 + 5 + 18}]
    expected = put_directory(MemoryObjectStore(), folder(
        tmp_path / "expected", {"one.txt": b"alpha\nalpha\n", "deep/two.txt": b"two",
                                "run.sh": b"#!/bin/sh\necho hi\n"},
        executable=["run.sh"], empty=["empty"]))
    assert look["outputs"][0] == {"path": "made", "kind": "dir", "hash": expected.oid,
                                  "size": expected.size}

    read = svc.run_task(run_id, "read")
    assert read["inputs"][0]["kind"] == "dir" and read["inputs"][0]["hash"] == expected.oid
    assert read["outputs"][0]["hash"] == b3(b"two" + b"alpha\nalpha\n")
    assert text(store, read, "ls.txt").split() == ["deep", "empty", "one.txt", "run.sh"]
    one = svc.run_task(run_id, "one")
    assert one["inputs"][0]["kind"] == "file" and text(store, one, "two") == "two"

    inside = [f for f in svc.run_files(run_id, recursive=True) if f.get("tree")]
    assert {f["path"]: f["hash"] for f in inside} == {
        "made/deep/two.txt": b3(b"two"), "made/one.txt": b3(b"alpha\nalpha\n"),
        "made/run.sh": b3(b"#!/bin/sh\necho hi\n")}
    made = {(p["task"], p["path"], p.get("tree"))
            for p in svc.file_info(b3(b"two"))["produced_by"]}
    assert made == {("look", "made/deep/two.txt", expected.oid), ("one", "two", None)}


def test_the_cache_hits_on_the_same_tree_and_misses_on_a_changed_one(store, docker_client,
                                                                     tmp_path):
    svc = service(store)
    svc.apply_workflow("trees", TREES, user="alice")
    files = {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n", "run.sh": b"#!/bin/sh\n"}
    data = put_directory(store, folder(tmp_path / "v1", files, executable=["run.sh"])).oid
    first = run(svc, docker_client, data, cache=True)
    again = run(svc, docker_client, data, cache=True)
    for task in ("look", "read", "one"):
        assert svc.run_task(again, task)["cached_from"] == \
            svc.run_task(first, task)["evidence_hash"]
    changed = put_directory(store, folder(tmp_path / "v2", {**files, "sub/b.txt": b"BETA\n"},
                                          executable=["run.sh"])).oid
    third = run(svc, docker_client, changed, cache=True)
    assert svc.run_task(third, "look")["cached_from"] is None
    assert text(store, svc.run_task(third, "look"), "seen.txt").splitlines()[4] == "BETA"
