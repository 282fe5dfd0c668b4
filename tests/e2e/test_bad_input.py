"""Every bad-input case of issue #4 over real HTTP against `wfobj serve`, each one checked
to leave the store exactly as it was (objects, refs and metadata)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import blake3
import pytest
import requests

from tests.support_e2e import ROOT, snapshot, start_server, wait_terminal

pytestmark = [pytest.mark.docker, pytest.mark.slow]
MAX_UPLOAD = 1 << 20
ENUMS = {"name": "enums", "params": {"corpus": {"type": "file"},
                                     "mode": {"type": "string", "enum": ["a", "b"]},
                                     "n": {"type": "int", "default": 1}},
         "tasks": {"t": {"image": "wfobj/toolbox:local", "command": ["true"],
                         "inputs": {"c": {"param": "corpus"}}}}}
GHOST_RUN = "01900000-0000-7000-8000-000000000000"


@pytest.fixture(scope="module")
def ctx(docker_client, tmp_path_factory):
    """A server with two workflows, an uploaded corpus and one finished run."""
    srv = start_server(tmp_path_factory.mktemp("e2e-bad"),
                       env={"WFOBJ_MAX_UPLOAD": str(MAX_UPLOAD)})
    put = requests.put(f"{srv.url}/api/workflows/wordcount",
                       data=(ROOT / "examples" / "wordcount.yaml").read_bytes(),
                       headers=srv.h(**{"Content-Type": "application/yaml"}))
    assert put.status_code == 201
    assert requests.put(f"{srv.url}/api/workflows/enums", json=ENUMS,
                        headers=srv.h()).status_code == 201
    corpus = requests.post(f"{srv.url}/api/objects", data=b"a few words here",
                           headers=srv.h()).json()["hash"]
    rid = requests.post(f"{srv.url}/api/workflows/wordcount/trigger",
                        json={"parameters": {"corpus": corpus}}, headers=srv.h()).json()["run_id"]
    assert wait_terminal(srv, rid)["state"] == "success", srv.log()
    yield {"srv": srv, "corpus": corpus, "run": rid,
           "definition": put.json()["definition_hash"]}
    assert srv.stop() == 0, srv.log()


def raw(srv, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """Send `path` byte for byte (no client-side dot-segment cleanup)."""
    parts = urlsplit(srv.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        try:
            conn.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (413) and closed before taking the whole body
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def check(ctx, method, path, status, role="runner", body=b"", headers=None, word=None):
    """Send one bad request; assert status, a {"title","description"} body and no writes."""
    srv = ctx["srv"]
    before = snapshot(srv.store_path)
    hdrs = ({} if role is None else srv.h(role)) | (headers or {})
    got, content = raw(srv, method, path, body, hdrs)
    assert got == status, (method, path, got, content[:300])
    if method != "HEAD":
        error = json.loads(content)
        assert set(error) == {"title", "description"} and error["description"]
        if word:
            assert word in error["description"], error
    assert snapshot(srv.store_path) == before, f"{method} {path} wrote to the store"


J = {"Content-Type": "application/json"}


def test_malformed_json(ctx):
    check(ctx, "PUT", "/api/workflows/x", 400, body=b'{"name": ', headers=J)
    check(ctx, "POST", "/api/workflows/wordcount/trigger", 400, body=b"{parameters", headers=J)


def test_wrong_content_type(ctx):
    check(ctx, "PUT", "/api/workflows/x", 415, body=b"{}", headers={
        "Content-Type": "text/plain"}, word="text/plain")
    check(ctx, "POST", "/api/workflows/wordcount/trigger", 415,
          body=b'{"parameters": {}}', headers={"Content-Type": "application/xml"})


def test_bodies_over_the_limit(ctx):
    check(ctx, "POST", "/api/objects", 413, body=b"\0" * (MAX_UPLOAD + 1))
    check(ctx, "PUT", "/api/workflows/x", 413, body=b" " * ((4 << 20) + 1), headers=J)
    check(ctx, "POST", "/api/workflows/wordcount/trigger", 413,
          body=b" " * ((1 << 20) + 1), headers=J)


def test_unknown_workflow_and_run(ctx):
    check(ctx, "GET", "/api/workflows/ghost", 404, word="ghost")
    check(ctx, "GET", "/api/workflows/ghost/versions", 404)
    check(ctx, "POST", "/api/workflows/ghost/trigger", 404, body=b"{}", headers=J)
    for suffix in ("", "/tasks", "/tasks/split", "/files", "/lineage", "/audit"):
        check(ctx, "GET", f"/api/runs/{GHOST_RUN}{suffix}", 404)
    check(ctx, "POST", f"/api/runs/{GHOST_RUN}/kill", 404)
    check(ctx, "GET", f"/api/runs/{ctx['run']}/tasks/nosuch", 404, word="nosuch")
    check(ctx, "GET", f"/api/workflows/by-hash/{'c' * 64}", 404)
    check(ctx, "GET", f"/api/objects/{'c' * 64}", 404)
    check(ctx, "HEAD", f"/api/objects/{'c' * 64}", 404)


@pytest.mark.parametrize("bad", ["abc", "G" * 64, "0" * 63, "0" * 65, "ABCDEF" * 10 + "abcd"])
def test_invalid_hash_syntax(ctx, bad):
    check(ctx, "GET", f"/api/objects/{bad}", 400, word="invalid hash")
    check(ctx, "GET", f"/api/workflows/by-hash/{bad}", 400)
    check(ctx, "POST", f"/api/workflows/by-hash/{bad}/trigger", 400, body=b"{}", headers=J)
    check(ctx, "POST", "/api/objects", 400, body=b"x", headers={"X-Wfobj-Hash": bad})


@pytest.mark.parametrize("params, word", [
    ({"corpus": "C", "mode": "a", "bogus": 1}, "bogus"),  # unknown
    ({"corpus": "C"}, "mode"),  # missing
    ({"corpus": "C", "mode": "a", "n": "one"}, "'n'"),  # mistyped
    ({"corpus": "C", "mode": "c"}, "mode"),  # outside enum
    ({"corpus": "d" * 64, "mode": "a"}, "corpus"),  # absent file hash
])
def test_bad_parameters(ctx, params, word):
    params = {k: ctx["corpus"] if v == "C" else v for k, v in params.items()}
    body = json.dumps({"parameters": params}).encode()
    check(ctx, "POST", "/api/workflows/enums/trigger", 400, body=body, headers=J, word=word)
    check(ctx, "POST", f"/api/workflows/by-hash/{_enums_hash(ctx)}/trigger", 400, body=body,
          headers=J, word=word)


def _enums_hash(ctx) -> str:
    srv = ctx["srv"]
    return requests.get(f"{srv.url}/api/workflows/enums",
                        headers=srv.h("reader")).json()["definition_hash"]


def test_kill_of_finished_run_is_409(ctx):
    check(ctx, "POST", f"/api/runs/{ctx['run']}/kill", 409, word="success")


def test_reader_cannot_trigger_and_no_token(ctx):
    body = json.dumps({"parameters": {"corpus": ctx["corpus"]}}).encode()
    check(ctx, "POST", "/api/workflows/wordcount/trigger", 403, role="reader", body=body,
          headers=J, word="runner")
    check(ctx, "POST", "/api/objects", 403, role="reader", body=b"data")
    check(ctx, "POST", "/api/workflows/wordcount/trigger", 401, role=None, body=body, headers=J)
    check(ctx, "GET", "/api/runs", 401, role=None)
    check(ctx, "GET", "/api/runs", 401, role=None, headers={"Authorization": "Bearer wfo_x"})


def test_declared_hash_mismatch(ctx):
    wrong = blake3.blake3(b"other").hexdigest()
    check(ctx, "POST", "/api/objects", 400, body=b"payload", headers={"X-Wfobj-Hash": wrong},
          word=wrong)
    check(ctx, "POST", f"/api/objects?hash={wrong}", 400, body=b"payload")


@pytest.mark.parametrize("path", [
    "/api/workflows/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/workflows/../../etc/passwd",
    "/api/workflows/%2e%2e/versions",
    "/api/workflows/..",
    "/api/runs/..%2F..%2Fetc%2Fpasswd",
    "/api/runs/../tasks",
    "/api/runs/%2e%2e/audit",
    "/api/runs/RUN/tasks/..%2F..%2Fetc%2Fpasswd",
    "/api/runs/RUN/tasks/..",
    "/api/objects/..%2F..%2Fetc%2Fpasswd",
    "/api/objects/../../../etc/passwd",
    "/api/workflows/by-hash/..%2F..%2Fetc%2Fpasswd",
])
def test_path_traversal_never_reaches_a_file(ctx, path):
    srv = ctx["srv"]
    path = path.replace("RUN", ctx["run"])
    before = snapshot(srv.store_path)
    status, content = raw(srv, "GET", path, headers=srv.h("admin"))
    assert status in (400, 404), (path, status)
    assert b"root:" not in content
    assert set(json.loads(content)) == {"title", "description"}
    post, _ = raw(srv, "POST", path.replace("/versions", "") + "/trigger", b"{}",
                  {**srv.h("admin"), **J})
    assert post in (400, 404, 405)
    assert snapshot(srv.store_path) == before
