"""Every ref update a sync makes checks its target (engine/sync_policy.py).

The hole this closes: an admin push could set `workflows/x` to a blob or a `note`
object, after which GET /api/workflows answered 400 for everyone and `wfobj pull`
copied the poison into the pulling store. Each poison below is refused by push (path and
HTTP remotes, with and without the sender's own check) and by pull (path and HTTP), with
a clear error, no ref moved, and the workflow list still answering.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from click.testing import CliRunner

from tests.support_api import WORDCOUNT, make_api
from tests.support_e2e import start_server
from tests.support_sync import make_run, make_workflow_version
from wfobj.cli.client.sync import HttpRemote
from wfobj.cli.context import CliContext
from wfobj.cli.errors import HttpError
from wfobj.cli.main import cli
from wfobj.engine.service import WorkflowService
from wfobj.engine.upkeep.sync_policy import EngineRefPolicy
from wfobj.objstore import MemoryObjectStore, ObjectStore, RefRefused, init_store, open_store
from wfobj.objstore.car import iter_pack
from wfobj.objstore.sync import LocalRemote, RefPolicy, pull, push
from wfobj.objstore.walk import walk_closure

POLICY = EngineRefPolicy()


class AnyRefs(RefPolicy):
    """A sender that checks nothing, as an old or hostile client would."""

    def check_name(self, name: str) -> None:
        pass

    def check_target(self, store: ObjectStore, name: str, oid: str) -> None:
        pass

    def movable(self, name: str) -> bool:
        return True

    def descends(self, store: ObjectStore, ancestor: str, descendant: str) -> bool:
        return True


def _blob(store):
    return "workflows/wc", store.put_blob(b"not a workflow")


def _note(store):
    return "workflows/wc", store.put_object({"type": "note", "text": "hello"})


def _other_name(store):
    return "workflows/wc", make_workflow_version(store, "other", "body")


def _bad_name(store):
    return "workflows/a.b", make_workflow_version(store, "a.b", "body")


def _wrong_run_id(store):
    _, manifest = make_run(store, tasks=1)  # its own run id, not this one
    return f"runs/{uuid.uuid4()}", manifest


def _run_to_workflow(store):
    return f"runs/{uuid.uuid4()}", make_workflow_version(store, "wc", "body")


def _not_a_uuid(store):
    run_id = "not-a-uuid"
    return f"runs/{run_id}", store.put_object({"type": "run_manifest", "run_id": run_id})


def _manifest_with_unknown_field(store):
    _, manifest = make_run(store, tasks=1)
    run_id = str(uuid.uuid4())  # a ref of its own: the run's ref is taken
    forged = {**store.get_object(manifest), "run_id": run_id, "smuggled": "x"}
    return f"runs/{run_id}", store.put_object(forged)


def _version_without_registered_at(store):
    value = store.get_object(make_workflow_version(store, "wc", "body"))
    del value["registered_at"]
    return "workflows/wc", store.put_object(value)


def _reserved_name(store):
    """`by-hash` is a valid name the API's /api/workflows/by-hash/… routes take: a
    workflow so named could never be reached by name, so registration refuses it."""
    return "workflows/by-hash", make_workflow_version(store, "by-hash", "body")


def _unknown_namespace(store):
    return "notes/x", store.put_object({"type": "note", "text": "hello"})


POISONS = {
    "blob": (_blob, "points at a blob"),
    "note": (_note, "points at a note"),
    "other-name": (_other_name, "name is 'other'"),
    "bad-name": (_bad_name, "not a valid workflow name"),
    "wrong-run-id": (_wrong_run_id, "run_id is"),
    "run-to-workflow": (_run_to_workflow, "not a run_manifest"),
    "not-a-uuid": (_not_a_uuid, "not a run id"),
    "invalid-manifest": (_manifest_with_unknown_field,
                         "the run_manifest is not valid: unknown field"),
    "invalid-version": (_version_without_registered_at,
                        "the workflow_version is not valid: missing field"),
    "unknown-namespace": (_unknown_namespace, "unknown ref namespace"),
    "reserved-name": (_reserved_name, "'by-hash' is reserved"),
}


def poisoned(store: ObjectStore, kind: str) -> tuple[str, str]:
    """Set the poison ref `kind` directly in `store` (as an old version let in)."""
    name, oid = POISONS[kind][0](store)
    assert store.add_ref_if_new(name, oid)
    return name, oid


def registered(store: ObjectStore) -> None:
    WorkflowService(store).apply_workflow("wc", WORDCOUNT, user="t")


@pytest.mark.parametrize("kind", POISONS)
def test_push_by_path_is_refused_before_anything_is_sent(kind):
    a, b = MemoryObjectStore(), MemoryObjectStore()
    name, _ = poisoned(a, kind)
    with pytest.raises(RefRefused, match=POISONS[kind][1]) as err:
        push(a, LocalRemote(b, POLICY), POLICY)
    assert err.value.name == name
    assert list(b) == [] and list(b.refs()) == []


@pytest.mark.parametrize("kind", POISONS)
def test_receiving_store_refuses_what_a_careless_sender_sends(kind):
    a, b = MemoryObjectStore(), MemoryObjectStore()
    registered(b)
    before = dict(b.refs())
    good, _ = make_run(a, tasks=1)
    poisoned(a, kind)
    with pytest.raises(RefRefused, match=POISONS[kind][1]):
        push(a, LocalRemote(b, POLICY), AnyRefs(), force=True)
    assert dict(b.refs()) == before  # not even the good run moved
    assert [w["name"] for w in WorkflowService(b).list_workflows()] == ["wc"]


@pytest.mark.parametrize("kind", POISONS)
def test_pull_by_path_is_refused_and_moves_no_ref(kind):
    a, b = MemoryObjectStore(), MemoryObjectStore()
    registered(b)
    before = dict(b.refs())
    make_run(a, tasks=1)
    poisoned(a, kind)
    with pytest.raises(RefRefused, match=POISONS[kind][1]):
        pull(b, LocalRemote(a, POLICY), POLICY)
    assert dict(b.refs()) == before
    assert [w["name"] for w in WorkflowService(b).list_workflows()] == ["wc"]
    with pytest.raises(RefRefused):
        pull(b, LocalRemote(a, POLICY), POLICY, dry_run=True)


def test_a_good_ref_beside_a_poisoned_one_can_be_pulled_by_name():
    a, b = MemoryObjectStore(), MemoryObjectStore()
    good, manifest = make_run(a, tasks=1)
    poisoned(a, "note")
    report = pull(b, LocalRemote(a, POLICY), POLICY, [good])
    assert report.refs_updated == [good] and b.get_ref(good) == manifest


# ---- the API: a raw admin request, as the hole was found ------------------------------------
def _upload(api, source: ObjectStore, oid: str) -> None:
    pack = b"".join(iter_pack(source, list(walk_closure(source, [oid]))))
    resp = api.client.simulate_post("/api/sync/packs", body=pack,
                                    headers=api.h("admin", **{"Content-Type": "application/vnd.ipld.car"}))
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("kind", POISONS)
def test_api_refuses_a_poisoned_ref_update_with_400(kind):
    api = make_api(MemoryObjectStore())
    api.service.apply_workflow("wc", WORDCOUNT, user="t")
    before = dict(api.store.refs())
    source = MemoryObjectStore()
    name, oid = POISONS[kind][0](source)
    good, manifest = make_run(source, tasks=1)
    _upload(api, source, oid)
    _upload(api, source, manifest)
    updates = [{"name": good, "old": None, "new": manifest},
               {"name": name, "old": before.get(name), "new": oid}]
    resp = api.client.simulate_post("/api/sync/refs", json={"updates": updates, "force": True},
                                    headers=api.h("admin"))
    assert resp.status_code == 400, resp.text
    assert resp.json["title"] == "Ref update refused"
    assert name in resp.json["description"] and POISONS[kind][1] in resp.json["description"]
    assert dict(api.store.refs()) == before
    listing = api.client.simulate_get("/api/workflows", headers=api.h("reader"))
    assert listing.status_code == 200 and [w["name"] for w in listing.json] == ["wc"]


# ---- real servers ---------------------------------------------------------------------------
@pytest.fixture
def server(tmp_path):
    srv = start_server(tmp_path, engine_workers=0)
    resp = requests.put(srv.url + "/api/workflows/wc", json=WORDCOUNT, headers=srv.h("runner"),
                        timeout=30)
    assert resp.status_code == 201
    yield srv
    srv.stop()


def _server_refs(srv) -> dict:
    return requests.get(srv.url + "/api/sync/refs", headers=srv.h("reader"),
                        timeout=30).json()["refs"]


def test_push_over_http_is_refused_by_sender_and_by_server(server):
    before = _server_refs(server)
    for kind in POISONS:
        a = MemoryObjectStore()
        make_run(a, tasks=1)
        name, _ = poisoned(a, kind)
        with pytest.raises(RefRefused, match=POISONS[kind][1]):
            push(a, HttpRemote(server.url, server.tokens["admin"]), POLICY)
        with pytest.raises(HttpError) as err:
            push(a, HttpRemote(server.url, server.tokens["admin"]), AnyRefs(), force=True)
        assert err.value.status == 400 and name in str(err.value), kind
        assert POISONS[kind][1] in str(err.value), kind
        assert _server_refs(server) == before, kind
    listing = requests.get(server.url + "/api/workflows", headers=server.h("reader"), timeout=30)
    assert listing.status_code == 200 and [w["name"] for w in listing.json()] == ["wc"]


def test_pull_over_http_and_cli_refuse_a_poisoned_server(tmp_path):
    store = init_store(tmp_path / "store")
    kinds = ["blob", "wrong-run-id"]
    for kind in kinds:
        poisoned(store, kind)
    store.close()
    srv = start_server(tmp_path, engine_workers=0)
    try:
        local = MemoryObjectStore()
        with pytest.raises(RefRefused):
            pull(local, HttpRemote(srv.url, srv.tokens["reader"]), POLICY)
        assert list(local.refs()) == []
        mine = tmp_path / "mine"
        init_store(mine).close()
        result = CliRunner().invoke(
            cli, ["--store", str(mine), "pull", srv.url, "--token", srv.tokens["reader"]],
            obj=CliContext())
        assert result.exit_code == 1
        assert "Error: ref update runs/" in result.output and "run_id is" in result.output
        reopened = open_store(mine)
        try:
            assert list(reopened.refs()) == []
        finally:
            reopened.close()
    finally:
        srv.stop()


def test_cli_push_to_a_path_names_the_poisoned_ref(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    store = init_store(src)
    poisoned(store, "note")
    store.close()
    init_store(dst).close()
    result = CliRunner().invoke(cli, ["--store", str(src), "push", str(dst)], obj=CliContext())
    assert result.exit_code == 1
    assert "workflows/wc" in result.output and "points at a note" in result.output
    reopened = open_store(dst)
    try:
        assert list(reopened) == [] and list(reopened.refs()) == []
    finally:
        reopened.close()



def test_descends_follows_only_valid_workflow_versions():
    store = MemoryObjectStore()
    v1 = make_workflow_version(store, "wc", "one")
    v2 = make_workflow_version(store, "wc", "two", previous=v1)
    assert POLICY.descends(store, v1, v2) and not POLICY.descends(store, v2, v1)
    # a "version" that links v1 but has a field no version has is no step on the chain
    forged = store.put_object({**store.get_object(v2), "smuggled": "x"})
    assert not POLICY.descends(store, v1, forged)
    assert not POLICY.descends(store, v1, store.put_blob(b"a blob"))
    assert not POLICY.descends(store, v1, "0" * 64)  # not in the store
