"""Issue #5 end to end: two real `wfobj serve` (gunicorn + engine workers, real Docker),
a real run on A, then `wfobj push` from A's store path to B's URL and `wfobj pull` from A's
URL into a third local store C. Everything arrives intact, is answerable on B, and
re-syncing sends only what is new."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import blake3
import pytest
import requests

from tests.support_e2e import ROOT, Server, start_server, wait_terminal, wfobj_argv
from wfobj.objstore import init_store

pytestmark = [pytest.mark.docker, pytest.mark.slow]
EXAMPLE = ROOT / "examples" / "wordcount.yaml"
CORPUS = ROOT / "examples" / "corpus.txt"


def wfobj(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(wfobj_argv(*args), capture_output=True, text=True, cwd=ROOT, timeout=300)
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def wfobj_json(*args: str):
    return json.loads(wfobj("--json", *args).stdout)


def get(server: Server, path: str):
    resp = requests.get(server.url + path, headers=server.h("reader"), timeout=30)
    assert resp.status_code == 200, (path, resp.status_code, resp.text)
    return resp.json()


def run_wordcount(server: Server, corpus: bytes) -> dict:
    """Upload `corpus`, trigger wordcount on it, wait for success; the finished run."""
    up = requests.post(
        f"{server.url}/api/objects",
        data=corpus,
        timeout=30,
        headers=server.h(**{"X-Wfobj-Hash": blake3.blake3(corpus).hexdigest()}),
    )
    assert up.status_code in (200, 201), up.text
    trig = requests.post(
        f"{server.url}/api/workflows/wordcount/trigger",
        timeout=30,
        json={"parameters": {"corpus": up.json()["hash"]}},
        headers=server.h(),
    )
    assert trig.status_code == 202, trig.text
    run = wait_terminal(server, trig.json()["run_id"], timeout=300)
    assert run["state"] == "success", (run, server.log())
    return run


def ref_target(store_path: Path, name: str) -> str | None:
    return {r["name"]: r["hash"] for r in wfobj_json("--store", str(store_path), "refs")}.get(name)


@pytest.fixture
def servers(docker_client, tmp_path):
    started: list[Server] = []
    try:
        for name in ("a", "b"):
            started.append(start_server(tmp_path / name))
        yield started
    finally:
        codes = [srv.stop() for srv in started]
        for srv in started:
            assert srv.proc.poll() is not None
        assert codes == [0] * len(started), [srv.log() for srv in started]


def test_push_and_pull_a_real_run_between_servers(servers, tmp_path):
    a, b = servers
    put = requests.put(
        f"{a.url}/api/workflows/wordcount",
        data=EXAMPLE.read_bytes(),
        timeout=30,
        headers=a.h(**{"Content-Type": "application/yaml"}),
    )
    assert put.status_code == 201, put.text
    run = run_wordcount(a, CORPUS.read_bytes())
    rid, ref = run["run_id"], f"runs/{run['run_id']}"
    manifest = ref_target(a.store_path, ref)
    assert manifest == run["manifest_hash"]

    # push: A's store path -> B's server
    first = wfobj_json("--store", str(a.store_path), "push", b.url, "--token", b.tokens["admin"])
    assert first["direction"] == "push" and first["objects"] > 0
    statuses = {r["name"]: r["status"] for r in first["refs"]}
    assert statuses[ref] == "updated" and statuses["workflows/wordcount"] == "updated"
    assert "refused" not in statuses.values(), first

    # pull: A's server -> a third local store C
    c_path = tmp_path / "c"
    init_store(c_path).close()
    pulled = wfobj_json("--store", str(c_path), "pull", a.url, "--token", a.tokens["reader"])
    assert pulled["direction"] == "pull" and pulled["objects"] > 0
    assert {r["name"]: r["status"] for r in pulled["refs"]}[ref] == "updated"

    for path in (a.store_path, b.store_path, c_path):
        wfobj("--store", str(path), "fsck")  # exits 0 only if clean
        assert ref_target(path, ref) == manifest, path

    # B answers for the received run like for a local one
    on_b = get(b, f"/api/runs/{rid}")
    assert on_b["state"] == "success" and on_b["manifest_hash"] == manifest
    assert [t["task"] for t in get(b, f"/api/runs/{rid}/tasks")] == ["split", "count"]
    assert {f["path"] for f in get(b, f"/api/runs/{rid}/files")} == {"words.txt", "count.txt"}
    assert any(n["kind"] == "file" for n in get(b, f"/api/runs/{rid}/lineage")["nodes"])
    assert get(b, f"/api/runs/{rid}/audit")[-1]["to"] == "success"
    assert rid in [r["run_id"] for r in get(b, "/api/runs")["runs"]]
    assert "wordcount" in [w["name"] for w in get(b, "/api/workflows")]

    # re-push sends nothing; a new run sends only its new objects
    again = wfobj_json("--store", str(a.store_path), "push", b.url, "--token", b.tokens["admin"])
    assert (again["objects"], again["bytes"]) == (0, 0), again
    assert {r["status"] for r in again["refs"]} == {"unchanged"}

    second = run_wordcount(a, CORPUS.read_bytes() + b"\nanother line of words for run two\n")
    more = wfobj_json("--store", str(a.store_path), "push", b.url, "--token", b.tokens["admin"])
    assert 0 < more["objects"] < first["objects"], (more, first)
    assert {r["name"]: r["status"] for r in more["refs"]}[f"runs/{second['run_id']}"] == ("updated")
    assert get(b, f"/api/runs/{second['run_id']}")["state"] == "success"
    assert wfobj("--store", str(b.store_path), "fsck").returncode == 0
