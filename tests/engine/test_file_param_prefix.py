"""File parameters by a unique prefix of the blob's hash: in the engine (so the API and
the CLI, local or --server, take them alike), with clear refusals."""

from __future__ import annotations

import itertools
import json

import blake3
import pytest
from click.testing import CliRunner

from tests.support_api import make_api
from tests.support_engine import task
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.engine.errors import ParameterError
from wfobj.engine.service import WorkflowService
from wfobj.objstore import init_store

TAKES_FILE = {"params": {"corpus": {"type": "file"}},
              "tasks": {"t": task("wc -c /in/corpus", inputs={"corpus": {"param": "corpus"}})}}


def twins() -> tuple[bytes, bytes]:
    """Two contents whose hashes share their first 6 hex characters."""
    seen: dict[str, bytes] = {}
    for i in itertools.count():
        data = b"twin %d" % i
        head = blake3.blake3(data).hexdigest()[:6]
        if head in seen:
            return seen[head], data
        seen[head] = data


@pytest.fixture
def svc(lmdb_store):
    service = WorkflowService(lmdb_store)
    service.apply_workflow("wf", TAKES_FILE, user="alice")
    return service


def trigger(svc, value):
    return svc.trigger(name="wf", parameters={"corpus": value}, user="alice")


def test_a_unique_prefix_names_the_blob(svc):
    oid = svc.put_file(_reader(b"some text\n"))["hash"]
    run = svc.get_run(trigger(svc, oid[:8])["run_id"])
    assert run["parameters"] == {"corpus": oid}  # the run records the full hash
    assert svc.get_run(trigger(svc, oid)["run_id"])["parameters"] == {"corpus": oid}


def test_prefix_refusals_name_the_problem(svc, lmdb_store):
    a, b = twins()
    oid_a, oid_b = (lmdb_store.put_blob(x) for x in (a, b))
    with pytest.raises(ParameterError, match=f"hash prefix {oid_a[:6]} is ambiguous: .*{oid_b}"):
        trigger(svc, oid_a[:6])
    assert svc.get_run(trigger(svc, oid_b[:7])["run_id"])["parameters"]["corpus"] == oid_b
    missing = absent_prefix(lmdb_store)
    with pytest.raises(ParameterError, match="no file in the store has a hash starting with"):
        trigger(svc, missing)
    definition = svc.get_workflow("wf")["definition_hash"]
    with pytest.raises(ParameterError, match="names a definition object, not a file"):
        trigger(svc, definition[:12])
    with pytest.raises(ParameterError, match="not a file hash"):
        trigger(svc, oid_a[:5])  # shorter than 6: not a prefix, not a hash


def test_api_trigger_takes_a_prefix(lmdb_store):
    api = make_api(lmdb_store)
    api.service.apply_workflow("wf", TAKES_FILE, user="alice")
    oid = api.service.put_file(_reader(b"abc"))["hash"]
    resp = api.client.simulate_post("/api/workflows/wf/trigger",
                                    json={"parameters": {"corpus": oid[:10]}}, headers=api.h())
    assert resp.status_code == 202, resp.text
    run = api.client.simulate_get(f"/api/runs/{resp.json['run_id']}", headers=api.h()).json
    assert run["parameters"] == {"corpus": oid}
    bad = api.client.simulate_post("/api/workflows/wf/trigger", headers=api.h(),
                                   json={"parameters": {"corpus": absent_prefix(lmdb_store)}})
    assert bad.status_code == 400 and "no file in the store" in bad.json["description"]


def test_cli_trigger_takes_a_prefix(tmp_path):
    path = tmp_path / "store"
    store = init_store(path)
    svc = WorkflowService(store)
    svc.apply_workflow("wf", TAKES_FILE, user="alice")
    oid = svc.put_file(_reader(b"from the cli\n"))["hash"]
    store.close()

    def wf(*args):
        return CliRunner().invoke(cli, ["--store", str(path), *args], obj=CliContext())

    started = wf("run", "trigger", "wf", "-p", f"corpus={oid[:9]}", "--json")
    assert started.exit_code == 0, started.output
    run_id = json.loads(started.output)["run_id"]
    shown = json.loads(wf("run", "show", run_id, "--json").output)
    assert shown["parameters"] == {"corpus": oid}
    store = init_store(path)
    missing = absent_prefix(store)
    store.close()
    refused = wf("run", "trigger", "wf", "-p", f"corpus={missing}")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: parameter 'corpus': ")


def absent_prefix(store) -> str:
    """A 6-character prefix no object in `store` starts with."""
    taken = {oid[:6] for oid in store}
    return next(p for p in (f"{i:06x}" for i in itertools.count()) if p not in taken)


def _reader(data: bytes):
    import io

    return io.BytesIO(data)
