"""Helpers for API tests: an app on a memory store with one token per role, snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from falcon.testing import TestClient

from wfobj.api import create_app
from wfobj.engine.access.tokens import TokenStore
from wfobj.engine.service import WorkflowService
from wfobj.objstore import ObjectStore

WORDCOUNT = {
    "name": "wc",
    "description": "count words",
    "params": {"corpus": {"type": "file"}, "min_len": {"type": "int", "default": 3},
               "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"}},
    "tasks": {
        "split": {"image": "wfobj/toolbox:local",
                  "command": ["sh", "-c", "tr -s ' ' '\\n' < /in/corpus > /out/words.txt"],
                  "inputs": {"corpus": {"param": "corpus"}},
                  "outputs": {"files": ["words.txt"]}},
        "count": {"image": "wfobj/toolbox:local",
                  "command": ["sh", "-c", "grep -c . /in/words > /out/count.txt"],
                  "inputs": {"words": {"task": "split", "file": "words.txt"}},
                  "outputs": {"files": ["count.txt"]}},
    },
}

WORDCOUNT_YAML = """\
name: wc
description: count words
params:
  corpus: {type: file}
  min_len: {type: int, default: 3}
  mode: {type: string, enum: [fast, slow], default: fast}
tasks:
  split:
    image: wfobj/toolbox:local
    command: [sh, -c, "tr -s ' ' '\\\\n' < /in/corpus > /out/words.txt"]
    inputs: {corpus: {param: corpus}}
    outputs: {files: [words.txt]}
  count:
    image: wfobj/toolbox:local
    command: [sh, -c, "grep -c . /in/words > /out/count.txt"]
    inputs: {words: {task: split, file: words.txt}}
    outputs: {files: [count.txt]}
"""


@dataclass
class Api:
    client: TestClient
    store: ObjectStore
    service: WorkflowService
    tokens: dict[str, str]  # role -> token

    def h(self, role: str = "runner", **extra: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}


def make_api(store: ObjectStore, **kw) -> Api:
    tokens = TokenStore(store)
    issued = {role: tokens.create(f"{role}-user", role)[0]
              for role in ("reader", "runner", "admin")}
    service = WorkflowService(store)
    client = TestClient(create_app(store, service, tokens, **kw))
    return Api(client, store, service, issued)


def snapshot(store: ObjectStore) -> tuple:
    """Everything a store holds: objects, refs and metadata (to prove nothing was written)."""
    return (sorted(store), sorted(store.refs()), sorted(store._meta_scan(b"", None, False)))
