"""Fan-out keys at registration: `for_each` forms, `list` params, `{item: true}`,
{{item}}, `parallelism`, and the rules tying a fanned-out task to the others — each
refusal names its place."""

from __future__ import annotations

import pytest

from tests.support_engine import task
from wfobj.engine.definitions.fanout import base_task, instance_key, key_problem
from wfobj.engine.definitions.format import normalize
from wfobj.engine.definitions.graph import TaskGraph
from wfobj.engine.definitions.params import check_parameters, parse_text_values
from wfobj.engine.errors import DefinitionError, ParameterError
from wfobj.engine.model import Definition, ForEach, ItemInput
from wfobj.objstore import MemoryObjectStore

PARAMS = {"d": {"type": "dir"}, "l": {"type": "list"}, "s": {"type": "string"}}


def definition(tasks: dict, params: dict = PARAMS) -> Definition:
    return normalize({"params": params, "tasks": tasks}, "wf")


def test_forms_normalize_and_round_trip():
    d = definition({
        "make": task("x", outputs={"files": ["out"], "vars": ["ids"]}),
        "a": task("a {{item}} {{item.key}}", for_each={"param": "d"}, inputs={"f": {"item": True}},
                  parallelism=4),
        "b": task("b", for_each={"task": "make", "file": "out/"}, inputs={"f": {"item": True}}),
        "c": task("c {{item}}", for_each={"task": "make", "var": "ids"}),
    })
    assert d.tasks["a"].for_each == ForEach(param="d") and d.tasks["a"].parallelism == 4
    assert d.tasks["a"].inputs["f"] == ItemInput()
    assert d.tasks["b"].for_each == ForEach(task="make", file="out")
    assert d.tasks["c"].to_value()["for_each"] == {"task": "make", "var": "ids"}
    assert Definition.from_value("x", d.to_value()) == d
    assert "for_each" not in d.tasks["make"].to_value()  # older definitions keep their hashes
    assert TaskGraph.of(d.tasks).upstream("c") == ["make"]


@pytest.mark.parametrize(("tasks", "place", "words"), [
    ({"a": task("x", for_each={"param": "s"})}, "tasks.a.for_each", "not a collection"),
    ({"a": task("x", for_each={"param": "nope"})}, "tasks.a.for_each", "unknown param"),
    ({"a": task("x", for_each={"param": "d", "task": "b"})}, "tasks.a.for_each", "must be"),
    ({"a": task("x", for_each=["d"])}, "tasks.a.for_each", "mapping"),
    ({"a": task("x", for_each={"task": "a", "var": "v"})}, "tasks.a.for_each", "itself"),
    ({"a": task("x", for_each={"task": "zz", "var": "v"})}, "tasks.a.for_each", "unknown task"),
    ({"m": task("x"), "a": task("x", for_each={"task": "m", "file": "o"})},
     "tasks.a.for_each", "declares no output"),
    ({"m": task("x"), "a": task("x", for_each={"task": "m", "var": "v"})},
     "tasks.a.for_each", "declares no var"),
    ({"m": task("x", for_each={"param": "l"}, outputs={"vars": ["v"]}),
      "a": task("x", for_each={"task": "m", "var": "v"})}, "tasks.a.for_each", "itself fanned out"),
    ({"a": task("x {{item}}")}, "tasks.a.command[2]", "only known in a task with for_each"),
    ({"a": task("x", inputs={"f": {"item": True}})}, "tasks.a.inputs.f", "needs for_each"),
    ({"a": task("x", inputs={"f": {"item": False}})}, "tasks.a.inputs.f", "{item: true}"),
    ({"a": task("x", for_each={"param": "l"}, inputs={"f": {"item": True}})},
     "tasks.a.inputs.f", "are values, not files"),
    ({"a": task("x", parallelism=2)}, "tasks.a.parallelism", "needs for_each"),
    ({"a": task("x", for_each={"param": "l"}, parallelism=0)}, "tasks.a.parallelism", "from 1"),
    ({"a": task("x", for_each={"param": "l"}, outputs={"vars": ["v"]}),
      "b": task("y {{tasks.a.vars.v}}")}, "tasks.b.command[2]", "same collection"),
    ({"a": task("x", for_each={"param": "l"}, outputs={"files": ["o"]}),
      "b": task("y", for_each={"param": "d"}, inputs={"o": {"task": "a", "file": "o"}})},
     "tasks.b.inputs.o", "same collection"),
    ({"a": task("x", for_each={"param": "l"}, outputs={"vars": ["v"]}),
      "b": task("y", when="tasks.a.vars.v == '1'")}, "tasks.b.when", "cannot read the vars"),
])
def test_refusals_name_the_place(tasks, place, words):
    with pytest.raises(DefinitionError) as err:
        definition(tasks)
    assert err.value.place == place and words in str(err.value)


def test_list_params_are_typed_at_trigger():
    params = definition({"a": task("x")}, {"l": {"type": "list", "default": ["x", 1]}}).params
    store = MemoryObjectStore()
    assert check_parameters(params, {"l": ["a", 1.5, False]}, store) == {"l": ["a", "1.5", False]}
    assert check_parameters(params, {}, store) == {"l": ["x", 1]}
    for bad in ("a,b", [None], [["a"]], [{"k": 1}], [float("nan")]):
        with pytest.raises(ParameterError, match="not a list of strings, numbers and booleans"):
            check_parameters(params, {"l": bad}, store)
    assert parse_text_values(params, {"l": '["a", 2]'}) == {"l": ["a", 2]}
    assert parse_text_values(params, {"l": "a,b"}) == {"l": "a,b"}  # refused by the engine


def test_instance_names():
    assert base_task("align[A.fq]") == "align" and instance_key("align[A.fq]") == "A.fq"
    assert instance_key("align") is None and base_task("align") == "align"
    assert key_problem("A_1.fq") is None
    for bad in ("", ".hidden", "a b", "a/b", "x]", "é"):
        assert key_problem(bad)
