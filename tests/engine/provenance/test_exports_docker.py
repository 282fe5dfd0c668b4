"""Issue #13 with real Docker on a local LMDB store, through the `wfobj` CLI: each export
of real runs (examples/wordcount.yaml, a repeat whose tasks are cache hits, and a run
whose task fails twice) is read by the format's own third-party library."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import blake3
import pytest
from click.testing import CliRunner
from prov.model import (
    ProvActivity,
    ProvAgent,
    ProvAssociation,
    ProvCommunication,
    ProvDocument,
    ProvEntity,
    ProvGeneration,
    ProvUsage,
)
from rocrate.rocrate import ROCrate

from tests import ROOT
from tests.support_exports import (
    PROFILES,
    check_openlineage,
    crate_metadata,
    envelope_verifies,
    flip_payload_byte,
    rocrate_validation,
    statement_of,
)
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.objstore import open_store

pytestmark = [pytest.mark.docker, pytest.mark.slow]
EXAMPLES = ROOT / "examples"
FAILING = """\
name: failing
tasks:
  make:
    image: wfobj/toolbox:local
    command: [sh, -c, "echo made > /out/made.txt"]
    outputs: {files: [made.txt]}
  broken:
    image: wfobj/toolbox:local
    command: [sh, -c, "cat /in/made; echo broken >&2; exit 3"]
    inputs: {made: {task: make, file: made.txt}}
    retries: 1
"""


class Local:
    """`wfobj --store S …` through click's runner."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True):
        result = self.runner.invoke(cli, ["--store", str(self.store), *args], obj=CliContext())
        if ok:
            assert result.exit_code == 0, (args, result.output)
        return result

    def export(self, fmt: str, run_id: str, *extra: str) -> bytes:
        return self("export", fmt, run_id, *extra).stdout_bytes

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture(scope="module")
def runs(docker_client, tmp_path_factory):
    """Three real runs: wordcount, the same again (every task a cache hit), a failure."""
    tmp = tmp_path_factory.mktemp("exports")
    wf = Local(tmp / "store")
    wf("init")
    wf("workflow", "apply", str(EXAMPLES / "wordcount.yaml"))
    corpus = f"corpus=@{EXAMPLES / 'corpus.txt'}"
    first = wf.json("run", "trigger", "wordcount", "-p", corpus, "--wait")
    again = wf.json("run", "trigger", "wordcount", "-p", corpus, "--wait")
    (tmp / "failing.yaml").write_text(FAILING)
    wf("workflow", "apply", str(tmp / "failing.yaml"))
    failed = wf("run", "trigger", "failing", "--wait", "--json", ok=False)
    assert failed.exit_code == 1, failed.output
    return {"wf": wf, "tmp": tmp, "first": first, "again": again,
            "failed": json.loads(failed.stdout)}


def attempts_of(wf: Local, run_id: str) -> list[dict]:
    """Every attempt's evidence, via the CLI's own JSON (not the exports)."""
    out = []
    for task in wf.json("run", "tasks", run_id):
        for n in range(1, task["attempt"] + 1):
            out.append(attempt_json(wf, run_id, task["task"], n))
    return out


def attempt_json(wf: Local, run_id: str, task: str, n: int) -> dict:
    store = open_store(wf.store)
    try:
        from wfobj.engine.service import WorkflowService

        return WorkflowService(store).run_attempt(run_id, task, n)
    finally:
        store.close()


