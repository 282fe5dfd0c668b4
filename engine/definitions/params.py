"""Trigger parameters checked against a definition's `params` (docs/workflow-format.md)."""

from __future__ import annotations

import json
import re
from typing import Any

from wfobj.engine.errors import ParameterError, clip, excerpt
from wfobj.engine.model import ParamDefinition
from wfobj.objstore import AmbiguousPrefix, ObjectNotFound, ObjectStore
from wfobj.objstore.ids import HASH_HEX_LEN, MIN_PREFIX_LEN, is_hash

from .format import render_value, stored_value, value_problem

FILE_PREFIX_RE = re.compile(rf"[0-9a-f]{{{MIN_PREFIX_LEN},{HASH_HEX_LEN - 1}}}\Z")


def check_parameters(params: dict[str, ParamDefinition], given: dict | None,
                     store: ObjectStore) -> dict:
    """The values a run uses (defaults filled, stored form); raises ParameterError."""
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise ParameterError("parameters", "must be a mapping of name to value")
    for name in given:
        if name not in params:
            known = ", ".join(sorted(params)) or "none"
            raise ParameterError(name, f"unknown parameter (declared: {clip(known, 300)})")
    values = {}
    for name, spec in params.items():
        if name not in given:
            if spec.default is None:
                raise ParameterError(name, f"missing required value of type {spec.type}")
            if spec.type == "file" and spec.default not in store:
                raise ParameterError(name, f"default file {spec.default} is not in the store")
            values[name] = spec.default
            continue
        values[name] = check_value(name, spec, given[name], store)
    return values


def check_value(name: str, spec: ParamDefinition, value: Any, store: ObjectStore) -> Any:
    if spec.type == "file":
        value = resolve_file(name, value, store)
    problem = value_problem(spec.type, value)
    if problem:
        raise ParameterError(name, problem)
    stored = stored_value(spec.type, value)
    if spec.enum is not None and stored not in spec.enum:
        allowed = ", ".join(json.dumps(render_value(spec.type, v)) for v in spec.enum)
        raise ParameterError(name, f"{excerpt(value)} is not one of {clip(allowed, 300)}")
    if spec.type == "file" and value not in store:
        raise ParameterError(name, f"file {value} is not in the store (upload it first)")
    return stored


def resolve_file(name: str, value: Any, store: ObjectStore) -> Any:
    """A `file` value given as a unique prefix of a blob's hash (at least MIN_PREFIX_LEN
    lower-case hex characters) is that blob's full hash; anything else is left as given."""
    if not isinstance(value, str) or is_hash(value) or not FILE_PREFIX_RE.match(value):
        return value
    try:
        oid = store.resolve(value)
    except ObjectNotFound:
        why = f"no file in the store has a hash starting with {value}"
        raise ParameterError(name, why) from None
    except AmbiguousPrefix as exc:
        shown = ", ".join(exc.candidates[:4]) + (", …" if len(exc.candidates) > 4 else "")
        raise ParameterError(name, f"hash prefix {value} is ambiguous: {shown}") from None
    kind = store.type_of(oid)
    if kind != "blob":
        raise ParameterError(name, f"{value} names a {kind} object, not a file")
    return oid


def render_parameters(params: dict[str, ParamDefinition], values: dict) -> dict:
    """Stored values as JSON shows them (float decimals back to numbers)."""
    return {k: render_value(param_type(params, k), v) for k, v in values.items()}


def parse_text_values(params: dict[str, ParamDefinition], pairs: dict[str, str]) -> dict:
    """Command-line `k=v` strings typed by the declared param types (unknown names kept as
    text so the engine reports them)."""
    return {name: parse_text(param_type(params, name), text) for name, text in pairs.items()}


def param_type(params: dict[str, ParamDefinition], name: str) -> str:
    """The declared type of `name`; `string` for a name not declared."""
    spec = params.get(name)
    return "string" if spec is None else spec.type


def parse_text(ptype: str, text: str) -> Any:
    if ptype == "int":
        try:
            return int(text)
        except ValueError:
            return text
    if ptype == "float":
        try:
            return float(text)
        except ValueError:
            return text
    if ptype == "bool":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text
