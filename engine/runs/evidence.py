"""Task evidence: the structured object recording one attempt, and its JSON view.

Fields: docs/object-model.md; the view: docs/api.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from wfobj.engine.clock import format_time
from wfobj.engine.definitions.format import decimal_text
from wfobj.engine.executors.base import AttemptResult, TaskSpec, secret_records
from wfobj.engine.model import ImageFacts, TaskEvidence, content_link, read, row_kind, row_oid
from wfobj.objstore import Link, ObjectId, ObjectStore, WriteBatch


def image_object(spec: TaskSpec, result: AttemptResult) -> ImageFacts:
    """The `image` facts object: what the reference resolved to. Shared by every attempt
    that ran the same image, so it is stored once."""
    return ImageFacts(reference=spec.image, image_id=result.image_id,
                      digests=list(result.image_digests))


@dataclass(frozen=True)
class CacheFacts:
    """What evidence says about the cache: the key object, the attempt reused (a hit),
    and why the key was not looked up (null when it was)."""

    key: str | None = None
    cached_from: str | None = None
    reason: str | None = None
    looked_up_at: datetime | None = None  # when the lookup began: a hit's started_at


NO_CACHE = CacheFacts()


def record_attempt(batch: WriteBatch, spec: TaskSpec, result: AttemptResult,
                   cache: CacheFacts = NO_CACHE, retry: dict | None = None,
                   child: dict | None = None) -> tuple[ObjectId, TaskEvidence]:
    """Add one attempt's image facts and evidence to `batch`; returns the evidence id
    and object. `retry`: the delay and resources of an attempt of a task with `retry`."""
    image = batch.put_object(image_object(spec, result).to_value())
    ev = evidence_object(spec, result, image, cache)
    if retry is not None:
        ev = replace(ev, retry=retry)
    if child is not None:  # a sub-workflow task: {"run_id", "manifest": → manifest}
        ev = replace(ev, child=child)
    return batch.put_object(ev.to_value()), ev


def evidence_object(spec: TaskSpec, result: AttemptResult, image: str,
                    cache: CacheFacts = NO_CACHE) -> TaskEvidence:
    """The `task_evidence` object of one attempt; links its image facts and every blob."""
    duration = (result.ended_at - result.started_at).total_seconds()
    return TaskEvidence(
        run_id=spec.run_id, task=spec.task, attempt=spec.attempt, state=str(result.state),
        image=spec.image, image_facts=Link.obj(image),
        command=list(spec.command), env=evidence_env(spec), workdir=result.workdir,
        inputs=[{"name": f.name, "path": f"/in/{f.name}", "kind": f.kind,
                 **content_link(f.kind, f.oid), "size": f.size} for f in spec.inputs],
        outputs=[{"path": o.path, "kind": o.kind, **content_link(o.kind, o.oid), "size": o.size}
                 for o in result.outputs],
        vars=dict(result.vars), exit_code=result.exit_code,
        stdout=result.stdout.record(), stderr=result.stderr.record(),
        started_at=format_time(result.started_at), ended_at=format_time(result.ended_at),
        duration_s=decimal_text(round(max(duration, 0.0), 6)),
        host=dict(result.host), error=result.error,
        limits=limits_object(result.limits),
        cache_key=Link.obj(cache.key) if cache.key else None,
        cached_from=Link.obj(cache.cached_from) if cache.cached_from else None,
        cache_reason=cache.reason,
        executor=dict(result.executor),
        secrets=secret_records(spec.secrets),
    )


def evidence_env(spec: TaskSpec) -> dict[str, str]:
    """The env as evidence records it: a secret's variable as "<secret NAME>"."""
    env = dict(spec.env)
    for use in spec.secrets:
        if use.kind == "env":
            env[use.place] = f"<secret {use.name}>"
    return env


def limits_object(limits: dict | None) -> dict | None:
    """The caps applied, as the object model holds them (cpus as a decimal string)."""
    if limits is None:
        return None
    cpus = limits["cpus"]
    return {**limits, "cpus": None if cpus is None else decimal_text(cpus)}


def limits_view(limits: dict | None) -> dict | None:
    if limits is None:
        return None
    cpus = limits["cpus"]
    return {**limits, "cpus": None if cpus is None else float(cpus)}


def evidence_view(oid: str, ev: TaskEvidence, image: ImageFacts) -> dict:
    """Evidence as the API shows it: hashes instead of links, image facts inlined,
    duration as a number."""
    def stream_view(s: dict) -> dict:
        return {"hash": s["blob"].oid, "size": s["size"], "text": s["text"]}

    return {
        "task": ev.task, "state": ev.state, "attempt": ev.attempt, "evidence_hash": oid,
        "image": ev.image, "image_id": image.image_id, "image_digests": image.digests,
        "image_facts_hash": ev.image_facts.oid,
        "command": ev.command, "env": ev.env, "workdir": ev.workdir,
        "inputs": [{"name": i["name"], "path": i["path"], "kind": row_kind(i),
                    "hash": row_oid(i), "size": i["size"]} for i in ev.inputs],
        "outputs": [{"path": o["path"], "kind": row_kind(o), "hash": row_oid(o),
                     "size": o["size"]} for o in ev.outputs],
        "vars": ev.vars, "exit_code": ev.exit_code,
        "stdout": stream_view(ev.stdout), "stderr": stream_view(ev.stderr),
        "started_at": ev.started_at, "ended_at": ev.ended_at,
        "duration_s": float(ev.duration_s), "host": ev.host, "error": ev.error,
        "limits": limits_view(ev.limits),  # None in evidence older than limits
        # None in evidence older than the cache
        "cache_key": link_hash(ev.cache_key),
        "cached_from": link_hash(ev.cached_from),
        "cache_reason": ev.cache_reason,
        "executor": ev.executor if ev.executor is not None else {"kind": "local"},
        "secrets": ev.secrets or [],
        "retry": retry_view(ev.retry),  # None unless the task has `retry`
        # a sub-workflow task's child run: {"run_id", "manifest_hash"}
        "child": None if ev.child is None else {
            "run_id": ev.child["run_id"], "manifest_hash": link_hash(ev.child.get("manifest"))},
    }


def retry_view(retry: dict | None) -> dict | None:
    """The delay waited before an attempt and the resources it got, numbers as numbers."""
    if retry is None:
        return None
    cpus = retry["resources"]["cpus"]
    return {"delay_s": float(retry["delay_s"]),
            "resources": {**retry["resources"], "cpus": None if cpus is None else float(cpus)}}


def link_hash(link: Link | None) -> str | None:
    return None if link is None else link.oid


def read_evidence(store: ObjectStore, oid: str) -> tuple[TaskEvidence, ImageFacts]:
    """An attempt's evidence and the image facts it links, typed and verified."""
    ev = read(store, oid, TaskEvidence)
    return ev, read(store, ev.image_facts.oid, ImageFacts)


def load_evidence(store: ObjectStore, oid: str) -> dict:
    return evidence_view(oid, *read_evidence(store, oid))


__all__ = [
    "CacheFacts", "evidence_object", "evidence_view", "format_time", "image_object", "load_evidence",
    "read_evidence", "record_attempt",
]
