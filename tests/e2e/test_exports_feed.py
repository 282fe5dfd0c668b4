"""OpenLineage events posted as runs progress: `wfobj serve --openlineage-url` (real
Docker) posts each event once to a local HTTP receiver, the same events the export
holds; and an endpoint that refuses never fails a run (scripted executor)."""

from __future__ import annotations

import io
import time

import pytest
import requests

from tests.support_e2e import ROOT, start_server, wait_terminal
from tests.support_engine import wordcount
from tests.support_exports import LineageReceiver, check_openlineage
from wfobj.engine.executors.fake import FakeExecutor
from wfobj.engine.provenance.exports.openlineage_feed import OpenLineageFeed
from wfobj.engine.scheduling.worker import Worker
from wfobj.engine.service import WorkflowService
from wfobj.objstore import MemoryObjectStore

EXAMPLE = ROOT / "examples" / "wordcount.yaml"
CORPUS = ROOT / "examples" / "corpus.txt"


@pytest.fixture
def receiver():
    rec = LineageReceiver()
    yield rec
    rec.close()


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.mark.docker
@pytest.mark.slow
def test_serve_posts_each_event_once_as_the_run_goes(docker_client, tmp_path, receiver):
    srv = start_server(tmp_path, extra=("--openlineage-url", receiver.url))
    try:
        requests.put(f"{srv.url}/api/workflows/wordcount", data=EXAMPLE.read_bytes(),
                     headers=srv.h(**{"Content-Type": "application/yaml"})).raise_for_status()
        corpus = requests.post(f"{srv.url}/api/objects", data=CORPUS.read_bytes(),
                               headers=srv.h()).json()["hash"]
        run_id = requests.post(f"{srv.url}/api/workflows/wordcount/trigger",
                               json={"parameters": {"corpus": corpus}},
                               headers=srv.h()).json()["run_id"]
        assert wait_terminal(srv, run_id)["state"] == "success", srv.log()
        exported = requests.get(f"{srv.url}/api/runs/{run_id}/export/openlineage",
                                headers=srv.h("reader")).json()
        wait_for(lambda: len(receiver.events) >= len(exported))
    finally:
        assert srv.stop() == 0, srv.log()
    check_openlineage(receiver.events)
    assert set(receiver.paths) == {"/api/v1/lineage"}
    key = lambda e: (e["run"]["runId"], e["eventType"])  # noqa: E731
    assert sorted(map(key, receiver.events)) == sorted(map(key, exported))
    assert receiver.events[0]["run"]["runId"] == run_id  # the run's START came first
    assert receiver.events[0]["eventType"] == "START"


def test_a_refusing_endpoint_never_fails_the_run(receiver):
    receiver.fail = True
    store = MemoryObjectStore()
    svc = WorkflowService(store)
    svc.apply_workflow("wordcount", wordcount(), user="alice")
    corpus = svc.put_file(io.BytesIO(b"a bb ccc dddd\n"))["hash"]
    run_id = svc.trigger(name="wordcount", parameters={"corpus": corpus}, user="alice",
                         cache=False)["run_id"]
    feed = OpenLineageFeed(receiver.url, timeout=2)
    worker = Worker(store, lambda: FakeExecutor({}), poll=0.01, on_run_step=feed.step)
    worker.initialize()
    assert worker.claim(run_id) and worker.execute(run_id) == "success"
    worker.shutdown()
    assert receiver.events == []
    receiver.fail = False  # the endpoint is back: the next look sends everything, once
    feed.step(store, run_id)
    feed.step(store, run_id)
    check_openlineage(receiver.events)
    assert [e["eventType"] for e in receiver.events].count("START") == 3
