"""Trees through sync, end to end: a real Docker run on a local store whose input is a
folder (`-p data=@DIR`) and whose output is a folder, `wfobj push` of that store to a
real `wfobj serve`, and the server answering every endpoint for it as the store that ran
it does: the run, its files inside the output tree, the trees (listing, one file, the
archive), the file index for a file inside the tree, and each export read by the
format's own library. `wfobj fsck` is clean on both stores."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import zipfile
from pathlib import Path

import blake3
import pytest
import requests
from prov.model import PROV, ProvDocument, ProvEntity

from tests.support_e2e import ROOT, Server, start_server, wfobj_argv
from tests.support_exports import (
    check_openlineage,
    envelope_verifies,
    rocrate_validation,
    statement_of,
)
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore, open_store, put_directory, put_tar

pytestmark = [pytest.mark.docker, pytest.mark.slow]
WORKFLOW = """\
name: trees
params:
  data: {type: dir}
tasks:
  split:
    image: wfobj/toolbox:local
    command: [sh, -c, "mkdir -p /out/parts/sub && cp /in/data/a.txt /out/parts/a.txt
      && cat /in/data/sub/b.txt /in/data/a.txt > /out/parts/sub/ab.txt
      && ls /in/data > /out/listing.txt"]
    inputs: {data: {param: data}}
    outputs: {files: [parts, listing.txt]}
  count:
    image: wfobj/toolbox:local
    command: [sh, -c, "wc -c < /in/sub/ab.txt > /out/count.txt"]
    inputs: {sub: {task: split, file: parts/sub}}
    outputs: {files: [count.txt]}
"""
A, B = b"alpha\n", b"beta\n"
PARTS = {"a.txt": A, "sub/ab.txt": B + A}


def wfobj(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(wfobj_argv(*args), capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def tree_of(files: dict[str, bytes], tmp: Path) -> str:
    """The tree hash of a folder holding `files`, made in a store of its own."""
    for path, data in files.items():
        (tmp / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp / path).write_bytes(data)
    return put_directory(MemoryObjectStore(), tmp).oid


def local_answers(store_path: Path, run_id: str) -> dict:
    """What the store that ran the run says about it, in-process."""
    store = open_store(store_path)
    try:
        svc = WorkflowService(store)
        return {"run": svc.get_run(run_id),
                "files": svc.run_files(run_id, recursive=True)}
    finally:
        store.close()


@pytest.fixture(scope="module")
def pushed(docker_client, tmp_path_factory):
    """A run made on local store A with real Docker, pushed to server B; B stops cleanly."""
    tmp_path = tmp_path_factory.mktemp("sync-trees")
    a = tmp_path / "a"
    wfobj("--store", str(a), "init")
    (tmp_path / "trees.yaml").write_text(WORKFLOW)
    wfobj("--store", str(a), "workflow", "apply", str(tmp_path / "trees.yaml"))
    folder = tmp_path / "data"
    data = tree_of({"a.txt": A, "sub/b.txt": B}, folder)
    done = json.loads(wfobj("--store", str(a), "--json", "run", "trigger", "trees",
                            "-p", f"data=@{folder}", "--wait").stdout)
    assert done["run"]["state"] == "success", done
    b = start_server(tmp_path / "b", engine_workers=0)
    try:
        push = json.loads(wfobj("--store", str(a), "--json", "push", b.url,
                                "--token", b.tokens["admin"]).stdout)
        yield {"a": a, "b": b, "run_id": done["run"]["run_id"], "data": data, "push": push,
               "parts": tree_of(PARTS, tmp_path / "parts"), "tmp": tmp_path}
    finally:
        assert b.stop() == 0, b.log()


def get(server: Server, path: str, **params) -> requests.Response:
    resp = requests.get(server.url + path, params=params, headers=server.h("reader"),
                        timeout=30)
    assert resp.status_code == 200, (path, resp.status_code, resp.text)
    return resp


def test_a_run_with_folders_pushed_to_a_server_answers_every_endpoint(pushed):
    p, b, run_id = pushed, pushed["b"], pushed["run_id"]
    statuses = {r["name"]: r["status"] for r in p["push"]["refs"]}
    assert statuses[f"runs/{run_id}"] == "updated" and "refused" not in statuses.values()
    here = local_answers(p["a"], run_id)

    # the run, and every file inside its output folder, as the store that ran it says
    run = get(b, f"/api/runs/{run_id}").json()
    assert run["state"] == "success" and run["parameters"] == {"data": p["data"]}
    assert run["manifest_hash"] == here["run"]["manifest_hash"]
    files = get(b, f"/api/runs/{run_id}/files", recursive="true").json()
    assert files == here["files"]
    inside = {f["path"]: f for f in files if f.get("tree")}
    assert {path: (f["hash"], f["tree"]) for path, f in inside.items()} == {
        f"parts/{path}": (b3(content), p["parts"]) for path, content in PARTS.items()}

    # the output tree: listing, recursive listing, one file, the archive
    parts = p["parts"]
    listing = get(b, f"/api/trees/{parts}").json()
    assert [(e["name"], e["kind"]) for e in listing["entries"]] == [("a.txt", "file"),
                                                                    ("sub", "dir")]
    every = get(b, f"/api/trees/{parts}", recursive="true").json()["entries"]
    assert [(e["path"], e["hash"]) for e in every] == [
        (path, b3(content)) for path, content in PARTS.items()]
    assert get(b, f"/api/trees/{parts}/files/sub/ab.txt").content == B + A
    archive = get(b, f"/api/trees/{parts}/archive").content
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert got == PARTS
    assert put_tar(MemoryObjectStore(), io.BytesIO(archive)).oid == parts
    input_tree = get(b, f"/api/trees/{p['data']}", recursive="true").json()["entries"]
    assert [e["path"] for e in input_tree] == ["a.txt", "sub/b.txt"]

    # the file index: a file inside the output tree names the tree and its path there
    uses = get(b, f"/api/files/{b3(B + A)}").json()
    produced = [u for u in uses["produced_by"] if u["run_id"] == run_id]
    assert [(u["task"], u["path"], u.get("tree")) for u in produced] == [
        ("split", "parts/sub/ab.txt", parts)]
    assert [u["task"] for u in uses["used_by"] if u["run_id"] == run_id] == ["count"]
    whole = get(b, f"/api/files/{parts}").json()
    assert [(u["task"], u["path"]) for u in whole["produced_by"]] == [("split", "parts")]

    # re-pushing sends nothing
    again = json.loads(wfobj("--store", str(p["a"]), "--json", "push", b.url,
                             "--token", b.tokens["admin"]).stdout)
    assert (again["objects"], again["bytes"]) == (0, 0), again

    for store in (p["a"], b.store_path):
        wfobj("--store", str(store), "fsck")  # exits 0 only when clean


def test_the_pushed_run_exports_from_the_server(pushed):
    p, b, run_id = pushed, pushed["b"], pushed["run_id"]
    parts = p["parts"]

    crate = p["tmp"] / "run.crate.zip"
    crate.write_bytes(get(b, f"/api/runs/{run_id}/export/ro-crate").content)
    assert rocrate_validation(crate) == []
    with zipfile.ZipFile(crate) as z:
        graph = {e["@id"]: e for e in json.loads(z.read("ro-crate-metadata.json"))["@graph"]}
    folder = graph[f"trees/{parts}/"]
    assert folder["@type"] == "Dataset"
    assert {e["@id"] for e in folder["hasPart"]} == {f"files/{b3(c)}" for c in PARTS.values()}

    doc = ProvDocument.deserialize(content=get(b, f"/api/runs/{run_id}/export/prov").text,
                                   format="json")
    collections = {str(e.identifier) for e in doc.get_records(ProvEntity)
                   if PROV["Collection"] in e.get_asserted_types()}
    assert {f"tree:{parts}", f"tree:{p['data']}"} <= collections

    events = get(b, f"/api/runs/{run_id}/export/openlineage").json()
    check_openlineage(events)
    outputs = {d["name"] for e in events for d in e.get("outputs", [])}
    assert parts in outputs and b3(A) not in outputs

    envelope = get(b, f"/api/runs/{run_id}/export/in-toto").json()
    statement = statement_of(envelope)
    (key,) = requests.get(f"{b.url}/api/keys", timeout=30).json()
    assert envelope_verifies(envelope, key)  # signed by B's own key
    subjects = {s["name"]: s["digest"] for s in statement["subject"]}
    for path, content in PARTS.items():
        assert subjects[f"split/parts/{path}"] == {
            "sha256": hashlib.sha256(content).hexdigest(), "blake3": b3(content)}
