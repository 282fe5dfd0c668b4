"""The typed `definition` object (engine/model.py): registration builds it, its stored form
is byte for byte the one written before it was typed (so definition hashes stay), it reads
back through the verifying store, and a stored definition with a field its class does not
know, or without one it requires, at any level, fails naming the object's hash."""

from __future__ import annotations

import pytest

from tests import ROOT
from tests.support_api import make_api
from tests.support_engine import run_with, service, task, trigger, wordcount
from wfobj.engine.clock import Clock
from wfobj.engine.definitions.format import normalize, parse_source
from wfobj.engine.definitions.registry import WorkflowRegistry
from wfobj.engine.errors import InvalidStoredObject
from wfobj.engine.model import (
    Definition,
    ParamDefinition,
    ParamInput,
    TaskDefinition,
    TaskFileInput,
    TaskOutputs,
    TaskResources,
    read,
)
from wfobj.engine.runs.state import RunState

EXAMPLE = ROOT / "examples" / "wordcount.yaml"

# Every key of docs/workflow-format.md written at least once, floats and all.
RICH = {
    "name": "rich", "description": "every key",
    "params": {"f": {"type": "file", "default": "a" * 64},
               "x": {"type": "float", "default": 0.5, "enum": [0.5, 2.0]},
               "n": {"type": "int"}, "s": {"type": "string", "enum": ["a", "b"]},
               "b": {"type": "bool", "default": False}},
    "tasks": {
        "up": {"image": "alpine:3", "command": ["sh", "-c", "echo {{params.s}} {{params.x}}"],
               "inputs": {"in.txt": {"param": "f"}},
               "outputs": {"files": ["dir/", "a.txt"], "vars": ["v"]},
               "env": {"N": 3, "F": 1.5, "T": "{{params.n}}"},
               "timeout": 2.5, "retries": 3, "workdir": "/w", "network": True,
               "resources": {"cpus": 1.5, "memory": "512M", "pids": 64},
               "cache": True, "pull": "always"},
        "down": {"image": "alpine:3", "command": ["echo", "{{tasks.up.vars.v}}", "{{run.id}}"],
                 "inputs": {"p": {"task": "up", "file": "dir/x"}},
                 "after": ["up", "up"], "cache": False, "pull": "never", "timeout": 7},
    },
}

# The hashes the normaliser gave these two before the definition was typed (commit
# 14aca63, where it built plain dicts): typing it must not move any definition hash.
HASHES_BEFORE = {
    "wordcount": "da81eba0ab2096e677361b5d9af616d3f8bff84a2696ed9d93f83df0409f9ff5",
    "rich": "e2af214bdb9783517cbe066ab9c1aafb91fdd2df25f206e6ad09af9f00146b5a",
}


def example() -> tuple[str, dict]:
    return "wordcount", parse_source(EXAMPLE.read_text(), "application/yaml")


def rich() -> tuple[str, dict]:
    return "rich", RICH


@pytest.mark.parametrize("source", [example, rich])
def test_registered_definitions_keep_their_hashes_and_round_trip(store, source):
    name, raw = source()
    registered = WorkflowRegistry(store, Clock()).apply(name, raw, user="u")
    assert registered.definition_hash == HASHES_BEFORE[name]
    typed = read(store, registered.definition_hash, Definition)
    assert typed == normalize(raw, name)
    assert typed.to_value() == store.get_object(registered.definition_hash)
    assert store.put_object(typed.to_value()) == registered.definition_hash  # same bytes
    assert Definition.from_json(registered.definition_hash, typed.as_json()) == typed


def test_attributes_carry_every_key_typed():
    d = normalize(RICH, "rich")
    up, down = d.tasks["up"], d.tasks["down"]
    assert (d.name, d.description) == ("rich", "every key")
    assert d.params["x"] == ParamDefinition(type="float", enum=["0.5", "2"], default="0.5")
    assert d.params["n"] == ParamDefinition(type="int")
    assert up.inputs == {"in.txt": ParamInput(param="f")}
    assert down.inputs == {"p": TaskFileInput(task="up", file="dir/x")}
    assert up.outputs == TaskOutputs(files=["dir", "a.txt"], vars=["v"])
    assert up.resources == TaskResources(cpus="1.5", memory="512m", pids=64)
    assert (up.timeout, up.retries, up.workdir, up.network) == ("2.5", 3, "/w", True)
    assert up.env == {"N": "3", "F": "1.5", "T": "{{params.n}}"}
    assert (up.cache, up.pull, down.cache, down.pull) == (True, "always", False, "never")
    assert (down.after, down.timeout) == (["up"], 7)


