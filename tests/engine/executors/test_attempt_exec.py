"""Attempt tokens and `wfobj exec` without Slurm: the token's scope on the API, and a node
fetching, running and reporting an attempt against a real served store."""

from __future__ import annotations

import io
import json
import subprocess

import pytest

from tests.support_api import make_api
from tests.support_e2e import ROOT, start_server, wfobj_argv
from wfobj.engine.clock import parse_time
from wfobj.engine.executors.attempts import AttemptTokens, load_report, report_object, spec_object
from wfobj.engine.executors.base import AttemptResult, InputFile, StoredText, TaskSpec
from wfobj.engine.executors.caps import DEFAULT_LIMITS
from wfobj.objstore import MemoryObjectStore, TreeBuilder, iter_pack, open_store, walk_tree

RUN_ID = "01a2376e-0000-7000-8000-000000000001"


def make_spec(store, attempt: int = 1, command: str = "tr a-z A-Z < /in/text > /out/up.txt"):
    text = store.put_blob(b"hello node\n")
    spec = TaskSpec(run_id=RUN_ID, task="upper", attempt=attempt, image="wfobj/toolbox:local",
                    command=["sh", "-c", command + "; echo done=yes >> $WFOBJ_VARS"], env={},
                    workdir=None, network=False, cpus=None, memory="64m", timeout=60.0,
                    inputs=[InputFile("text", text, 11)], output_files=["up.txt"],
                    output_vars=["done"])
    return store.put_object(spec_object(spec, DEFAULT_LIMITS).to_value()), spec


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api():
    return make_api(MemoryObjectStore())


def test_an_attempt_token_lists_its_own_closure_only(api):
    spec_oid, spec = make_spec(api.store)
    other_oid, _ = make_spec(api.store, attempt=2)
    token, _ = AttemptTokens(api.store).create(spec_oid, spec, ttl=60)
    ok = api.client.simulate_post(f"/api/attempts/{spec_oid}/objects", json={},
                                  headers=bearer(token))
    assert ok.status_code == 200 and len(ok.content) == 2 * 32  # the spec and its input
    other = api.client.simulate_post(f"/api/attempts/{other_oid}/objects", json={},
                                     headers=bearer(token))
    assert other.status_code == 403 and spec_oid in other.json["description"]
    download = api.client.simulate_post(f"/api/attempts/{other_oid}/packs/download",
                                        json={}, headers=bearer(token))
    assert download.status_code == 403


def test_attempt_and_api_tokens_do_not_stand_in_for_each_other(api):
    spec_oid, spec = make_spec(api.store)
    token, _ = AttemptTokens(api.store).create(spec_oid, spec, ttl=60)
    assert api.client.simulate_get("/api/runs", headers=bearer(token)).status_code == 401
    assert api.client.simulate_get(f"/api/objects/{spec_oid}",
                                   headers=bearer(token)).status_code == 401
    as_admin = api.client.simulate_post(f"/api/attempts/{spec_oid}/objects", json={},
                                        headers=api.h("admin"))
    assert as_admin.status_code == 403 and as_admin.json["title"] == "Attempt token refused"
    anonymous = api.client.simulate_post(f"/api/attempts/{spec_oid}/objects", json={})
    assert anonymous.status_code == 401


def test_a_token_stops_working_when_its_attempt_ends_or_expires(api):
    spec_oid, spec = make_spec(api.store)
    tokens = AttemptTokens(api.store)
    token, grant = tokens.create(spec_oid, spec, ttl=60)
    tokens.end(grant)
    gone = api.client.simulate_post(f"/api/attempts/{spec_oid}/objects", json={},
                                    headers=bearer(token))
    assert gone.status_code == 403 and "ended" in gone.json["description"]
    expired, _ = tokens.create(spec_oid, spec, ttl=-1)
    late = api.client.simulate_post(f"/api/attempts/{spec_oid}/objects", json={},
                                    headers=bearer(expired))
    assert late.status_code == 403 and "expired" in late.json["description"]


def test_a_report_must_be_stored_well_formed_and_for_the_tokens_spec(api):
    spec_oid, spec = make_spec(api.store)
    token, _ = AttemptTokens(api.store).create(spec_oid, spec, ttl=60)
    url = f"/api/attempts/{spec_oid}/report"
    bad = api.client.simulate_put(url, json={"report": "xyz"}, headers=bearer(token))
    assert bad.status_code == 400
    absent = api.client.simulate_put(url, json={"report": "0" * 64}, headers=bearer(token))
    assert absent.status_code == 409 and "not on the server" in absent.json["description"]
    # the spec object is stored but is no report
    wrong = api.client.simulate_put(url, json={"report": spec_oid}, headers=bearer(token))
    assert wrong.status_code == 400 and wrong.json["title"] == "Bad attempt report"
    assert wrong.json["description"].startswith(
        f"object {spec_oid} is not a valid attempt_report: it is a 'attempt_spec'")
    extra = api.client.simulate_put(url, json={"report": spec_oid, "x": 1},
                                    headers=bearer(token))
    assert extra.status_code == 400


