"""A node's report and uploads are bounded by its attempt spec, as the local executor bounds
its own results: declared outputs and vars only, the output path rules, preview caps, and
an upload budget; /missing answers about the attempt's own closure only."""

from __future__ import annotations

import pytest

from tests.engine.executors.test_attempt_exec import bearer, make_spec
from tests.support_api import make_api
from wfobj.engine.clock import parse_time
from wfobj.engine.executors.attempts import AttemptTokens, report_object, upload_budget
from wfobj.engine.executors.base import AttemptResult, OutputFile, StoredText
from wfobj.engine.executors.capture import PREVIEW_BYTES
from wfobj.objstore import MemoryObjectStore, digest_of, iter_pack


@pytest.fixture
def api():
    return make_api(MemoryObjectStore())


def put_report(api, spec_oid, spec, **changes):
    empty = api.store.put_blob(b"")
    up = api.store.put_blob(b"HELLO NODE\n")
    fields = dict(state="success", exit_code=0, stdout=StoredText(empty, 0, ""),
                  stderr=StoredText(empty, 0, ""),
                  started_at=parse_time("2026-12-04T00:00:00.000000Z"),
                  ended_at=parse_time("2026-12-04T00:00:01.000000Z"),
                  outputs=[OutputFile("up.txt", up, 11)], vars={"done": "yes"})
    result = AttemptResult(**{**fields, **changes})
    return api.store.put_object(report_object(spec_oid, spec, result).to_value())


def submit(api, spec_oid, token, report):
    return api.client.simulate_put(f"/api/attempts/{spec_oid}/report",
                                   json={"report": report}, headers=bearer(token))


@pytest.mark.parametrize(("changes", "says"), [
    ({"stdout": StoredText("0" * 64, 40 << 20, "x" * (PREVIEW_BYTES + 1))}, "preview"),
    ({"vars": {f"v{i}": "x" for i in range(5000)}}, "undeclared var"),
    ({"outputs": [OutputFile("../../etc/passwd", "0" * 64, 1)]}, "'..'"),
    ({"outputs": [OutputFile("other.txt", "0" * 64, 1)]}, "undeclared output"),
])
def test_a_report_beyond_its_spec_is_refused(api, changes, says):
    spec_oid, spec = make_spec(api.store)
    token, _ = AttemptTokens(api.store).create(spec_oid, spec, ttl=60)
    if "stdout" in changes:  # a real blob for the preview to describe
        blob = api.store.put_blob(b"y" * 10)
        changes = {"stdout": StoredText(blob, 10, changes["stdout"].text)}
    if changes.get("outputs") and changes["outputs"][0].oid == "0" * 64:
        blob = api.store.put_blob(b"z")
        changes = {"outputs": [OutputFile(changes["outputs"][0].path, blob, 1)]}
    resp = submit(api, spec_oid, token, put_report(api, spec_oid, spec, **changes))
    assert resp.status_code == 400, resp.text
    assert says in resp.json["description"]
    assert AttemptTokens(api.store).report_of(spec_oid) is None


def test_a_report_may_not_claim_an_object_it_never_sent(api):
    spec_oid, spec = make_spec(api.store)
    secret = api.store.put_blob(b"another attempt's input\n")  # on the server, not sent
    token, _ = AttemptTokens(api.store).create(spec_oid, spec, ttl=60)
    report = put_report(api, spec_oid, spec, outputs=[OutputFile("up.txt", secret, 24)])
    assert send(api, spec_oid, token, [api.store.put_blob(b"")]).status_code == 200
    resp = submit(api, spec_oid, token, report)
    assert resp.status_code == 400 and secret in resp.json["description"]


def send(api, spec_oid, token, oids, store=None):
    body = b"".join(iter_pack(store or api.store, oids))
    return api.client.simulate_post(f"/api/attempts/{spec_oid}/packs", body=body,
                                    headers={**bearer(token),
                                             "Content-Type": "application/vnd.ipld.car"})


def test_a_good_report_with_what_it_sent_is_accepted(api):
    spec_oid, spec = make_spec(api.store)
    token, _ = AttemptTokens(api.store).create(spec_oid, spec, ttl=60)
    report = put_report(api, spec_oid, spec)
    # the node sends its report's closure (objects already on the server are sent too)
    from wfobj.objstore.walk import walk_closure
    closure = [o for o in walk_closure(api.store, [report]) if o != spec_oid
               and o not in list(walk_closure(api.store, [spec_oid]))]
    assert send(api, spec_oid, token, closure).status_code == 200
    resp = submit(api, spec_oid, token, report)
    assert resp.status_code == 200, resp.text
    # the attempt is over: its token uploads nothing more
    again = send(api, spec_oid, token, [api.store.put_blob(b"late")])
    assert again.status_code == 403


def test_uploads_are_bounded_by_the_attempts_budget(api):
    spec_oid, spec = make_spec(api.store)
    token, _ = AttemptTokens(api.store).create(spec_oid, spec, ttl=60)
    objects, _ = upload_budget(spec)
    node = MemoryObjectStore()
    many = [node.put_blob(b"%d" % i) for i in range(objects + 1)]
    first = send(api, spec_oid, token, many, node)
    second = send(api, spec_oid, token, [node.put_blob(b"one more")], node)
    assert 413 in (first.status_code, second.status_code)


def test_missing_answers_about_the_attempts_closure_only(api):
    spec_oid, spec = make_spec(api.store)
    secret = api.store.put_blob(b"another attempt's input\n")
    token, _ = AttemptTokens(api.store).create(spec_oid, spec, ttl=60)
    resp = api.client.simulate_post(f"/api/attempts/{spec_oid}/missing",
                                    body=digest_of(secret) + digest_of(spec_oid),
                                    headers=bearer(token))
    assert resp.status_code == 200 and resp.content == digest_of(secret)
