"""The OpenAPI 3.1 description of every route, served at GET /api/openapi.json.

tests/api/test_openapi.py walks the app's router and checks each route and method is here.
"""

from __future__ import annotations

from typing import Any

from wfobj.engine import (
    FOLLOW_WAIT_S,
    NAME_RE,
    SECRET_NAME_PATTERN,
    TASK_NAME_RE,
    RunStatus,
    TaskStatus,
)

S = dict[str, Any]


def _obj(*required: str, **props: S) -> S:
    return {"type": "object", "required": list(required), "properties": props}


def _arr(items: S) -> S:
    return {"type": "array", "items": items}


STR: S = {"type": "string"}
NSTR: S = {"type": ["string", "null"]}
HASH: S = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
NHASH: S = {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"}
# what api/params.py accepts (no '..' anywhere), written without look-ahead
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\.?$"
NAME: S = {"type": "string", "pattern": NAME_PATTERN, "maxLength": 128}
DEFINITION_NAME: S = {"type": "string", "pattern": NAME_RE.pattern}  # what PUT registers
RUN_ID: S = {"type": "string", "format": "uuid",
             "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
TIME: S = {"type": "string", "format": "date-time"}
SECRET_NAME: S = {"type": "string", "pattern": SECRET_NAME_PATTERN}
ANY: S = {}
DAMAGED: S = {"type": "string", "description": "only when an object of the run cannot be read "
              "(listings): the error, e.g. a checksum mismatch naming the hash"}
ERROR = _obj("title", "description", title=STR, description=STR)
NINT: S = {"type": ["integer", "null"]}
# the caps a task's container ran with (null: no container was created, or older evidence)
LIMITS: S = {"type": ["object", "null"], "required": ["memory", "pids", "cpus"],
             "properties": {"memory": NINT, "pids": NINT, "cpus": {"type": ["number", "null"]}}}
# where an attempt ran (docs/executors.md)
EXECUTOR: S = {"type": "object", "required": ["kind"], "properties": {
    "kind": {"type": "string", "enum": ["local", "slurm"]}, "job_id": NSTR, "node": NSTR}}
STATE = {"type": "string", "enum": [str(s) for s in RunStatus]}
# one entry of a tree listing (api/trees.py): by `name`, or with ?recursive=true by `path`
TREE_ENTRY = ("kind", "hash", "size", "executable")
TREE_FIELDS: dict[str, S] = {"kind": {"type": "string", "enum": ["file", "dir"]}, "hash": HASH,
                             "size": {"type": "integer", "minimum": 0},
                             "executable": {"type": "boolean"}}
TASK_STATE = {"type": "string", "enum": [str(s) for s in TaskStatus]}

SCHEMAS: dict[str, S] = {
    "Error": ERROR,
    "WorkflowRef": _obj("name", "definition_hash", "version", name=STR, definition_hash=HASH,
                        version={"type": "integer"}),
    "WorkflowSummary": _obj("name", "definition_hash", "version", "updated_at", name=STR,
                            definition_hash=HASH, version={"type": "integer"}, updated_at=TIME),
    "Workflow": _obj("name", "definition_hash", "version", "definition", name=STR,
                     definition_hash=HASH, version={"type": "integer"},
                     definition={"type": "object"}),
    "WorkflowVersion": _obj("version", "definition_hash", "registered_by", "registered_at",
                            version={"type": "integer"}, definition_hash=HASH,
                            registered_by=STR, registered_at=TIME),
    "Definition": _obj("definition_hash", "definition", definition_hash=HASH,
                       definition={"type": "object"}),
    "Validated": _obj("name", "definition_hash", "registered", "params", "tasks", name=STR,
                      definition_hash=HASH, registered={"type": "boolean"},
                      params=_arr(STR), tasks=_arr(STR)),
    "TriggerBody": {"type": "object", "properties": {
        "parameters": {"type": "object", "description": "by param name; a file or dir "
                       "param's value is a hash (or prefix), or {hash, name} to keep a "
                       "file name"},
        "cache": {"type": "boolean", "description": "false: no task reuses an earlier attempt"}},
        "additionalProperties": False},
    "Triggered": _obj("run_id", "state", "definition_hash", run_id=STR, state=STATE,
                      definition_hash=HASH),
    "Run": _obj("run_id", "workflow", "definition_hash", "engine_version", "triggered_by",
                "created_at", "started_at", "ended_at", "parameters", "state",
                "manifest_hash", "tasks",
                run_id=STR, workflow=STR, definition_hash=HASH, engine_version=STR,
                triggered_by=STR, created_at=TIME, started_at=NSTR, ended_at=NSTR,
                parameters={"type": "object"}, state=STATE, manifest_hash=NSTR,
                tasks={"type": "object", "additionalProperties": TASK_STATE,
                       "description": "state of each task, instances TASK[KEY] included, in "
                                      "the table's order: at most the first 1000"},
                task_count={"type": "integer", "description": "rows of the task table"},
                parent={"type": ["object", "null"], "description": "a sub-workflow's child "
                        "run: the parent's {run_id, task}"},
                task_states={"type": "object", "additionalProperties": {"type": "integer"}},
                tasks_truncated={"type": "boolean",
                                 "description": "more rows than `tasks` names: page /tasks"},
                cache={"type": "boolean"}, resumes={**RUN_ID, "type": ["string", "null"]},
                reproduces={**RUN_ID, "type": ["string", "null"]}, damaged=DAMAGED,
                trigger={"type": "object", "description": "only on runs that started "
                         "themselves: {kind: schedule, schedule, slot, version} or "
                         "{kind: data, ref, hash, param, content: file|dir}"}),
    # a listed run whose record or manifest cannot be read: what the list index knows
    "DamagedRun": _obj("run_id", "workflow", "state", "created_at", "damaged", run_id=STR,
                       workflow=STR, state=STATE, created_at=TIME, damaged=DAMAGED),
    "RunPage": _obj("runs", "next_cursor", runs=_arr({"anyOf": [
                        {"$ref": "#/components/schemas/Run"},
                        {"$ref": "#/components/schemas/DamagedRun"}]}),
                    next_cursor=NSTR),
    "Evidence": _obj("task", "state", "attempt", "evidence_hash", task=STR, state=TASK_STATE,
                     attempt={"type": "integer"}, evidence_hash=NHASH, image=STR, image_id=NSTR,
                     command=_arr(STR), env={"type": "object"}, inputs=_arr(ANY),
                     outputs=_arr(ANY), vars={"type": "object"},
                     exit_code={"type": ["integer", "null"]}, stdout=ANY, stderr=ANY,
                     started_at=NSTR, ended_at=NSTR, duration_s={"type": ["number", "null"]},
                     host=ANY, error=NSTR, attempts=_arr(HASH), limits=LIMITS,
                     cache_key=NHASH, cached_from=NHASH, cache_reason=NSTR,
                     skip={"type": "string", "enum": ["condition", "failure", "stopped"],
                           "description": "a task skipped before any attempt: why"},
                     child={"type": ["object", "null"], "description": "a sub-workflow "
                            "task's child run: {run_id, manifest_hash}"},
                     retry={"type": ["object", "null"], "description": "the delay before "
                            "the attempt and the resources it got (tasks with `retry`)"},
                     executor=EXECUTOR, secrets=_arr(_obj(
                         "name", "fingerprint", name=STR, fingerprint=HASH, env=STR,
                         file=STR))),
    "File": _obj("task", "path", "hash", "size", task=STR, path=STR, hash=HASH,
                 size={"type": "integer"}, kind={"type": "string", "enum": ["file", "dir"]},
                 tree={**HASH, "description": "with recursive=true: the output directory's "
                                              "tree a file inside it sits in"}),
    "Lineage": _obj("nodes", "edges",
                    nodes=_arr(_obj("id", "kind", id=STR, kind={
                        "type": "string", "enum": ["param", "task", "file"]})),
                    edges=_arr(_obj("from", "to", "kind", to=STR, kind={
                        "type": "string", "enum": ["input", "output"]}, **{"from": STR}))),
    "AuditEntry": _obj("seq", "at", "actor", "event", "from", "to", "task", "hash", "prev",
                       seq={"type": "integer"}, at=TIME, actor=STR, event=STR, to=NSTR,
                       task=NSTR, hash=HASH, prev=NSTR, **{"from": NSTR},
                       skip={"type": ["string", "null"], "enum": ["condition", "failure", "stopped", None],
                             "description": "on a move to skipped: by a condition, after "
                                            "an upstream failure, or the run stopped first"}),
    "Killed": _obj("run_id", "state", run_id=STR, state=STATE),
    "Uploaded": _obj("hash", "size", hash=HASH, size={"type": "integer"}),
    "StoredTree": _obj("hash", "files", "size", hash=HASH, files={"type": "integer"},
                       size={"type": "integer"}),
    "Tree": _obj("hash", "size", "entries", hash=HASH, size={"type": "integer"},
                 entries=_arr({"oneOf": [_obj("name", *TREE_ENTRY, name=STR, **TREE_FIELDS),
                                         _obj("path", *TREE_ENTRY, path=STR, **TREE_FIELDS)]})),
    "Health": _obj("status", "engine_version", status=STR, engine_version=STR),
    "CacheExplanation": _obj(
        "key", "components", "hit", "cached_from", "nearest", key=NHASH,
        components={"type": ["object", "null"],
                    "description": "image_id, command, workdir, network, env.NAME, "
                                   "inputs./in/NAME, outputs.files, outputs.vars"},
        hit={"type": "boolean"}, cached_from=NHASH, cacheable={"type": "boolean"},
        reason=NSTR,
        nearest={"oneOf": [{"type": "null"}, _obj(
            "run_id", "key", "differs", run_id=RUN_ID, key=HASH, evidence_hash=HASH,
            differs=_arr(_obj("component", "was", "now", component=STR, was=ANY, now=ANY)))]}),
    "LogOutput": _obj("type", "stream", "offset", "text",
                      type={"type": "string", "enum": ["output"]},
                      stream={"type": "string", "enum": ["stdout", "stderr"]},
                      offset={"type": "integer", "minimum": 0}, text=STR),
    "LogEnd": _obj("type", "task", "attempt", "ended", "state", "stdout_offset",
                   "stderr_offset", type={"type": "string", "enum": ["end"]}, task=STR,
                   attempt={"type": "integer", "minimum": 0}, ended={"type": "boolean"},
                   state=STR, stdout_offset={"type": "integer", "minimum": 0},
                   stderr_offset={"type": "integer", "minimum": 0}),
    "Resumed": _obj("run_id", "resumes", "state", run_id=RUN_ID, resumes=RUN_ID, state=STATE),
    "Reproduced": _obj("run_id", "reproduces", "state", run_id=RUN_ID, reproduces=RUN_ID,
                       state=STATE),
    "Comparison": _obj(
        "a", "b", "same_definition", "same_parameters", "identical", "tasks", a=RUN_ID,
        b=RUN_ID, same_definition={"type": "boolean"}, same_parameters={"type": "boolean"},
        identical={"type": "boolean"}, tasks=_arr(_obj(
            "task", "same", "state", "exit_code", "outputs", "vars", task=STR,
            same={"type": "boolean"}, state=_arr(NSTR), exit_code=_arr(NINT),
            outputs=_arr(_obj("path", "a", "b", "same", path=STR, a=NHASH, b=NHASH,
                              same={"type": "boolean"}, kind=_arr(NSTR),
                              paths=_arr(_obj("path", "change", "kind", "a", "b", path=STR,
                                              change={"enum": ["added", "removed",
                                                               "changed", "mode"]},
                                              kind=_arr(NSTR), a=NHASH, b=NHASH,
                                              executable=_arr({"type": ["boolean",
                                                                        "null"]}))))),
            vars=_arr(_obj("name", "a", "b", "same", name=STR, a=NSTR, b=NSTR,
                           same={"type": "boolean"})),
            # fingerprints of the secret values each side used (docs/secrets.md)
            secrets=_arr(_obj("name", "a", "b", "same", name=STR, a=NHASH, b=NHASH,
                              same={"type": "boolean"})))),
        same_secrets={"type": "boolean"}),
    "FileUses": _obj(
        "hash", "size", "produced_by", "used_by", "parameter_of", hash=HASH, size=NINT,
        produced_by=_arr(_obj("run_id", "task", "path", "attempt", run_id=RUN_ID, task=STR,
                              path=STR, attempt={"type": "integer"}, evidence_hash=HASH,
                              cached_from=NHASH)),
        used_by=_arr(_obj("run_id", "task", "input", run_id=RUN_ID, task=STR, input=STR,
                          evidence_hash=HASH)),
        parameter_of=_arr(_obj("run_id", "param", run_id=RUN_ID, param=STR))),
    "PublicKey": _obj("keyid", "algorithm", "public_key_pem", keyid=STR,
                      algorithm={"type": "string", "enum": ["ed25519"]}, public_key_pem=STR),
    # a stored secret as it may be shown: never its value (docs/secrets.md)
    "SecretInfo": _obj("name", "fingerprint", "set_by", "set_at", name=SECRET_NAME,
                       fingerprint=HASH, set_by=STR, set_at=TIME),
    "SecretBody": {"oneOf": [
        _obj("value", value={"type": "string", "minLength": 1}),
        _obj("value_base64", value_base64={"type": "string", "minLength": 1,
                                           "contentEncoding": "base64"})],
        "description": "the value as UTF-8 text, or as base64 for other bytes"},
}


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: S) -> S:
    return {"content": {"application/json": {"schema": schema}}}


def _answer(code: str, what: str, schema: S | None = None) -> tuple[str, S]:
    body = {"description": what}
    if schema is not None:
        body.update(_json(schema))
    return code, body


ERRORS = {
    "400": "bad input (malformed body, invalid hash or name, bad parameters)",
    "401": "no or bad bearer token",
    "403": "role too low (attempt endpoints: the attempt token does not grant this spec)",
    "404": "unknown workflow, run, task, definition, object, file, tree, path in a tree or "
           "export format",
    "409": "conflict (e.g. run already terminal, or not ended yet for resume/reproduce or "
           "a signed export)",
    "413": "body over the size limit",
    "415": "unsupported content type",
}


def _op(summary: str, role: str | None, ok: list[tuple[str, S]], errors: str = "",
        params: list[S] | None = None, body: S | None = None) -> S:
    responses = dict(ok)
    codes = errors.split() if role is None else ["401", "403", *errors.split()]
    for code in codes:
        responses[code] = {"description": ERRORS[code], **_json(_ref("Error"))}
    op: S = {"summary": summary, "responses": responses,
             "x-wfobj-role": role or "none", "parameters": params or []}
    op["security"] = [] if role is None else [{"bearer": []}]
    if body is not None:
        op["requestBody"] = body
    return op


def _path(name: str, what: str, schema: S | None = None) -> S:
    return {"name": name, "in": "path", "required": True, "description": what,
            "schema": schema or STR}


def _query(name: str, what: str, schema: S) -> S:
    return {"name": name, "in": "query", "required": False, "description": what,
            "schema": schema}


P_NAME = _path("name", "workflow name", NAME)
P_NEW_NAME = _path("name", "workflow name (letters, digits, _ and -)", DEFINITION_NAME)
P_HASH = _path("hash", "full 64-character BLAKE3 hash", HASH)
P_TREE = _path("hash", "a tree's hash, or a unique prefix of it (at least 6 hex digits)",
               {"type": "string", "pattern": "^[0-9a-fA-F]{6,64}$"})
P_SECRET = _path("name", "secret name", SECRET_NAME)
P_RUN = _path("run_id", "run id (UUIDv7, lower case)", RUN_ID)
P_TASK = _path("task", "task name, or TASK[KEY] for an instance of a fanned-out task "
               "(URL-encoded)", {"type": "string", "pattern": TASK_NAME_RE.pattern})
TRIGGER_BODY = {"required": False, **_json(_ref("TriggerBody"))}
DEFINITION_BODY = {"required": True, "content": {
    "application/json": {"schema": {"type": "object"}},
    "application/yaml": {"schema": {"type": "object"}}}}
BYTES = {"schema": {"type": "string", "format": "binary"}}
W = _ref("WorkflowRef")


def _with_head(ops: S) -> S:
    """`ops` plus a HEAD like its GET: the same parameters, role and errors; the 200 has
    GET's headers and no body."""
    get = ops["get"]
    ok = {"description": "the headers GET would send (type, length), no body"}
    return {**ops, "head": {**get, "summary": f"headers only: {get['summary']}",
                            "responses": {**get["responses"], "200": ok}}}


def _run_get(summary: str, schema: S, extra: list[S] | None = None) -> S:
    return {"get": _op(summary, "reader", [_answer("200", "ok", schema)], "400 404",
                       [P_RUN, *(extra or [])])}


def _paths() -> S:
    return {
        "/api/health": {"get": _op("liveness and engine version", None,
                                   [_answer("200", "ok", _ref("Health"))])},
        "/api/openapi.json": {"get": _op("this document", None,
                                         [_answer("200", "OpenAPI 3.1", {"type": "object"})])},
        "/metrics": _with_head({"get": _op(
            "runs and attempts by state, attempt durations, queue length and store size, "
            "in the Prometheus text format (a scraper sends a reader token as bearer)",
            "reader", [("200", {"description": "Prometheus text exposition format 0.0.4",
                                "content": {"text/plain": {"schema": STR}}})])}),
        "/api/workflows": {"get": _op("registered workflows", "reader", [
            _answer("200", "ok", _arr(_ref("WorkflowSummary")))])},
        "/api/workflows/{name}": {
            "get": _op("current definition of a workflow", "reader",
                       [_answer("200", "ok", _ref("Workflow"))], "400 404", [P_NAME]),
            "put": _op("register a definition (JSON or YAML): a native one, or a CWL document "
                       "(a body with cwlVersion)", "runner",
                       [_answer("201", "new version", W), _answer("200", "unchanged", W)],
                       "400 413 415", [P_NEW_NAME], DEFINITION_BODY)},
        "/api/workflows/{name}/versions": {"get": _op(
            "versions, newest first", "reader",
            [_answer("200", "ok", _arr(_ref("WorkflowVersion")))], "400 404", [P_NAME])},
        "/api/workflows/{name}/trigger": {"post": _op(
            "trigger a run of the current version", "runner",
            [_answer("202", "queued", _ref("Triggered"))], "400 404 413 415", [P_NAME],
            TRIGGER_BODY)},
        "/api/workflows/{name}/validate": {"post": _op(
            "check a definition as PUT would, registering nothing", "reader",
            [_answer("200", "valid", _ref("Validated"))], "400 413 415", [P_NEW_NAME],
            DEFINITION_BODY)},
        "/api/workflows/by-hash/{hash}": {"get": _op(
            "a definition by its hash", "reader", [_answer("200", "ok", _ref("Definition"))],
            "400 404", [P_HASH])},
        "/api/workflows/by-hash/{hash}/trigger": {"post": _op(
            "trigger a run pinned to this definition", "runner",
            [_answer("202", "queued", _ref("Triggered"))], "400 404 413 415", [P_HASH],
            TRIGGER_BODY)},
        "/api/runs": {"get": _op("runs, newest first, paginated", "reader", [
            _answer("200", "ok", _ref("RunPage"))], "400", [
            _query("workflow", "only runs of this workflow", NAME),
            _query("state", "only runs in this state", STATE),
            _query("limit", "page size (1-1000, default 50)",
                   {"type": "integer", "minimum": 1, "maximum": 1000}),
            _query("cursor", "next_cursor of the previous page (the run id it ended at)",
                   RUN_ID),
            _query("id_prefix", "only runs whose id starts with this (abbreviated ids)",
                   {"type": "string", "pattern": "^[0-9a-f][0-9a-f-]{0,35}$"})])},
        "/api/runs/{run_id}": _run_get("a run", _ref("Run")),
        "/api/runs/{run_id}/tasks": _run_get(
            "evidence of the tasks in the table's order (topological, then instances of "
            "fanned-out tasks), a page at a time; a Link rel=next header names the next page",
            _arr(_ref("Evidence")),
            [_query("start", "position of the first task (default 0)",
                    {"type": "integer", "minimum": 0, "maximum": 10**9}),
             _query("limit", "page size (1-1000, default 1000)",
                    {"type": "integer", "minimum": 1, "maximum": 1000})]),
        "/api/runs/{run_id}/tasks/{task}": _run_get(
            "evidence of a task's last attempt", _ref("Evidence"), [P_TASK]),
        "/api/runs/{run_id}/files": _run_get(
            "every output of the run (files, and directories as trees)", _arr(_ref("File")),
            [_query("recursive", "also list every file inside an output directory, by its "
                    "full path", {"type": "boolean"})]),
        "/api/runs/{run_id}/lineage": _run_get("param/task/file graph", _ref("Lineage")),
        "/api/runs/{run_id}/audit": _run_get("audit hash chain", _arr(_ref("AuditEntry"))),
        "/api/runs/{run_id}/kill": {"post": _op(
            "kill a run", "runner", [_answer("202", "killing", _ref("Killed"))], "400 404 409",
            [P_RUN])},
        "/api/runs/{run_id}/tasks/{task}/cache": _run_get(
            "the task's cache key, whether it hit, and on a miss what differs from the "
            "nearest earlier attempt", _ref("CacheExplanation"), [P_TASK]),
        "/api/runs/{run_id}/tasks/{task}/logs": {"get": _op(
            "stdout and stderr of a task's attempt as NDJSON lines (LogOutput pieces, then one "
            "LogEnd); with follow=true sent as they are written until the attempt ends or "
            f"`wait` seconds (at most {int(FOLLOW_WAIT_S)}) pass, then ask again from the "
            "LogEnd's offsets", "reader",
            [("200", {"description": "NDJSON: LogOutput lines, then one LogEnd line",
                      "content": {"application/x-ndjson": {"schema": {"oneOf": [
                          _ref("LogOutput"), _ref("LogEnd")]}}}})],
            "400 404", [P_RUN, P_TASK,
                        _query("follow", "wait for more output until the attempt ends",
                               {"type": "boolean"}),
                        _query("attempt", "the attempt (1-based; default: the running one, "
                               "else the last)", {"type": "integer", "minimum": 1,
                                                  "maximum": 1 << 31}),
                        _query("stdout_offset", "bytes of stdout already received",
                               {"type": "integer", "minimum": 0, "maximum": 1 << 62}),
                        _query("stderr_offset", "bytes of stderr already received",
                               {"type": "integer", "minimum": 0, "maximum": 1 << 62}),
                        _query("wait", f"longest wait in seconds (1-{int(FOLLOW_WAIT_S)}, "
                               f"default {int(FOLLOW_WAIT_S)})",
                               {"type": "integer", "minimum": 1,
                                "maximum": int(FOLLOW_WAIT_S)})])},
        "/api/runs/{run_id}/resume": {"post": _op(
            "a new run of the same definition and parameters, cache on", "runner",
            [_answer("202", "queued", _ref("Resumed"))], "400 404 409", [P_RUN])},
        "/api/runs/{run_id}/reproduce": {"post": _op(
            "a new run of the same definition and parameters, cache off, images pinned to "
            "the recorded ids", "runner", [_answer("202", "queued", _ref("Reproduced"))],
            "400 404 409", [P_RUN])},
        "/api/runs/{run_id}/compare/{other}": _run_get(
            "compare two runs by content", _ref("Comparison"),
            [_path("other", "the other run id", RUN_ID)]),
        "/api/runs/{run_id}/export/{format}": _with_head({"get": _op(
            "the run as a provenance export (docs/exports.md): ro-crate (zip), prov "
            "(PROV-JSON), openlineage (JSON array of RunEvents), in-toto (signed DSSE "
            "envelope; 409 until the run has ended)", "reader",
            [("200", {"description": "the export (Content-Disposition names a file)",
                      "content": {"application/zip": BYTES,
                                  "application/json": {"schema": ANY},
                                  "application/vnd.dsse.envelope.v1+json": {
                                      "schema": {"type": "object"}}}})],
            "400 404 409", [P_RUN, _path("format", "export format", {
                "type": "string", "enum": ["ro-crate", "prov", "openlineage", "in-toto"]}),
                _query("files", "ro-crate: all (default) puts the files' bytes in the zip, "
                       "none lists them by id and hash only",
                       {"type": "string", "enum": ["all", "none"]})])}),
        "/api/keys": {"get": _op("public keys that verify this server's signed exports", None,
                                 [_answer("200", "ok", _arr(_ref("PublicKey")))])},
        "/api/secrets": {"get": _op(
            "the secrets this server keeps: names, fingerprints, who set them and when, "
            "never values", "runner", [_answer("200", "ok", _arr(_ref("SecretInfo")))])},
        "/api/secrets/{name}": {
            "put": _op("store a secret's value (new, or a new value: a new fingerprint)",
                       "admin", [_answer("200", "stored", _ref("SecretInfo"))], "400 415",
                       [P_SECRET], {"required": True, **_json(_ref("SecretBody"))}),
            "delete": _op("delete a secret; tasks naming it fail their next attempt",
                          "admin", [_answer("200", "deleted", _ref("SecretInfo"))],
                          "400 404", [P_SECRET])},
        "/api/files/{hash}": {"get": _op(
            "every run that produced, used or took this file as a parameter, newest first",
            "reader", [_answer("200", "ok", _ref("FileUses"))], "400 404", [P_HASH])},
        "/api/files/{hash}/lineage": {"get": _op(
            "the file's lineage across runs", "reader", [_answer("200", "ok", _ref("Lineage"))],
            "400 404", [P_HASH,
                        _query("direction", "up: what it was made from; down: what was made "
                               "from it (default up)", {"type": "string", "enum": ["up", "down"]}),
                        _query("depth", "how many tasks to follow (1-100, default 10)",
                               {"type": "integer", "minimum": 1, "maximum": 100})])},
        "/api/objects": {"post": _op(
            "upload a blob (streamed; optional declared hash)", "runner",
            [_answer("201", "stored", _ref("Uploaded"))], "400 413", [
                {"name": "X-Wfobj-Hash", "in": "header", "required": False,
                 "description": "expected hash; a mismatch stores nothing (400)",
                 "schema": HASH},
                _query("hash", "same as the X-Wfobj-Hash header", HASH)],
            {"required": True, "content": {"application/octet-stream": BYTES}})},
        "/api/objects/{hash}": {
            "get": _op("an object: blob bytes, or structured object as JSON / exact CBOR",
                       "reader", [("200", {"description": "the object (ETag = hash)",
                                           "content": {"application/octet-stream": BYTES,
                                                       "application/cbor": BYTES,
                                                       "application/json": {"schema": ANY}}}),
                                  ("304", {"description": "If-None-Match matched"})],
                       "400 404", [P_HASH]),
            "head": _op("does the object exist", "reader",
                        [("200", {"description": "exists"})], "400 404", [P_HASH])},
        **_tree_paths(),
        **_sync_paths(),
        **_attempt_paths(),
        **_hook_paths(),
        **_standing_paths(),
    }


def _tree_paths() -> S:
    """The tree endpoints of api/trees.py (directories as tree objects)."""
    tar = {"application/x-tar": BYTES}
    return {
        "/api/trees": {"post": _op(
            "store a directory sent as a tar (streamed; regular files and directories only; "
            "a link, device, absolute or `..` name, duplicate or entry past a bound is 400 "
            "naming it, and nothing links to what was read)", "runner",
            [_answer("201", "stored", _ref("StoredTree"))], "400 413 415", [],
            {"required": True, "content": tar})},
        "/api/trees/{hash}": {"get": _op(
            "a tree's entries, or with recursive=true every file below it by its path",
            "reader", [_answer("200", "ok", _ref("Tree"))], "400 404", [
                P_TREE, _query("recursive", "list every file below the tree by its full path",
                               {"type": "boolean"})])},
        "/api/trees/{hash}/files/{path}": {"get": _op(
            "the bytes of one file of the tree (400 if the path names a directory)",
            "reader", [("200", {"description": "the file's bytes",
                                "content": {"application/octet-stream": BYTES}})],
            "400 404", [P_TREE, _path("path", "the file's path inside the tree")])},
        "/api/trees/{hash}/archive": {"get": _op(
            "the tree as a tar: names in order, owners and times zero, modes 0644/0755, so "
            "the same tree always gives the same bytes", "reader",
            [("200", {"description": "a tar archive", "content": tar})], "400 404",
            [P_TREE])},
    }


def _closed(*required: str, **props: S) -> S:
    """An object with exactly these properties (the server refuses any other key)."""
    return {**_obj(*required, **props), "additionalProperties": False}


def _sync_paths() -> S:
    """The sync endpoints of api/sync.py (protocol: docs/sync.md)."""
    octets = {"required": True, "content": {"application/octet-stream": {"schema": {
        "type": "string", "format": "binary", "minLength": 32}}}}
    wants = {"required": True, **_json(_closed("wants", wants=_arr(HASH), haves=_arr(HASH)))}
    updates = _closed("updates", force={"type": "boolean"}, updates=_arr(_closed(
        "name", "old", "new", name={"type": "string", "minLength": 1}, old=NHASH, new=HASH)))
    car = {"content": {"application/vnd.ipld.car": BYTES}}
    digests = {"content": {"application/octet-stream": BYTES}}
    return {
        "/api/sync/refs": {
            "get": _op("every ref", "reader", [_answer("200", "ok", _obj(
                "refs", refs={"type": "object", "additionalProperties": HASH}))]),
            "post": _op("compare-and-swap ref updates", "admin", [_answer("200", "results", _obj(
                "results", results=_arr({"type": "object"})))], "400", [],
                {"required": True, **_json(updates)})},
        "/api/sync/missing": {"post": _op(
            "which of these 32-byte digests (one or more, concatenated) the server lacks",
            "reader", [("200", {"description": "missing digests", **digests})], "400", [],
            octets)},
        "/api/sync/objects": {"post": _op(
            "closure of wants minus haves, as digests", "reader",
            [("200", {"description": "digests", **digests})], "400 404", [], wants)},
        "/api/sync/packs": {"post": _op(
            "upload a CAR pack, every block verified", "runner",
            [_answer("200", "received", _obj("blocks", "stored", "bytes",
                                             blocks={"type": "integer"},
                                             stored={"type": "integer"},
                                             bytes={"type": "integer"}))],
            "400 409 413", [], {"required": True, **car})},
        "/api/sync/packs/download": {"post": _op(
            "download the closure of wants minus haves as a CAR pack", "reader",
            [("200", {"description": "CAR v1 pack", **car})], "400 404", [], wants)},
    }


def _attempt_paths() -> S:
    """The attempt endpoints of api/attempts.py, for `wfobj exec` on a cluster node. Their
    bearer token is an attempt token (role "attempt"): it grants the one spec in the path."""
    spec = _path("spec", "the attempt spec's hash", HASH)
    haves = {"required": True, **_json(_closed(haves=_arr(HASH)))}
    car = {"content": {"application/vnd.ipld.car": BYTES}}
    digests = {"content": {"application/octet-stream": BYTES}}
    octets = {"required": True, "content": {"application/octet-stream": {"schema": {
        "type": "string", "format": "binary", "minLength": 32}}}}
    received = _obj("blocks", "stored", "bytes", blocks={"type": "integer"},
                    stored={"type": "integer"}, bytes={"type": "integer"})
    return {
        "/api/attempts/{spec}/objects": {"post": _op(
            "ids of the spec's closure minus haves", "attempt",
            [("200", {"description": "digests", **digests})], "400 404", [spec], haves)},
        "/api/attempts/{spec}/packs/download": {"post": _op(
            "the spec's closure minus haves as a CAR pack", "attempt",
            [("200", {"description": "CAR v1 pack", **car})], "400 404", [spec], haves)},
        "/api/attempts/{spec}/missing": {"post": _op(
            "which of these 32-byte digests the server lacks", "attempt",
            [("200", {"description": "missing digests", **digests})], "400 404", [spec],
            octets)},
        "/api/attempts/{spec}/packs": {"post": _op(
            "upload a CAR pack of the attempt's report, outputs and logs, every block "
            "verified", "attempt", [_answer("200", "received", received)], "400 404 409 413",
            [spec], {"required": True, **car})},
        "/api/attempts/{spec}/report": {"put": _op(
            "submit the attempt's report (once; its closure already uploaded)", "attempt",
            [_answer("200", "accepted", _obj("spec", "report", spec=HASH, report=HASH))],
            "400 404 409", [spec], {"required": True, **_json(_closed("report", report=HASH))})},
        "/api/attempts/{spec}/secrets": {"post": _op(
            "the values of the attempt's secrets, base64, for the node to hold in memory "
            "(Cache-Control: no-store), or the one that cannot be given and why",
            "attempt", [_answer("200", "the values, or what is unavailable", {"oneOf": [
                _obj("secrets", secrets={"type": "object", "additionalProperties": STR}),
                _obj("unavailable", unavailable=_obj("name", "reason", name=STR,
                                                     reason=STR))]})],
            "404", [spec])},
    }


def _hook_paths() -> S:
    """The webhook endpoints of api/hooks.py (docs/events.md), admin only."""
    from wfobj.engine import EVENT_NAMES

    event = {"type": "string", "enum": list(EVENT_NAMES)}
    hook = _obj("id", "url", "events", "secret_name", "created_by", "created_at", id=STR,
                url=STR, events=_arr(event), secret_name=NSTR, created_by=STR,
                created_at=TIME)
    body = _closed("url", "events", url={"type": "string", "format": "uri"},
                   events={"oneOf": [{**_arr(event), "minItems": 1}, STR]}, secret_name=NSTR)
    delivery = _obj("hook", "run_id", "event_id", "type", "state", "tries", "status", "error",
                    "created_at", "last_try_at", "ended_at", "next_try_at", hook=STR,
                    run_id=STR, event_id=STR, type=STR, state={"type": "string", "enum": [
                        "pending", "delivered", "failed", "dropped"]},
                    tries={"type": "integer"}, status=NINT, error=NSTR, created_at=TIME,
                    last_try_at=NSTR, ended_at=NSTR, next_try_at=NSTR)
    return {
        "/api/hooks": {
            "get": _op("every hook", "admin", [_answer("200", "ok", _arr(hook))]),
            "post": _op("add a hook: events POSTed to url as signed CloudEvents", "admin",
                        [_answer("201", "added", hook)], "400 413 415", [],
                        {"required": True, **_json(body)})},
        "/api/hooks/deliveries": {"get": _op(
            "deliveries newest first, pending ones included", "admin",
            [_answer("200", "ok", _arr(delivery))], "400 404", [
                _query("hook", "only this hook's", STR),
                _query("run", "only this run's", RUN_ID),
                _query("limit", "at most this many (1-1000, default 100)",
                       {"type": "integer", "minimum": 1, "maximum": 1000})])},
        "/api/hooks/changes": {"get": _op(
            "every add and remove of a hook, oldest first: who, when, the hook before and "
            "after", "admin", [_answer("200", "ok", _arr(_obj(
                "at", "user", "hook", "old", "new", at=TIME, user=STR, hook=STR,
                old={"oneOf": [hook, {"type": "null"}]},
                new={"oneOf": [hook, {"type": "null"}]})))])},
        "/api/hooks/{hook_id}": {"delete": _op(
            "remove a hook (its undelivered events are dropped)", "admin",
            [_answer("200", "removed", hook)], "404", [_path("hook_id", "the hook's id")])},
    }


# ---- schedules, data refs and data triggers (api/schedules.py, api/data.py) -------------
SCHEDULE_SETTINGS: dict[str, S] = {
    "cron": STR, "timezone": STR, "workflow": STR, "parameters": {"type": "object"},
    "catchup": {"type": "string", "enum": ["none", "latest", "all"]}, "pinned": NHASH,
    "paused": {"type": "boolean"}, "removed": {"type": "boolean"}}
SCHEDULE_SLOT: S = {"type": ["object", "null"], "description": "the last slot handled",
                    "properties": {"slot": TIME, "run_id": {"type": ["string", "null"]},
                                   "error": NSTR, "missed": {"type": "integer"}}}
SCHEMAS.update({
    "Schedule": _obj("name", "version", "change", *SCHEDULE_SETTINGS, "since", "changed_by",
                     "changed_at", "next_slots", "last", name=STR,
                     version={"type": "integer"}, change=STR, **SCHEDULE_SETTINGS, since=TIME,
                     changed_by=STR, changed_at=TIME, next_slots=_arr(TIME),
                     last=SCHEDULE_SLOT, history=_arr(_obj(
                         "version", "change", "changed_by", "changed_at", "hash", "old", "new",
                         version={"type": "integer"}, change=STR, changed_by=STR,
                         changed_at=TIME, hash=HASH, old={"type": ["object", "null"]},
                         new={"type": "object"}))),
    "ScheduleBody": _closed("cron", "workflow", cron=STR, workflow=DEFINITION_NAME,
                            parameters={"type": "object"}, timezone=STR,
                            pin={"type": "boolean"},
                            catchup={"type": "string", "enum": ["none", "latest", "all"]}),
    "DataRef": _obj("ref", "hash", "kind", ref=STR, hash=HASH,
                    kind={"type": "string", "enum": ["file", "dir", "other"]}),
    "Tagged": _obj("ref", "hash", "kind", "previous", ref=STR, hash=HASH,
                   kind={"type": "string", "enum": ["file", "dir"]}, previous=NHASH),
    "DataTrigger": _obj("ref", "workflow", "param", "created_by", "created_at", "seen",
                        "last", ref=STR, workflow=STR, param=STR,
                        parameters={"type": "object"}, keeps=_arr(HASH), created_by=STR,
                        created_at=TIME, seen=NHASH, last={"type": ["object", "null"]},
                        created={"type": "boolean"}, removed={"type": "boolean"}),
})
DATA_NAME: S = {"type": "string", "pattern": NAME_PATTERN, "maxLength": 100}
DATA_REF: S = {"type": "string", "pattern": "^data/" + NAME_PATTERN[1:], "maxLength": 105}
HASH_OR_PREFIX: S = {"type": "string", "pattern": "^[0-9a-fA-F]{6,64}$"}
P_SCHEDULE = _path("name", "schedule name (letters, digits, _ and -)", DEFINITION_NAME)
P_DATA = _path("name", "the data ref's name (the part after data/)", DATA_NAME)


def _standing_paths() -> S:
    """Schedules (admin), data refs (read: reader, move: runner), data triggers."""
    schedule = _ref("Schedule")
    trigger_query = [{**_query(k, what, schema), "required": True} for k, what, schema in (
        ("ref", "the data ref, data/NAME", DATA_REF),
        ("workflow", "the subscribed workflow", DEFINITION_NAME),
        ("param", "the param it sets", DEFINITION_NAME))]
    return {
        "/api/schedules": {"get": _op("every schedule with its next slots", "admin", [
            _answer("200", "ok", _arr(schedule))])},
        "/api/schedules/{name}": {
            "get": _op("a schedule, its next slots and its history (who, when, old, new)",
                       "admin", [_answer("200", "ok", schedule)], "400 404", [P_SCHEDULE]),
            "put": _op("create a schedule, or change it (a new version); an invalid cron "
                       "expression, time zone or catchup is 400 naming it", "admin",
                       [_answer("201", "created", schedule), _answer("200", "changed", schedule)],
                       "400 404 413 415", [P_SCHEDULE],
                       {"required": True, **_json(_ref("ScheduleBody"))}),
            "delete": _op("remove a schedule (its history stays)", "admin", [
                _answer("200", "removed", _obj("name", "removed", "version", name=STR,
                                               removed={"type": "boolean"},
                                               version={"type": "integer"}))],
                "400 404", [P_SCHEDULE])},
        "/api/schedules/{name}/pause": {"post": _op(
            "pause a schedule: its slots start nothing", "admin",
            [_answer("200", "paused", schedule)], "400 404", [P_SCHEDULE])},
        "/api/schedules/{name}/resume": {"post": _op(
            "resume a schedule; slots passed while paused never start", "admin",
            [_answer("200", "resumed", schedule)], "400 404", [P_SCHEDULE])},
        "/api/data": {"get": _op("every data ref", "reader", [
            _answer("200", "ok", _arr(_ref("DataRef")))])},
        "/api/data/{name}": {
            "get": _op("a data ref", "reader", [_answer("200", "ok", _ref("DataRef"))],
                       "400 404", [P_DATA]),
            "put": _op("move a data ref to a blob or a tree by compare-and-swap (from `old`, "
                       "or with new_only only if it does not exist; else from where it is)",
                       "runner", [_answer("200", "moved", _ref("Tagged"))],
                       "400 404 409 413 415", [P_DATA], {"required": True, **_json(_closed(
                           "hash", hash=HASH_OR_PREFIX, old=HASH,
                           new_only={"type": "boolean"}))})},
        "/api/triggers": {
            "get": _op("data-trigger subscriptions", "reader", [
                _answer("200", "ok", _arr(_ref("DataTrigger")))]),
            "post": _op("subscribe a workflow to a data ref: each move to content its "
                        "definition never ran on starts one run (a ref outside data/ is 400)",
                        "admin", [_answer("201", "subscribed", _ref("DataTrigger")),
                                  _answer("200", "already subscribed", _ref("DataTrigger"))],
                        "400 404 413 415", [], {"required": True, **_json(_closed(
                            "ref", "workflow", "param", ref=DATA_REF, workflow=DEFINITION_NAME,
                            param=DEFINITION_NAME, parameters={"type": "object"}))}),
            "delete": _op("end a subscription", "admin", [
                _answer("200", "removed", _ref("DataTrigger"))], "400 404", trigger_query)},
    }


def openapi_document(engine_version: str) -> S:
    return {
        "openapi": "3.1.0",
        "info": {"title": "wfobj", "version": engine_version,
                 "description": "Content-addressed workflow store and engine (docs/api.md)."},
        "paths": _paths(),
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


class OpenApi:
    roles: dict[str, str] = {}

    def __init__(self, engine_version: str) -> None:
        self.document = openapi_document(engine_version)

    def on_get(self, req, resp) -> None:
        resp.media = self.document
