"""Trigger parameters checked against a definition's `params` (docs/workflow-format.md)."""

from __future__ import annotations

import json
import re
from typing import Any

from wfobj.engine.errors import ParameterError, clip, excerpt
from wfobj.engine.model import ParamDefinition
from wfobj.objstore import AmbiguousPrefix, ObjectNotFound, ObjectStore
from wfobj.objstore.ids import HASH_HEX_LEN, MIN_PREFIX_LEN, is_hash

from .format import STORED_TYPES, render_value, stored_value, value_problem

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
            if spec.default is None and spec.optional:
                continue  # no value: CWL's null
            if spec.default is None:
                raise ParameterError(name, f"missing required value of type {spec.type}")
            if spec.type in STORED_TYPES:
                check_stored(name, spec.type, spec.default, store, "default ")
            values[name] = spec.default
            continue
        values[name] = check_value(name, spec, given[name], store)
    return values


MAX_FILE_NAME = 255  # bytes of UTF-8, as a file system's name


def split_file_names(params: dict[str, ParamDefinition], given: dict | None
                     ) -> tuple[dict | None, dict[str, str]]:
    """(the values, {param: name}) of trigger parameters in which a `file` or `dir` param
    may be given with a name, `{"hash": H, "name": N}` (docs/workflow-format.md "Named
    files"): the value is H (checked like any), N the name the file goes by. A name is one
    path component: 1-255 bytes of UTF-8, no `/` or NUL, not `.` or `..`."""
    if not isinstance(given, dict):
        return given, {}
    values, names = dict(given), {}
    for name, value in given.items():
        spec = params.get(name)
        if spec is None or spec.type not in STORED_TYPES or not isinstance(value, dict):
            continue
        if set(value) != {"hash", "name"}:
            raise ParameterError(name, f"{excerpt(value)}: a named {spec.type} is "
                                 "{hash: HASH, name: NAME}")
        problem = file_name_problem(value["name"])
        if problem:
            raise ParameterError(f"{name}.name", problem)
        values[name], names[name] = value["hash"], value["name"]
    return values, names


def file_name_problem(name: Any) -> str | None:
    """Why `name` cannot name a file (one path component), or None."""
    if not isinstance(name, str) or not name:
        return f"{excerpt(name)} is not a file name (a non-empty string)"
    if "/" in name or "\0" in name or name in (".", ".."):
        return f"{excerpt(name)} is not a file name (one path component: no / or NUL, not . or ..)"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME:
        return f"a file name is at most {MAX_FILE_NAME} bytes"
    return None


def check_value(name: str, spec: ParamDefinition, value: Any, store: ObjectStore) -> Any:
    if spec.type in STORED_TYPES:
        value = resolve_prefix(name, spec.type, value, store)
    problem = value_problem(spec.type, value)
    if problem:
        raise ParameterError(name, problem)
    stored = stored_value(spec.type, value)
    if spec.enum is not None and stored not in spec.enum:
        allowed = ", ".join(json.dumps(render_value(spec.type, v)) for v in spec.enum)
        raise ParameterError(name, f"{excerpt(value)} is not one of {clip(allowed, 300)}")
    if spec.type in STORED_TYPES:
        check_stored(name, spec.type, value, store)
    return stored


def check_stored(name: str, ptype: str, oid: str, store: ObjectStore, what: str = "") -> None:
    """A `file` value must name a blob of the store, a `dir` value a tree (ParameterError)."""
    if oid not in store:
        upload = "" if what else " (upload it first)"
        raise ParameterError(name, f"{what}{ptype} {oid} is not in the store{upload}")
    kind = store.type_of(oid)
    if kind != STORED_TYPES[ptype]:
        raise ParameterError(name, f"{what}{oid} names a {kind} object, not a {ptype}")


def resolve_prefix(name: str, ptype: str, value: Any, store: ObjectStore) -> Any:
    """A `file` or `dir` value given as a unique prefix of a blob's or tree's hash (at
    least MIN_PREFIX_LEN lower-case hex characters) is that object's full hash; anything
    else is left as given."""
    if not isinstance(value, str) or is_hash(value) or not FILE_PREFIX_RE.match(value):
        return value
    try:
        oid = store.resolve(value)
    except ObjectNotFound:
        why = f"no {ptype} in the store has a hash starting with {value}"
        raise ParameterError(name, why) from None
    except AmbiguousPrefix as exc:
        shown = ", ".join(exc.candidates[:4]) + (", …" if len(exc.candidates) > 4 else "")
        raise ParameterError(name, f"hash prefix {value} is ambiguous: {shown}") from None
    kind = store.type_of(oid)
    if kind != STORED_TYPES[ptype]:
        raise ParameterError(name, f"{value} names a {kind} object, not a {ptype}")
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
    if ptype == "list":  # a JSON array; anything else is kept as text for the engine to refuse
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, list) else text
    return text
