"""W3C PROV-JSON, written as it is made: the same records the `prov` library reads and
writes (its PROV-JSON serializer's encoding), one section per record kind.

Activities: the run and each task attempt. Entities: files (by BLAKE3 hash), directories
(`prov:Collection`s by tree hash, `prov:hadMember` each file inside), the definition,
each image. Agents: the triggering user and the engine (with its version).

PROV-JSON groups records by kind, so the writer reads the run's attempts once per
section (engine/provenance/exports/run_stream.py), holding one attempt at a time. What it
keeps across a pass grows with the run's distinct files, never with its attempts or
bytes: which hashes were described already (`Seen`, about 60 bytes each) and, for
`wasInformedBy`, which table rows produced each output (about 100 bytes each).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from urllib.parse import quote

from wfobj.engine.clock import parse_time

from .json_stream import Seen, chunked, dumps, json_object
from .run_stream import Attempt, Content, RunStream

NAMESPACES = {
    "wfobj": "urn:wfobj:ns#",
    "run": "urn:wfobj:run:",
    "evidence": "urn:wfobj:evidence:",
    "blob": "urn:wfobj:blob:",
    "tree": "urn:wfobj:tree:",
    "definition": "urn:wfobj:definition:",
    "image": "urn:wfobj:image:",
    "user": "urn:wfobj:user:",
    "engine": "urn:wfobj:engine:",
    "secret": "urn:wfobj:secret:",  # a secret's value, by its keyed fingerprint, never itself
}
Record = tuple[str, dict]  # a record's id and its attributes, as PROV-JSON writes them
Relations = Callable[[Callable[[], str]], Iterator[Record]]  # given a maker of "_:idN"


def qname(name: str) -> dict:
    return {"$": name, "type": "prov:QUALIFIED_NAME"}


def xsd_int(value: int) -> dict:
    return {"$": value, "type": "xsd:int"}


def stream_prov(run: RunStream) -> Iterator[bytes]:
    """The PROV-JSON document in pieces; nothing is read before the first is sent."""
    return chunked(document_text(run))


def document_text(run: RunStream) -> Iterator[str]:
    counter = itertools.count(1)

    def anon() -> str:
        return f"_:id{next(counter)}"

    trees = Trees()
    sections: list[tuple[str, Callable[[], Iterator[Record]]]] = [
        ("prefix", lambda: iter(NAMESPACES.items())),
        ("entity", lambda: entities(run, trees)),
        ("hadMember", lambda: memberships(run, trees, anon)),
        ("activity", lambda: activities(run)),
        ("agent", lambda: agents(run)),
        ("wasAssociatedWith", lambda: associations(run, anon)),
        ("used", lambda: usages(run, anon)),
        ("wasInformedBy", lambda: communications(run, anon)),
        ("wasGeneratedBy", lambda: generations(run, anon)),
    ]
    yield "{"
    first = True
    for kind, records in sections:
        members = ((key, dumps(value)) for key, value in records())
        head = next(members, None)  # a kind with no records is left out, as prov does
        if head is None:
            continue
        yield ("\n" if first else ",\n") + f"  {dumps(kind)}: "
        yield from json_object(itertools.chain([head], members), indent="  ")
        first = False
    yield "\n}\n"


def entity_id(c: Content) -> str:
    return f"tree:{c.hash}" if c.is_dir else f"blob:{c.hash}"


def time_of(text: str | None) -> str | None:
    return parse_time(text).isoformat() if text else None


def timed(start: str | None, end: str | None, attrs: dict) -> dict:
    times = {"prov:startTime": time_of(start), "prov:endTime": time_of(end)}
    return {**{k: v for k, v in times.items() if v is not None}, **attrs}


def user_id(run: RunStream) -> str:
    return "user:" + quote(run.triggered_by, safe=":")


def engine_id(run: RunStream) -> str:
    return "engine:" + run.engine_version.replace(" ", "-")


def definition_id(run: RunStream) -> str:
    return f"definition:{run.definition_hash}"


def secret_id(name: str, fingerprint: str) -> str:
    """A secret's value as an entity: named by its keyed fingerprint, never the value."""
    return f"secret:{fingerprint}-{name}"


