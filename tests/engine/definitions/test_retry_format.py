"""`retry` at registration: durations, factors, caps and what they need."""

from __future__ import annotations

import pytest

from wfobj.engine.definitions.format import normalize
from wfobj.engine.errors import DefinitionError


def one(**task) -> dict:
    return {"tasks": {"t": {"image": "x", "command": ["c"], **task}}}


def test_retry_is_normalized_to_decimal_text_and_stored_only_when_written():
    d = normalize(one(retries=2, resources={"memory": "1G", "cpus": 1},
                      retry={"delay": "1.5m", "backoff": 1.5, "max_delay": "1h",
                             "memory_factor": 2, "max_memory": "8G", "cpus_factor": 2}), "wf")
    assert d.to_value()["tasks"]["t"]["retry"] == {
        "delay": "90", "backoff": "1.5", "max_delay": "3600", "memory_factor": "2",
        "max_memory": "8g", "cpus_factor": "2"}
    assert normalize(one(retries=1, retry={"delay": "250ms"}), "wf").tasks["t"].retry.delay == "0.25"
    assert normalize(one(retries=1, retry={"delay": 3}), "wf").tasks["t"].retry.delay == "3"
    assert "retry" not in normalize(one(retries=1), "wf").to_value()["tasks"]["t"]


@pytest.mark.parametrize("task, message", [
    ({"retry": {"delay": 1}}, "tasks.t.retry: applies between attempts: set retries to 1 or more"),
    ({"retries": 1, "retry": {"delay": "soon"}}, "tasks.t.retry.delay: 'soon' is not a duration"),
    ({"retries": 1, "retry": {"delay": "2d"}}, "tasks.t.retry.delay: '2d' is not a duration"),
    ({"retries": 1, "retry": {"max_delay": 90000}}, "tasks.t.retry.max_delay: 90000 is not from 0 to 86400"),
    ({"retries": 1, "retry": {"backoff": 0.5}}, "tasks.t.retry.backoff: 0.5 is not a number from 1 to 100"),
    ({"retries": 1, "retry": {"backoff": True}}, "tasks.t.retry.backoff: True is not a number"),
    ({"retries": 1, "retry": {"memory_factor": 2}}, "tasks.t.retry.memory_factor: grows resources.memory: set it"),
    ({"retries": 1, "retry": {"cpus_factor": 2}}, "tasks.t.retry.cpus_factor: grows resources.cpus: set it"),
    ({"retries": 1, "resources": {"memory": "1g"}, "retry": {"max_memory": "2g"}},
     "tasks.t.retry.max_memory: caps memory_factor's growth: set it"),
    ({"retries": 1, "resources": {"memory": "1g"}, "retry": {"memory_factor": 2, "max_memory": "lots"}},
     "tasks.t.retry.max_memory: 'lots' is not a size like 512m"),
    ({"retries": 1, "retry": {"jitter": 1}}, "tasks.t.retry.jitter: unknown key"),
    ({"retries": 1, "retry": 5}, "tasks.t.retry: must be a mapping"),
])
def test_bad_retry_policies_are_refused_naming_the_place(task, message):
    with pytest.raises(DefinitionError) as info:
        normalize(one(**task), "wf")
    assert str(info.value).startswith(message)
