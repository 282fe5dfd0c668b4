"""Data triggers: `data/<name>` refs name inputs (a blob or a tree); a workflow subscribed
to one gets a run each time the ref moves to content it never ran on.

A subscription (meta `data-triggers/<workflow>/<param>/<ref>`) remembers where it last saw
its ref. A tick that finds the ref elsewhere starts one run with the param set to the new
hash, and in that run's own transaction moves the subscription on (compare-and-swap) and
records `data-seen/<definition>/<param>/<hash>` (add-only): two processes never start the
same move twice, and content a definition already ran on starts nothing, whether the ref
moved back to it, another subscribed ref holds it, or the process restarted in between.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from wfobj.engine.clock import Clock
from wfobj.engine.definitions.format import INPUT_NAME_RE, STORED_TYPES
from wfobj.engine.definitions.params import check_parameters
from wfobj.engine.definitions.registry import WorkflowRegistry
from wfobj.engine.errors import DataRefError, EngineError, UnknownDataRef, UnknownTrigger
from wfobj.engine.layout import DATA_PREFIX, TRIGGER_SEEN_NS, TRIGGERS_NS
from wfobj.engine.model import Definition
from wfobj.engine.runs.lifecycle import stored_values
from wfobj.objstore import ConflictError, ObjectStore, RefNotFound, WriteBatch

from .starts import start_run

log = logging.getLogger(__name__)

KINDS = {"blob": "file", "tree": "dir"}  # what a data ref may point at -> the param type
DATA_ACTOR = "data:"  # a data-triggered run's triggered_by: "data:data/<name>"


# ---- data refs ----------------------------------------------------------------------
def check_data_ref(ref: object) -> str:
    """`data/<name>`: DataRefError for any other ref (or a bad name)."""
    if not isinstance(ref, str) or not ref.startswith(DATA_PREFIX):
        raise DataRefError(str(ref), "not a data ref: data triggers and tags take refs "
                           f"under {DATA_PREFIX} only")
    name = ref[len(DATA_PREFIX):]
    if not INPUT_NAME_RE.match(name) or ".." in name:
        raise DataRefError(ref, "the name after data/ is letters, digits, _, . and - "
                           "(at most 100, no '..')")
    return ref


def data_kind(store: ObjectStore, ref: str, oid: str) -> str:
    """`file` or `dir`: what `oid` is; DataRefError if it is neither."""
    kind = KINDS.get(store.type_of(oid))
    if kind is None:
        raise DataRefError(ref, f"{oid} is a {store.type_of(oid)}: a data ref points at a "
                           "file (blob) or a directory (tree)")
    return kind


def current(store: ObjectStore, ref: str) -> str | None:
    try:
        return store.get_ref(ref)
    except RefNotFound:
        return None


def tag(store: ObjectStore, ref: str, target: str, *, expect: str | None = None,
        check_old: bool = False) -> dict:
    """Point `ref` at the blob or tree `target` (a full hash or unique prefix), by
    compare-and-swap from what it points at now, or from `expect` when `check_old`
    (None: the ref must not exist). ConflictError if it moved meanwhile, ObjectNotFound
    if `target` is not stored.
    {"ref", "hash", "kind", "previous"}"""
    check_data_ref(ref)
    oid = store.resolve(target)  # ObjectNotFound (a KeyError: HTTP 404) if not stored
    kind = data_kind(store, ref, oid)
    old = expect if check_old else current(store, ref)
    with store.batch() as b:
        b.set_ref(ref, old, oid)
    return {"ref": ref, "hash": oid, "kind": kind, "previous": old}


def data_view(store: ObjectStore, ref: str) -> dict:
    oid = current(store, check_data_ref(ref))
    if oid is None:
        raise UnknownDataRef(ref)
    return {"ref": ref, "hash": oid, "kind": KINDS.get(store.type_of(oid), "other")}


def list_data(store: ObjectStore) -> list[dict]:
    return [{"ref": ref, "hash": oid, "kind": KINDS.get(store.type_of(oid), "other")}
            for ref, oid in store.refs(DATA_PREFIX)]


# ---- subscriptions ------------------------------------------------------------------
def trigger_key(ref: str, workflow: str, param: str) -> str:
    return f"{workflow}/{param}/{ref}"


def _encode(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class TriggerBook:
    """The data-trigger subscriptions of one store."""

    def __init__(self, store: ObjectStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.registry = WorkflowRegistry(store, clock)

    def add(self, ref: str, *, workflow: str, param: str, parameters: dict | None = None,
            user: str) -> tuple[dict, bool]:
        """Subscribe `workflow` to `ref` through its `file` or `dir` param `param`; its
        other params take `parameters`, else their defaults (checked now). Content the ref
        holds now starts nothing: only later moves do. (view, created)"""
        check_data_ref(ref)
        _, version = self.registry.newest(workflow)
        _, definition = self.registry.definition(version.definition.oid)
        spec = definition.params.get(param)
        if spec is None or spec.type not in STORED_TYPES:
            found = "not declared" if spec is None else f"of type {spec.type}"
            raise DataRefError(ref, f"workflow {workflow} param {param!r} is {found}; a data "
                               "trigger sets a file or dir param")
        others = {name: p for name, p in definition.params.items() if name != param}
        values = check_parameters(others, parameters, self.store)
        key = trigger_key(ref, workflow, param)
        existing = self.store.meta_get(TRIGGERS_NS, key)
        if existing is not None:
            return json.loads(existing), False
        value = {"ref": ref, "workflow": workflow, "param": param,
                 "parameters": dict(parameters or {}), "keeps": stored_values(others, values),
                 "created_by": user, "created_at": self.clock.stamp(),
                 "seen": current(self.store, ref), "last": None}
        if not self.store.meta_cas(TRIGGERS_NS, key, None, _encode(value)):
            return json.loads(self.store.meta_get(TRIGGERS_NS, key)), False
        return value, True

    def remove(self, ref: str, *, workflow: str, param: str) -> dict:
        key = trigger_key(check_data_ref(ref), workflow, param)
        raw = self.store.meta_get(TRIGGERS_NS, key)
        if raw is None or not self.store.meta_cas(TRIGGERS_NS, key, raw, None):
            raise UnknownTrigger(ref, workflow, param)
        return {**json.loads(raw), "removed": True}

    def list(self, ref: str | None = None) -> list[dict]:
        return [value for _, value in self.entries() if ref is None or value["ref"] == ref]

    def entries(self) -> Iterator[tuple[str, dict]]:
        for key, raw in self.store.meta_scan(TRIGGERS_NS):
            yield key, json.loads(raw)


# ---- the tick: one run per new (definition, param, content) --------------------------
class TriggerKeeper:
    """Starts the runs data-ref moves call for. `tick()` costs one meta scan of the
    subscriptions and one ref read each; only a moved ref costs more."""

    def __init__(self, store: ObjectStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.registry = WorkflowRegistry(store, clock)

    def tick(self) -> list[str]:
        started = []
        for key, raw in list(self.store.meta_scan(TRIGGERS_NS)):
            sub = json.loads(raw)
            target = current(self.store, sub["ref"])
            if target == sub["seen"]:
                continue
            try:
                run_id = self.moved(key, raw, sub, target)
            except Exception:  # noqa: BLE001 - one bad subscription must not stop the others
                log.exception("data trigger %s: tick failed", key)
                continue
            if run_id is not None:
                started.append(run_id)
        return started

    def moved(self, key: str, raw: bytes, sub: dict, target: str | None) -> str | None:
        """The ref of `sub` now points at `target`: start its run unless that content was
        seen by the definition. The run id, or None."""
        if target is None:  # the ref was deleted: nothing to run on
            self.settle(key, raw, {**sub, "seen": None})
            return None
        try:
            _, version = self.registry.newest(sub["workflow"])
            oid, definition = self.registry.definition(version.definition.oid)
        except EngineError as exc:
            self.settle(key, raw, self.outcome(sub, target, None, str(exc)))
            return None
        seen_key = f"{oid}/{sub['param']}/{target}"
        earlier = self.store.meta_get(TRIGGER_SEEN_NS, seen_key)
        if earlier is not None:  # this definition already ran on this content
            self.settle(key, raw, self.outcome(sub, target, None, None, earlier.decode()))
            return None
        return self.start(key, raw, sub, target, oid, definition, seen_key)

    def start(self, key: str, raw: bytes, sub: dict, target: str, oid: str,
              definition: Definition, seen_key: str) -> str | None:
        content = KINDS.get(self.store.type_of(target), "file")

        def claim(b: WriteBatch, run_id: str) -> None:
            b.meta_cas(TRIGGERS_NS, key, raw, _encode(self.outcome(sub, target, run_id)))
            b.meta_cas(TRIGGER_SEEN_NS, seen_key, None, run_id.encode())

        try:
            run = start_run(
                self.store, self.clock, definition_oid=oid, definition=definition,
                parameters={**sub.get("parameters", {}), sub["param"]: target},
                started_by=DATA_ACTOR + sub["ref"],
                trigger={"kind": "data", "ref": sub["ref"], "hash": target,
                         "param": sub["param"], "content": content}, claim=claim)
        except ConflictError:
            return None  # another process started it (or it was just seen): next tick sees
        except EngineError as exc:
            log.warning("data trigger %s: %s moved to %s, no run: %s", key, sub["ref"],
                        target, exc)
            self.settle(key, raw, self.outcome(sub, target, None, str(exc)))
            return None
        log.info("data trigger %s: %s moved to %s, started run %s", key, sub["ref"], target,
                 run.run_id)
        return run.run_id

    def outcome(self, sub: dict, target: str, run_id: str | None, error: str | None = None,
                seen_by: str | None = None) -> dict:
        return {**sub, "seen": target,
                "last": {"hash": target, "at": self.clock.stamp(), "run_id": run_id,
                         "error": error, "already_run_by": seen_by}}

    def settle(self, key: str, raw: bytes, value: dict) -> None:
        """Move the subscription on without a run (a lost race changes nothing)."""
        self.store.meta_cas(TRIGGERS_NS, key, raw, _encode(value))
