"""Every error a real `wfobj serve` sends is the JSON error shape, gunicorn's own answers
included, and a damaged chunked blob is cut off so the client sees it (issue 11, hole 10)."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.api.test_blob_download import big_content, flip_byte_on_disk
from tests.support_e2e import start_server
from wfobj.cli.client.service import RemoteService
from wfobj.objstore import WfobjError, init_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """A server (no engine workers) on a store with one healthy and two damaged blobs."""
    tmp = tmp_path_factory.mktemp("e2e-errors")
    store = init_store(tmp / "store")
    small_data, big_data = b"damaged-small-blob-" * 50, big_content(11)
    blobs = {"small": store.put_blob(small_data), "big": store.put_blob(big_data),
             "healthy": store.put_blob(b"fine")}
    store.close()
    flip_byte_on_disk(tmp / "store", small_data[400:464])
    flip_byte_on_disk(tmp / "store", big_data[9 << 20:(9 << 20) + 64])  # a later chunk
    server = start_server(tmp, engine_workers=0, workers=1)
    server.blobs = blobs
    yield server
    assert server.stop() == 0, server.log()


def raw_exchange(srv, request: bytes) -> tuple[int, dict, bytes]:
    """Send bytes as they are; (status, headers, body) of the answer."""
    parts = urlsplit(srv.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def assert_json_error(status: int, headers: dict, body: bytes, expected: int) -> dict:
    assert status == expected, (status, body[:300])
    assert headers["content-type"].startswith("application/json"), headers
    error = json.loads(body)
    assert set(error) == {"title", "description"} and error["description"]
    return error


def test_request_line_too_long_is_a_json_414(srv):
    path = "/api/runs/" + "a" * 8000
    assert_json_error(*raw_exchange(srv, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
                      414)


def test_header_too_large_is_a_json_431(srv):
    request = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n"
    assert_json_error(*raw_exchange(srv, request), 431)


def test_too_many_headers_is_a_json_431(srv):
    headers = "".join(f"X-H{i}: v\r\n" for i in range(150))
    request = f"GET /api/health HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()
    assert_json_error(*raw_exchange(srv, request), 431)


def test_garbage_request_line_is_a_json_400(srv):
    error = assert_json_error(*raw_exchange(srv, b"\x01\x02 nonsense\r\n\r\n"), 400)
    assert len(error["description"]) < 300


def test_corrupt_small_blob_is_a_json_500_naming_it(srv):
    oid = srv.blobs["small"]
    request = (f"GET /api/objects/{oid} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               f"Authorization: Bearer {srv.tokens['reader']}\r\n\r\n").encode()
    error = assert_json_error(*raw_exchange(srv, request), 500)
    assert oid in error["description"]


def test_corrupt_later_chunk_cuts_the_download_off(srv):
    oid = srv.blobs["big"]
    parts = urlsplit(srv.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("GET", f"/api/objects/{oid}", headers=srv.h("reader"))
    resp = conn.getresponse()
    assert resp.status == 200
    assert int(resp.getheader("Content-Length")) == 12 << 20
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert len(info.value.partial) < 12 << 20
    conn.close()
    assert oid in srv.log() or "checksum mismatch" in srv.log()


def test_remote_client_reports_the_cut_off_download_as_an_error(srv):
    remote = RemoteService(srv.url, srv.tokens["reader"])
    assert remote.get_object_bytes(srv.blobs["healthy"]) == b"fine"
    with pytest.raises(WfobjError) as info:
        remote.get_object_bytes(srv.blobs["big"])
    assert srv.blobs["big"] in str(info.value)
