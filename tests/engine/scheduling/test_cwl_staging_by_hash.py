"""A registered CWL step stages its inputs by hash (docs/cwl.md "Registering a CWL
document", costs): the staged tree names each input file and folder from the store by
its own hash, no byte of it copied in the scheduler's step, while the tool still reads
every byte (past the 64 KiB cwltool may read itself) and `loadContents` still works.
Real Docker, real LMDB."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from tests.support_engine import claim, service
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler
from wfobj.objstore import put_directory, walk_tree

pytestmark = pytest.mark.docker

DIGEST = """\
cwlVersion: v1.2
class: CommandLineTool
doc: digests of a big file and of every file of a folder; the head of a small one
requirements:
  InlineJavascriptRequirement: {}
  InitialWorkDirRequirement: {listing: [$(inputs.big)]}
baseCommand: [sh, -c, 'sha256sum "$0" big.bin | cut -c1-64; cd "$1" && find . -type f | sort | xargs sha256sum; echo "$2"']
inputs:
  big: {type: File, inputBinding: {position: 1}}
  folder: {type: Directory, inputBinding: {position: 2}}
  small: {type: File, loadContents: true}
arguments: [{position: 3, valueFrom: $(inputs.small.contents.trim())}]
stdout: sums.txt
outputs:
  sums: stdout
"""


def test_inputs_are_staged_by_hash_and_read_whole(lmdb_store, docker_client, tmp_path):
    svc = service(lmdb_store)
    svc.apply_workflow("digest", DIGEST, user="alice", content_type="application/yaml")
    big_bytes = os.urandom(3 << 20)  # past the 64 KiB stand-in and a chunk boundary
    big = lmdb_store.put_blob(big_bytes)
    (tmp_path / "f" / "sub").mkdir(parents=True)
    inner = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(200_000)}
    for rel, data in inner.items():
        (tmp_path / "f" / rel).write_bytes(data)
    folder = put_directory(lmdb_store, tmp_path / "f").oid
    small = lmdb_store.put_blob(b"hello from a small file\n")
    run_id = svc.trigger(name="digest", user="alice", parameters={
        "big": {"hash": big, "name": "big.bin"}, "folder": folder, "small": small})["run_id"]
    claim(lmdb_store, run_id)
    RunScheduler(lmdb_store, run_id, DockerExecutor(), concurrency=2, poll=0.05).run_to_end()
    [task] = svc.run_tasks(run_id)
    assert task["state"] == "success", task
    location = json.loads(task["vars"]["cwl"])["sums"]["location"].removeprefix("wfobj:")
    lines = b"".join(lmdb_store.iter_blob(location)).decode().splitlines()
    whole = hashlib.sha256(big_bytes).hexdigest()
    assert lines[:2] == [whole, whole]  # the input and its InitialWorkDir copy
    assert lines[2:4] == [f"{hashlib.sha256(data).hexdigest()}  ./{rel}"
                          for rel, data in sorted(inner.items())]
    assert lines[4] == "hello from a small file"
    # the staged tree holds the very objects of the store: the blob and the tree
    staged = {entry.oid for _, entry in walk_tree(lmdb_store, task["inputs"][0]["hash"])}
    assert {big, folder} <= staged
