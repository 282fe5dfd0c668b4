"""The `when` language: parsing with positions, bounds, evaluation rules, and the checks
made at registration."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wfobj.engine.bounds import MAX_CONDITION_CHARS, MAX_CONDITION_DEPTH
from wfobj.engine.definitions.conditions import parse_condition
from wfobj.engine.definitions.format import normalize
from wfobj.engine.errors import ConditionError, DefinitionError


def value(text: str, **refs) -> bool:
    return parse_condition(text).evaluate(lambda ref: refs[ref.text.replace(".", "_")])


@pytest.mark.parametrize("text, expected", [
    ("true", True), ("false", False), ("not true", False), ("not not true", True),
    ("1 < 2", True), ("2 <= 2", True), ("3 > 10", False), ("-1.5 >= -2", True),
    ("'a' == \"a\"", True), ("'a' != 'b'", True), ("'b' > 'a'", True),
    ("'1.0' == 1", True), ("'10' > '9'", True),  # texts that read as numbers: numerically
    ("'x' == 1", False), ("true == 'true'", True), ("false == 0", False),
    ("2 in [1, 2, 3]", True), ("'2' in [1, 2]", True), ("'c' in ['a', 'b']", False),
    ("'ell' in 'hello'", True), ("'z' in 'hello'", False), ("[] == []", True),
    ("true and false or true", True), ("true and (false or false)", False),
    ("not (1 == 2) and 'it\\'s' == \"it's\"", True), ("1e3 == 1000", True),
])
def test_literals_evaluate_by_the_documented_rules(text, expected):
    assert value(text) is expected


def test_references_read_params_and_vars():
    assert value("params.n > 2 and tasks.a.vars.v == 'yes'", params_n=3, tasks_a_vars_v="yes")
    assert value("tasks.a.vars.count >= 100", tasks_a_vars_count="117")
    assert not value("tasks.a.vars.count >= 100", tasks_a_vars_count="99")
    assert value("params.f < 0.75", params_f=Decimal("0.5"))
    assert value("tasks.a.vars.flag", tasks_a_vars_flag="true")  # a var "true" is true
    assert value("params.mode in ['fast', 'full']", params_mode="full")


def test_and_or_stop_early():
    calls = []

    def lookup(ref):
        calls.append(ref.text)
        return True

    assert parse_condition("true or params.x").evaluate(lookup) is True
    assert parse_condition("false and params.x").evaluate(lookup) is False
    assert calls == []


@pytest.mark.parametrize("text, position, words", [
    ("1 <", 4, "expected a value"), ("(true", 6, "expected ')'"), ("true true", 6, "end of the"),
    ("params.x = 1", 10, "unexpected character '='"), ("'open", 1, "unexpected character"),
    ("foo == 1", 1, "'foo' is not a reference"), ("tasks.a.files.x", 1, "not a reference"),
    ("[1, params.x]", 5, "expected a string, a number"), ("'a\\q'", 3, "unknown escape"),
    ("and", 1, "expected a value"),
])
def test_syntax_errors_name_the_position(text, position, words):
    with pytest.raises(ConditionError) as info:
        parse_condition(text)
    assert info.value.position == position and words in str(info.value)


def test_bounds_on_length_and_nesting():
    with pytest.raises(ConditionError, match=f"over the limit of {MAX_CONDITION_CHARS}"):
        parse_condition("true or " * 300 + "true")
    with pytest.raises(ConditionError, match=f"nested deeper than {MAX_CONDITION_DEPTH}"):
        parse_condition("(" * 40 + "true" + ")" * 40)
    with pytest.raises(ConditionError, match="nested deeper"):
        parse_condition("not " * 40 + "true")
    assert parse_condition("(" * 20 + "true" + ")" * 20).evaluate(lambda r: None)
    # a long flat chain is a loop, not recursion
    assert value(" and ".join(["true"] * 200)) is True


@pytest.mark.parametrize("text, words", [
    ("'a' < 1", "cannot order 'a' and 1"), ("true < false", "cannot order"),
    ("1 in 'abc'", "`in` needs a list or a text"), ("'x' and true", "not true or false"),
])
def test_values_that_do_not_fit_fail_at_evaluation(text, words):
    with pytest.raises(ConditionError, match=words):
        parse_condition(text).evaluate(lambda ref: None)


def test_literal_operands_of_and_must_be_booleans_at_parse():
    with pytest.raises(ConditionError, match="'x' is not true or false"):
        parse_condition("'x' and true")


def definition(when, **extra):
    return {"params": {"n": {"type": "int", "default": 1}, "mode": {"type": "string", "default": "a"},
                       "on": {"type": "bool", "default": True}},
            "tasks": {"a": {"image": "x", "command": ["c"], "outputs": {"vars": ["v"]}},
                      "b": {"image": "x", "command": ["c"], "when": when, **extra}}}


@pytest.mark.parametrize("when, message", [
    ("params.nope == 1", "tasks.b.when: at character 1: params.nope names an unknown param"),
    ("true and tasks.zz.vars.v == 1", "tasks.b.when: at character 10: tasks.zz.vars.v names an unknown task"),
    ("tasks.a.vars.w == '1'", "tasks.b.when: at character 1: tasks.a.vars.w: task 'a' declares no var 'w'"),
    ("params.n ==", "tasks.b.when: at character 12: expected a value"),
    ("params.n and true", "tasks.b.when: at character 1: params.n is of type int, not true or false"),
    ("", "tasks.b.when: must be a non-empty expression"),
    (3, "tasks.b.when: must be a non-empty expression"),
])
def test_registration_refuses_bad_conditions_naming_task_and_position(when, message):
    with pytest.raises(DefinitionError) as info:
        normalize(definition(when), "wf")
    assert str(info.value).startswith(message)


def test_a_condition_reading_its_own_vars_is_refused():
    d = definition("tasks.b.vars.x == '1'", outputs={"vars": ["x"]})
    with pytest.raises(DefinitionError, match="cannot read its own vars"):
        normalize(d, "wf")


def test_the_condition_is_stored_and_its_task_becomes_a_dependency():
    from wfobj.engine.definitions.graph import TaskGraph

    d = normalize(definition("params.on and tasks.a.vars.v == 'yes'"), "wf")
    assert d.tasks["b"].when == "params.on and tasks.a.vars.v == 'yes'"
    assert TaskGraph.of(d.tasks).needs["b"] == {"a"}
    assert "when" not in d.to_value()["tasks"]["a"]  # unset: not stored, hashes unchanged


def test_on_failure_is_checked_and_stored_only_when_written():
    base = {"tasks": {"a": {"image": "x", "command": ["c"]}}}
    assert "on_failure" not in normalize(base, "wf").to_value()
    assert normalize({**base, "on_failure": "continue"}, "wf").on_failure == "continue"
    with pytest.raises(DefinitionError, match="on_failure: 'later' is not one of stop, continue"):
        normalize({**base, "on_failure": "later"}, "wf")
