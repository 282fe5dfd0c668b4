"""Exports of a run with directories (the scripted executor): a `dir` parameter, an output
directory, and tasks reading it whole, a folder inside it and a file inside it. Each
format is read by its own third-party library: rocrate and the RO-Crate validator, prov,
the OpenLineage JSON schema, securesystemslib."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import blake3
import pytest
from prov.model import PROV, ProvDocument, ProvEntity, ProvGeneration, ProvMembership, ProvUsage
from rocrate.rocrate import ROCrate

from tests.support_engine import run_with, task, trigger
from tests.support_exports import (
    check_openlineage,
    envelope_verifies,
    rocrate_validation,
    statement_of,
)
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.provenance.exports import KeyFile
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore, TreeBuilder, entry_at

DATA = {"in.csv": b"x,y\n", "more/z.csv": b"z\n"}
PARTS = {"a.txt": b"A", "sub/p0": b"P0"}
PIPE = {
    "params": {"data": {"type": "dir"}},
    "tasks": {
        "make": task("split", inputs={"data": {"param": "data"}},
                     outputs={"files": ["parts", "top.txt"]}),
        "whole": task("ls /in/parts", inputs={"parts": {"task": "make", "file": "parts"}},
                      outputs={"files": ["n.txt"]}),
        "folder": task("ls /in/sub", inputs={"sub": {"task": "make", "file": "parts/sub"}}),
        "one": task("cat /in/p0", inputs={"p0": {"task": "make", "file": "parts/sub/p0"}}),
    },
}


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def put_tree(store, files: dict[str, bytes]) -> str:
    builder = TreeBuilder(store)
    for path, data in files.items():
        builder.add_file(path, io.BytesIO(data))
    return builder.finish().oid


@pytest.fixture(scope="module")
def tree_run(tmp_path_factory):
    store = MemoryObjectStore()
    svc = WorkflowService(store, keys=KeyFile(tmp_path_factory.mktemp("keys")))
    data = put_tree(store, DATA)
    run_id = trigger(svc, PIPE, data=data)
    behaviors = {"make": TaskBehavior(outputs={"parts": PARTS, "top.txt": b"top"})}
    assert run_with(store, run_id, behaviors)[0] == "success"
    parts = put_tree(store, PARTS)
    evidence = {t["task"]: t["evidence_hash"] for t in svc.run_tasks(run_id)}
    return {"svc": svc, "run_id": run_id, "data": data, "parts": parts,
            "sub": entry_at(store, parts, "sub").oid, "evidence": evidence,
            "tmp": tmp_path_factory.mktemp("crates")}


def export(r: dict, fmt: str, **options) -> bytes:
    return r["svc"].export_run(r["run_id"], fmt, **options).content


def ids(value) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [getattr(e, "id", None) or e["@id"] for e in items]


# RO-Crate --------------------------------------------------------------------------------
def test_rocrate_directories_are_datasets_whose_parts_are_their_files(tree_run):
    r = tree_run
    data = export(r, "ro-crate")
    path = r["tmp"] / "trees.crate.zip"
    path.write_bytes(data)
    crate = ROCrate(path)
    folders = {"data": (r["data"], DATA), "parts": (r["parts"], PARTS),
               "sub": (r["sub"], {"p0": b"P0"})}
    for name, (oid, files) in folders.items():
        dataset = crate.dereference(f"trees/{oid}/")
        assert dataset is not None and dataset.type == "Dataset", name
        assert dataset["identifier"] == f"urn:wfobj:tree:{oid}"
        assert sorted(ids(dataset["hasPart"])) == sorted(f"files/{b3(c)}" for c in files.values())
        assert dataset["contentSize"] == str(sum(len(c) for c in files.values()))
        for part in ids(dataset["hasPart"]):
            assert crate.dereference(part).type == "File"
    # the actions name the Dataset for a directory, the File for a file
    actions = {a["identifier"]: a for a in crate.get_by_type("CreateAction")}
    make = actions[r["evidence"]["make"]]
    assert ids(make["object"]) == [f"trees/{r['data']}/"]
    assert ids(make["result"]) == [f"trees/{r['parts']}/", f"files/{b3(b'top')}"]
    assert ids(actions[r["evidence"]["whole"]]["object"]) == [f"trees/{r['parts']}/"]
    assert ids(actions[r["evidence"]["folder"]]["object"]) == [f"trees/{r['sub']}/"]
    assert ids(actions[r["evidence"]["one"]]["object"]) == [f"files/{b3(b'P0')}"]
    run_action = actions[r["run_id"]]
    assert f"trees/{r['data']}/" in ids(run_action["object"])
    assert f"trees/{r['parts']}/" in ids(run_action["result"])
    # a directory names the slots it filled, typed Dataset
    slots = set(ids(crate.dereference(f"trees/{r['parts']}/")["exampleOfWork"]))
    assert slots == {"#formal-make-out-parts", "#formal-whole-in-parts"}
    for slot in [*slots, "#formal-param-data", "#formal-folder-in-sub"]:
        assert crate.dereference(slot)["additionalType"] == "Dataset", slot
    assert crate.dereference("#formal-one-in-p0")["additionalType"] == "File"
    # each folder is in the zip; the files' bytes once each, under files/
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        assert {f"trees/{oid}/" for oid, _ in folders.values()} <= set(names)
        for content in [*DATA.values(), *PARTS.values(), b"top"]:
            assert z.read(f"files/{b3(content)}") == content


def test_rocrate_metadata_is_streamed_and_the_library_reads_back_every_entity(tree_run):
    """The metadata member is written entity by entity into the zip (a data descriptor
    after it), and the `rocrate` library reads it back to the same entities: writing
    them again gives each entity as it was sent."""
    r = tree_run
    for files in ("all", "none"):
        data = export(r, "ro-crate", files=files)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.getinfo("ro-crate-metadata.json").flag_bits & 0x08  # sizes follow it
            sent = json.loads(z.read("ro-crate-metadata.json"))
        path = r["tmp"] / f"read-back-{files}.zip"
        path.write_bytes(data)
        again = ROCrate(path).metadata.generate()  # (it keeps no extra @context)
        by_id = {e["@id"]: e for e in sent["@graph"]}
        assert len(by_id) == len(sent["@graph"])  # each entity once
        assert {e["@id"]: e for e in again["@graph"]} == by_id, files


def test_rocrate_with_directories_passes_the_validator(tree_run):
    r = tree_run
    for files in ("all", "none"):
        path = r["tmp"] / f"validate-{files}.zip"
        path.write_bytes(export(r, "ro-crate", files=files))
        assert rocrate_validation(path) == [], files
    _, metadata = crate_zip(export(r, "ro-crate", files="none"))
    graph = {e["@id"]: e for e in metadata["@graph"]}
    parts = ids(graph[f"trees/{r['parts']}/"]["hasPart"])
    assert all(p.startswith("ni:///sha-256;") for p in parts)


def crate_zip(data: bytes) -> tuple[list[str], dict]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.namelist(), json.loads(z.read("ro-crate-metadata.json"))


# PROV -----------------------------------------------------------------------------------
def test_prov_directories_are_collections_of_their_files(tree_run):
    r = tree_run
    doc = ProvDocument.deserialize(content=export(r, "prov").decode(), format="json")
    assert "hadMember" in doc.get_provn()
    records = doc.get_records()
    collections = {str(e.identifier) for e in records if isinstance(e, ProvEntity)
                   and PROV["Collection"] in e.get_asserted_types()}
    assert collections == {f"tree:{r['data']}", f"tree:{r['parts']}", f"tree:{r['sub']}"}
    members: dict[str, set[str]] = {}
    for m in records:
        if isinstance(m, ProvMembership):
            collection, entity = (str(v) for _, v in m.formal_attributes)
            members.setdefault(collection, set()).add(entity)
    assert members == {
        f"tree:{r['data']}": {f"blob:{b3(c)}" for c in DATA.values()},
        f"tree:{r['parts']}": {f"blob:{b3(c)}" for c in PARTS.values()},
        f"tree:{r['sub']}": {f"blob:{b3(b'P0')}"}}
    used = {(str(u.formal_attributes[0][1]), str(u.formal_attributes[1][1]))
            for u in records if isinstance(u, ProvUsage)}
    make, folder = (f"evidence:{r['evidence'][t]}" for t in ("make", "folder"))
    assert {(make, f"tree:{r['data']}"), (f"run:{r['run_id']}", f"tree:{r['data']}"),
            (folder, f"tree:{r['sub']}")} <= used
    generated = {str(g.formal_attributes[0][1]) for g in records
                 if isinstance(g, ProvGeneration)}
    assert f"tree:{r['parts']}" in generated
    assert f"blob:{b3(b'A')}" not in generated  # generated as part of its directory
    # a task reading inside the output directory was informed by the task that wrote it
    informed = json.loads(export(r, "prov"))["wasInformedBy"].values()
    pairs = {(i["prov:informed"], i["prov:informant"]) for i in informed}
    for reader in ("whole", "folder", "one"):
        assert (f"evidence:{r['evidence'][reader]}", make) in pairs


# OpenLineage ----------------------------------------------------------------------------
def test_openlineage_a_directory_is_one_dataset_with_a_small_facet(tree_run):
    r = tree_run
    events = json.loads(export(r, "openlineage"))
    check_openlineage(events)
    by_job = {(e["job"]["name"], e["eventType"]): e for e in events}
    start = by_job[("wf", "START")]
    assert [d["name"] for d in start["inputs"]] == [r["data"]]
    assert start["inputs"][0]["facets"]["wfobj_content"]["kind"] == "dir"
    made = by_job[("wf.make", "COMPLETE")]
    assert [d["name"] for d in made["outputs"]] == [r["parts"], b3(b"top")]
    parts, top = made["outputs"]
    facet = parts["facets"]["wfobj_content"]
    assert {k: facet[k] for k in ("kind", "size")} == {"kind": "dir", "size": 3}
    assert "within" not in facet and not top.get("facets")
    (sub,) = by_job[("wf.folder", "COMPLETE")]["inputs"]
    assert sub["name"] == r["sub"]
    assert sub["facets"]["wfobj_content"]["within"] == r["parts"]
    assert sub["facets"]["wfobj_content"]["path"] == "sub"
    (p0,) = by_job[("wf.one", "START")]["inputs"]
    assert p0["name"] == b3(b"P0")
    assert {k: p0["facets"]["wfobj_content"][k] for k in ("kind", "within", "path")} == {
        "kind": "file", "within": r["parts"], "path": "sub/p0"}
    assert by_job[("wf", "COMPLETE")]["outputs"][0]["name"] == r["parts"]
    # no file inside a directory became a dataset of its own
    names = {d["name"] for e in events for d in e.get("inputs", []) + e.get("outputs", [])}
    assert b3(b"A") not in names and b3(DATA["in.csv"]) not in names


# in-toto --------------------------------------------------------------------------------
def test_intoto_subjects_are_every_file_of_an_output_directory(tree_run):
    r = tree_run
    signed = export(r, "in-toto")
    envelope = json.loads(signed)
    (key,) = r["svc"].public_keys()
    assert envelope_verifies(envelope, key)
    statement = statement_of(envelope)
    subjects = {s["name"]: s for s in statement["subject"]}
    assert sorted(subjects) == ["make/parts/a.txt", "make/parts/sub/p0", "make/top.txt",
                                "whole/n.txt"]
    contents = {"make/parts/a.txt": b"A", "make/parts/sub/p0": b"P0", "make/top.txt": b"top"}
    for name, content in contents.items():
        digest = subjects[name]["digest"]
        assert digest == {"sha256": hashlib.sha256(content).hexdigest(), "blake3": b3(content)}
    assert subjects["make/parts/sub/p0"]["annotations"] == {"tree": r["parts"]}
    assert "annotations" not in subjects["make/top.txt"]
    deps = {d["name"]: d for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]}
    assert deps["params.data"] == {"name": "params.data", "uri": f"urn:wfobj:tree:{r['data']}",
                                   "digest": {"blake3": r["data"]}}
    assert deps["params.data/more/z.csv"]["digest"]["sha256"] == hashlib.sha256(b"z\n").hexdigest()
    checked = r["svc"].verify_export(signed)  # wfobj verify: each subject's bytes
    assert checked["ok"] and checked["subjects_checked"] == 4
