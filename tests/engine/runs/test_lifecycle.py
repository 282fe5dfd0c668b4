"""Triggering: parameter checks, run records, pinning, listing and runs that arrive by sync."""

from __future__ import annotations

import uuid

import pytest

from tests.support_engine import run_with, service, trigger, wordcount
from wfobj.engine.errors import BadCursor, ParameterError, UnknownRun
from wfobj.engine.layout import QUEUE_NS
from wfobj.engine.upkeep.sync_policy import index_runs
from wfobj.objstore import MemoryObjectStore
from wfobj.objstore.store import stage_raw


@pytest.fixture
def svc(store):
    s = service(store)
    d = wordcount()
    d["params"].update({
        "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
        "ratio": {"type": "float", "default": 0.5},
        "verbose": {"type": "bool", "default": False},
    })
    s.apply_workflow("wordcount", d, user="alice")
    return s


BAD_PARAMS = [
    ({"corpus": "CORPUS", "colour": "red"}, "colour", "unknown parameter"),
    ({}, "corpus", "missing required value"),
    ({"corpus": "CORPUS", "min_len": "3"}, "min_len", "not of type int"),
    ({"corpus": "CORPUS", "min_len": True}, "min_len", "not of type int"),
    ({"corpus": "CORPUS", "ratio": "x"}, "ratio", "not of type float"),
    ({"corpus": "CORPUS", "verbose": "yes"}, "verbose", "not of type bool"),
    ({"corpus": "CORPUS", "mode": "medium"}, "mode", 'not one of "fast", "slow"'),
    ({"corpus": "CORPUS", "mode": 1}, "mode", "not of type string"),
    ({"corpus": "f" * 64}, "corpus", "not in the store"),
    ({"corpus": "not-a-hash"}, "corpus", "not a file hash"),
]


@pytest.mark.parametrize("params,name,words", BAD_PARAMS)
def test_bad_parameters_make_no_run(svc, store, params, name, words):
    corpus = store.put_blob(b"a b c")
    params = {k: corpus if v == "CORPUS" else v for k, v in params.items()}
    refs_before = list(store.refs("runs/"))
    with pytest.raises(ParameterError) as err:
        svc.trigger(name="wordcount", parameters=params, user="alice")
    assert err.value.name == name and words in str(err.value)
    assert list(store.refs("runs/")) == refs_before
    assert list(store.meta_scan(QUEUE_NS)) == []


def test_trigger_records_the_run(svc, store):
    corpus = store.put_blob(b"hello world")
    started = svc.trigger(name="wordcount", parameters={"corpus": corpus, "ratio": 2},
                          user="alice")
    assert started["state"] == "pending"
    assert uuid.UUID(started["run_id"]).version == 7
    run = svc.get_run(started["run_id"])
    assert run["parameters"] == {"corpus": corpus, "min_len": 3, "mode": "fast", "ratio": 2,
                                 "verbose": False}
    assert run["triggered_by"] == "alice" and run["engine_version"].startswith("wfobj")
    assert run["created_at"].endswith("Z") and run["started_at"] is None
    assert run["tasks"] == {"split": "pending", "count": "pending"}
    manifest = store.get_object(run["manifest_hash"])
    record = store.get_object(manifest["run"].oid)
    assert record["type"] == "run_record" and record["definition"].oid == run["definition_hash"]
    assert record["parameters"]["ratio"] == "2"  # no floats in objects
    rerun = svc.trigger(name="wordcount", parameters={"corpus": corpus}, user="bob")
    assert rerun["run_id"] != started["run_id"]


def test_by_hash_trigger_pins_the_old_definition(svc, store):
    corpus = store.put_blob(b"x")
    old = svc.get_workflow("wordcount")["definition_hash"]
    changed = wordcount()
    changed["tasks"]["split"]["command"] = ["sh", "-c", "echo new > /out/words.txt"]
    svc.apply_workflow("wordcount", changed, user="alice")
    pinned = svc.trigger(definition_hash=old, parameters={"corpus": corpus}, user="alice")
    assert pinned["definition_hash"] == old
    state, ex = run_with(store, pinned["run_id"])
    assert state == "success"
    split = svc.run_task(pinned["run_id"], "split")
    assert "awk" in split["command"][2]  # the old command ran
    latest = svc.trigger(name="wordcount", parameters={"corpus": corpus}, user="alice")
    assert latest["definition_hash"] != old


def test_list_runs_newest_first_filters_and_stable_cursor(store):
    svc = service(store)
    ids = [trigger(svc, {"tasks": {"a": {"image": "i", "command": ["true"]}}}, name=f"w{i % 2}")
           for i in range(7)]
    page = svc.list_runs(limit=3)
    assert [r["run_id"] for r in page["runs"]] == ids[::-1][:3]
    newer = trigger(svc, {"tasks": {"a": {"image": "i", "command": ["true"]}}}, name="w0")
    page2 = svc.list_runs(limit=3, cursor=page["next_cursor"])
    assert [r["run_id"] for r in page2["runs"]] == ids[::-1][3:6]
    page3 = svc.list_runs(limit=3, cursor=page2["next_cursor"])
    assert [r["run_id"] for r in page3["runs"]] == ids[:1] and page3["next_cursor"] is None
    assert svc.list_runs(limit=50)["runs"][0]["run_id"] == newer
    w1 = svc.list_runs(workflow="w1")["runs"]
    assert [r["run_id"] for r in w1] == [ids[5], ids[3], ids[1]]
    run_with(store, ids[0])
    assert [r["run_id"] for r in svc.list_runs(state="success")["runs"]] == [ids[0]]
    with pytest.raises(BadCursor):
        svc.list_runs(cursor="!!")


