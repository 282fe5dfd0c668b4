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
