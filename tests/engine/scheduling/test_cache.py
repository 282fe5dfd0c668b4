"""The task cache, resume, reproduce, compare and the file index, with the scripted
executor on both store backends (the Docker paths: tests/e2e/test_cache.py)."""

from __future__ import annotations

import pytest

from tests.support_engine import claim, run_with, task, trigger
from wfobj.engine.errors import NothingToRepeat, UnknownFile
from wfobj.engine.executors.fake import FAKE_IMAGE_ID, TaskBehavior
from wfobj.engine.service import WorkflowService

PIPE = {"params": {"text": {"type": "file"}},
        "tasks": {"a": task("cp /in/x /out/a.txt", inputs={"x": {"param": "text"}},
                            outputs={"files": ["a.txt"]}),
                  "b": task("cp /in/a /out/b.txt", inputs={"a": {"task": "a", "file": "a.txt"}},
                            outputs={"files": ["b.txt"], "vars": ["n"]})}}


def cached_run(svc, definition=PIPE, behaviors=None, cache=True, **params):
    run_id = trigger(svc, definition, cache=cache, **params)
    state, ex = run_with(svc.store, run_id, behaviors)
    return run_id, state, ex


def ran(ex) -> list[str]:
    return sorted(name for name, *_ in ex.spans)


def test_second_run_hits_and_links_the_reused_evidence(store):
    svc = WorkflowService(store)
    text = store.put_blob(b"hello")
    first, state, ex = cached_run(svc, text=text)
    assert state == "success" and ran(ex) == ["a", "b"]
    second, state, ex = cached_run(svc, text=text)
    assert state == "success" and ran(ex) == []
    for name in ("a", "b"):
        old, new = svc.run_task(first, name), svc.run_task(second, name)
        assert old["cached_from"] is None and old["cache_key"]
        assert new["cached_from"] == old["evidence_hash"] and new["cache_key"] == old["cache_key"]
        assert new["outputs"] == old["outputs"] and new["vars"] == old["vars"]
        assert new["stdout"] == old["stdout"] and new["exit_code"] == 0
        assert new["evidence_hash"] != old["evidence_hash"] and new["state"] == "success"
    hits = [e for e in svc.run_audit(second) if e["event"] == "cache_hit"]
    assert [(e["task"], e["reason"]) for e in hits] == [
        (n, f"cache hit: reused evidence {svc.run_task(first, n)['evidence_hash']}")
        for n in ("a", "b")]
    explained = svc.explain_task(second, "b")
    assert explained["hit"] and explained["nearest"] is None
    assert explained["cached_from"] == svc.run_task(first, "b")["evidence_hash"]
    key = store.get_object(explained["key"])
    assert key["type"] == "task_key" and key["image_id"] == FAKE_IMAGE_ID


def test_changed_input_misses_and_explains_what_differs(store):
    svc = WorkflowService(store)
    one, two = store.put_blob(b"one"), store.put_blob(b"two")
    first, _, _ = cached_run(svc, text=one)
    second, state, ex = cached_run(svc, text=two)
    # the scripted `a` writes the same bytes whatever its input, so `b`'s key is unchanged
    # and it hits: keys by content stop the rerun where the content stops changing
    assert state == "success" and ran(ex) == ["a"]
    assert svc.explain_task(second, "b")["hit"]
    e = svc.explain_task(second, "a")
    assert not e["hit"] and e["cacheable"] and e["components"]["inputs./in/x"] == two
    assert e["nearest"]["run_id"] == first
    assert e["nearest"]["differs"] == [{"component": "inputs./in/x", "was": one, "now": two}]


def test_opt_outs_never_hit_and_say_why(store):
    svc = WorkflowService(store)
    d = {"tasks": {"runid": task("echo {{run.id}}"), "net": task("true", network=True),
                   "off": task("echo off", cache=False), "netok": task("echo n", network=True,
                                                                        cache=True)}}
    cached_run(svc, d)
    second, _, ex = cached_run(svc, d)
    assert ran(ex) == ["net", "off", "runid"]
    reasons = {n: svc.explain_task(second, n)["reason"] for n in ("runid", "net", "off")}
    assert "{{run.id}}" in reasons["runid"] and "network" in reasons["net"]
    assert "cache: false" in reasons["off"]
    third, _, ex = cached_run(svc, d, cache=False)
    assert ran(ex) == ["net", "netok", "off", "runid"]
    assert svc.get_run(third)["cache"] is False
    assert "cache off" in svc.explain_task(third, "netok")["reason"]


def test_a_moved_image_tag_misses(store):
    svc = WorkflowService(store)
    d = {"tasks": {"t": task("true")}}
    cached_run(svc, d)
    run_id = trigger(svc, d, cache=True)
    claim(store, run_id)
    from wfobj.engine.executors.fake import FakeExecutor
    from wfobj.engine.scheduling.scheduler import RunScheduler

    ex = FakeExecutor(image_ids={"wfobj/toolbox:local": "sha256:" + "1" * 64})
    assert RunScheduler(store, run_id, ex, poll=0.05).run_to_end() == "success"
    assert ran(ex) == ["t"]
    differs = svc.explain_task(run_id, "t")["nearest"]["differs"]
    assert differs == [{"component": "image_id", "was": FAKE_IMAGE_ID, "now": "sha256:" + "1" * 64}]


