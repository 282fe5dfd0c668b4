"""Workflow versions: creation, unchanged re-apply, history, by-hash definitions."""

from __future__ import annotations

import pytest

from tests.support_engine import service, wordcount
from wfobj.engine.errors import DefinitionError, NotADefinition, UnknownWorkflow


def test_versions_chain_and_unchanged_apply_creates_nothing(store):
    svc = service(store)
    first, created = svc.apply_workflow("wordcount", wordcount(), user="alice")
    assert created and first["version"] == 1
    objects_before = set(store)
    again, created = svc.apply_workflow("wordcount", wordcount(), user="bob")
    assert not created and again == first
    assert set(store) == objects_before
    changed = wordcount()
    changed["description"] = "v2"
    second, created = svc.apply_workflow("wordcount", changed, user="bob")
    assert created and second["version"] == 2 and second["definition_hash"] != first["definition_hash"]
    versions = svc.workflow_versions("wordcount")
    assert [v["version"] for v in versions] == [2, 1]
    assert [v["registered_by"] for v in versions] == ["bob", "alice"]
    assert versions[1]["definition_hash"] == first["definition_hash"]
    head = store.get_object(store.get_ref("workflows/wordcount"))
    assert head["type"] == "workflow_version" and head["previous"].oid in store
    assert head["registered_at"].endswith("Z") and len(head["registered_at"]) == 27


def test_list_show_and_by_hash(store):
    svc = service(store)
    reg, _ = svc.apply_workflow("wordcount", wordcount(), user="alice")
    [row] = svc.list_workflows()
    assert row["name"] == "wordcount" and row["version"] == 1 and row["updated_at"].endswith("Z")
    shown = svc.get_workflow("wordcount")
    assert shown["definition"]["tasks"]["count"]["retries"] == 1
    assert "type" not in shown["definition"]
    by_hash = svc.get_definition(reg["definition_hash"][:10])
    assert by_hash["definition_hash"] == reg["definition_hash"]


def test_unknowns_and_bad_names(store):
    svc = service(store)
    with pytest.raises(UnknownWorkflow):
        svc.get_workflow("nope")
    with pytest.raises(UnknownWorkflow):
        svc.workflow_versions("nope")
    blob = store.put_blob(b"not a definition")
    with pytest.raises(NotADefinition, match="it is a blob"):
        svc.get_definition(blob)
    with pytest.raises(NotADefinition):
        svc.get_definition("ab" * 32)
    with pytest.raises(DefinitionError, match="not a valid name"):
        svc.apply_workflow("../evil", wordcount(), user="x")
    assert list(store.refs("workflows/")) == []