def test_a_report_with_a_field_no_report_has_is_refused_naming_it(api):
    spec_oid, spec = make_spec(api.store)
    token, _ = AttemptTokens(api.store).create(spec_oid, spec, ttl=60)
    empty = api.store.put_blob(b"")
    result = AttemptResult(state="success", exit_code=0, stdout=StoredText(empty, 0, ""),
                           stderr=StoredText(empty, 0, ""),
                           started_at=parse_time("2026-12-04T00:00:00.000000Z"),
                           ended_at=parse_time("2026-12-04T00:00:01.000000Z"))
    good = report_object(spec_oid, spec, result).to_value()
    forged = api.store.put_object({**good, "smuggled": "x"})
    url = f"/api/attempts/{spec_oid}/report"
    resp = api.client.simulate_put(url, json={"report": forged}, headers=bearer(token))
    assert resp.status_code == 400 and resp.json["title"] == "Bad attempt report"
    assert resp.json["description"].startswith(
        f"object {forged} is not a valid attempt_report: unknown field(s) smuggled")
    assert AttemptTokens(api.store).report_of(spec_oid) is None
    sent = api.client.simulate_post(f"/api/attempts/{spec_oid}/packs",
                                    body=b"".join(iter_pack(api.store, [empty])),
                                    headers=bearer(token))
    assert sent.status_code == 200  # a report links only what its attempt sent
    ok = api.client.simulate_put(url, json={"report": api.store.put_object(good)},
                                 headers=bearer(token))
    assert ok.status_code == 200 and AttemptTokens(api.store).report_of(spec_oid)


@pytest.fixture
def served(tmp_path):
    server = start_server(tmp_path, engine_workers=0)
    yield server
    server.stop()


def exec_attempt(tmp_path, server, token: str, spec_oid: str, node_store="node"):
    return subprocess.run(
        wfobj_argv("--json", "--store", str(tmp_path / node_store), "exec", "--server",
                   server.url, "--token", token, "--node", "nodeX", spec_oid),
        capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_exec_fetches_runs_and_reports_an_attempt(tmp_path, served, docker_client):
    store = open_store(served.store_path)
    try:
        spec_oid, spec = make_spec(store)
        token, grant = AttemptTokens(store).create(spec_oid, spec, ttl=120)
        second_oid, second = make_spec(store, attempt=2)
        token2, _ = AttemptTokens(store).create(second_oid, second, ttl=120)
    finally:
        store.close()
    done = exec_attempt(tmp_path, served, token, spec_oid)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["state"] == "success" and summary["fetched_objects"] == 2
    store = open_store(served.store_path)
    try:
        report = AttemptTokens(store).report_of(spec_oid)
        assert report == summary["report"]
        report_spec, result = load_report(store, report)
        assert report_spec == spec_oid and result.state == "success"
        assert result.host["name"] == "nodeX" and result.vars == {"done": "yes"}
        [out] = result.outputs
        assert out.path == "up.txt" and b"".join(store.iter_blob(out.oid)) == b"HELLO NODE\n"
        assert result.limits["memory"] == 64 << 20
    finally:
        store.close()
    # a second attempt on the same node: its input is already there, only the spec comes
    again = exec_attempt(tmp_path, served, token2, second_oid)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["fetched_objects"] == 1
    # the first token is spent once its report is in: it fetches and reports nothing more
    twice = exec_attempt(tmp_path, served, token, spec_oid, node_store="node2")
    assert twice.returncode != 0 and "token is spent" in twice.stderr


def test_exec_carries_directories_both_ways(tmp_path, served, docker_client):
    """A tree input travels in the spec's closure (every file of it), a directory output
    comes back as a tree in the report's closure."""
    store = open_store(served.store_path)
    try:
        builder = TreeBuilder(store)
        builder.add_file("a.txt", io.BytesIO(b"alpha\n"))
        builder.add_file("sub/b.txt", io.BytesIO(b"beta\n"))
        data = builder.finish()
        spec = TaskSpec(run_id=RUN_ID, task="copy", attempt=1, image="wfobj/toolbox:local",
                        command=["sh", "-c", "cp -r /in/data /out/copy && "
                                 "echo new > /out/copy/sub/new.txt"],
                        env={}, workdir=None, network=False, cpus=None, memory="64m",
                        timeout=60.0, inputs=[InputFile("data", data.oid, data.size, "dir")],
                        output_files=["copy"], output_vars=[])
        spec_oid = store.put_object(spec_object(spec, DEFAULT_LIMITS).to_value())
        token, _ = AttemptTokens(store).create(spec_oid, spec, ttl=120)
    finally:
        store.close()
    done = exec_attempt(tmp_path, served, token, spec_oid)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["state"] == "success"
    assert summary["fetched_objects"] == 5  # the spec, two trees, two files
    store = open_store(served.store_path)
    try:
        _, result = load_report(store, summary["report"])
        [out] = result.outputs
        assert (out.path, out.kind, out.size) == ("copy", "dir", 6 + 5 + 4)
        files = {p: store.get_raw(e.oid) for p, e in walk_tree(store, out.oid) if e.kind == "file"}
        assert files == {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n", "sub/new.txt": b"new\n"}
    finally:
        store.close()


def test_exec_with_a_wrong_token_fails_in_one_line_and_runs_nothing(tmp_path, served):
    store = open_store(served.store_path)
    try:
        spec_oid, _ = make_spec(store)
    finally:
        store.close()
    done = exec_attempt(tmp_path, served, "wfa_not-a-token", spec_oid)
    assert done.returncode == 1
    assert "HTTP 403" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    bad_hash = exec_attempt(tmp_path, served, "wfa_x", "nothex")
    assert bad_hash.returncode == 2 and "SPEC_HASH" in bad_hash.stderr
