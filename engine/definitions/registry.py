"""Workflow versions: a git-like chain of version objects per name, moved by CAS.

`workflows/<name>` points at the newest `workflow_version`, which links its `definition`
and the `previous` version. Registering an unchanged definition writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from wfobj.engine.clock import Clock
from wfobj.engine.errors import InvalidStoredObject, NotADefinition, UnknownWorkflow
from wfobj.engine.layout import REF_PREFIX
from wfobj.engine.model import Definition, WorkflowVersion, read
from wfobj.objstore import ConflictError, Link, ObjectNotFound, ObjectStore, RefNotFound, hash_bytes
from wfobj.objstore.batch import encode_structured

from .cwl_compile import check_cwl_tasks, compile_source, is_cwl
from .format import STORED_TYPES, check_workflow_name, normalize, parse_source
from .subworkflows import resolve_subworkflows


def workflow_ref(name: str) -> str:
    return REF_PREFIX + name


def versions(store: ObjectStore, head: str) -> Iterator[WorkflowVersion]:
    """The version `head` and every one before it, newest first (InvalidStoredObject if
    one is not a `workflow_version`)."""
    oid: str | None = head
    while oid is not None:
        version = read(store, oid, WorkflowVersion)
        yield version
        oid = version.previous.oid if version.previous else None


def stored_defaults(definition: Definition) -> list[str]:
    """The hashes of the objects `definition` names and keeps while it is registered
    (gc): its `file` and `dir` defaults, its `source` document and the CWL documents its
    CWL tasks run."""
    named = [spec.default for spec in definition.params.values()
             if spec.type in STORED_TYPES and spec.default is not None]
    named += [definition.source["document"]] if definition.source else []
    named += sorted({task.cwl["document"] for task in definition.tasks.values()
                     if task.cwl is not None} - set(named))
    if definition.source is not None:  # a CWL document's subworkflows: unnamed children
        named += sorted({task.workflow["hash"] for task in definition.tasks.values()
                         if task.workflow is not None and "hash" in task.workflow})
    return named


@dataclass(frozen=True)
class Registered:
    name: str
    definition_hash: str
    version: int
    created: bool


class WorkflowRegistry:
    def __init__(self, store: ObjectStore, clock: Clock,
                 check: Callable[[Definition], None] | None = None):
        self.store = store
        self.clock = clock
        self.check = check  # what else a definition must pass here (its secrets exist)

    def apply(self, name: str, source: str | bytes | dict, *, user: str,
              content_type: str = "application/json") -> Registered:
        """Register `source` under `name`; a new version only if the definition changed."""
        check_workflow_name(name)
        definition, document, children = self.parsed(name, source, content_type)
        if self.check is not None:
            self.check(definition)
        if document is not None:  # a CWL document: the blob its definition pins, and
            self.store.put_blob(document)  # the child definitions of its subworkflows
            for child in children:
                self.store.put_object(child.to_value())
        while True:
            current = self.head(name)
            if current is not None:
                version = read(self.store, current, WorkflowVersion)
                if version.definition.oid == self.store_hash(definition):
                    return Registered(name, version.definition.oid, version.version, False)
            if self.write_version(name, definition, current, user):
                return self.apply_result(name)

    def validate(self, name: str, source: str | bytes | dict,
                 content_type: str = "application/json") -> tuple[str, Definition]:
        """(definition hash, normalized definition) that `apply` would register under
        `name`, writing nothing; refusals raise as they would there."""
        check_workflow_name(name)
        definition, _, _ = self.parsed(name, source, content_type)
        if self.check is not None:
            self.check(definition)
        return self.store_hash(definition), definition

    def parsed(self, name: str, source: str | bytes | dict,
               content_type: str) -> tuple[Definition, bytes | None, list[Definition]]:
        """The normalized definition of `source`, and when `source` is a CWL document
        (engine/definitions/cwl_compile.py) the packed document it pins and the child
        definitions of its subworkflows (else None and [])."""
        raw, document = parse_source(source, content_type), None
        if not is_cwl(raw):
            definition = self.resolve(normalize(raw, name))
            if any(task.cwl is not None for task in definition.tasks.values()):
                check_cwl_tasks(definition, self.store)  # written by hand: check them
            return definition, None, []
        raw, document, children = compile_source(raw)
        made: dict[str, tuple[str, Definition]] = {}  # a subworkflow's child definitions
        for child_name, child_raw in children:  # deepest first
            child = self.resolve(normalize(child_raw, child_name), made)
            made[child_name] = (self.store_hash(child), child)
        return (self.resolve(normalize(raw, name), made), document,
                [child for _, child in made.values()])

    def resolve(self, definition: Definition,
                made: dict[str, tuple[str, Definition]] | None = None) -> Definition:
        """`definition` with its sub-workflows' definition hashes pinned (400 if one does
        not fit, engine/definitions/subworkflows.py); `made`: child definitions compiled
        with it (a CWL document's subworkflows), by name, not stored yet."""
        if all(task.workflow is None for task in definition.tasks.values()):
            return definition
        made = made or {}
        by_hash = {oid: child for oid, child in made.values()}
        return resolve_subworkflows(
            definition,
            lambda name: made[name][0] if name in made else self.newest_hash(name),
            lambda oid: by_hash.get(oid) or self.stored_definition(oid))

    def newest_hash(self, name: str) -> str | None:
        head = self.head(name)
        return None if head is None else read(self.store, head, WorkflowVersion).definition.oid

    def stored_definition(self, oid: str) -> Definition | None:
        """The definition stored as `oid`, or None if there is none (or another object)."""
        try:
            return read(self.store, oid, Definition)
        except (KeyError, InvalidStoredObject):
            return None

    def store_hash(self, definition: Definition) -> str:
        return hash_bytes(encode_structured(definition.to_value())[0])

    def write_version(self, name: str, definition: Definition, current: str | None,
                      user: str) -> bool:
        number = read(self.store, current, WorkflowVersion).version + 1 if current else 1
        try:
            with self.store.batch() as b:
                def_oid = b.put_object(definition.to_value())
                for oid in stored_defaults(definition):
                    # named by hash: stamped so a gc running now keeps it (presence is
                    # checked at trigger, so an absent one is not required here)
                    b.need(oid, required=False)
                version = WorkflowVersion(
                    name=name, version=number, definition=Link.obj(def_oid), registered_by=user,
                    registered_at=self.clock.stamp(),
                    previous=Link.obj(current) if current else None)
                b.set_ref(workflow_ref(name), current, b.put_object(version.to_value()))
        except ConflictError:
            return False  # someone registered concurrently: look again
        return True

    def apply_result(self, name: str) -> Registered:
        version = read(self.store, self.head(name), WorkflowVersion)
        return Registered(name, version.definition.oid, version.version, True)

    def head(self, name: str) -> str | None:
        try:
            return self.store.get_ref(workflow_ref(name))
        except (RefNotFound, ValueError):
            return None

    def newest(self, name: str) -> tuple[str, WorkflowVersion]:
        oid = self.head(name)
        if oid is None:
            raise UnknownWorkflow(name)
        return oid, read(self.store, oid, WorkflowVersion)

    def history(self, name: str) -> Iterator[WorkflowVersion]:
        """Every version of `name`, newest first."""
        oid = self.head(name)
        if oid is None:
            raise UnknownWorkflow(name)
        return versions(self.store, oid)

    def names(self) -> Iterator[tuple[str, str]]:
        for ref, oid in self.store.refs(REF_PREFIX):
            yield ref[len(REF_PREFIX):], oid

    def definition(self, definition_hash: str) -> tuple[str, Definition]:
        """(full hash, definition) for a possibly abbreviated definition hash."""
        try:
            oid = self.store.resolve(definition_hash)
        except ObjectNotFound:
            raise NotADefinition(definition_hash) from None
        kind = self.store.type_of(oid)
        if kind != "definition":
            raise NotADefinition(oid, kind)
        return oid, read(self.store, oid, Definition)