# RO-Crate -------------------------------------------------------------------------------
def test_rocrate_library_reads_the_crate_and_finds_the_profile_entities(runs, tmp_path):
    wf, run = runs["wf"], runs["first"]["run"]
    data = wf.export("ro-crate", run["run_id"])
    path = tmp_path / "run.crate.zip"
    path.write_bytes(data)
    crate = ROCrate(path)
    root_profiles = {e["@id"] if isinstance(e, dict) else e.id
                     for e in crate.root_dataset["conformsTo"]}
    assert PROFILES <= root_profiles
    workflow = crate.mainEntity
    assert "ComputationalWorkflow" in workflow.type and "HowTo" in workflow.type
    definition = json.loads((Path(crate.source) / workflow.id).read_text())
    assert definition["tasks"].keys() == {"split", "count"}
    assert workflow["identifier"] == run["definition_hash"]

    evidence = attempts_of(wf, run["run_id"])
    actions = {a.id: a for a in crate.get_by_type("CreateAction")}
    attempt_actions = [a for a in actions.values() if a.id.startswith("#attempt-")]
    assert len(attempt_actions) == len(evidence) == 2
    by_hash = {a["identifier"]: a for a in attempt_actions}
    for ev in evidence:
        action = by_hash[ev["evidence_hash"]]
        assert action["instrument"]["name"] == ev["task"]
        assert "SoftwareApplication" in action["instrument"].type
        image = action["containerImage"]
        assert image["identifier"] == ev["image_id"] and image["alternateName"] == ev["image"]
        assert (image["name"], image["tag"]) == tuple(ev["image"].rsplit(":", 1))
        assert [f.id for f in as_list(action["object"])] == [
            f"files/{i['hash']}" for i in ev["inputs"]]
        assert [f.id for f in as_list(action["result"])] == [
            f"files/{o['hash']}" for o in ev["outputs"]]
        # the profile's time format: milliseconds, +00:00
        assert action["startTime"] == same_time_ms(ev["started_at"])
        assert action["endTime"] == same_time_ms(ev["ended_at"])
        assert action["agent"]["name"] == run["triggered_by"]
    run_action = actions[f"#run-{run['run_id']}"]
    assert run_action["instrument"].id == workflow.id
    assert {f.id for f in as_list(run_action["result"])} == {
        f"files/{f['hash']}" for f in wf.json("run", "files", run["run_id"])}
    organize = crate.get_by_type("OrganizeAction")[0]
    assert organize["result"].id == run_action.id
    assert len(as_list(organize["object"])) == 2  # one ControlAction per task
    for control in crate.get_by_type("ControlAction"):
        assert control["instrument"].type == "HowToStep"

    # declared slots: the workflow's params and each task's inputs and outputs
    assert {p["name"] for p in as_list(workflow["input"])} == {"corpus", "min_len"}
    assert {p["name"] for p in as_list(workflow["output"])} == {"words.txt", "count.txt"}
    for ev in evidence:
        for out in ev["outputs"]:
            slots = as_list(crate.dereference(f"files/{out['hash']}")["exampleOfWork"])
            assert out["path"] in {s["name"] for s in slots}
            assert all(s.type == "FormalParameter" for s in slots)

    # the files' bytes are in the zip, under their BLAKE3 hash, with their SHA-256 listed
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for entity in crate.get_by_type("File"):
            if not entity.id.startswith("files/"):
                continue
            content = z.read(entity.id)
            assert blake3.blake3(content).hexdigest() == entity.id.removeprefix("files/")
            assert hashlib.sha256(content).hexdigest() == entity["sha256"]


def same_time_ms(text: str) -> str:
    """2026-12-03T21:42:23.073187Z -> 2026-12-03T21:42:23.073+00:00"""
    return text[:23] + "+00:00"


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_rocrate_without_files_keeps_ids_and_hashes_but_no_bytes(runs):
    wf, run_id = runs["wf"], runs["first"]["run"]["run_id"]
    names, metadata = crate_metadata(wf.export("ro-crate", run_id, "--files", "none"))
    assert not [n for n in names if n.startswith("files/")]
    files = {e["identifier"].removeprefix("blake3:"): e for e in metadata["@graph"]
             if e["@type"] == "File" and e.get("identifier", "").startswith("blake3:")}
    produced = wf.json("run", "files", run_id)
    assert {f["hash"] for f in produced} <= set(files)
    for f in produced:
        content = wf("cat", f["hash"]).stdout_bytes
        entity = files[f["hash"]]
        sha256 = hashlib.sha256(content)
        assert entity["sha256"] == sha256.hexdigest()
        # named by content: RFC 6920 ni URI of the SHA-256
        assert entity["@id"] == "ni:///sha-256;" + base64.urlsafe_b64encode(
            sha256.digest()).rstrip(b"=").decode()
        assert entity["contentSize"] == str(f["size"])
    full_names, _ = crate_metadata(wf.export("ro-crate", run_id))
    assert {f"files/{f['hash']}" for f in produced} <= set(full_names)


