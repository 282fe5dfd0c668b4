"""Workflow definitions (docs/workflow-format.md): parse YAML or JSON, validate strictly, normalize.

The normalized form is what gets stored as the `definition` object, built here as the
typed `Definition` of engine/model.py: the registered name set, every default filled (the
defaults are those of the typed parts), numbers that are not integers kept as decimal
strings (the object model has no floats). Its hash is the definition hash, so formatting,
key order and omitted defaults never change it, while the name does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import Any

from wfobj.engine.access.secrets import NAME_RE as SECRET_NAME_RE
from wfobj.engine.access.secrets import NAME_RULE as SECRET_NAME_RULE
from wfobj.engine.bounds import (
    MAX_CPUS,
    MAX_DEFINITION_BYTES,
    MAX_RENDERED_BYTES,
    MAX_RETRY_DELAY_S,
    MAX_RETRY_FACTOR,
    MAX_TIMEOUT_S,
    MIN_CPUS,
)
from wfobj.engine.definitions.fanout import FOR_EACH_FORMS, KEY_RE, check_fanout, declares_file
from wfobj.engine.errors import DefinitionError, DefinitionTooLarge, DocumentError, clip, excerpt
from wfobj.engine.model import (
    Definition,
    ForEach,
    ItemInput,
    ParamDefinition,
    ParamInput,
    TaskDefinition,
    TaskFileInput,
    TaskInput,
    TaskOutputs,
    TaskResources,
    TaskRetry,
)
from wfobj.engine.values import MEMORY_RE, PULL_POLICIES, parse_memory
from wfobj.objstore.codec import encode
from wfobj.objstore.ids import is_hash

from .conditions import check_condition, parse_condition
from .documents import load_json, load_yaml
from .graph import TaskGraph
from .templates import references, rendered_size


def keys_of(part: type) -> set[str]:
    """The keys a user may write for a part: the fields of its typed class."""
    return {f.name for f in fields(part)}


TOP_KEYS = keys_of(Definition)
TASK_KEYS = keys_of(TaskDefinition)
OUTPUT_KEYS = keys_of(TaskOutputs)
RESOURCE_KEYS = keys_of(TaskResources)
PARAM_KEYS = keys_of(ParamDefinition)
RETRY_KEYS = keys_of(TaskRetry)
PARAM_TYPES = ("string", "int", "float", "bool", "file", "dir", "list")
STORED_TYPES = {"file": "blob", "dir": "tree"}  # param types whose value names an object
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$")
# a task of a run: a task name, or an instance `TASK[KEY]` of a fanned-out task
TASK_NAME_RE = re.compile(NAME_RE.pattern[:-1] + r"(\[" + KEY_RE.pattern[1:-1] + r"\])?$")
# workflow names the API takes as literal path segments (api/factory.py: /api/workflows/
# by-hash/{hash}): a workflow so named could be registered but never reached by name
RESERVED_NAMES = frozenset({"by-hash"})
INPUT_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_RETRIES = 100
MAX_PARALLELISM = 100_000
SECRETS_DIR = "/run/secrets/"  # where a task's secret files are (a tmpfs, read-only)
SECRET_FILE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
MAX_TASK_SECRETS = 64


def parse_source(source: str | bytes | dict, content_type: str = "application/json") -> dict:
    """The raw mapping of a definition given as a dict, JSON text or YAML text (within
    the document limits of engine/definitions/documents.py: no YAML aliases, bounded nesting)."""
    if isinstance(source, dict):
        return source
    try:
        value = load_json(source) if "json" in content_type else load_yaml(source)
    except DocumentError as exc:
        raise DefinitionError("", str(exc)) from None
    if not isinstance(value, dict):
        raise DefinitionError("", "a definition must be a mapping")
    return value


def normalize(raw: dict, name: str) -> Definition:
    """Validate `raw` and return the normalized `definition` object for `name`."""
    check_name(name, "name")
    if not isinstance(raw, dict):
        raise DefinitionError("", "a definition must be a mapping")
    check_keys(raw, TOP_KEYS, "")
    if "name" in raw and raw["name"] != name:
        raise DefinitionError("name", f"{excerpt(raw['name'])} does not match the registered name {excerpt(name)}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise DefinitionError("description", "must be a string")
    params = normalize_params(raw.get("params", {}))
    tasks = normalize_tasks(raw.get("tasks"), params)
    TaskGraph.of(tasks).check_acyclic()
    policy = {"on_failure": normalize_on_failure(raw["on_failure"])} if "on_failure" in raw else {}
    if "source" in raw:
        policy["source"] = normalize_source(raw["source"])
    definition = Definition(name=name, description=description, params=params, tasks=tasks,
                            **policy)
    check_size(definition)
    return definition


SOURCE_LANGUAGES = {"cwl": "Common Workflow Language"}  # what a `source` may be written in
SOURCE_KEYS = {"language", "document", "version", "process"}
HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def normalize_source(raw: Any) -> dict:
    """`source`: the document a definition was made from (a CWL document that `wfobj cwl
    run` or registration turned into this definition): `language` (one of
    SOURCE_LANGUAGES), `document` (the hash of the document's bytes, a blob kept with the
    definition), and optionally the language's `version` and the `process` within the
    document (e.g. `#main`)."""
    spec = mapping(raw, "source")
    check_keys(spec, SOURCE_KEYS, "source")
    if spec.get("language") not in SOURCE_LANGUAGES:
        raise DefinitionError("source.language", f"must be one of {sorted(SOURCE_LANGUAGES)}")
    document = spec.get("document")
    if not isinstance(document, str) or not HASH_RE.fullmatch(document):
        raise DefinitionError("source.document", "must be the hash of the document's blob "
                                                 "(64 lowercase hex digits)")
    out = {"language": spec["language"], "document": document}
    for key in ("version", "process"):
        if key in spec:
            value = spec[key]
            if not isinstance(value, str) or not value or len(value) > 1000:
                raise DefinitionError(f"source.{key}", "must be a non-empty string of at "
                                                       "most 1000 characters")
            out[key] = value
    return out


def check_size(definition: Definition) -> None:
    """Refuse a normalized definition whose stored form is over MAX_DEFINITION_BYTES."""
    size = len(encode(definition.to_value())[0])
    if size > MAX_DEFINITION_BYTES:
        raise DefinitionTooLarge(size, MAX_DEFINITION_BYTES)


def check_name(value: Any, place: str, pattern: re.Pattern = NAME_RE) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise DefinitionError(place, f"{excerpt(value)} is not a valid name (letters, digits, _ and -)")
    return value


def check_workflow_name(name: Any) -> str:
    """A name a workflow can be registered under: valid, and not one of RESERVED_NAMES."""
    check_name(name, "name")
    if name in RESERVED_NAMES:
        raise DefinitionError("name", f"{excerpt(name)} is reserved: the API's "
                              f"/api/workflows/{name}/… routes take it, so a workflow so "
                              "named could not be triggered by name")
    return name


def check_keys(value: dict, allowed: set[str], place: str) -> None:
    for key in value:
        if key not in allowed:
            where = f"{place}.{key}" if place else str(key)
            raise DefinitionError(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def mapping(value: Any, place: str) -> dict:
    if not isinstance(value, dict):
        raise DefinitionError(place, f"must be a mapping, not {type_name(value)}")
    return value


def string_list(value: Any, place: str) -> list[str]:
    if not isinstance(value, list):
        raise DefinitionError(place, f"must be a list, not {type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise DefinitionError(f"{place}[{i}]", f"must be a string, not {type_name(item)}")
    return list(value)


def type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value), "a value")


# ---- params ---------------------------------------------------------------------------
def normalize_params(raw: Any) -> dict[str, ParamDefinition]:
    params = {}
    for pname, spec in mapping(raw, "params").items():
        place = f"params.{pname}"
        check_name(pname, place)
        spec = mapping(spec, place)
        check_keys(spec, PARAM_KEYS, place)
        ptype = spec.get("type")
        if ptype not in PARAM_TYPES:
            raise DefinitionError(f"{place}.type", f"{excerpt(ptype)} is not one of {', '.join(PARAM_TYPES)}")
        out: dict[str, Any] = {}
        if "enum" in spec:
            enum = spec["enum"]
            if not isinstance(enum, list) or not enum:
                raise DefinitionError(f"{place}.enum", "must be a non-empty list")
            out["enum"] = [coerce_value(ptype, v, f"{place}.enum[{i}]") for i, v in enumerate(enum)]
        if "default" in spec:
            out["default"] = coerce_value(ptype, spec["default"], f"{place}.default")
            if "enum" in out and out["default"] not in out["enum"]:
                raise DefinitionError(f"{place}.default", f"{excerpt(spec['default'])} is not in enum")
        if "optional" in spec:
            out.update(optional_flag(spec, place))
        params[pname] = ParamDefinition(type=ptype, **out)
    return params


def optional_flag(spec: dict, place: str) -> dict:
    """`optional: true` (stored only when true): the param may be left out at trigger."""
    if not isinstance(spec["optional"], bool):
        raise DefinitionError(f"{place}.optional", f"{excerpt(spec['optional'])} is not true "
                              "or false")
    if spec["optional"] and "default" in spec:
        raise DefinitionError(f"{place}.optional", "a param with a default needs no "
                              "optional: it is left out at trigger already")
    return {"optional": True} if spec["optional"] else {}


def check_optional_unreferenced(tname: str, task: TaskDefinition,
                                params: dict[str, ParamDefinition]) -> None:
    """An optional param has no value to substitute, mount, fan out over or test: a
    native reference to it ({{params.P}}, an input {param: P}, for_each {param: P}, a
    `when`) is refused naming the place. CWL tasks read it themselves (null when absent)."""
    optional = {n for n, p in params.items() if p.optional}
    if not optional:
        return
    place = f"tasks.{tname}"
    why = "is optional (it may have no value): only a CWL task reads it"
    for where, parts in references(task):
        if parts[0] == "params" and len(parts) == 2 and parts[1] in optional:
            raise DefinitionError(f"{place}.{where}", f"{{{{params.{parts[1]}}}}}: param "
                                  f"{parts[1]} {why}")
    for iname, spec in task.inputs.items():
        if isinstance(spec, ParamInput) and spec.param in optional:
            raise DefinitionError(f"{place}.inputs.{iname}", f"param {spec.param} {why}")
    if task.for_each is not None and getattr(task.for_each, "param", None) in optional:
        raise DefinitionError(f"{place}.for_each", f"param {task.for_each.param} {why}")
    if task.when is not None:
        for ref in parse_condition(task.when).refs():
            if ref.parts[0] == "params" and ref.parts[1] in optional:
                raise DefinitionError(f"{place}.when", f"{ref.text}: param {ref.parts[1]} "
                                      f"{why}")


def coerce_value(ptype: str, value: Any, place: str) -> Any:
    """A parameter value in stored form (floats as decimal strings); raises if mistyped."""
    problem = value_problem(ptype, value)
    if problem:
        raise DefinitionError(place, problem)
    return stored_value(ptype, value)


def value_problem(ptype: str, value: Any) -> str | None:
    """Why `value` is not a valid `ptype` value, or None."""
    ok = {
        "string": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool)
        and value == value and value not in (float("inf"), float("-inf")),
        "bool": isinstance(value, bool),
        "file": isinstance(value, str) and is_hash(value),
        "dir": isinstance(value, str) and is_hash(value),
        "list": isinstance(value, list) and all(is_item(v) for v in value),
    }[ptype]
    if ok:
        return None
    if ptype in STORED_TYPES:
        return f"{excerpt(value)} is not a {ptype} hash (64 lower-case hex characters)"
    if ptype == "list":
        return (f"{excerpt(value)} is not a list of strings, numbers and booleans "
                "(a JSON array, no nested lists or mappings, no null)")
    return f"{excerpt(value)} is not of type {ptype}"


def is_item(value: Any) -> bool:
    """A value a `list` param may hold: a string, a boolean or a finite number."""
    return isinstance(value, str | bool) or is_number(value)


def stored_value(ptype: str, value: Any) -> Any:
    if ptype == "float":
        return decimal_text(value)
    if ptype == "list":  # the object model has no floats: non-integers as decimal text
        return [decimal_text(v) if isinstance(v, float) else v for v in value]
    return value


def decimal_text(value: int | float) -> str:
    """A number as a canonical decimal string: 1.5 → '1.5', 2 → '2'."""
    try:
        text = format(Decimal(repr(value) if isinstance(value, float) else str(value)).normalize(), "f")
    except InvalidOperation:
        raise ValueError(f"not a number: {excerpt(value)}") from None
    return text


def render_value(ptype: str, value: Any) -> Any:
    """A stored parameter value as JSON shows it (decimal strings back to numbers)."""
    if ptype == "float" and isinstance(value, str):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    return value


# ---- tasks ----------------------------------------------------------------------------
def normalize_tasks(raw: Any, params: dict[str, ParamDefinition]) -> dict[str, TaskDefinition]:
    if raw is None:
        raise DefinitionError("tasks", "missing: a workflow needs at least one task")
    raw = mapping(raw, "tasks")
    if not raw:
        raise DefinitionError("tasks", "empty: a workflow needs at least one task")
    for tname in raw:
        check_name(tname, f"tasks.{tname}")
    tasks = {tname: normalize_task(tname, spec) for tname, spec in raw.items()}
    for tname, task in tasks.items():
        check_references(tname, task, tasks, params)
        check_cwl_reads(tname, task, tasks)
        check_literal_size(tname, task)
        if task.when is not None:
            check_condition(tname, task.when, tasks, params)
        check_optional_unreferenced(tname, task, params)
        check_fanout(tname, task, tasks, params)
        if task.retry is not None:
            check_retry(tname, task)
    return tasks


def normalize_task(tname: str, spec: Any) -> TaskDefinition:
    """The task from the keys written; TaskDefinition's defaults fill the others (`cache`
    and `pull` stay unset when not written, so older definitions keep their hashes)."""
    place = f"tasks.{tname}"
    spec = mapping(spec, place)
    if "workflow" in spec:  # a sub-workflow task: its own keys
        return normalize_subworkflow_task(tname, spec)
    check_keys(spec, TASK_KEYS - {"workflow", "params"}, place)
    image = spec.get("image")
    if not isinstance(image, str) or not image.strip():
        raise DefinitionError(f"{place}.image", "required: a non-empty image reference")
    command = string_list(spec.get("command"), f"{place}.command") if "command" in spec else None
    if not command:
        raise DefinitionError(f"{place}.command", "required: a non-empty list of strings")
    given = {key: check(spec[key], f"{place}.{key}")
             for key, check in TASK_FIELDS.items() if key in spec}
    for key in sorted(set(given.get("env", {})) & set(given.get("secrets") or {})):
        raise DefinitionError(f"{place}.secrets.{key}", "is set in env as well: a variable "
                              "comes from one or the other")
    return TaskDefinition(image=image, command=command, **given)


ON_FAILURE = ("stop", "continue")


def normalize_on_failure(raw: Any) -> str:
    """The top-level failure policy: `stop` (fail fast) or `continue` (keep going)."""
    if raw not in ON_FAILURE:
        raise DefinitionError("on_failure", f"{excerpt(raw)} is not one of {', '.join(ON_FAILURE)}")
    return raw


def normalize_when(raw: Any, place: str) -> str:
    """A condition's text, kept as written (checked against the other tasks later)."""
    if not isinstance(raw, str) or not raw.strip():
        raise DefinitionError(place, "must be a non-empty expression (a string)")
    return raw


DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
DURATION_UNITS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}


def normalize_retry(raw: Any, place: str) -> TaskRetry:
    """`retry: {delay, backoff, max_delay, memory_factor, max_memory, cpus_factor}`,
    numbers as decimal text, durations (`5s`, `10m`, or seconds) as seconds."""
    raw = mapping(raw, place)
    check_keys(raw, RETRY_KEYS, place)
    out = {key: duration_text(raw[key], f"{place}.{key}") for key in ("delay", "max_delay")
           if key in raw}
    for key in ("backoff", "memory_factor", "cpus_factor"):
        if key in raw:
            value = raw[key]
            if not is_number(value) or not 1 <= value <= MAX_RETRY_FACTOR:
                raise DefinitionError(f"{place}.{key}", f"{excerpt(value)} is not a number from 1 "
                                      f"to {MAX_RETRY_FACTOR}")
            out[key] = decimal_text(value)
    if "max_memory" in raw:
        out["max_memory"] = memory_text(raw["max_memory"], f"{place}.max_memory")
    return TaskRetry(**out)


def duration_text(raw: Any, place: str) -> str:
    """Seconds as decimal text, from a number of seconds or `500ms`, `5s`, `10m`, `1h`."""
    match = DURATION_RE.match(raw) if isinstance(raw, str) else None
    if match:
        seconds = Decimal(match.group(1)) * DURATION_UNITS[match.group(2)]
    elif is_number(raw):
        seconds = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    else:
        raise DefinitionError(place, f"{excerpt(raw)} is not a duration (seconds, or like 5s, 10m, 1h)")
    if not 0 <= seconds <= MAX_RETRY_DELAY_S:
        raise DefinitionError(place, f"{excerpt(raw)} is not from 0 to {MAX_RETRY_DELAY_S} seconds")
    return format(seconds.normalize(), "f")


