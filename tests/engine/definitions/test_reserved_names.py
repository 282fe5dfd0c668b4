"""Workflow names the API's routes take as literal segments are refused at registration:
a workflow named `by-hash` could be registered but never triggered by name."""

from __future__ import annotations

import re

import pytest

from tests.support_api import WORDCOUNT, make_api, snapshot
from tests.support_engine import service, wordcount
from wfobj.api.factory import core_routes
from wfobj.engine.definitions.format import RESERVED_NAMES
from wfobj.engine.errors import DefinitionError
from wfobj.objstore import MemoryObjectStore


def unnamed(definition: dict) -> dict:
    return {k: v for k, v in definition.items() if k != "name"}


def test_reserved_names_are_every_literal_segment_where_the_api_takes_a_workflow_name():
    store = MemoryObjectStore()
    routes = core_routes(store, service(store), 1, "test")
    literals = {m.group(1) for path in routes
                if (m := re.match(r"/api/workflows/([^{/][^/]*)", path))}
    assert literals and literals <= RESERVED_NAMES


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_service_refuses_a_reserved_name(name):
    store = MemoryObjectStore()
    svc = service(store)
    with pytest.raises(DefinitionError, match=f"{name}.*reserved"):
        svc.apply_workflow(name, unnamed(wordcount()), user="alice")
    with pytest.raises(DefinitionError, match="reserved"):
        svc.validate_workflow(name, unnamed(wordcount()))
    assert list(store.refs()) == []


def test_api_refuses_a_reserved_name_with_400_naming_it():
    api = make_api(MemoryObjectStore())
    before = snapshot(api.store)
    r = api.client.simulate_put("/api/workflows/by-hash", json=unnamed(WORDCOUNT), headers=api.h())
    assert r.status_code == 400, r.text
    assert "by-hash" in r.json["description"] and "reserved" in r.json["description"]
    assert snapshot(api.store) == before