def test_rocrate_cache_hits_name_the_attempt_they_reused(runs):
    wf, run_id = runs["wf"], runs["again"]["run"]["run_id"]
    evidence = attempts_of(wf, run_id)
    assert all(ev["cached_from"] for ev in evidence)
    _, metadata = crate_metadata(wf.export("ro-crate", run_id))
    graph = {e["@id"]: e for e in metadata["@graph"]}
    for ev in evidence:
        action = graph[f"#attempt-{ev['evidence_hash']}"]
        reused = graph[action["isBasedOn"]["@id"]]
        assert reused["identifier"] == ev["cached_from"]
        assert ev["cached_from"] in action["description"]


def test_rocrate_failed_attempts_are_failed_actions(runs):
    wf, run_id = runs["wf"], runs["failed"]["run"]["run_id"]
    _, metadata = crate_metadata(wf.export("ro-crate", run_id))
    broken = [e for e in metadata["@graph"] if e.get("name", "").startswith("broken attempt")]
    assert len(broken) == 2
    assert all(e["actionStatus"] == "http://schema.org/FailedActionStatus"
               and e["exitCode"] == 3 for e in broken)


# PROV -----------------------------------------------------------------------------------
def test_prov_library_parses_the_json_and_writes_prov_n(runs):
    wf, run = runs["wf"], runs["first"]["run"]
    doc = ProvDocument.deserialize(content=wf.export("prov", run["run_id"]).decode(),
                                   format="json")
    provn = doc.get_provn()
    assert provn.startswith("document") and f"run:{run['run_id']}" in provn
    records = doc.get_records()

    def ids(kind) -> set[str]:
        return {str(r.identifier) for r in records if isinstance(r, kind)}

    evidence = attempts_of(wf, run["run_id"])
    assert ids(ProvActivity) == {f"run:{run['run_id']}"} | {
        f"evidence:{ev['evidence_hash']}" for ev in evidence}
    files = {f"blob:{f['hash']}" for ev in evidence for f in ev["inputs"] + ev["outputs"]}
    assert files | {f"definition:{run['definition_hash']}"} <= ids(ProvEntity)
    assert {f"image:{ev['image_facts_hash']}" for ev in evidence} <= ids(ProvEntity)
    assert {f"user:{run['triggered_by']}"} <= ids(ProvAgent)
    assert any("SoftwareAgent" in provn_line for provn_line in provn.splitlines()
               if provn_line.strip().startswith("agent(engine:"))
    kinds = {type(r) for r in records}
    assert {ProvUsage, ProvGeneration, ProvAssociation, ProvCommunication} <= kinds
    generated = {str(r.formal_attributes[0][1]) for r in records
                 if isinstance(r, ProvGeneration)}
    assert {f"blob:{o['hash']}" for ev in evidence for o in ev["outputs"]} == generated


# OpenLineage ----------------------------------------------------------------------------
def test_openlineage_events_validate_against_the_published_schema(runs):
    wf = runs["wf"]
    for key in ("first", "again", "failed"):
        run = runs[key]["run"]
        events = json.loads(wf.export("openlineage", run["run_id"]))
        check_openlineage(events)
        evidence = attempts_of(wf, run["run_id"])
        assert len(events) == 2 + 2 * len(evidence)
        task_events = [e for e in events if e["run"]["runId"] != run["run_id"]]
        assert all(e["run"]["facets"]["parent"]["run"]["runId"] == run["run_id"]
                   for e in task_events)
        ends = {e["run"]["facets"]["wfobj_attempt"]["evidenceHash"]: e for e in task_events
                if e["eventType"] != "START"}
        for ev in evidence:
            end = ends[ev["evidence_hash"]]
            assert end["eventType"] == {"success": "COMPLETE", "failed": "FAIL"}[ev["state"]]
            assert [d["name"] for d in end["outputs"]] == [o["hash"] for o in ev["outputs"]]
            assert [d["name"] for d in end["inputs"]] == [i["hash"] for i in ev["inputs"]]
        assert events[-1]["eventType"] == {"success": "COMPLETE", "failed": "FAIL"}[run["state"]]


