"""PROV, OpenLineage and in-toto are written as the run is read (docs/exports.md,
docs/limits.md "Exports"): what an export holds does not grow with the run's attempts,
a run read again (past the attempts kept between passes) exports the same bytes, and the
in-toto envelope, whose payload is made three times and never held, carries the same
signature a whole-payload signing makes and passes securesystemslib's DSSE check.
Fan-out runs of the fake executor in a memory store."""

from __future__ import annotations

import base64
import json
import os
import tracemalloc

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prov.model import ProvActivity, ProvDocument

from tests.support_engine import run_with, trigger
from tests.support_exports import check_openlineage, envelope_verifies, statement_of
from wfobj.engine.provenance.exports import KeyFile, intoto, run_stream
from wfobj.engine.provenance.exports.signing import TwoPassSigner, server_key
from wfobj.engine.provenance.exports.verify import verify_attestation
from wfobj.engine.runs import rows
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore

FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": {"image": "none", "command": ["run", "{{item}}"],
                          "for_each": {"param": "n"}, "outputs": {"files": ["o.txt"]}},
                 "all": {"image": "none", "command": ["cat"],
                         "inputs": {"os": {"task": "each", "file": "o.txt"}},
                         "outputs": {"files": ["all"]}}}}
SMALL, LARGE = 150, 900
FORMATS = ("prov", "openlineage", "in-toto")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One store, two finished fan-out runs (each instance writes a file of its own)."""
    store = MemoryObjectStore()
    svc = WorkflowService(store, keys=KeyFile(tmp_path_factory.mktemp("keys")))
    ids = {}
    for size in (SMALL, LARGE):
        ids[size] = trigger(svc, FAN, f"fan{size}", n=list(range(size)))
        assert run_with(store, ids[size], concurrency=16)[0] == "success"
    return svc, ids


def peak_of(svc: WorkflowService, run_id: str, fmt: str) -> tuple[int, int]:
    """(peak bytes allocated while the export is read piece by piece, bytes sent)."""
    tracemalloc.start()
    sent = 0
    try:
        for piece in svc.export_run(run_id, fmt):
            sent += len(piece)
        return tracemalloc.get_traced_memory()[1], sent
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", FORMATS)
def test_what_an_export_holds_does_not_grow_with_the_runs_attempts(runs, fmt, monkeypatch):
    svc, ids = runs
    # every pass reads the table again, and holds 2 of its buckets (64 by default: a
    # bound, but one these runs stay below)
    monkeypatch.setattr(run_stream, "MEMO_ATTEMPTS", 8)
    monkeypatch.setattr(rows, "CACHED_BUCKETS", 2)
    monkeypatch.setattr(intoto, "SHA256_KEPT", 8)
    peak_of(svc, ids[SMALL], fmt)  # the format's library imported, its caches warm
    small, small_sent = peak_of(svc, ids[SMALL], fmt)
    large, large_sent = peak_of(svc, ids[LARGE], fmt)
    grown = large - small
    more = LARGE - SMALL
    print(f"{fmt}: peak {small / 1024:.0f} KiB at {SMALL} instances, {large / 1024:.0f} KiB "
          f"at {LARGE}; {grown / more:.0f} bytes per added instance ({large_sent} bytes sent)")
    assert large_sent > 4 * small_sent
    # a whole document held 20-40 KB per attempt. What is left: the gather's input tree,
    # one stored object with an entry per instance, read whole as every tree is (about
    # 500 bytes an entry), and the hashes met (PROV: under 200 bytes a file)
    assert grown < more * 1024, f"{fmt} held {grown} more bytes for {more} more instances"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_read_again_on_every_pass_exports_the_same_bytes(runs, fmt, monkeypatch):
    svc, ids = runs
    kept = svc.export_run(ids[LARGE], fmt).content  # the run's attempts kept between passes
    monkeypatch.setattr(run_stream, "MEMO_ATTEMPTS", 0)
    monkeypatch.setattr(intoto, "SHA256_KEPT", 1)
    assert svc.export_run(ids[LARGE], fmt).content == kept


def test_the_large_runs_exports_pass_their_formats_own_readers(runs, tmp_path):
    svc, ids = runs
    prov = ProvDocument.deserialize(content=svc.export_run(ids[LARGE], "prov").content.decode(),
                                    format="json")
    activities = [r for r in prov.get_records(ProvActivity)]
    assert len(activities) == LARGE + 2  # the run, each instance, the gather
    events = json.loads(svc.export_run(ids[LARGE], "openlineage").content)
    assert len(events) == 2 * (LARGE + 1) + 2
    check_openlineage(events)
    envelope = json.loads(svc.export_run(ids[LARGE], "in-toto").content)
    assert envelope_verifies(envelope, svc.public_keys()[0])
    assert len(statement_of(envelope)["subject"]) == LARGE + 1


def test_in_toto_sends_its_head_first_and_blank_lines_while_it_reads(runs, monkeypatch):
    svc, ids = runs
    monkeypatch.setattr(intoto, "KEEPALIVE", 50)
    pieces = iter(svc.export_run(ids[LARGE], "in-toto"))
    assert next(pieces).startswith(b'{\n  "payloadType": "application/vnd.in-toto+json",')
    body = b"".join(pieces)
    head = body[:body.index(b'"payload":')]
    assert head.strip() == b"" and head.count(b"\n") > 10  # sent before the payload
    data = b'{\n  "payloadType": "application/vnd.in-toto+json",' + body
    envelope = json.loads(data)
    assert envelope_verifies(envelope, svc.public_keys()[0])
    key = svc.keys.key().public
    verified = verify_attestation(data, [key], lambda oid: svc.store.iter_blob(oid))
    assert verified.subjects_checked == LARGE + 1


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000, 100_000])
def test_a_two_pass_signature_is_the_one_a_whole_message_gets(size):
    key = server_key(Ed25519PrivateKey.generate())
    message = os.urandom(size)
    pieces = [message[i:i + 777] for i in range(0, size, 777)]
    signer = TwoPassSigner(key)
    for piece in pieces:
        signer.first(piece)
    for piece in pieces:
        signer.second(piece)
    signature = signer.signature()
    assert signature == key.sign(message)
    key.private.public_key().verify(signature, message)


def test_a_two_pass_signer_refuses_when_its_two_readings_differ():
    """A nonce made from other bytes would still verify, and two signatures sharing it
    give the key away: nothing is signed."""
    key = server_key(Ed25519PrivateKey.generate())
    signer = TwoPassSigner(key)
    signer.first(b"the message")
    signer.second(b"another one")
    with pytest.raises(ValueError, match="nothing is signed"):
        signer.signature()


def test_base64_of_recut_pieces_is_the_base64_of_the_whole():
    data = os.urandom(1000)
    pieces = [data[i:i + n] for i, n in zip(range(0, 1000, 7), [7] * 200, strict=False)]
    recut = list(intoto.base64_ready(iter(pieces)))
    assert all(len(p) % 3 == 0 for p in recut[:-1])
    assert b"".join(base64.b64encode(p) for p in recut) == base64.b64encode(data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_first_piece_leaves_before_any_row_is_read(runs, fmt, monkeypatch):
    svc, ids = runs
    export = svc.export_run(ids[LARGE], fmt)

    def unread(_self):
        raise AssertionError("the task table was read before the first piece left")

    monkeypatch.setattr(run_stream.RunStream, "rows", unread)
    first = next(iter(export))
    assert first[:1] in (b"{", b"[")
    export.close()
