"""engine/documents.py: JSON and YAML from users, within the limits of docs/limits.md."""

from __future__ import annotations

import pytest

from wfobj.engine.bounds import EXCERPT_CHARS, MAX_DOCUMENT_DEPTH
from wfobj.engine.definitions.documents import load_json, load_yaml
from wfobj.engine.errors import DocumentError, excerpt


@pytest.mark.parametrize("text, words", [
    ("a: &x 1\nb: *x\n", "anchors and aliases"),
    ("a: [&x 1]\n", "found &x"),
    ("<<: *x\n", "found *x"),
    ("[" * 100_000, "nested deeper"),
    ("[" * (MAX_DOCUMENT_DEPTH + 1) + "]" * (MAX_DOCUMENT_DEPTH + 1), "nested deeper"),
    ("t: .inf\n", "finite"),
    ("t: .nan\n", "finite"),
    ("t: 1.0e+999\n", "finite"),
    (b"name: x\xff\n", "position 7"),
    ("a: [1\n", "line 2"),
])
def test_yaml_refusals(text, words):
    with pytest.raises(DocumentError) as info:
        load_yaml(text)
    assert words in str(info.value)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("text, words", [
    ("[" * 100_000, "nested deeper"),
    ("[" * (MAX_DOCUMENT_DEPTH + 1) + "]" * (MAX_DOCUMENT_DEPTH + 1), "nested deeper"),
    ('{"timeout": NaN}', "NaN"),
    ('{"timeout": Infinity}', "Infinity"),
    ('{"timeout": -Infinity}', "Infinity"),
    ('{"timeout": 1e999}', "finite"),
    (b'{"a": "\xff"}', "utf-8"),
    ('{"a": ', "Expecting value"),
])
def test_json_refusals(text, words):
    with pytest.raises(DocumentError) as info:
        load_json(text)
    assert words in str(info.value)


def test_plain_documents_load():
    nested = "[" * MAX_DOCUMENT_DEPTH + "]" * MAX_DOCUMENT_DEPTH
    assert load_json(nested) is not None
    assert load_yaml("a: {b: [1, 2.5, x]}\n") == {"a": {"b": [1, 2.5, "x"]}}
    assert load_json('{"a": 1e300}') == {"a": 1e300}


def test_excerpt_is_short_and_never_builds_the_whole_repr():
    assert excerpt("short") == "'short'"
    assert len(excerpt("x" * 10_000_000)) <= EXCERPT_CHARS + 2
    assert len(excerpt([["y" * 1000] * 1000] * 1000)) < 4 * EXCERPT_CHARS
    assert len(excerpt({"k" * 1000: "v" * 1000})) < 4 * EXCERPT_CHARS