def test_openlineage_schema_check_catches_a_broken_event(runs):
    """The validator the tests rely on does refuse a wrong event."""
    events = json.loads(runs["wf"].export("openlineage", runs["first"]["run"]["run_id"]))
    broken = json.loads(json.dumps(events))
    broken[1]["run"]["runId"] = "not-a-uuid"
    with pytest.raises(Exception, match="uuid"):
        check_openlineage(broken)


# in-toto / SLSA -------------------------------------------------------------------------
def server_key(wf: Local) -> dict:
    store = open_store(wf.store)
    try:
        from wfobj.engine.provenance.exports import KeyFile
        from wfobj.engine.service import WorkflowService

        (key,) = WorkflowService(store, keys=KeyFile(wf.store)).public_keys()
        return key
    finally:
        store.close()


def test_intoto_signature_verifies_with_securesystemslib_and_digests_match(runs, tmp_path):
    wf, run = runs["wf"], runs["first"]["run"]
    envelope = json.loads(wf.export("in-toto", run["run_id"]))
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    key = server_key(wf)
    assert key["algorithm"] == "ed25519"
    assert envelope_verifies(envelope, key)
    assert not envelope_verifies(flip_payload_byte(envelope), key)

    statement = statement_of(envelope)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    predicate = statement["predicate"]
    assert predicate["buildDefinition"]["externalParameters"]["definition_hash"] == \
        run["definition_hash"]
    assert predicate["runDetails"]["metadata"]["invocationId"] == run["run_id"]
    evidence = attempts_of(wf, run["run_id"])
    byproducts = {b["digest"].get("blake3") for b in predicate["runDetails"]["byproducts"]}
    assert {ev["evidence_hash"] for ev in evidence} <= byproducts

    files = wf.json("run", "files", run["run_id"])
    assert len(statement["subject"]) == len(files)
    for subject, f in zip(statement["subject"], files, strict=True):
        content = wf("cat", f["hash"]).stdout_bytes
        assert subject["digest"]["sha256"] == hashlib.sha256(content).hexdigest()
        assert subject["digest"]["blake3"] == b3sum(content, tmp_path)


