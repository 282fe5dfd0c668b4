"""A definition's `source` (docs/workflow-format.md): the document it was made from, kept
as written, refused when malformed, stored only when written, and kept by gc with the
definition."""

from __future__ import annotations

import pytest

from tests.support_engine import wordcount
from wfobj.engine.clock import Clock
from wfobj.engine.definitions.format import normalize
from wfobj.engine.definitions.registry import WorkflowRegistry, stored_defaults
from wfobj.engine.errors import DefinitionError
from wfobj.engine.model import Definition, read

DOC = "ab" * 32


def with_source(**source) -> dict:
    d = wordcount()
    d["source"] = source
    return d


def test_a_source_is_kept_as_written_and_named_by_gc_roots():
    norm = normalize(with_source(language="cwl", document=DOC, version="v1.2",
                                 process="flow.cwl#main"), "wordcount")
    assert norm.source == {"language": "cwl", "document": DOC, "version": "v1.2",
                           "process": "flow.cwl#main"}
    assert DOC in stored_defaults(norm)


def test_without_a_source_the_stored_form_and_hash_are_unchanged(store):
    plain = normalize(wordcount(), "wordcount")
    assert "source" not in plain.to_value() and stored_defaults(plain) == []
    reg = WorkflowRegistry(store, Clock())
    a = reg.apply("wordcount", wordcount(), user="u")
    b = reg.apply("wordcount", with_source(language="cwl", document=DOC), user="u")
    assert a.definition_hash != b.definition_hash
    assert read(store, b.definition_hash, Definition).source == {"language": "cwl",
                                                                 "document": DOC}
    assert read(store, a.definition_hash, Definition).source is None


@pytest.mark.parametrize("source, place, words", [
    ({"language": "nextflow", "document": DOC}, "source.language", "must be one of"),
    ({"document": DOC}, "source.language", "must be one of"),
    ({"language": "cwl"}, "source.document", "64 lowercase hex"),
    ({"language": "cwl", "document": "XY" * 32}, "source.document", "64 lowercase hex"),
    ({"language": "cwl", "document": DOC, "version": ""}, "source.version", "non-empty"),
    ({"language": "cwl", "document": DOC, "process": 7}, "source.process", "non-empty"),
    ({"language": "cwl", "document": DOC, "url": "x"}, "source.url", "unknown key"),
])
def test_a_bad_source_names_its_place(source, place, words):
    with pytest.raises(DefinitionError) as err:
        normalize(with_source(**source), "wordcount")
    assert err.value.place == place and words in str(err.value), str(err.value)


def test_a_source_that_is_not_a_mapping_is_refused():
    d = wordcount()
    d["source"] = "flow.cwl"
    with pytest.raises(DefinitionError) as err:
        normalize(d, "wordcount")
    assert err.value.place == "source"