def test_the_typed_defaults_are_the_ones_registration_fills_in():
    written = normalize({"tasks": {"t": task("true")}}, "wf").to_value()["tasks"]["t"]
    assert TaskDefinition(image="wfobj/toolbox:local", command=["sh", "-c", "true"]).to_value() \
        == written
    assert "cache" not in written and "pull" not in written  # stored only when written


def stored_wordcount(store) -> tuple[str, dict]:
    oid = WorkflowRegistry(store, Clock()).apply("wordcount", wordcount(), user="u").definition_hash
    return oid, store.get_object(oid)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda v: v.update(gpus=1), "unknown field(s) gpus"),
    (lambda v: v.pop("description"), "missing field(s) description"),
    (lambda v: v["tasks"]["count"].update(gpus=1), "tasks.count: unknown field(s) gpus"),
    (lambda v: v["tasks"]["count"].pop("retries"), "tasks.count: missing field(s) retries"),
    (lambda v: v["tasks"]["count"].update(pull=None), "tasks.count: null field(s) pull"),
    (lambda v: v["tasks"].update(split=[]), "tasks.split: is a list, not a mapping"),
    (lambda v: v["params"]["min_len"].update(kind="int"), "params.min_len: unknown field(s) kind"),
    (lambda v: v["params"]["min_len"].pop("type"), "params.min_len: missing field(s) type"),
    (lambda v: v["tasks"]["count"]["outputs"].pop("vars"),
     "tasks.count.outputs: missing field(s) vars"),
    (lambda v: v["tasks"]["count"]["resources"].update(gpus=1),
     "tasks.count.resources: unknown field(s) gpus"),
    (lambda v: v["tasks"]["count"]["inputs"]["words"].pop("file"),
     "tasks.count.inputs.words: missing field(s) file"),
    (lambda v: v["tasks"]["split"]["inputs"]["corpus"].update(file="x"),
     "tasks.split.inputs.corpus: unknown field(s) file"),
    (lambda v: v.update(tasks=[]), "tasks: is a list, not a mapping"),
])
def test_a_bad_stored_definition_names_its_hash_and_the_place(store, change, problem):
    _, value = stored_wordcount(store)
    change(value)
    oid = store.put_object(value)
    with pytest.raises(InvalidStoredObject) as info:
        read(store, oid, Definition)
    assert info.value.oid == oid and info.value.type_name == "definition"
    assert str(info.value) == f"object {oid} is not a valid definition: {problem}"


def test_runs_read_their_definition_typed(store):
    svc = service(store)
    run_id = trigger(svc, {"tasks": {"a": task(), "b": task(after=["a"])}})
    run_with(store, run_id)
    run = RunState.load(store, run_id)
    assert isinstance(run.definition, Definition)
    assert run.definition.tasks["b"].after == ["a"]
    assert store.put_object(run.definition.to_value()) == run.record.definition.oid
    assert RunState.load(store, run_id, plan=False).definition is None


def test_the_api_shows_the_stored_definition_as_before_and_refuses_a_bad_one():
    from wfobj.objstore import MemoryObjectStore

    api = make_api(MemoryObjectStore())
    oid, value = stored_wordcount(api.store)
    resp = api.client.simulate_get("/api/workflows/wordcount", headers=api.h("reader"))
    assert resp.status_code == 200 and resp.json["definition_hash"] == oid
    assert resp.json["definition"] == {k: v for k, v in value.items() if k != "type"}
    value["tasks"]["count"]["smuggled"] = "x"
    bad = api.store.put_object(value)
    resp = api.client.simulate_get(f"/api/workflows/by-hash/{bad}", headers=api.h("reader"))
    assert resp.status_code == 500 and resp.json["title"] == "Invalid stored object"
    assert bad in resp.json["description"] and "tasks.count: unknown field(s) smuggled" in \
        resp.json["description"]
