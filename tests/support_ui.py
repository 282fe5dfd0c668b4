"""Helpers for UI tests: the app with its UI on a store, a logged-in client, finished runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from falcon.testing import TestClient

from tests.support_engine import run_with, trigger, wordcount
from wfobj.api import create_app
from wfobj.engine.access.sessions import SessionStore
from wfobj.engine.access.tokens import TokenStore
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.service import WorkflowService
from wfobj.objstore import ObjectStore

COOKIE = "wfobj_session"


@dataclass
class Ui:
    client: TestClient
    store: ObjectStore
    service: WorkflowService
    sessions: SessionStore
    tokens: dict[str, str]  # role -> API token

    def login(self, role: str = "reader") -> str:
        """Log in through the form; returns the session cookie's value."""
        resp = self.client.simulate_post("/ui/login", body=f"token={self.tokens[role]}",
                                         headers={"Content-Type": FORM})
        assert resp.status_code == 303, resp.text
        return resp.cookies[COOKIE].value

    def get(self, path: str, session: str | None, **kw):
        cookies = {COOKIE: session} if session else None
        return self.client.simulate_get(path, cookies=cookies, **kw)


FORM = "application/x-www-form-urlencoded"


def make_ui(store: ObjectStore) -> Ui:
    tokens = TokenStore(store)
    issued = {role: tokens.create(f"{role}-user", role)[0]
              for role in ("reader", "runner", "admin")}
    service = WorkflowService(store)
    sessions = SessionStore(store, tokens)
    app = create_app(store, service, tokens, sessions=sessions)
    return Ui(TestClient(app), store, service, sessions, issued)


def finished_wordcount(ui: Ui, **behaviors: TaskBehavior) -> tuple[str, str]:
    """The wordcount workflow run to its end with a fake executor: (run_id, corpus hash)."""
    corpus = ui.service.put_file(_bytes(b"the quick brown fox jumps over the lazy dog\n"))
    run_id = trigger(ui.service, wordcount(), "wordcount", corpus=corpus["hash"])
    run_with(ui.store, run_id, behaviors)
    return run_id, corpus["hash"]


def _bytes(data: bytes):
    import io

    return io.BytesIO(data)


def svg_nodes(html: str) -> dict[str, str]:
    """data-task → data-state of every DAG node in a page."""
    return dict(re.findall(r'<g class="node [^"]*" data-task="([^"]+)" data-state="([^"]+)"',
                           html))


def cohort(n: int) -> dict:
    """A fan-out over `n` samples beside a condition and a keep-going policy: `align` runs
    once per sample, `merge` gathers it, `deep` runs only when asked, `qc` stands alone."""
    from tests.support_engine import task

    return {"on_failure": "continue",
            "params": {"samples": {"type": "list"}, "deep": {"type": "bool", "default": False}},
            "tasks": {
                "align": task("align {{item}}", for_each={"param": "samples"},
                              outputs={"files": ["out.bam"]}),
                "merge": task("merge /in/bams", inputs={"bams": {"task": "align", "file": "out.bam"}},
                              outputs={"files": ["all.bam"]}),
                "deep": task("deep", when="params.deep"),
                "qc": task("qc", outputs={"files": ["qc.txt"]})}}


def finished_cohort(ui: Ui, n: int = 12, failing: tuple[int, ...] = (3, 7)) -> str:
    """`cohort(n)` run to its end with instances `failing` exiting 1: align fails, merge is
    skipped after the failure, deep by its condition, qc succeeds. Returns the run id."""
    run_id = trigger(ui.service, cohort(n), "cohort", samples=[f"s{i}" for i in range(n)])
    run_with(ui.store, run_id, {f"align[{i}]": TaskBehavior(exit_code=1) for i in failing})
    return run_id


def live_cohort(ui: Ui, n: int = 20, quick: int = 4, concurrency: int = 3):
    """`cohort(n)` driven by hand until `quick` instances succeeded and `concurrency` run
    (the rest sleep until cancelled): (run id, the scheduler). `stop_cohort` ends it."""
    from tests.support_engine import claim
    from wfobj.engine.executors.fake import FakeExecutor
    from wfobj.engine.scheduling.scheduler import RunScheduler

    run_id = trigger(ui.service, cohort(n), "cohort", samples=[f"s{i}" for i in range(n)])
    slow = {f"align[{i}]": TaskBehavior(sleep=60) for i in range(quick, n)}
    claim(ui.store, run_id)
    sched = RunScheduler(ui.store, run_id, FakeExecutor(slow), concurrency=concurrency,
                         poll=0.02)
    assert sched.initialize()
    for _ in range(2000):
        sched.loop()
        counts = sched.run.counts
        if counts["success"] >= quick + 1 and counts["running"] >= concurrency:  # + qc
            return run_id, sched
    sched.shutdown()
    raise AssertionError(f"the run never reached {quick} successes: {sched.run.counts}")


def stop_cohort(sched) -> str:
    """End a run `live_cohort` started: its pending instances are skipped (`stopped`)."""
    sched.request_stop("the test is done with it")
    try:
        while sched.loop():
            pass
    finally:
        sched.shutdown()
    return sched.run.state
