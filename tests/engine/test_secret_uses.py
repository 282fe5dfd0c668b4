"""Tasks that use secrets, through the engine's service on a real LMDB store (the fake
executor runs them: these tests are about what is recorded, not about containers).
Definitions name secrets and places, registration refuses unknown ones, evidence keeps
name, place and fingerprint, the cache key changes with the value (`run explain` names
`secret.NAME`), `run compare` tells same from different values, removal fails the next
attempt, and a string parameter holding a secret's value is refused."""

from __future__ import annotations

import pytest

from tests.support_engine import run_with, task
from wfobj.engine.errors import DefinitionError, ParameterError
from wfobj.engine.model import CacheKey, TaskEvidence, read
from wfobj.engine.service import WorkflowService

VALUE = b"s3cr3t-token-value-42"
USES = {"API_TOKEN": {"secret": "gh-token"}, "/run/secrets/token": {"secret": "gh-token"}}


def definition(**params) -> dict:
    return {"params": params, "tasks": {"fetch": task("true", secrets=USES)}}


@pytest.fixture
def svc(lmdb_store):
    service = WorkflowService(lmdb_store)
    service.set_secret("gh-token", VALUE, user="root")
    return service


def run(svc, name: str = "wf", cache: bool = True) -> str:
    run_id = svc.trigger(name=name, parameters={}, user="alice", cache=cache)["run_id"]
    state, _ = run_with(svc.store, run_id)
    return run_id


def test_evidence_names_places_and_fingerprints_never_the_value(svc):
    svc.apply_workflow("wf", definition(), user="alice")
    stored = svc.get_workflow("wf")["definition"]["tasks"]["fetch"]["secrets"]
    assert stored == USES
    run_id = run(svc)
    fingerprint = svc.list_secrets()[0]["fingerprint"]
    ev = svc.run_task(run_id, "fetch")
    assert ev["state"] == "success"
    assert ev["env"] == {"API_TOKEN": "<secret gh-token>"}
    assert ev["secrets"] == [
        {"name": "gh-token", "file": "/run/secrets/token", "fingerprint": fingerprint},
        {"name": "gh-token", "env": "API_TOKEN", "fingerprint": fingerprint}]
    key = read(svc.store, read(svc.store, ev["evidence_hash"], TaskEvidence).cache_key.oid,
               CacheKey)
    assert key.env == {} and key.secrets == ev["secrets"]


def test_a_task_without_secrets_keeps_its_hashes(svc):
    plain = {"tasks": {"t": task("true")}}
    reg, _ = svc.apply_workflow("plain", plain, user="alice")
    stored = svc.get_workflow("plain")["definition"]["tasks"]["t"]
    assert "secrets" not in stored
    empty = {"tasks": {"t": task("true", secrets={})}}
    assert svc.validate_workflow("plain", empty)["definition_hash"] == reg["definition_hash"]
    run_id = run(svc, "plain")
    ev = svc.run_task(run_id, "t")
    assert ev["secrets"] == []
    raw = svc.store.get_object(ev["evidence_hash"])
    assert "secrets" not in raw
    assert "secrets" not in svc.store.get_object(raw["cache_key"].oid)


def test_registration_refuses_an_unknown_secret_naming_it(svc):
    bad = {"tasks": {"fetch": task("true", secrets={"TOKEN": {"secret": "nope"}})}}
    for call in (lambda: svc.apply_workflow("wf", bad, user="alice"),
                 lambda: svc.validate_workflow("wf", bad)):
        with pytest.raises(DefinitionError) as info:
            call()
        assert str(info.value) == ("tasks.fetch.secrets.TOKEN: names an unknown secret 'nope' "
                                   "(store it first: `wfobj secret set nope`)")
    assert svc.list_workflows() == []


@pytest.mark.parametrize(("secrets", "message"), [
    ({"/etc/passwd": {"secret": "gh-token"}}, "is neither an environment variable name"),
    ({"/run/secrets/../x": {"secret": "gh-token"}}, "a secret file is /run/secrets/FILE"),
    ({"/run/secrets/": {"secret": "gh-token"}}, "a secret file is /run/secrets/FILE"),
    ({"WFOBJ_VARS": {"secret": "gh-token"}}, "is reserved by the engine"),
    ({"TOKEN": "gh-token"}, "must be a mapping"),
    ({"TOKEN": {"secret": "gh-token", "x": 1}}, "must be {secret: NAME}"),
    ({"TOKEN": {"secret": "bad/name"}}, "is not a secret name"),
    ([], "must be a mapping"),
])
def test_bad_secret_entries_are_refused(svc, secrets, message):
    with pytest.raises(DefinitionError) as info:
        svc.apply_workflow("wf", {"tasks": {"t": task("true", secrets=secrets)}}, user="a")
    assert message in str(info.value) and str(info.value).startswith("tasks.t.secrets")


def test_a_variable_in_env_and_secrets_is_refused(svc):
    both = task("true", env={"API_TOKEN": "x"}, secrets={"API_TOKEN": {"secret": "gh-token"}})
    with pytest.raises(DefinitionError, match="API_TOKEN: is set in env as well"):
        svc.apply_workflow("wf", {"tasks": {"t": both}}, user="a")


