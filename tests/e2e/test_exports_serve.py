"""Issue #13 over HTTP: a real `wfobj serve` (gunicorn + engine worker, real Docker) makes
its signing key on first start, serves it at GET /api/keys, and exports a finished run;
third-party libraries read what comes over the wire, and `wfobj --server` exports and
verifies against it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import blake3
import pytest
import requests

from tests.support_e2e import ROOT, finished_wordcount, served, wfobj_argv
from tests.support_exports import (
    check_openlineage,
    envelope_verifies,
    flip_payload_byte,
    statement_of,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-exports"))


@pytest.fixture(scope="module")
def finished(server):
    return finished_wordcount(server)["run"]


def get(server, path: str, **kw) -> requests.Response:
    resp = requests.get(server.url + path, headers=server.h("reader"), timeout=60, **kw)
    assert resp.status_code == 200, resp.text
    return resp


def wfobj(server, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "WFOBJ_SERVER": server.url, "WFOBJ_TOKEN": server.tokens["reader"]}
    env.pop("WFOBJ_STORE", None)
    proc = subprocess.run(wfobj_argv(*args), capture_output=True, cwd=ROOT, env=env,
                          timeout=120)
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def test_first_start_makes_a_private_key_served_at_api_keys(server):
    path = server.store_path / "signing-key.pem"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    keys = requests.get(f"{server.url}/api/keys", timeout=10).json()  # open: no token
    assert len(keys) == 1 and keys[0]["algorithm"] == "ed25519"
    assert keys[0]["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert b"PRIVATE" not in json.dumps(keys).encode()


def test_in_toto_over_http_verifies_with_securesystemslib(server, finished):
    (key,) = requests.get(f"{server.url}/api/keys", timeout=10).json()
    resp = get(server, f"/api/runs/{finished['run_id']}/export/in-toto")
    assert resp.headers["Content-Type"] == "application/vnd.dsse.envelope.v1+json"
    envelope = resp.json()
    assert envelope_verifies(envelope, key)
    assert not envelope_verifies(flip_payload_byte(envelope), key)
    files = get(server, f"/api/runs/{finished['run_id']}/files").json()
    subjects = statement_of(envelope)["subject"]
    assert [s["name"] for s in subjects] == [f"{f['task']}/{f['path']}" for f in files]
    for subject, f in zip(subjects, files, strict=True):
        content = get(server, f"/api/objects/{f['hash']}").content
        assert subject["digest"] == {"sha256": hashlib.sha256(content).hexdigest(),
                                     "blake3": blake3.blake3(content).hexdigest()}


def test_openlineage_and_crate_over_http(server, finished):
    events = get(server, f"/api/runs/{finished['run_id']}/export/openlineage").json()
    check_openlineage(events)
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}
    crate = get(server, f"/api/runs/{finished['run_id']}/export/ro-crate").content
    with zipfile.ZipFile(io.BytesIO(crate)) as z:
        names = set(z.namelist())
    assert {"ro-crate-metadata.json", "workflow/definition.json"} <= names


def test_wfobj_server_export_and_verify(server, finished, tmp_path: Path):
    out = tmp_path / "run.intoto.json"
    wfobj(server, "export", "in-toto", finished["run_id"][:8], "-o", str(out))
    ok = wfobj(server, "verify", str(out))
    assert b"2 of 2 subjects match their files" in ok.stdout
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(flip_payload_byte(json.loads(out.read_bytes()))))
    bad = wfobj(server, "verify", str(tampered), ok=False)
    assert bad.returncode == 1 and b"signature check failed" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    prov = wfobj(server, "export", "prov", finished["run_id"]).stdout
    assert json.loads(prov)["activity"]