def check_retry(tname: str, task: TaskDefinition) -> None:
    """A `retry` policy needs retries to apply to, and a resource to grow."""
    place = f"tasks.{tname}.retry"
    if task.retries == 0:
        raise DefinitionError(place, "applies between attempts: set retries to 1 or more")
    retry = task.retry
    if retry.memory_factor is not None and task.resources.memory is None:
        raise DefinitionError(f"{place}.memory_factor", "grows resources.memory: set it")
    if retry.max_memory is not None and retry.memory_factor is None:
        raise DefinitionError(f"{place}.max_memory", "caps memory_factor's growth: set it")
    if retry.cpus_factor is not None and task.resources.cpus is None:
        raise DefinitionError(f"{place}.cpus_factor", "grows resources.cpus: set it")


# ---- sub-workflow tasks (resolved at registration: engine/definitions/subworkflows.py) --
SUB_KEYS = {"workflow", "params", "outputs", "after", "when", "for_each", "parallelism"}
ITEM_PARAM = {"item": True}  # a fanned-out sub-workflow task's param: its instance's item


def normalize_subworkflow_task(tname: str, spec: dict) -> TaskDefinition:
    place = f"tasks.{tname}"
    check_keys(spec, SUB_KEYS, place)
    target = mapping(spec["workflow"], f"{place}.workflow")
    if set(target) == {"name"} and isinstance(target["name"], str) and NAME_RE.match(target["name"]):
        workflow = {"name": target["name"]}
    elif set(target) == {"hash"} and isinstance(target["hash"], str) and is_hash(target["hash"]):
        workflow = {"hash": target["hash"]}
    else:
        raise DefinitionError(f"{place}.workflow", "must be {name: WORKFLOW} or {hash: "
                              "DEFINITION_HASH} (64 lower-case hex characters)")
    params = {}
    for key, value in mapping(spec.get("params", {}), f"{place}.params").items():
        if value == ITEM_PARAM:  # the instance's item (a file or folder) by its hash
            params[key] = dict(ITEM_PARAM)
            continue
        if isinstance(value, dict):  # an upstream task's output as a file or dir param
            if set(value) != {"task", "file"} or not all(isinstance(v, str) for v in value.values()):
                raise DefinitionError(f"{place}.params.{key}", "a mapping must be {task: NAME, "
                                      "file: PATH}: an upstream task's output, or {item: "
                                      "true}: a fanned-out task's item")
            params[key] = {"task": value["task"],
                           "file": check_output_path(value["file"], f"{place}.params.{key}.file")}
            continue
        if not isinstance(value, str | int | float | bool | list) or any(
                isinstance(v, float) for v in (value if isinstance(value, list) else [])):
            raise DefinitionError(f"{place}.params.{key}", f"{excerpt(value)} is not a parameter value")
        # the object model has no floats: a float travels as its decimal text
        params[key] = decimal_text(value) if isinstance(value, float) else value
    given = {"after": normalize_after(spec["after"], f"{place}.after")} if "after" in spec else {}
    if "when" in spec:
        given["when"] = normalize_when(spec["when"], f"{place}.when")
    if "for_each" in spec:  # one child run per item (engine/definitions/fanout.py)
        given["for_each"] = normalize_for_each(spec["for_each"], f"{place}.for_each")
    if "parallelism" in spec:
        given["parallelism"] = normalize_parallelism(spec["parallelism"], f"{place}.parallelism")
    return TaskDefinition(workflow=workflow, params=params,
                          outputs=child_outputs(spec.get("outputs", {}), f"{place}.outputs"), **given)


