"""Attempts run elsewhere: the attempt spec and report objects, and attempt tokens.

A cluster executor (engine/executors/slurm.py) stores each attempt's TaskSpec as an
`attempt_spec` object, whose links are the attempt's input blobs, so the spec's closure
is everything a node needs. The node (`wfobj exec`, engine/executors/node.py) runs it and
sends back an `attempt_report` object: the AttemptResult, linking the stdout, stderr and
output blobs. The worker turns the report back into an AttemptResult and records the
evidence exactly as for a local attempt.

An attempt token lets its holder fetch one spec's closure and submit one report for it,
nothing else. Like API tokens it is stored as the SHA-256 of its text (namespace
`attempt_tokens`); it is deleted when the attempt ends and refused after its expiry.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from wfobj.engine.access.tokens import token_digest
from wfobj.engine.clock import Clock, format_time, parse_time
from wfobj.engine.definitions.format import decimal_text
from wfobj.engine.errors import (
    AttemptTokenRefused,
    InvalidStoredObject,
    OutputRefused,
    ReportRefused,
    UploadBudgetSpent,
)
from wfobj.engine.layout import ATTEMPT_TOKENS_NS, ATTEMPT_UPLOADS_NS, REPORTS_NS
from wfobj.engine.model import (
    DIR,
    FILE,
    AttemptReport,
    AttemptSpec,
    StoredObject,
    content_link,
    read,
    row_kind,
    row_oid,
)
from wfobj.engine.states import AttemptStatus
from wfobj.objstore import Link, ObjectId, ObjectStore
from wfobj.objstore.chunking import MIN_CHUNK
from wfobj.objstore.walk import walk_closure

from .base import (
    AttemptResult,
    InputFile,
    OutputFile,
    SecretUse,
    StoredText,
    TaskSpec,
    secret_records,
)
from .caps import ContainerLimits
from .capture import PREVIEW_BYTES
from .outputs import MAX_FILES, MAX_VARS_BYTES, split_output_path

ATTEMPT_TOKEN_PREFIX = "wfa_"
MAX_UPLOAD_BYTES = 64 << 30  # what one attempt's token may upload (logs and outputs)


def upload_budget(spec: TaskSpec) -> tuple[int, int]:
    """(objects, bytes) an attempt's token may upload beyond one object per MIN_CHUNK
    bytes (a large file's chunks): the report, stdout, stderr, and with outputs declared
    up to MAX_FILES files and as many folders (each a tree), as the local executor."""
    return 3 + (2 * MAX_FILES if spec.output_files else 0), MAX_UPLOAD_BYTES


# ---- the spec ------------------------------------------------------------------------------
def _decimal(value: float | None) -> str | None:
    return None if value is None else decimal_text(value)


def _number(text: str | None) -> float | None:
    return None if text is None else float(text)


def spec_object(spec: TaskSpec, limits: ContainerLimits) -> AttemptSpec:
    """The `attempt_spec` object of `spec`; `limits` are the server's default caps, which
    the node applies under the task's own `resources` exactly as the local executor."""
    return AttemptSpec(
        run_id=spec.run_id, task=spec.task, attempt=spec.attempt, image=spec.image,
        command=list(spec.command), env=dict(spec.env), workdir=spec.workdir,
        network=spec.network, cpus=_decimal(spec.cpus), memory=spec.memory,
        timeout=_decimal(spec.timeout), pids=spec.pids,
        inputs=[spec_input(f) for f in spec.inputs],
        output_files=list(spec.output_files), output_vars=list(spec.output_vars),
        default_limits={"memory": limits.memory, "pids": limits.pids,
                        "cpus": _decimal(limits.cpus)},
        secrets=secret_records(spec.secrets))


def load_spec(store: ObjectStore, oid: str) -> tuple[TaskSpec, ContainerLimits]:
    """The TaskSpec and default caps of a stored `attempt_spec` (InvalidStoredObject)."""
    obj = read(store, oid, AttemptSpec)
    with _invalid(oid, AttemptSpec):
        spec = TaskSpec(
            run_id=obj.run_id, task=obj.task, attempt=obj.attempt, image=obj.image,
            command=list(obj.command), env=dict(obj.env), workdir=obj.workdir,
            network=bool(obj.network), cpus=_number(obj.cpus), memory=obj.memory,
            timeout=_number(obj.timeout),
            inputs=[InputFile(i["name"], row_oid(i), i["size"], row_kind(i))
                    for i in obj.inputs],
            output_files=list(obj.output_files), output_vars=list(obj.output_vars),
            pids=obj.pids, secrets=tuple(SecretUse.of_record(r) for r in obj.secrets or ()))
        caps = obj.default_limits
        limits = ContainerLimits(caps["memory"], caps["pids"], _number(caps["cpus"]))
    return spec, limits


def spec_input(f: InputFile) -> dict:
    """A spec's input: {"name", "blob": →, "size"} for a file (as before trees), and
    {"name", "kind": "dir", "tree": →, "size"} for a directory."""
    kind = {"kind": DIR} if f.kind == DIR else {}
    return {"name": f.name, **kind, **content_link(f.kind, f.oid), "size": f.size}


@contextlib.contextmanager
def _invalid(oid: str, cls: type[StoredObject]) -> Iterator[None]:
    """A field of the right name but the wrong shape: InvalidStoredObject naming `oid`."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidStoredObject(oid, cls.type_name, f"{type(exc).__name__}: {exc}") from None


# ---- the report ----------------------------------------------------------------------------
def _stored(value: dict) -> StoredText:
    return StoredText(value["blob"].oid, value["size"], value["text"])


def report_object(spec_oid: str, spec: TaskSpec, result: AttemptResult) -> AttemptReport:
    """The `attempt_report` of one attempt's result: every field of the evidence the
    node knows, its blobs linked (so the report's closure is all it sends)."""
    return AttemptReport(
        spec=Link.obj(spec_oid), run_id=spec.run_id, task=spec.task, attempt=spec.attempt,
        state=result.state, exit_code=result.exit_code, stdout=result.stdout.record(),
        stderr=result.stderr.record(), started_at=format_time(result.started_at),
        ended_at=format_time(result.ended_at), image_id=result.image_id,
        image_digests=list(result.image_digests),
        outputs=[{"path": o.path, "kind": o.kind, **content_link(o.kind, o.oid), "size": o.size}
                 for o in result.outputs],
        vars=dict(result.vars), host=dict(result.host), workdir=result.workdir,
        error=result.error,
        limits=None if result.limits is None else
        {**result.limits, "cpus": _decimal(result.limits["cpus"])})


def load_report(store: ObjectStore, oid: str) -> tuple[str, AttemptResult]:
    """(spec id, AttemptResult) of a stored `attempt_report` (InvalidStoredObject)."""
    obj = read(store, oid, AttemptReport)
    with _invalid(oid, AttemptReport):
        if obj.state not in set(AttemptStatus):
            raise ValueError(f"state {obj.state!r} is not one of {', '.join(AttemptStatus)}")
        limits = obj.limits
        result = AttemptResult(
            state=obj.state, exit_code=obj.exit_code, stdout=_stored(obj.stdout),
            stderr=_stored(obj.stderr), started_at=parse_time(obj.started_at),
            ended_at=parse_time(obj.ended_at), image_id=obj.image_id,
            image_digests=list(obj.image_digests),
            outputs=[report_output(store, o) for o in obj.outputs],
            vars={str(k): str(v) for k, v in obj.vars.items()},
            host={str(k): str(v) for k, v in obj.host.items()}, workdir=obj.workdir,
            error=obj.error,
            limits=None if limits is None else {**limits, "cpus": _number(limits["cpus"])})
        spec = obj.spec.oid
    return spec, result


def report_output(store: ObjectStore, row: dict) -> OutputFile:
    """An output a node reported: a file links a blob, a directory a tree (ValueError)."""
    kind, oid = row_kind(row), row_oid(row)
    link = row["tree"] if kind == DIR else row["blob"]
    if kind not in (FILE, DIR) or link.is_blob != (kind == FILE) or (
            kind == DIR and store.type_of(oid) != "tree"):
        raise ValueError(f"output {row['path']!r} of kind {kind!r} does not link a {kind}")
    return OutputFile(row["path"], oid, row["size"], kind)


def check_result(spec: TaskSpec, result: AttemptResult) -> None:
    """A node's result within what its spec lets the local executor record (ValueError):
    declared outputs under the output path rules, declared vars, capped previews."""
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if len(text.text) > PREVIEW_BYTES or len(text.text) > text.size:
            raise ValueError(f"{name} preview longer than {PREVIEW_BYTES} bytes or its blob")
    undeclared = sorted(set(result.vars) - set(spec.output_vars))
    if undeclared:
        raise ValueError(f"undeclared var(s) {', '.join(map(repr, undeclared[:5]))}")
    if sum(len(k) + len(v) + 2 for k, v in result.vars.items()) > MAX_VARS_BYTES:
        raise ValueError(f"vars over {MAX_VARS_BYTES} bytes")
    try:
        declared = {"/".join(split_output_path(p)) for p in spec.output_files}
        for out in result.outputs:
            if "/".join(split_output_path(out.path)) not in declared or len(
                    result.outputs) > len(declared):
                raise ValueError(f"undeclared output {out.path!r}")
    except OutputRefused as exc:
        raise ValueError(str(exc)) from None


# ---- tokens --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttemptGrant:
    """What an attempt token grants: one spec (and so one run, task and attempt)."""

    digest: str
    spec: ObjectId
    run_id: str
    task: str
    attempt: int
    expires_at: float  # epoch seconds


class AttemptTokens:
    """Create, check and delete attempt tokens; accept the one report of an attempt."""

    def __init__(self, store: ObjectStore, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or Clock()

    def create(self, spec_oid: str, spec: TaskSpec, ttl: float) -> tuple[str, AttemptGrant]:
        """A new token for the attempt of `spec_oid`, valid `ttl` seconds at most."""
        while True:
            token = ATTEMPT_TOKEN_PREFIX + secrets.token_urlsafe(32)
            grant = AttemptGrant(token_digest(token), ObjectId(spec_oid), spec.run_id, spec.task,
                                 spec.attempt, self.clock.epoch() + ttl)
            record = json.dumps({"spec": grant.spec, "run_id": grant.run_id, "task": grant.task,
                                 "attempt": grant.attempt, "expires_at": grant.expires_at})
            if self.store.meta_cas(ATTEMPT_TOKENS_NS, grant.digest, None, record.encode()):
                return token, grant

    def check(self, token: str, spec_oid: str) -> AttemptGrant:
        """The grant of `token` if it is a live token for `spec_oid`; else AttemptTokenRefused."""
        if not token or not token.startswith(ATTEMPT_TOKEN_PREFIX) or len(token) > 200:
            raise AttemptTokenRefused("not an attempt token")
        digest = token_digest(token)
        raw = self.store.meta_get(ATTEMPT_TOKENS_NS, digest)
        if raw is None:
            raise AttemptTokenRefused("unknown attempt token, or its attempt has ended")
        record = json.loads(raw)
        grant = AttemptGrant(digest, record["spec"], record["run_id"], record["task"],
                             record["attempt"], record["expires_at"])
        if self.clock.epoch() >= grant.expires_at:
            raise AttemptTokenRefused("the attempt token has expired")
        if grant.spec != spec_oid:
            raise AttemptTokenRefused(
                f"this token is for attempt spec {grant.spec}, not {spec_oid}")
        return grant

    def accept_report(self, grant: AttemptGrant, report_oid: str) -> None:
        """Record `report_oid` (already stored) as the attempt's report, once."""
        spec, result = load_report(self.store, report_oid)
        if spec != grant.spec:
            raise ReportRefused(f"report {report_oid} is for spec {spec}, not {grant.spec}")
        with _invalid(report_oid, AttemptReport):
            check_result(load_spec(self.store, spec)[0], result)
        self._check_sent(grant, report_oid)
        current = self.store.meta_get(REPORTS_NS, grant.spec)
        if current == report_oid.encode():
            return  # the same report sent again (a retried request)
        if current is not None or not self.store.meta_cas(
                REPORTS_NS, grant.spec, None, report_oid.encode()):
            raise ReportRefused(f"attempt spec {grant.spec} already has a report")

    def _check_sent(self, grant: AttemptGrant, report_oid: str) -> None:
        """Every object of the report's closure came with the spec or was uploaded with
        this token: a report cannot claim another attempt's objects."""
        given = set(walk_closure(self.store, [grant.spec]))
        for oid in walk_closure(self.store, [report_oid]):
            if oid not in given and oid != report_oid and self.store.meta_get(
                    ATTEMPT_UPLOADS_NS, f"{grant.spec}/{oid}") is None:
                raise InvalidStoredObject(report_oid, AttemptReport.type_name,
                                          f"object {oid} was not sent for this attempt")

    def in_closure(self, grant: AttemptGrant, oid: str) -> bool:
        """Whether `oid` is the attempt's to ask about: the spec's closure or sent by it."""
        return self.store.meta_get(ATTEMPT_UPLOADS_NS, f"{grant.spec}/{oid}") is not None \
            or oid in set(walk_closure(self.store, [grant.spec]))

    def uploads_left(self, grant: AttemptGrant) -> tuple[int, int]:
        """(objects, bytes) the token may still upload (ReportRefused once over budget)."""
        spec, _ = load_spec(self.store, grant.spec)
        objects, size = upload_budget(spec)
        used = json.loads(self.store.meta_get(ATTEMPT_UPLOADS_NS, f"{grant.spec}/") or b"{}")
        sent, sent_bytes = used.get("objects", 0), used.get("bytes", 0)
        objects += sent_bytes // MIN_CHUNK
        if sent >= objects or sent_bytes >= size:
            raise UploadBudgetSpent(grant.spec, objects, size)
        return objects - sent, size - sent_bytes

    def record_uploads(self, grant: AttemptGrant, oids: set[str], size: int) -> None:
        key = f"{grant.spec}/"
        used = json.loads(self.store.meta_get(ATTEMPT_UPLOADS_NS, key) or b"{}")
        usage = {"objects": used.get("objects", 0) + len(oids),
                 "bytes": used.get("bytes", 0) + size}
        with self.store.batch() as b:
            b.meta_put(ATTEMPT_UPLOADS_NS, key, json.dumps(usage).encode())
            for oid in oids:
                b.meta_put(ATTEMPT_UPLOADS_NS, f"{grant.spec}/{oid}", b"")

    def report_of(self, spec_oid: str) -> ObjectId | None:
        raw = self.store.meta_get(REPORTS_NS, spec_oid)
        return None if raw is None else ObjectId(raw.decode())

    def end(self, grant: AttemptGrant) -> None:
        """The attempt ended: its token stops working and its report entry is dropped."""
        with self.store.batch() as b:
            if self.store.meta_get(ATTEMPT_TOKENS_NS, grant.digest) is not None:
                b.meta_delete(ATTEMPT_TOKENS_NS, grant.digest)
            if self.store.meta_get(REPORTS_NS, grant.spec) is not None:
                b.meta_delete(REPORTS_NS, grant.spec)
            for key, _ in self.store.meta_scan(ATTEMPT_UPLOADS_NS, f"{grant.spec}/"):
                b.meta_delete(ATTEMPT_UPLOADS_NS, key)

    def end_run(self, run_id: str) -> int:
        """Delete every token of `run_id` (its worker died); returns how many."""
        ended = 0
        for digest, raw in list(self.store.meta_scan(ATTEMPT_TOKENS_NS)):
            record = json.loads(raw)
            if record["run_id"] == run_id:
                self.end(AttemptGrant(digest, record["spec"], run_id, record["task"],
                                      record["attempt"], record["expires_at"]))
                ended += 1
        return ended