def b3sum(content: bytes, tmp: Path) -> str:
    """BLAKE3 by the b3sum tool when installed, else the blake3 package."""
    if shutil.which("b3sum") is None:
        return blake3.blake3(content).hexdigest()
    path = tmp / "content"
    path.write_bytes(content)
    return subprocess.run(["b3sum", "--no-names", str(path)], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_wfobj_verify_accepts_a_good_file_and_refuses_a_tampered_one(runs, tmp_path):
    wf, run_id = runs["wf"], runs["first"]["run"]["run_id"]
    good = tmp_path / "good.intoto.json"
    wf("export", "in-toto", run_id, "-o", str(good))
    ok = wf("verify", str(good))
    assert ok.stdout.startswith("ok: signed by key") and run_id in ok.stdout
    assert "2 of 2 subjects match their files" in ok.stdout

    flipped = tmp_path / "flipped.json"
    flipped.write_text(json.dumps(flip_payload_byte(json.loads(good.read_bytes()))))
    bad = wf("verify", str(flipped), ok=False)
    assert bad.exit_code != 0 and "signature check failed" in bad.output
    assert len(bad.output.strip().splitlines()) == 1

    # with only the public key, no store: the signature alone
    pem = tmp_path / "key.pem"
    pem.write_text(server_key(wf)["public_key_pem"])
    alone = CliRunner().invoke(cli, ["verify", str(good), "--key", str(pem)],
                               obj=CliContext(), env={"WFOBJ_STORE": "", "WFOBJ_SERVER": ""})
    assert alone.exit_code == 0, alone.output
    assert "2 subjects not checked" in alone.output


def test_wfobj_verify_refuses_a_subject_whose_bytes_differ(runs, tmp_path):
    """A statement re-signed by the right key but naming a file with another SHA-256."""
    from wfobj.engine.provenance.exports import KeyFile
    from wfobj.engine.provenance.exports.signing import sign_envelope

    wf, run_id = runs["wf"], runs["first"]["run"]["run_id"]
    statement = statement_of(json.loads(wf.export("in-toto", run_id)))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    envelope = sign_envelope(KeyFile(wf.store).key(), "application/vnd.in-toto+json",
                             json.dumps(statement).encode())
    path = tmp_path / "lying.json"
    path.write_text(json.dumps(envelope))
    bad = wf("verify", str(path), ok=False)
    assert bad.exit_code != 0 and "expected sha256 " + "0" * 64 in bad.output


def test_key_file_is_private_and_neither_an_object_nor_pushed(runs, tmp_path):
    wf = runs["wf"]
    wf("export", "in-toto", runs["first"]["run"]["run_id"], "-o", str(tmp_path / "x.json"))
    key_path = wf.store / "signing-key.pem"
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    pem = key_path.read_bytes()
    other = tmp_path / "other"
    Local(other)("init")
    wf("push", str(other))
    for path in (wf.store, other):
        store = open_store(path)
        try:
            assert blake3.blake3(pem).hexdigest() not in store
            assert not any(pem in store.get_raw(oid) for oid in store)
        finally:
            store.close()
    assert not (other / "signing-key.pem").exists()


def test_unknown_format_is_a_usage_error(runs):
    wf = runs["wf"]
    bad = wf("export", "spdx", runs["first"]["run"]["run_id"], ok=False)
    assert bad.exit_code == 2 and "spdx" in bad.output


def test_wfobj_keys_prints_the_key_the_envelope_names(runs):
    wf = runs["wf"]
    envelope = json.loads(wf.export("in-toto", runs["first"]["run"]["run_id"]))
    (key,) = wf.json("keys")
    assert key["keyid"] == envelope["signatures"][0]["keyid"] == server_key(wf)["keyid"]
    assert wf("keys").stdout.startswith(f"{key['keyid']} ed25519\n-----BEGIN PUBLIC KEY-----")


def test_rocrate_validator_finds_no_required_issue(runs, tmp_path):
    """The RO-Crate project's validator, Provenance Run Crate 0.5 (and the Workflow Run,
    Process Run, Workflow RO-Crate and RO-Crate 1.1 profiles under it), REQUIRED level."""
    wf = runs["wf"]
    for key in ("first", "again", "failed"):
        path = tmp_path / f"{key}.zip"
        wf("export", "ro-crate", runs[key]["run"]["run_id"], "-o", str(path))
        assert rocrate_validation(path) == [], key
    bare = tmp_path / "bare.zip"
    wf("export", "ro-crate", runs["first"]["run"]["run_id"], "--files", "none", "-o", str(bare))
    assert rocrate_validation(bare) == []


def test_rocrate_validator_refuses_a_crate_missing_a_required_entity(runs, tmp_path):
    """The same validator does fail a crate whose workflow lost its step links."""
    data = runs["wf"].export("ro-crate", runs["first"]["run"]["run_id"])
    names, metadata = crate_metadata(data)
    for entity in metadata["@graph"]:
        entity.pop("step", None)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(broken, "w") as out:
        for name in names:
            out.writestr(name, json.dumps(metadata) if name == "ro-crate-metadata.json"
                         else src.read(name))
    issues = rocrate_validation(broken)
    assert any("HowToStep" in issue for issue in issues), issues
