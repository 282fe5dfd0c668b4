"""The HTTP side of sync: HttpRemote against the /api/sync/* resources on a real socket."""

from __future__ import annotations

import io
import logging
import os
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from tests.support_sync import (
    RecordingPolicy,
    make_run,
    make_workflow_version,
    set_workflow,
    sync_app,
    verify_store,
)
from wfobj.cli.client.sync import HttpRemote
from wfobj.cli.errors import HttpError
from wfobj.engine.upkeep.sync_policy import EngineRefPolicy
from wfobj.objstore import MemoryObjectStore
from wfobj.objstore.car import block_bytes, chunked_descriptor, iter_pack
from wfobj.objstore.ids import CODEC_DAG_CBOR, cid_bytes, hash_bytes
from wfobj.objstore.sync import REFUSED, UPDATED, find_missing, pull, push

POLICY = EngineRefPolicy()


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadedServer(WSGIServer):
    daemon_threads = True


@pytest.fixture
def served():
    """A bare app with only the sync routes over one memory store, on a loopback port."""
    store = MemoryObjectStore()
    policy = RecordingPolicy()
    app = sync_app(store, policy)
    moved = policy.moved
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadedServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", store, moved
    server.shutdown()
    server.server_close()


def test_push_and_pull_over_http(served):
    url, remote_store, moved = served
    a = MemoryObjectStore()
    name, manifest = make_run(a, tasks=3, big=6 << 20)
    report = push(a, HttpRemote(url, None), POLICY, pack_bytes=1 << 20)
    assert report.objects == len(list(a)) and report.packs > 1
    assert remote_store.get_ref(name) == manifest
    assert moved == [[name]]
    assert push(a, HttpRemote(url, None), POLICY).objects == 0

    c = MemoryObjectStore()
    pulled = pull(c, HttpRemote(url, None), POLICY)
    assert pulled.objects == len(list(a))
    assert c.get_ref(name) == manifest
    assert verify_store(c) == verify_store(remote_store) == len(list(a))


def test_diverged_workflow_refused_over_http(served):
    url, remote_store, _ = served
    set_workflow(remote_store, "wc", make_workflow_version(remote_store, "wc", "theirs"))
    a = MemoryObjectStore()
    set_workflow(a, "wc", make_workflow_version(a, "wc", "mine"))
    report = push(a, HttpRemote(url, None), POLICY)
    assert [r.status for r in report.refs] == [REFUSED]
    forced = push(a, HttpRemote(url, None), POLICY, force=True)
    assert [r.status for r in forced.refs] == [UPDATED]
    assert remote_store.get_ref("workflows/wc") == a.get_ref("workflows/wc")


def test_flipped_byte_pack_refused_with_hash(served):
    url, remote_store, _ = served
    a = MemoryObjectStore()
    make_run(a, tasks=2)
    remote = HttpRemote(url, None)
    oids = find_missing(a, remote, [oid for _, oid in a.refs()])
    pack = bytearray(b"".join(iter_pack(a, oids)))
    victim = oids[-2]
    data = a.get_raw(victim)
    pack[pack.index(data) + 3] ^= 0x40
    with pytest.raises(HttpError) as err:
        remote.send_pack([bytes(pack)], len(pack))
    assert err.value.status == 400
    assert victim in str(err.value)
    assert victim not in remote_store


def test_lying_chunked_descriptor_is_bad_input_not_damage(served, caplog):
    """A peer's chunked-file descriptor whose content does not hash to the file id it
    claims (or whose chunklist is nowhere) is the sender's fault: 400 or 409 naming the
    file, nothing logged as damage to this store, which stays clean."""
    url, remote_store, _ = served
    a = MemoryObjectStore()
    real, _ = a.put_stream(io.BytesIO(os.urandom(9 << 20)))
    index = a.record(real).index
    chunks = [oid for oid, _ in a.chunk_list(real)]
    fake = hash_bytes(b"not the content")
    remote = HttpRemote(url, None)
    for blocks, kept, status in (([], False, 409), (chunks + [index], True, 400)):
        lie = chunked_descriptor(fake, index, a.record(real).size)
        pack = b"".join(iter_pack(a, blocks)) + block_bytes(
            cid_bytes(hash_bytes(lie), CODEC_DAG_CBOR), lie)
        with caplog.at_level(logging.ERROR, logger="wfobj.api"):
            with pytest.raises(HttpError) as err:
                remote.send_pack([pack], len(pack))
        assert err.value.status == status and fake in str(err.value)
        assert "Corrupt" not in str(err.value) and not caplog.records
        assert fake not in remote_store and (index in remote_store) == kept
    verify_store(remote_store)


def test_bad_requests_get_4xx_with_message(served):
    url, _, _ = served

    r = requests.post(url + "/api/sync/missing", data=b"x" * 33)
    assert r.status_code == 400 and "32-byte" in r.json()["description"]
    r = requests.post(url + "/api/sync/objects", json={"wants": ["nothex"]})
    assert r.status_code == 400 and "wants" in r.json()["description"]
    r = requests.post(url + "/api/sync/packs/download", json={"wants": ["ab" * 32]})
    assert r.status_code == 404
    r = requests.post(url + "/api/sync/refs", json={"updates": [{"name": "runs/x"}]})
    assert r.status_code == 400
    r = requests.post(url + "/api/sync/packs", data=b"\x05abc")
    assert r.status_code == 400 and "pack" in r.json()["description"]


def test_cli_push_and_pull_by_url(served, tmp_path):
    from click.testing import CliRunner

    from wfobj.cli.context import CliContext
    from wfobj.cli.main import cli
    from wfobj.objstore import init_store, open_store

    url, remote_store, _ = served
    local_path, other_path = str(tmp_path / "local"), str(tmp_path / "other")
    local = init_store(local_path)
    name, manifest = make_run(local)
    count = len(list(local))
    local.close()
    init_store(other_path).close()

    def run(*args):
        return CliRunner().invoke(cli, list(args), obj=CliContext())

    res = run("--store", local_path, "push", url, "--token", "t0k")
    assert res.exit_code == 0, res.output
    assert f"sent {count} objects" in res.output
    assert remote_store.get_ref(name) == manifest
    res = run("--store", other_path, "pull", url, name)
    assert res.exit_code == 0, res.output
    assert open_store(other_path).get_ref(name) == manifest
    res = run("--store", other_path, "pull", "http://127.0.0.1:9/")
    assert res.exit_code == 1
    assert "unreachable" in res.output and "Traceback" not in res.output


def test_oversized_pack_is_413(served):
    import http.client

    from wfobj.api.sync import MAX_PACK_BODY

    url, remote_store, _ = served
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    conn.putrequest("POST", "/api/sync/packs")
    conn.putheader("Content-Type", "application/vnd.ipld.car")
    conn.putheader("Content-Length", str(MAX_PACK_BODY + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert b"pack over" in response.read()
    conn.close()
    assert list(remote_store) == []