def copy_finished_run_into(store) -> str:
    """Run wordcount in another store, then copy the run's closure and ref into `store`
    the way sync does: objects, then the ref, no meta. Returns the run id."""
    from wfobj.objstore.walk import walk_closure

    source = MemoryObjectStore()
    run_id = trigger(service(source), wordcount(), name="wordcount",
                     corpus=source.put_blob(b"x y"))
    run_with(source, run_id)
    head = source.get_ref(f"runs/{run_id}")
    with store.batch() as b:
        for oid in walk_closure(source, [head]):
            stage_raw(b, source.get_raw(oid), 0x71 if source.is_structured(oid) else 0x55, oid)
        b.set_ref(f"runs/{run_id}", None, head)
    return run_id


def test_runs_arriving_by_sync_are_indexed_and_readable(store):
    run_id = copy_finished_run_into(store)
    svc = service(store)
    assert svc.get_run(run_id)["state"] == "success"  # straight from the ref
    assert svc.list_runs()["runs"] == []
    assert index_runs(store, [f"runs/{run_id}", "workflows/x"]) == 1
    assert [r["run_id"] for r in svc.list_runs()["runs"]] == [run_id]
    assert svc.run_audit(run_id)[-1]["to"] == "success"
    with pytest.raises(UnknownRun):
        svc.get_run(str(uuid.uuid4()))


def test_a_file_default_must_be_in_the_store(store):
    svc = service(store)
    d = {"params": {"f": {"type": "file", "default": "e" * 64}},
         "tasks": {"a": {"image": "i", "command": ["true"], "inputs": {"f": {"param": "f"}}}}}
    svc.apply_workflow("fd", d, user="u")
    with pytest.raises(ParameterError, match="default file e+ is not in the store"):
        svc.trigger(name="fd", user="u")


# ---- the by-state index behind list_runs(state=…) -------------------------------------
def _by_state(store) -> dict[str, set[str]]:
    from wfobj.engine.layout import STATE_NS

    out: dict[str, set[str]] = {}
    for key, _ in store.meta_scan(STATE_NS):
        state, run_id = key.split("/", 1)
        out.setdefault(state, set()).add(run_id)
    return out


def test_state_index_follows_every_transition(store):
    svc = service(store)
    one = {"tasks": {"a": {"image": "i", "command": ["true"]}}}
    ids = [trigger(svc, one, name="w") for _ in range(4)]
    assert _by_state(store) == {"pending": set(ids)}
    run_with(store, ids[0])
    svc.kill_run(ids[1], user="alice")
    assert _by_state(store) == {"pending": {ids[2], ids[3]}, "success": {ids[0]},
                                "killed": {ids[1]}}
    assert [r["run_id"] for r in svc.list_runs(state="pending")["runs"]] == [ids[3], ids[2]]
    assert [r["run_id"] for r in svc.list_runs(state="killed")["runs"]] == [ids[1]]
    assert svc.list_runs(state="running")["runs"] == []
    # paging within one state
    page = svc.list_runs(state="pending", limit=1)
    assert [r["run_id"] for r in page["runs"]] == [ids[3]] and page["next_cursor"]
    page = svc.list_runs(state="pending", limit=1, cursor=page["next_cursor"])
    assert [r["run_id"] for r in page["runs"]] == [ids[2]] and page["next_cursor"] is None
    # combined with a workflow filter
    assert svc.list_runs(state="pending", workflow="other")["runs"] == []


def test_state_index_is_built_for_stores_made_before_it(store):
    from wfobj.engine.layout import STATE_INDEX_MARK, STATE_NS

    svc = service(store)
    one = {"tasks": {"a": {"image": "i", "command": ["true"]}}}
    ids = [trigger(svc, one, name="w") for _ in range(3)]
    run_with(store, ids[0])
    with store.batch() as b:  # what an older store looks like: the list index only
        for key, _ in store.meta_scan(STATE_NS):
            b.meta_delete(STATE_NS, key)
    assert _by_state(store) == {} and store.meta_get(*STATE_INDEX_MARK) is None
    assert [r["run_id"] for r in svc.list_runs(state="pending")["runs"]] == [ids[2], ids[1]]
    assert store.meta_get(*STATE_INDEX_MARK) == b"1"
    assert _by_state(store) == {"pending": {ids[1], ids[2]}, "success": {ids[0]}}


def test_a_stale_state_key_is_never_reported(store):
    from wfobj.engine.layout import STATE_NS
    from wfobj.engine.runs.state import state_key

    svc = service(store)
    run_id = trigger(svc, {"tasks": {"a": {"image": "i", "command": ["true"]}}}, name="w")
    run_with(store, run_id)
    with store.batch() as b:  # e.g. left by a migration racing a state change
        b.meta_put(STATE_NS, state_key("pending", run_id), b"")
    assert svc.list_runs(state="pending")["runs"] == []
    assert [r["run_id"] for r in svc.list_runs(state="success")["runs"]] == [run_id]


def test_synced_runs_enter_the_state_index(store):
    run_id = copy_finished_run_into(store)
    svc = service(store)
    index_runs(store, [f"runs/{run_id}"])
    assert [r["run_id"] for r in svc.list_runs(state="success")["runs"]] == [run_id]
    assert _by_state(store) == {"success": {run_id}}