# ---- entities ----------------------------------------------------------------------
class Trees:
    """The directories the entity pass met: each once (`seen`), and the first
    KEPT_TREES of them by content, so the membership pass need not read the run again
    unless there were more."""

    def __init__(self) -> None:
        self.seen = Seen()
        self.kept: list[Content] = []
        self.all_kept = True

    def first(self, c: Content) -> bool:
        if not self.seen.first(c.hash):
            return False
        if len(self.kept) < KEPT_TREES:
            self.kept.append(c)
        else:
            self.all_kept = False
        return True


KEPT_TREES = 4096


def entities(run: RunStream, trees: Trees) -> Iterator[Record]:
    """Every file, directory, image and secret the run touched, each once, and the
    definition."""
    blobs, images, secrets = Seen(), Seen(), set()
    yield definition_id(run), {"prov:type": qname("prov:Plan"), "wfobj:workflow": run.workflow}
    for c in run.param_contents:
        yield from content_entities(run, c, blobs, trees)
    for a in run.attempts():
        for c in a.inputs + a.outputs:
            yield from content_entities(run, c, blobs, trees)
        if images.first(a.image_facts_hash):
            yield f"image:{a.image_facts_hash}", {
                "prov:type": qname("wfobj:ContainerImage"), "wfobj:reference": a.image,
                "wfobj:image_id": a.image_id or ""}
        for name, _, fingerprint in a.secrets:
            if (name, fingerprint) not in secrets:
                secrets.add((name, fingerprint))
                yield secret_id(name, fingerprint), {
                    "prov:type": qname("wfobj:Secret"), "wfobj:name": name,
                    "wfobj:fingerprint": fingerprint}


def content_entities(run: RunStream, c: Content, blobs: Seen, trees: Trees) -> Iterator[Record]:
    """A file's entity, or a directory's and its files' (a directory met before is not
    walked again)."""
    if c.is_dir:
        if not trees.first(c):
            return
        yield entity_id(c), {"prov:type": [qname("wfobj:Directory"), qname("prov:Collection")],
                             "wfobj:tree": c.hash, "wfobj:size": xsd_int(c.size)}
    for f in run.files_in(c):
        if blobs.first(f.hash):
            yield f"blob:{f.hash}", {"prov:type": qname("wfobj:File"), "wfobj:blake3": f.hash,
                                     "wfobj:size": xsd_int(f.size)}


def memberships(run: RunStream, met: Trees, anon: Callable[[], str]) -> Iterator[Record]:
    """Each directory's files, each once per directory (the directories the entity pass
    kept, or when it met more, those the run's contents name, read again)."""
    if met.all_kept:
        found: Iterator[Content] = iter(met.kept)
    else:
        trees = Seen()
        found = (c for c in run.contents() if c.is_dir and trees.first(c.hash))
    for tree in found:
        members = Seen()
        for f in run.files_in(tree):
            if members.first(f.hash):
                yield anon(), {"prov:collection": entity_id(tree), "prov:entity": f"blob:{f.hash}"}


# ---- activities and agents -----------------------------------------------------------
def activities(run: RunStream) -> Iterator[Record]:
    yield f"run:{run.run_id}", timed(run.started_at or run.created_at, run.ended_at, {
        "prov:type": qname("wfobj:Run"), "wfobj:workflow": run.workflow,
        "wfobj:state": run.state, "wfobj:created_at": run.created_at})
    for a in run.attempts():
        attrs = {"prov:type": qname("wfobj:TaskAttempt"), "wfobj:task": a.task,
                 "wfobj:attempt": xsd_int(a.number), "wfobj:state": a.state,
                 "wfobj:image": a.image}
        if a.exit_code is not None:
            attrs["wfobj:exit_code"] = xsd_int(a.exit_code)
        if a.cached_from:
            attrs["wfobj:cached_from"] = f"evidence:{a.cached_from}"
        yield f"evidence:{a.evidence_hash}", timed(a.started_at, a.ended_at, attrs)


def agents(run: RunStream) -> Iterator[Record]:
    yield user_id(run), {"prov:type": qname("prov:Person"), "wfobj:name": run.triggered_by}
    yield engine_id(run), {"prov:type": qname("prov:SoftwareAgent"),
                           "wfobj:version": run.engine_version}


