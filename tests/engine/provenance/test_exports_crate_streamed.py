"""The RO-Crate is written as the run is read (docs/exports.md, docs/limits.md "Exports"):
what it holds does not grow with the run's attempts (the crate's entities were made from
the whole run once, about 6.6 KiB an instance here), a run read again on every pass (past
the attempts and digests kept) makes the same crate, and what the streamed crate says
is what the `rocrate` library reads back and the RO-Crate validator accepts: cache hits
naming the attempt they reused, and a definition made from a CWL document naming it as
the workflow, in CWL. Fan-out runs of the fake executor in a memory store."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from datetime import datetime

import pytest
from rocrate.rocrate import ROCrate

from tests.support_engine import run_with, trigger
from tests.support_exports import rocrate_validation
from wfobj.engine.provenance.exports import ro_crate, run_stream, zip_stream
from wfobj.engine.runs import rows
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore

FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": {"image": "none", "command": ["run", "{{item}}"],
                          "for_each": {"param": "n"}, "outputs": {"files": ["o.txt"]}}}}
SMALL, LARGE = 150, 900


@pytest.fixture(scope="module")
def runs():
    """One store, two finished fan-out runs (each instance writes a file of its own)."""
    store = MemoryObjectStore()
    svc = WorkflowService(store)
    ids = {}
    for size in (SMALL, LARGE):
        ids[size] = trigger(svc, FAN, f"fan{size}", n=list(range(size)))
        assert run_with(store, ids[size], concurrency=16)[0] == "success"
    return svc, ids


def peak_of(svc: WorkflowService, run_id: str, files: str) -> tuple[int, int]:
    """(peak bytes allocated while the crate is read piece by piece, bytes sent)."""
    tracemalloc.start()
    sent = 0
    try:
        for piece in svc.export_run(run_id, "ro-crate", files=files):
            sent += len(piece)
        return tracemalloc.get_traced_memory()[1], sent
    finally:
        tracemalloc.stop()


# what each added instance may add: with files, the zip's record of each member until
# its central directory lists them all at its end (about 150 bytes a member, packed);
# for any crate each distinct hash met and the slots each file filled (about 250 bytes
# a file). Made from the whole run, the entities held 6.6 KiB an instance (6.0 without)
PER_INSTANCE = {"all": 768, "none": 768}


@pytest.mark.parametrize("files", ["all", "none"])
def test_what_a_crate_holds_does_not_grow_with_the_runs_attempts(runs, files, monkeypatch):
    svc, ids = runs
    # every pass reads the table again and each file's SHA-256 is read again, with
    # 2 row buckets held; the zip is sent every 16 KiB (1 MiB by default: a bound,
    # but one these runs stay below)
    monkeypatch.setattr(run_stream, "MEMO_ATTEMPTS", 8)
    monkeypatch.setattr(rows, "CACHED_BUCKETS", 2)
    monkeypatch.setattr(ro_crate, "SHA256_KEPT", 8)
    monkeypatch.setattr(ro_crate, "PIECE", 16 << 10)
    peak_of(svc, ids[SMALL], files)  # the modules imported, their caches warm
    small, small_sent = peak_of(svc, ids[SMALL], files)
    large, large_sent = peak_of(svc, ids[LARGE], files)
    grown, more = large - small, LARGE - SMALL
    print(f"ro-crate files={files}: peak {small / 1024:.0f} KiB at {SMALL} instances, "
          f"{large / 1024:.0f} KiB at {LARGE}; {grown / more:.0f} bytes per added instance "
          f"({large_sent} bytes sent)")
    assert large_sent > 4 * small_sent
    assert grown < more * PER_INSTANCE[files], f"held {grown} more bytes for {more} more"


def crate_of(svc: WorkflowService, run_id: str, files: str = "all") -> tuple[list[str], dict]:
    with zipfile.ZipFile(io.BytesIO(svc.export_run(run_id, "ro-crate", files=files).content)) as z:
        return z.namelist(), json.loads(z.read("ro-crate-metadata.json"))


@pytest.mark.parametrize("files", ["all", "none"])
def test_a_run_read_again_on_every_pass_makes_the_same_crate(runs, files, monkeypatch):
    svc, ids = runs
    kept = crate_of(svc, ids[LARGE], files)  # its attempts and digests kept between passes
    monkeypatch.setattr(run_stream, "MEMO_ATTEMPTS", 0)
    monkeypatch.setattr(ro_crate, "SHA256_KEPT", 0)
    monkeypatch.setattr(rows, "CACHED_BUCKETS", 1)
    assert crate_of(svc, ids[LARGE], files) == kept


def test_the_large_crate_is_read_back_whole_by_the_rocrate_library(runs, tmp_path):
    svc, ids = runs
    path = tmp_path / "large.crate.zip"
    path.write_bytes(svc.export_run(ids[LARGE], "ro-crate").content)
    crate = ROCrate(path)
    attempts = [e for e in crate.get_by_type("CreateAction") if e.id.startswith("#attempt-")]
    assert len(attempts) == LARGE
    assert len(crate.get_by_type("File")) == LARGE + 1  # each instance's, the definition
    (control,) = crate.get_by_type("ControlAction")
    assert {a.id for a in control["object"]} == {a.id for a in attempts}
    assert control["description"] == (f"the engine ran task each: {LARGE} instance(s), "
                                       f"{LARGE} attempt(s), the last success")
    run_action = crate.dereference(f"#run-{ids[LARGE]}")
    assert len(run_action["result"]) == LARGE
    root = crate.root_dataset
    assert len(root["mentions"]) == LARGE + 1
    assert {f.id for f in crate.get_by_type("File")} <= {p.id for p in root["hasPart"]}
    each_out = crate.dereference("#formal-each-out-o.txt")
    assert all(f["exampleOfWork"] == each_out for f in crate.get_by_type("File")
               if f.id.startswith("files/"))


SAME = {"tasks": {"each": {"image": "none", "command": ["same"], "for_each": {"param": "n"},
                           "outputs": {"files": ["o.txt"]}}},
        "params": {"n": {"type": "list"}}}


def test_cache_hits_name_the_attempt_they_reused_in_this_run_or_before(tmp_path):
    """Instances with one command: the first runs, the others reuse it (an attempt of this
    run, named by its action); a second run reuses the first run's (named by an entity of
    its evidence, once however many reuse it)."""
    store = MemoryObjectStore()
    svc = WorkflowService(store)
    first = trigger(svc, SAME, "same", cache=True, n=[1, 2, 3])
    assert run_with(store, first, concurrency=1)[0] == "success"
    again = svc.trigger(name="same", parameters={"n": [1, 2, 3]}, user="alice")["run_id"]
    assert run_with(store, again, concurrency=1)[0] == "success"
    kinds = {}
    for run_id in (first, again):
        _, metadata = crate_of(svc, run_id)
        graph = {e["@id"]: e for e in metadata["@graph"]}
        assert len(graph) == len(metadata["@graph"])  # each entity once
        hits = [e for e in graph.values() if "isBasedOn" in e and e["@id"].startswith("#attempt")]
        kinds[run_id] = set()
        for action in hits:
            reused = graph[action["isBasedOn"]["@id"]]
            assert reused["identifier"] in action["description"]
            kinds[run_id].add(reused["@type"])
        path = tmp_path / f"{run_id}.zip"
        path.write_bytes(svc.export_run(run_id, "ro-crate").content)
        assert rocrate_validation(path) == []
    # the first run ran two instances at once, the third reused one of them
    assert kinds[first] == {"CreateAction"}
    assert "CreativeWork" in kinds[again]


CWL_DOC = b"cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: [wc, -l]\n"


@pytest.mark.parametrize("files", ["all", "none"])
def test_a_definition_made_from_cwl_names_the_document_as_the_workflow(tmp_path, files):
    store = MemoryObjectStore()
    svc = WorkflowService(store)
    document = store.put_blob(CWL_DOC)
    definition = {**FAN, "source": {"language": "cwl", "document": document,
                                    "version": "v1.2", "process": "count.cwl#main"}}
    run_id = trigger(svc, definition, "counted", n=[1, 2])
    assert run_with(store, run_id)[0] == "success"
    data = svc.export_run(run_id, "ro-crate", files=files).content
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.read("workflow/count.cwl") == CWL_DOC
        graph = {e["@id"]: e for e in json.loads(z.read("ro-crate-metadata.json"))["@graph"]}
    main = graph[graph["./"]["mainEntity"]["@id"]]
    assert main["@id"] == "workflow/count.cwl" and "ComputationalWorkflow" in main["@type"]
    assert main["identifier"] == f"blake3:{document}"
    language = graph[main["programmingLanguage"]["@id"]]
    assert language["@id"] == ro_crate.CWL_LANGUAGE and language["alternateName"] == "CWL"
    assert language["identifier"] == {"@id": "https://w3id.org/cwl/v1.2/"}
    assert graph["workflow/definition.json"]["isBasedOn"] == {"@id": "workflow/count.cwl"}
    assert graph[f"#run-{run_id}"]["instrument"] == {"@id": "workflow/count.cwl"}
    path = tmp_path / "cwl.crate.zip"
    path.write_bytes(data)
    assert rocrate_validation(path) == []
    assert ROCrate(path).mainEntity.id == "workflow/count.cwl"


def zip_with(z: zipfile.ZipFile, sink: zip_stream.Sink) -> bytes:
    """The same members, whatever keeps them: a folder, a file, a name beyond ASCII, a
    member written as made (ZIP64, a data descriptor), a member with a comment."""
    when = datetime(2026, 12, 6, 8, 30, 2).timetuple()[:6]

    def info(name: str, **fields) -> zipfile.ZipInfo:
        made = zipfile.ZipInfo(name, date_time=when)
        made.compress_type = zipfile.ZIP_DEFLATED
        for key, value in fields.items():
            setattr(made, key, value)
        return made

    with z:
        z.writestr(zipfile.ZipInfo("trees/abc/", date_time=when), b"")
        z.writestr(info("files/one", file_size=5), b"hello")
        z.writestr(info("files/ünï ✓", file_size=3), b"\xff\x00\x01")
        with z.open(info("ro-crate-metadata.json"), "w", force_zip64=True) as out:
            for n in range(200):
                out.write(b'{"n": %d}\n' % n)
        z.writestr(info("noted", comment=b"kept whole"), b"x")
    return bytes(sink.buffer)


def test_a_zip_keeping_its_members_packed_is_the_zip_zipfile_writes():
    plain_sink, packed_sink = zip_stream.Sink(1 << 20), zip_stream.Sink(1 << 20)
    plain = zip_with(zipfile.ZipFile(plain_sink, "w", compression=zipfile.ZIP_DEFLATED),
                     plain_sink)
    packed = zip_with(zip_stream.open_zip(packed_sink), packed_sink)
    assert packed == plain
    with zipfile.ZipFile(io.BytesIO(packed)) as z:
        assert z.testzip() is None
        assert z.read("files/ünï ✓") == b"\xff\x00\x01"
        assert z.getinfo("ro-crate-metadata.json").flag_bits & 0x08
        assert z.getinfo("noted").comment == b"kept whole"