def child_outputs(raw: Any, place: str) -> TaskOutputs:
    """`files: [TASK/PATH…]`, `vars: [TASK.VAR…]`: what the parent passes on of the child's."""
    raw = mapping(raw, place)
    check_keys(raw, {"files", "vars"}, place)
    files = string_list(raw.get("files", []), f"{place}.files")
    for i, path in enumerate(files):
        files[i] = check_output_path(path, f"{place}.files[{i}]")
        if "/" not in files[i]:
            raise DefinitionError(f"{place}.files[{i}]", f"{excerpt(path)} is not TASK/PATH "
                                  "(a child task's output)")
    names = string_list(raw.get("vars", []), f"{place}.vars")
    for i, var in enumerate(names):
        task, _, name = var.partition(".")
        if not NAME_RE.match(task) or not VAR_RE.match(name):
            raise DefinitionError(f"{place}.vars[{i}]", f"{excerpt(var)} is not TASK.VAR (a child "
                                  "task's var)")
    for what, items in (("files", files), ("vars", names)):
        if len(set(items)) != len(items):
            raise DefinitionError(f"{place}.{what}", f"lists a {what[:-1]} twice")
    return TaskOutputs(files=files, vars=names)


def normalize_pull(raw: Any, place: str) -> str:
    if raw not in PULL_POLICIES:
        raise DefinitionError(place, f"{excerpt(raw)} is not one of {', '.join(PULL_POLICIES)}")
    return raw


