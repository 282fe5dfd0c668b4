"""Definition parsing, strict validation with the place named, and normalization."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.support_engine import task, wordcount
from wfobj.engine.clock import Clock
from wfobj.engine.definitions.format import normalize, parse_source
from wfobj.engine.definitions.registry import WorkflowRegistry
from wfobj.engine.errors import DefinitionError
from wfobj.engine.model import TaskOutputs, TaskResources


def bad(mutate, place: str, words: str, name: str = "wordcount"):
    d = wordcount()
    mutate(d)
    with pytest.raises(DefinitionError) as err:
        normalize(d, name)
    assert err.value.place == place, str(err.value)
    assert words in str(err.value)
    assert str(err.value).startswith(place)


BAD_CASES = [
    (lambda d: d.update(colour="red"), "colour", "unknown key"),
    (lambda d: d["tasks"]["count"].update(imagee="x"), "tasks.count.imagee", "unknown key"),
    (lambda d: d["params"]["corpus"].update(kind="x"), "params.corpus.kind", "unknown key"),
    (lambda d: d["tasks"]["count"]["outputs"].update(dirs=[]), "tasks.count.outputs.dirs", "unknown key"),
    (lambda d: d["tasks"]["count"]["outputs"].update(files=[".."]), "tasks.count.outputs.files[0]", "'..' is not allowed"),
    (lambda d: d["tasks"]["count"]["outputs"].update(files=["a/../b"]), "tasks.count.outputs.files[0]", "'..' is not allowed"),
    (lambda d: d["tasks"]["count"]["outputs"].update(files=["/etc/passwd"]), "tasks.count.outputs.files[0]", "absolute"),
    (lambda d: d["tasks"]["count"]["outputs"].update(files=["a//b"]), "tasks.count.outputs.files[0]", "clean relative"),
    (lambda d: d["tasks"]["count"]["outputs"].update(files=[3]), "tasks.count.outputs.files[0]", "must be a string"),
    (lambda d: d["tasks"]["count"]["outputs"].update(vars=["bad-name"]), "tasks.count.outputs.vars[0]", "not a valid name"),
    (lambda d: d["tasks"]["split"]["command"].append("{{params.nope}}"), "tasks.split.command[3]", "unknown param"),
    (lambda d: d["tasks"]["split"]["command"].append("{{tasks.ghost.vars.x}}"), "tasks.split.command[3]", "unknown task"),
    (lambda d: d["tasks"]["split"]["command"].append("{{tasks.count.vars.nope}}"), "tasks.split.command[3]", "declares no var"),
    (lambda d: d["tasks"]["split"]["command"].append("{{run.name}}"), "tasks.split.command[3]", "not a known reference"),
    (lambda d: d["tasks"]["count"]["env"].update(X="{{params.zzz}}"), "tasks.count.env.X", "unknown param"),
    (lambda d: d["tasks"]["count"]["inputs"].update(x={"param": "nope"}), "tasks.count.inputs.x", "unknown param"),
    (lambda d: d["tasks"]["count"]["inputs"].update(x={"param": "min_len"}), "tasks.count.inputs.x", "not of type file"),
    (lambda d: d["tasks"]["count"]["inputs"].update(x={"task": "ghost", "file": "a"}), "tasks.count.inputs.x", "unknown task"),
    (lambda d: d["tasks"]["count"]["inputs"].update(x={"task": "split", "file": "other.txt"}), "tasks.count.inputs.x", "declares no output"),
    (lambda d: d["tasks"]["count"]["inputs"].update(x={"path": "a"}), "tasks.count.inputs.x", "must be {param"),
    (lambda d: d["tasks"]["split"].update(after=["count"]), "tasks", "dependency cycle: split -> count -> split"),
    (lambda d: d["tasks"]["split"].update(after=["split"]), "tasks", "dependency cycle: split -> split"),
    (lambda d: d["tasks"]["split"].update(after=["ghost"]), "tasks.split.after[0]", "unknown task"),
    (lambda d: d.update(tasks={}), "tasks", "empty"),
    (lambda d: d.pop("tasks"), "tasks", "missing"),
    (lambda d: d.update(tasks=[]), "tasks", "must be a mapping"),
    (lambda d: d["params"]["min_len"].update(type="integer"), "params.min_len.type", "not one of"),
    (lambda d: d["params"]["min_len"].update(default="3"), "params.min_len.default", "not of type int"),
    (lambda d: d["params"]["min_len"].update(default=True), "params.min_len.default", "not of type int"),
    (lambda d: d["params"]["min_len"].update(enum=[1, 2]), "params.min_len.default", "not in enum"),
    (lambda d: d["params"]["min_len"].update(enum=[]), "params.min_len.enum", "non-empty"),
    (lambda d: d["params"]["corpus"].update(default="abc"), "params.corpus.default", "not a file hash"),
    (lambda d: d["tasks"]["count"].update(timeout=0), "tasks.count.timeout", "positive"),
    (lambda d: d["tasks"]["count"].update(timeout="10"), "tasks.count.timeout", "positive"),
    (lambda d: d["tasks"]["count"].update(retries=-1), "tasks.count.retries", "integer from 0"),
    (lambda d: d["tasks"]["count"].update(retries=1.5), "tasks.count.retries", "integer from 0"),
    (lambda d: d["tasks"]["count"].update(network="yes"), "tasks.count.network", "true or false"),
    (lambda d: d["tasks"]["count"].update(workdir="rel"), "tasks.count.workdir", "absolute"),
    (lambda d: d["tasks"]["count"].update(resources={"cpus": -1}), "tasks.count.resources.cpus", "positive"),
    (lambda d: d["tasks"]["count"].update(resources={"memory": "lots"}), "tasks.count.resources.memory", "size"),
    (lambda d: d["tasks"]["count"].update(resources={"gpus": 1}), "tasks.count.resources.gpus", "unknown key"),
    (lambda d: d["tasks"]["count"].update(env={"A": ["x"]}), "tasks.count.env.A", "must be a string"),
    (lambda d: d["tasks"]["count"].update(env={"WFOBJ_VARS": "x"}), "tasks.count.env.WFOBJ_VARS", "reserved"),
    (lambda d: d["tasks"]["count"].update(command=[]), "tasks.count.command", "non-empty"),
    (lambda d: d["tasks"]["count"].update(command="echo hi"), "tasks.count.command", "must be a list"),
    (lambda d: d["tasks"]["count"].pop("image"), "tasks.count.image", "required"),
    (lambda d: d["tasks"].update({"bad name": task()}), "tasks.bad name", "not a valid name"),
    (lambda d: d.update(description=3), "description", "must be a string"),
    (lambda d: d["tasks"]["count"].update(pull="sometimes"), "tasks.count.pull",
     "not one of missing, always, never"),
    (lambda d: d["tasks"]["count"].update(pull=True), "tasks.count.pull", "not one of"),
]


@pytest.mark.parametrize("mutate,place,words", BAD_CASES)
def test_bad_definitions_name_the_place(mutate, place, words):
    bad(mutate, place, words)


def test_name_mismatch_is_refused():
    with pytest.raises(DefinitionError, match="does not match the registered name 'other'"):
        normalize(wordcount(), "other")


def test_unparseable_text_is_a_definition_error():
    with pytest.raises(DefinitionError, match="not valid YAML"):
        parse_source("tasks: [unclosed", "application/yaml")
    with pytest.raises(DefinitionError, match="not valid JSON"):
        parse_source("{", "application/json")
    with pytest.raises(DefinitionError, match="must be a mapping"):
        parse_source("- a\n- b\n", "application/yaml")


def test_defaults_are_filled_and_floats_become_decimals():
    d = wordcount()
    d["params"]["ratio"] = {"type": "float", "default": 0.5}
    d["tasks"]["count"]["resources"] = {"cpus": 1.5, "memory": "512M"}
    norm = normalize(d, "wordcount")
    split = norm.tasks["split"]
    assert split.retries == 0 and split.network is False and split.after == []
    assert split.env == {} and split.timeout is None and split.workdir is None
    assert split.outputs == TaskOutputs(files=["words.txt"], vars=[])
    assert norm.params["ratio"].default == "0.5"
    assert norm.tasks["count"].resources == TaskResources(cpus="1.5", memory="512m")
    stored = norm.to_value()
    assert stored["name"] == "wordcount" and stored["type"] == "definition"
    assert stored["tasks"]["split"]["outputs"] == {"files": ["words.txt"], "vars": []}
    assert stored["tasks"]["count"]["resources"] == {"cpus": "1.5", "memory": "512m"}


def test_pull_policy_is_kept_only_when_given():
    d = wordcount()
    d["tasks"]["count"]["pull"] = "never"
    norm = normalize(d, "wordcount")
    assert norm.tasks["count"].pull == "never"
    assert norm.tasks["split"].pull is None
    assert "pull" not in norm.to_value()["tasks"]["split"]  # absent: the executor's default


def test_two_styles_one_hash_and_two_names_two_hashes(store):
    reg = WorkflowRegistry(store, Clock())
    as_yaml = yaml.safe_dump(wordcount(), default_flow_style=False, sort_keys=True)
    terse = wordcount()
    del terse["name"]
    terse["tasks"]["split"]["retries"] = 0  # an explicit default
    terse["tasks"]["split"]["after"] = []
    as_json = json.dumps(dict(reversed(list(terse.items()))), indent=4)
    a = reg.apply("wordcount", as_yaml, user="u", content_type="application/yaml")
    b = reg.apply("wordcount", as_json, user="u", content_type="application/json")
    assert a.definition_hash == b.definition_hash and b.created is False
    body = wordcount()
    del body["name"]
    c = reg.apply("wordcount2", body, user="u")
    assert c.definition_hash != a.definition_hash
    assert store.get_object(c.definition_hash)["name"] == "wordcount2"


def test_output_directories_feed_inputs_by_path_below_them():
    d = {"tasks": {"a": task(outputs={"files": ["results/"]}),
                   "b": task(inputs={"x": {"task": "a", "file": "results/part1.txt"}})}}
    norm = normalize(d, "dirs")
    assert norm.tasks["a"].outputs.files == ["results"]
