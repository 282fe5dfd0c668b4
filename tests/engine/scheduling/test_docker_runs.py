"""The engine with the real Docker executor: wordcount end to end, and kill mid-run."""

from __future__ import annotations

import threading
import time

import blake3
import pytest

from tests import ROOT
from tests.support_engine import claim, service, task, trigger
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.scheduling.scheduler import RunScheduler

pytestmark = pytest.mark.docker
EXAMPLES = ROOT / "examples"


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def test_wordcount_example_end_to_end(store, docker_client):
    svc = service(store)
    text = (EXAMPLES / "corpus.txt").read_bytes()
    reg, _ = svc.apply_workflow("wordcount", (EXAMPLES / "wordcount.yaml").read_text(),
                                user="alice", content_type="application/yaml")
    corpus = svc.put_file(open(EXAMPLES / "corpus.txt", "rb"))["hash"]
    run_id = svc.trigger(name="wordcount", parameters={"corpus": corpus}, user="alice")["run_id"]
    claim(store, run_id)
    state = RunScheduler(store, run_id, DockerExecutor(docker_client), concurrency=2).run_to_end()
    assert state == "success", svc.run_tasks(run_id)
    words = b"".join(w + b"\n" for w in text.split() if len(w) >= 3)
    count = f"{len(words.splitlines())}\n".encode()
    split, counted = svc.run_tasks(run_id)
    assert corpus == b3(text)
    assert split["inputs"] == [{"name": "corpus", "path": "/in/corpus", "kind": "file",
                                "hash": b3(text), "size": len(text)}]
    assert split["outputs"] == [{"path": "words.txt", "kind": "file", "hash": b3(words),
                                 "size": len(words)}]
    assert counted["inputs"][0]["hash"] == b3(words)
    assert counted["outputs"] == [{"path": "count.txt", "kind": "file", "hash": b3(count),
                                   "size": len(count)}]
    assert counted["vars"] == {"count": count.decode().strip()}
    image = docker_client.images.get("wfobj/toolbox:local")
    for ev in (split, counted):
        assert ev["exit_code"] == 0 and ev["error"] is None and ev["attempt"] == 1
        assert ev["image"] == "wfobj/toolbox:local" and ev["image_id"] == image.id
        assert ev["stdout"] == {"hash": b3(b""), "size": 0, "text": ""}
        assert ev["host"]["name"] and ev["host"]["docker_version"]
        assert ev["started_at"] <= ev["ended_at"] and ev["duration_s"] > 0
        assert b"".join(store.iter_blob(ev["outputs"][0]["hash"])) in (words, count)
    assert "length >= 3" in split["command"][2]  # {{params.min_len}} substituted
    assert svc.get_run(run_id)["definition_hash"] == reg["definition_hash"]


def test_kill_mid_run_leaves_no_container(store, docker_client):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"sleepy": task("sleep 60"), "after": task(after=["sleepy"])}})
    claim(store, run_id)
    sched = RunScheduler(store, run_id, DockerExecutor(docker_client, grace=2), poll=0.1)
    result = {}
    thread = threading.Thread(target=lambda: result.update(state=sched.run_to_end()))
    thread.start()
    label = {"label": f"wfobj.run={run_id}"}
    deadline = time.monotonic() + 30
    while not docker_client.containers.list(filters=label) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert docker_client.containers.list(filters=label), "the task container never started"
    svc.kill_run(run_id, user="dave")
    thread.join(60)
    assert result["state"] == "killed"
    assert svc.get_run(run_id)["tasks"] == {"sleepy": "killed", "after": "skipped"}
    assert svc.run_task(run_id, "sleepy")["state"] == "killed"
    assert docker_client.containers.list(all=True, filters=label) == []