def normalize_inputs(raw: Any, place: str) -> dict[str, TaskInput]:
    inputs: dict[str, TaskInput] = {}
    for iname, spec in mapping(raw, place).items():
        where = f"{place}.{iname}"
        check_name(iname, where, INPUT_NAME_RE)
        spec = mapping(spec, where)
        if set(spec) == {"param"} and isinstance(spec["param"], str):
            inputs[iname] = ParamInput(param=spec["param"])
        elif set(spec) == {"task", "file"} and all(isinstance(v, str) for v in spec.values()):
            inputs[iname] = TaskFileInput(task=spec["task"],
                                          file=check_output_path(spec["file"], f"{where}.file"))
        elif spec == {"item": True}:
            inputs[iname] = ItemInput()
        else:
            raise DefinitionError(where, "must be {param: NAME}, {task: NAME, file: PATH} "
                                  "or {item: true}")
    return inputs


def normalize_outputs(raw: Any, place: str) -> TaskOutputs:
    raw = mapping(raw, place)
    check_keys(raw, OUTPUT_KEYS, place)
    files = string_list(raw.get("files", []), f"{place}.files")
    for i, path in enumerate(files):
        files[i] = check_output_path(path, f"{place}.files[{i}]")
    if len(set(files)) != len(files):
        raise DefinitionError(f"{place}.files", "lists a path twice")
    names = string_list(raw.get("vars", []), f"{place}.vars")
    for i, var in enumerate(names):
        check_name(var, f"{place}.vars[{i}]", VAR_RE)
    if len(set(names)) != len(names):
        raise DefinitionError(f"{place}.vars", "lists a var twice")
    return TaskOutputs(files=files, vars=names)