def test_rotation_is_a_cache_miss_explain_names_the_secret_and_compare_tells(svc):
    svc.apply_workflow("wf", definition(), user="alice")
    first = run(svc)
    again = run(svc)
    assert svc.run_task(again, "fetch")["cached_from"] is not None  # same value: a hit
    same = svc.compare_runs(first, again)
    assert same["same_secrets"] is True
    assert same["tasks"][0]["secrets"] == [{"name": "gh-token", "a": same["tasks"][0][
        "secrets"][0]["a"], "b": same["tasks"][0]["secrets"][0]["a"], "same": True}]
    old = svc.list_secrets()[0]["fingerprint"]
    new = svc.set_secret("gh-token", b"another-value-99", user="root")["fingerprint"]
    assert new != old
    rotated = run(svc)
    assert svc.run_task(rotated, "fetch")["cached_from"] is None
    explained = svc.explain_task(rotated, "fetch")
    assert explained["components"]["secret.gh-token"] == new
    assert explained["components"]["secret.gh-token.at"] == ["/run/secrets/token", "API_TOKEN"]
    assert explained["nearest"]["differs"] == [
        {"component": "secret.gh-token", "was": old, "now": new}]
    diff = svc.compare_runs(first, rotated)
    assert diff["same_secrets"] is False
    assert diff["tasks"][0]["secrets"] == [{"name": "gh-token", "a": old, "b": new,
                                            "same": False}]
    assert svc.run_task(first, "fetch")["secrets"][0]["fingerprint"] == old  # old runs keep theirs


def test_removing_a_secret_fails_the_next_attempt_naming_it(svc):
    svc.apply_workflow("wf", definition(), user="alice")
    assert svc.remove_secret("gh-token")["name"] == "gh-token"
    assert svc.list_secrets() == []
    assert svc.get_workflow("wf")["version"] == 1  # still registered
    run_id = run(svc, cache=False)
    assert svc.get_run(run_id)["state"] == "failed"
    ev = svc.run_task(run_id, "fetch")
    assert ev["error"] == ("secret 'gh-token': is not in this server's secret store: it was "
                           "removed after the workflow was registered (`wfobj secret set` it "
                           "again, or drop it from the task's `secrets`)")
    assert ev["secrets"] == []


def test_a_string_parameter_holding_a_secret_value_is_refused(svc):
    svc.apply_workflow("wf", {"params": {"token": {"type": "string"}, "n": {"type": "int"}},
                              "tasks": {"t": task("echo {{params.token}}")}}, user="alice")
    with pytest.raises(ParameterError) as info:
        svc.trigger(name="wf", parameters={"token": VALUE.decode(), "n": 1}, user="alice")
    message = str(info.value)
    assert message.startswith("parameter 'token': its value is the value of secret 'gh-token'")
    assert "secrets:" in message and VALUE.decode() not in message
    assert svc.list_runs()["runs"] == []
    ok = svc.trigger(name="wf", parameters={"token": "not-a-secret", "n": 1}, user="alice")
    assert ok["state"] == "pending"


def test_a_memory_store_keeps_no_secrets():
    from wfobj.engine.errors import SecretStoreUnusable
    from wfobj.objstore import MemoryObjectStore

    svc = WorkflowService(MemoryObjectStore())
    with pytest.raises(SecretStoreUnusable, match="keeps no secrets"):
        svc.set_secret("x", VALUE, user="a")
    with pytest.raises(DefinitionError, match="this store keeps no secrets"):
        svc.apply_workflow("wf", definition(), user="alice")


def test_exports_name_the_secret_and_fingerprint_never_the_value(svc, tmp_path):
    import json

    from wfobj.engine import KeyFile

    svc.keys = KeyFile(tmp_path)
    svc.apply_workflow("wf", definition(), user="alice")
    run_id = run(svc)
    fingerprint = svc.list_secrets()[0]["fingerprint"]
    prov_text = svc.export_run(run_id, "prov").content
    prov = json.loads(prov_text)
    from prov.model import ProvDocument

    parsed = ProvDocument.deserialize(content=prov_text, format="json")  # valid PROV-JSON
    assert any(str(r.identifier).endswith(f"{fingerprint}-gh-token")
               for r in parsed.get_records() if r.identifier is not None)
    [(entity_id, entity)] = [(k, v) for k, v in prov["entity"].items()
                             if k.startswith("secret:")]
    assert entity_id == f"secret:{fingerprint}-gh-token"
    assert entity["wfobj:fingerprint"] == fingerprint and entity["wfobj:name"] == "gh-token"
    roles = sorted(u["prov:role"] for u in prov["used"].values() if u["prov:entity"] == entity_id)
    assert roles == ["/run/secrets/token", "API_TOKEN"]
    envelope = json.loads(svc.export_run(run_id, "in-toto").content)
    import base64
    statement = json.loads(base64.b64decode(envelope["payload"]))
    [evidence] = [b for b in statement["predicate"]["runDetails"]["byproducts"]
                  if b["name"].endswith("evidence")]
    assert evidence["annotations"]["secrets"] == [
        {"name": "gh-token", "place": "/run/secrets/token", "fingerprint": fingerprint},
        {"name": "gh-token", "place": "API_TOKEN", "fingerprint": fingerprint}]
    for fmt in ("ro-crate", "prov", "openlineage", "in-toto"):
        content = svc.export_run(run_id, fmt).content
        data = content if isinstance(content, bytes) else b"".join(content)
        assert VALUE not in data