def test_resume_after_failure_reruns_only_the_failed_task(store):
    svc = WorkflowService(store)
    text = store.put_blob(b"x")
    first, state, _ = cached_run(svc, text=text, behaviors={"b": TaskBehavior(exit_code=3)})
    assert state == "failed"
    with pytest.raises(NothingToRepeat):
        svc.resume(trigger(svc, PIPE, text=text), user="bob")
    resumed = svc.resume(first, user="bob")
    assert resumed["resumes"] == first and resumed["state"] == "pending"
    state, ex = run_with(store, resumed["run_id"])
    assert state == "success" and ran(ex) == ["b"]
    run = svc.get_run(resumed["run_id"])
    assert run["resumes"] == first and run["parameters"] == svc.get_run(first)["parameters"]
    assert svc.run_task(resumed["run_id"], "a")["cached_from"] == svc.run_task(first, "a")["evidence_hash"]


def test_reproduce_pins_image_ids_and_compares(store):
    svc = WorkflowService(store)
    text = store.put_blob(b"x")
    first, _, _ = cached_run(svc, text=text)
    again = svc.reproduce(first, user="bob")
    assert again["reproduces"] == first
    state, ex = run_with(store, again["run_id"])
    assert state == "success" and ran(ex) == ["a", "b"]
    assert svc.run_task(again["run_id"], "a")["image"] == FAKE_IMAGE_ID
    assert svc.get_run(again["run_id"])["cache"] is False
    c = svc.compare_runs(first, again["run_id"])
    assert c["identical"] and c["same_definition"] and c["same_parameters"]
    assert c["tasks"][1]["outputs"][0]["same"] and c["tasks"][1]["vars"][0]["name"] == "n"


def test_reproduce_fails_a_task_whose_image_id_is_gone(store):
    from wfobj.engine.executors.fake import FakeExecutor
    from wfobj.engine.scheduling.scheduler import RunScheduler

    svc = WorkflowService(store)
    first, _, _ = cached_run(svc, {"tasks": {"t": task("true")}})
    again = svc.reproduce(first, user="bob")["run_id"]
    claim(store, again)
    ex = FakeExecutor(image_ids={FAKE_IMAGE_ID: None})
    assert RunScheduler(store, again, ex, poll=0.05).run_to_end() == "failed"
    assert ran(ex) == []
    assert FAKE_IMAGE_ID in svc.run_task(again, "t")["error"]


def test_compare_marks_missing_sides_null(store):
    svc = WorkflowService(store)
    text = store.put_blob(b"x")
    first, _, _ = cached_run(svc, text=text, behaviors={"b": TaskBehavior(vars={"n": "1"})})
    other, _, _ = cached_run(svc, {"tasks": {"a": task("cp /in/x /out/a.txt", outputs={
        "files": ["a.txt", "extra.txt"]})}}, cache=False)
    c = svc.compare_runs(first, other)
    assert not c["identical"] and not c["same_definition"] and not c["same_parameters"]
    a = c["tasks"][0]
    assert {o["path"]: (o["a"] is None, o["b"] is None) for o in a["outputs"]} == {
        "a.txt": (False, False), "extra.txt": (True, False)}
    b = c["tasks"][1]
    assert b["state"] == ["success", None] and b["exit_code"] == [0, None] and not b["same"]
    assert b["vars"] == [{"name": "n", "a": "1", "b": None, "same": False}]


def test_file_index_across_runs_and_reindex(store):
    svc = WorkflowService(store)
    text = store.put_blob(b"x")
    first, _, _ = cached_run(svc, text=text, cache=False)
    a_out = svc.run_task(first, "a")["outputs"][0]["hash"]
    b_out = svc.run_task(first, "b")["outputs"][0]["hash"]
    second, _, _ = cached_run(svc, {"params": {"f": {"type": "file"}}, "tasks": {
        "use": task("cp /in/f /out/u.txt", inputs={"f": {"param": "f"}},
                    outputs={"files": ["u.txt"]})}}, cache=False, f=a_out)
    info = svc.file_info(a_out)
    assert info["size"] == store.size_of(a_out)
    assert [(p["run_id"], p["task"], p["path"], p["attempt"]) for p in info["produced_by"]] == [
        (first, "a", "a.txt", 1)]
    assert [(u["run_id"], u["task"], u["input"]) for u in info["used_by"]] == [
        (second, "use", "f"), (first, "b", "a")]  # newest first
    assert info["parameter_of"] == [{"run_id": second, "param": "f"}]
    u_out = svc.run_task(second, "use")["outputs"][0]["hash"]
    up = svc.file_lineage(u_out, direction="up")
    ids = {n["id"] for n in up["nodes"]}
    assert {f"task:{second}/use", f"task:{first}/a", f"file:{a_out}", f"file:{text}"} <= ids
    assert {"from": f"task:{first}/a", "to": f"file:{a_out}", "kind": "output",
            "path": "a.txt"} in up["edges"]
    assert f"task:{first}/a" not in {n["id"] for n in svc.file_lineage(
        u_out, direction="up", depth=1)["nodes"]}
    down = svc.file_lineage(text, direction="down")
    assert {f"file:{b_out}", f"file:{u_out}", f"task:{second}/use"} <= {n["id"] for n in down["nodes"]}
    before = sorted(store.meta_scan("file-in")), sorted(store.meta_scan("cache-task"))
    for ns in ("file-in", "file-out", "file-param", "cache", "cache-task"):
        with store.batch() as b:
            for key, _ in list(store.meta_scan(ns)):
                b.meta_delete(ns, key)
    assert svc.file_info(a_out)["produced_by"] == []
    assert svc.reindex() == 2
    assert (sorted(store.meta_scan("file-in")), sorted(store.meta_scan("cache-task"))) == before
    assert svc.file_info(a_out) == info


def test_unknown_file_is_not_found(store):
    with pytest.raises(UnknownFile):
        WorkflowService(store).file_info("ab" * 32)
    with pytest.raises(ValueError):
        WorkflowService(store).file_lineage(store.put_blob(b"q"), direction="sideways")