def check_output_path(path: str, place: str) -> str:
    """Relative, no `..`, not absolute, no empty or `.` parts; a trailing / is dropped."""
    if path.startswith("/"):
        raise DefinitionError(place, f"{excerpt(path)} is absolute; output paths are relative to /out")
    trimmed = path[:-1] if path.endswith("/") else path
    parts = trimmed.split("/")
    for part in parts:
        if part == "..":
            where = "" if path == ".." else f" (in {excerpt(path)})"
            raise DefinitionError(place, f"'..' is not allowed{where}")
        if part in ("", "."):
            raise DefinitionError(place, f"{excerpt(path)} is not a clean relative path")
        if "\x00" in part or "\\" in part:
            raise DefinitionError(place, f"{excerpt(path)} contains a forbidden character")
    return trimmed


def normalize_env(raw: Any, place: str) -> dict:
    env = {}
    for key, value in mapping(raw, place).items():
        if not isinstance(key, str) or not VAR_RE.match(key):
            raise DefinitionError(f"{place}.{key}", "is not a valid environment variable name")
        if key == "WFOBJ_VARS":
            raise DefinitionError(f"{place}.{key}", "is reserved by the engine")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise DefinitionError(f"{place}.{key}", f"must be a string, not {type_name(value)}")
        env[key] = value if isinstance(value, str) else decimal_text(value)
    return env


def normalize_secrets(raw: Any, place: str) -> dict[str, dict]:
    """{PLACE: {secret: NAME}}: PLACE an environment variable, or a file under
    /run/secrets/ (docs/secrets.md). The values are never in the definition."""
    raw = mapping(raw, place)
    if len(raw) > MAX_TASK_SECRETS:
        raise DefinitionError(place, f"{len(raw)} entries, over the limit of {MAX_TASK_SECRETS}")
    out = {}
    for key, spec in raw.items():
        where = f"{place}.{key}"
        check_secret_place(key, where)
        spec = mapping(spec, where)
        name = spec.get("secret")
        if set(spec) != {"secret"} or not isinstance(name, str):
            raise DefinitionError(where, "must be {secret: NAME}")
        if not SECRET_NAME_RE.fullmatch(name):
            raise DefinitionError(f"{where}.secret", f"{excerpt(name)} is not a secret name "
                                  f"({SECRET_NAME_RULE})")
        out[key] = {"secret": name}
    return out or None  # none written: stored as if the key were absent


def check_secret_place(key: Any, place: str) -> None:
    """An environment variable name, or /run/secrets/FILE."""
    if isinstance(key, str) and key.startswith(SECRETS_DIR):
        if not SECRET_FILE_RE.match(key[len(SECRETS_DIR):]) or key.endswith(("/.", "/..")):
            raise DefinitionError(place, f"a secret file is {SECRETS_DIR}FILE, FILE one name "
                                  "of letters, digits, '_', '.', '-'")
        return
    if not isinstance(key, str) or not VAR_RE.match(key):
        raise DefinitionError(place, "is neither an environment variable name nor a file "
                              f"{SECRETS_DIR}FILE")
    if key == "WFOBJ_VARS":
        raise DefinitionError(place, "is reserved by the engine")