# ---- relations -------------------------------------------------------------------------
def associations(run: RunStream, anon: Callable[[], str]) -> Iterator[Record]:
    activity = f"run:{run.run_id}"
    yield anon(), {"prov:activity": activity, "prov:agent": user_id(run),
                   "prov:plan": definition_id(run)}
    yield anon(), {"prov:activity": activity, "prov:agent": engine_id(run)}
    for oid in run.attempt_oids():  # the rows alone: no evidence is read
        yield anon(), {"prov:activity": f"evidence:{oid}",
                       "prov:agent": engine_id(run), "prov:plan": definition_id(run)}


def usages(run: RunStream, anon: Callable[[], str]) -> Iterator[Record]:
    activity = f"run:{run.run_id}"
    yield anon(), {"prov:activity": activity, "prov:entity": definition_id(run)}
    for c in run.param_contents:
        yield anon(), {"prov:activity": activity, "prov:entity": entity_id(c),
                       "prov:role": f"params.{c.path}"}
    for a in run.attempts():
        activity = f"evidence:{a.evidence_hash}"
        yield anon(), {"prov:activity": activity, "prov:entity": f"image:{a.image_facts_hash}",
                       "prov:role": "image"}
        for c in a.inputs:
            yield anon(), {"prov:activity": activity, "prov:entity": entity_id(c),
                           "prov:role": c.path}
        for name, place, fingerprint in a.secrets:
            yield anon(), {"prov:activity": activity,
                           "prov:entity": secret_id(name, fingerprint), "prov:role": place}


def generations(run: RunStream, anon: Callable[[], str]) -> Iterator[Record]:
    for a in run.attempts():
        for c in a.outputs:
            yield anon(), {"prov:entity": entity_id(c),
                           "prov:activity": f"evidence:{a.evidence_hash}", "prov:role": c.path}


def communications(run: RunStream, anon: Callable[[], str]) -> Iterator[Record]:
    """The run by its parent run; each attempt by the run, by the last attempts whose
    outputs it read (or read inside), and its child run by it."""
    activity = f"run:{run.run_id}"
    if run.parent:  # a sub-workflow's child run: started by its parent run
        yield anon(), {"prov:informed": activity, "prov:informant": f"run:{run.parent['run_id']}"}
    made_by = Producers(run)
    for a in run.attempts():
        informed = f"evidence:{a.evidence_hash}"
        yield anon(), {"prov:informed": informed, "prov:informant": activity}
        for upstream in made_by.of(a):
            yield anon(), {"prov:informed": informed, "prov:informant": f"evidence:{upstream}"}
        if a.child_run:  # a sub-workflow task: its child run was started by this attempt
            yield anon(), {"prov:informed": f"run:{a.child_run}", "prov:informant": informed}


class Producers:
    """Each output's producers: the table rows whose last attempt wrote it, by the first
    8 bytes of its hash (made in one pass over the rows, so finding an attempt's producers
    costs its inputs, not the run's attempts)."""

    def __init__(self, run: RunStream) -> None:
        self.run = run
        self.rows: dict[int, int | list[int]] = {}
        for position, attempt in run.last_attempts_at():
            for oid in dict.fromkeys(f.hash for f in attempt.outputs):
                self.add(int(oid[:16], 16), position)

    def add(self, key: int, position: int) -> None:
        held = self.rows.get(key)
        if held is None:
            self.rows[key] = position
        elif isinstance(held, int):
            self.rows[key] = [held, position]
        else:
            held.append(position)

    def of(self, a: Attempt) -> list[str]:
        """Evidence hashes of the last attempts whose outputs `a` read (or read inside)."""
        inputs = {c.hash for c in a.inputs} | {c.within.tree for c in a.inputs if c.within}
        found: set[str] = set()
        for oid in inputs:
            held = self.rows.get(int(oid[:16], 16), [])
            for position in [held] if isinstance(held, int) else held:
                evidence = self.run.head.rows.row(position)["attempts"][-1].oid
                if evidence != a.evidence_hash:
                    found.add(evidence)
        return sorted(found)