def normalize_timeout(raw: Any, place: str) -> Any:
    if raw is None:
        return None
    if not is_number(raw) or not 0 < raw <= MAX_TIMEOUT_S:
        raise DefinitionError(place, f"{excerpt(raw)} is not a positive number of seconds "
                              f"(at most {MAX_TIMEOUT_S})")
    return raw if isinstance(raw, int) else decimal_text(raw)


def is_number(value: Any) -> bool:
    """An int or a finite float (never a bool, NaN or infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def normalize_retries(raw: Any, place: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_RETRIES:
        raise DefinitionError(place, f"{excerpt(raw)} is not an integer from 0 to {MAX_RETRIES}")
    return raw


def normalize_after(raw: Any, place: str) -> list[str]:
    after = string_list(raw, place)
    return sorted(set(after))


def normalize_workdir(raw: Any, place: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise DefinitionError(place, f"{excerpt(raw)} is not an absolute path")
    return raw


def normalize_for_each(raw: Any, place: str) -> ForEach:
    """One of the forms of FOR_EACH_FORMS, each value a name (a directory path for `file`)."""
    raw = mapping(raw, place)
    if set(raw) not in FOR_EACH_FORMS or not all(isinstance(v, str) for v in raw.values()):
        raise DefinitionError(place, "must be {param: NAME}, {task: NAME, file: DIR} or "
                              "{task: NAME, var: VAR}")
    for key in ("param", "task", "var"):
        if key in raw:
            check_name(raw[key], f"{place}.{key}", VAR_RE if key == "var" else NAME_RE)
    if "file" in raw:
        raw = {**raw, "file": check_output_path(raw["file"], f"{place}.file")}
    return ForEach(**raw)


def normalize_parallelism(raw: Any, place: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_PARALLELISM:
        raise DefinitionError(place, f"{excerpt(raw)} is not an integer from 1 to {MAX_PARALLELISM}")
    return raw


def normalize_bool(raw: Any, place: str) -> bool:
    if not isinstance(raw, bool):
        raise DefinitionError(place, f"{excerpt(raw)} is not true or false")
    return raw


def normalize_resources(raw: Any, place: str) -> TaskResources:
    raw = mapping(raw, place)
    check_keys(raw, RESOURCE_KEYS, place)
    out = {}
    if "cpus" in raw:
        cpus = raw["cpus"]
        if not is_number(cpus) or not MIN_CPUS <= cpus <= MAX_CPUS:
            raise DefinitionError(f"{place}.cpus", f"{excerpt(cpus)} is not a positive number "
                                  f"from {MIN_CPUS} to {MAX_CPUS}")
        out["cpus"] = decimal_text(cpus)
    if "memory" in raw:
        out["memory"] = memory_text(raw["memory"], f"{place}.memory")
    if "pids" in raw:
        pids = raw["pids"]
        if isinstance(pids, bool) or not isinstance(pids, int) or pids < 1:
            raise DefinitionError(f"{place}.pids", f"{pids!r} is not a positive integer")
        out["pids"] = pids
    return TaskResources(**out)


def memory_text(raw: Any, place: str) -> str:
    """A size like `512m` (or a positive number of bytes), lower-case."""
    memory = raw
    if isinstance(memory, int) and not isinstance(memory, bool) and memory > 0:
        memory = str(memory)
    if not isinstance(memory, str) or not MEMORY_RE.match(memory) or not parse_memory(memory):
        raise DefinitionError(place, f"{excerpt(raw)} is not a size like 512m")
    return memory.lower()


# ---- references ---------------------------------------------------------------------


def check_literal_size(tname: str, task: TaskDefinition) -> None:
    """Refuse a task whose command and env pass MAX_RENDERED_BYTES even with every
    reference empty: no trigger could run it."""
    size = rendered_size(task, lambda parts: None)
    if size > MAX_RENDERED_BYTES:
        raise DefinitionError(f"tasks.{tname}", f"command and env are {size} bytes without "
                              f"their references, over the limit of {MAX_RENDERED_BYTES} bytes")


def check_references(tname: str, task: TaskDefinition, tasks: dict[str, TaskDefinition],
                     params: dict[str, ParamDefinition]) -> None:
    place = f"tasks.{tname}"
    for where, parts in references(task):
        text = ".".join(parts)
        if parts in (["item"], ["item", "key"]):
            if task.for_each is None:
                raise DefinitionError(f"{place}.{where}", f"{{{{{text}}}}} is only known in a "
                                      "task with for_each")
        elif parts[0] == "params" and len(parts) == 2:
            if parts[1] not in params:
                raise DefinitionError(f"{place}.{where}", f"{{{{{clip(text)}}}}} names an unknown param")
        elif parts[0] == "tasks" and len(parts) in (4, 5) and parts[2] == "vars":
            other, var = tasks.get(parts[1]), ".".join(parts[3:])  # CHILD.VAR of a sub-workflow
            if other is None:
                raise DefinitionError(f"{place}.{where}", f"{{{{{clip(text)}}}}} names an unknown task")
            if var not in other.outputs.vars:
                raise DefinitionError(f"{place}.{where}",
                                      f"{{{{{clip(text)}}}}}: task {excerpt(parts[1])} declares no var {excerpt(var)}")
        elif parts != ["run", "id"]:
            raise DefinitionError(f"{place}.{where}", f"{{{{{clip(text)}}}}} is not a known reference "
                                  "(params.NAME, tasks.TASK.vars.VAR, run.id, item or item.key)")
    for iname, spec in task.inputs.items():
        where = f"{place}.inputs.{iname}"
        if isinstance(spec, ItemInput):
            continue  # checked with the task's for_each (engine/definitions/fanout.py)
        if isinstance(spec, ParamInput):
            param = params.get(spec.param)
            if param is None:
                raise DefinitionError(where, f"names an unknown param {excerpt(spec.param)}")
            if param.type not in STORED_TYPES:
                raise DefinitionError(where, f"param {excerpt(spec.param)} is not of type file or dir")
        else:
            other = tasks.get(spec.task)
            if other is None:
                raise DefinitionError(where, f"names an unknown task {excerpt(spec.task)}")
            if not declares_file(other.outputs.files, spec.file):
                raise DefinitionError(where, f"task {excerpt(spec.task)} declares no output {excerpt(spec.file)}")
    for i, dep in enumerate(task.after):
        if dep not in tasks:
            raise DefinitionError(f"{place}.after[{i}]", f"names an unknown task {excerpt(dep)}")


CWL_KEYS = {"document", "process", "step", "reads"}


def normalize_cwl(raw: Any, place: str) -> dict:
    """A CWL task's `cwl` key (docs/workflow-format.md "CWL tasks"): the packed document's
    hash, the step it runs, the tasks whose CWL outputs it reads (checked to be CWL tasks
    with the other references)."""
    spec = mapping(raw, place)
    check_keys(spec, CWL_KEYS, place)
    document = spec.get("document")
    if not isinstance(document, str) or not is_hash(document):
        raise DefinitionError(f"{place}.document", "required: the hash of the packed CWL "
                              "document (64 lower-case hex characters)")
    out: dict[str, Any] = {"document": document}
    if "step" in spec:
        if not isinstance(spec["step"], str) or not spec["step"]:
            raise DefinitionError(f"{place}.step", "must be a step id (a non-empty string)")
        out["step"] = spec["step"]
    if "process" in spec:  # the subworkflow step whose workflow holds `step`
        if not isinstance(spec["process"], str) or not spec["process"]:
            raise DefinitionError(f"{place}.process", "must be a step id (a non-empty string)")
        out["process"] = spec["process"]
    out["reads"] = string_list(spec.get("reads", []), f"{place}.reads")
    return out


def check_cwl_reads(tname: str, task: TaskDefinition, tasks: dict[str, TaskDefinition]) -> None:
    for i, dep in enumerate((task.cwl or {}).get("reads", [])):
        other = tasks.get(dep)
        if other is None or (other.cwl is None and other.workflow is None):
            raise DefinitionError(f"tasks.{tname}.cwl.reads[{i}]", f"{excerpt(dep)} is not a "
                                  "CWL task or a sub-workflow task of this workflow")


# how each optional task key is checked and normalized (image and command, required, apart)
TASK_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "inputs": normalize_inputs, "outputs": normalize_outputs, "env": normalize_env,
    "timeout": normalize_timeout, "retries": normalize_retries, "after": normalize_after,
    "workdir": normalize_workdir, "network": normalize_bool,
    "resources": normalize_resources, "cache": normalize_bool, "pull": normalize_pull,
    "when": normalize_when, "retry": normalize_retry,
    "for_each": normalize_for_each, "parallelism": normalize_parallelism,
    "secrets": normalize_secrets,
    "cwl": lambda raw, place: normalize_cwl(raw, place),
}
