"""fsck: prove the store holds what its hashes say, and that every ref's closure is whole.

Each object (or a random sample) is re-hashed; structured objects must re-encode to the
exact stored bytes; chunked blobs are re-read end to end, first, so each chunk is hashed
once for its own id, in the same pass as its file's whole content. Every object's links are checked
(dangling links are damage), every ref is walked, and objects no ref reaches are listed
(unreachable is informational: a crash between writing objects and moving a ref leaves
some, and they harm nothing).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ChecksumMismatch, ObjectStoreError
from .ids import ObjectId
from .store import ObjectStore
from .walk import reachable


@dataclass(frozen=True)
class Damage:
    """One problem found: which object (or ref), what kind, and the details."""

    oid: str
    kind: str  # checksum | invalid | chunked | dangling | ref
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.oid}: {self.detail}"


@dataclass
class FsckReport:
    total: int = 0
    checked: int = 0
    refs: int = 0
    damage: list[Damage] = field(default_factory=list)
    unreachable: list[ObjectId] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damage

    def bad_hashes(self) -> list[str]:
        """Each damaged object's hash (or ref name), once, in the order found."""
        return list(dict.fromkeys(d.oid for d in self.damage))

    def to_json(self) -> dict:
        return {
            "ok": self.ok, "objects": self.total, "checked": self.checked, "refs": self.refs,
            "damage": [{"hash": d.oid, "kind": d.kind, "detail": d.detail} for d in self.damage],
            "unreachable": list(self.unreachable),
        }


def parse_sample(text: str) -> float:
    """'10%' (or '10') → 0.10; ValueError for anything outside (0, 100]."""
    number = text.strip().removesuffix("%")
    try:
        fraction = float(number) / 100
    except ValueError:
        raise ValueError(f"sample must be a percentage like 10%, not {text!r}") from None
    if not 0 < fraction <= 1:
        raise ValueError(f"sample must be between 0% and 100%, not {text!r}")
    return fraction


def fsck_store(
    store: ObjectStore,
    *,
    sample: float = 1.0,
    rng: random.Random | None = None,
    progress: Callable[[int], None] | None = None,
) -> FsckReport:
    """Check the store; `sample` is the fraction of objects whose content is re-verified
    (links, refs and connectivity are always checked in full)."""
    rng = rng or random.Random()
    report = FsckReport()
    links: dict[str, list[ObjectId]] = {}
    verified: set[str] = set()  # blobs kept whole (no links) re-hashed in this pass
    for oid in _chunked_first(store):
        report.total += 1
        if sample >= 1 or rng.random() < sample:
            report.checked += 1
            if oid not in verified:  # a chunk is re-hashed once, with its file or alone
                report.damage.extend(verify_object(store, oid, verified))
        links[oid] = [] if oid in verified else _links_or_damage(store, oid, report)
        if progress is not None:
            progress(report.total)
    for oid, targets in links.items():
        for target in targets:
            if target not in links:
                report.damage.append(Damage(oid, "dangling", f"links to missing {target}"))
    reachable = _reachable(store, links, report)
    report.unreachable = [ObjectId(o) for o in links if o not in reachable]
    return report


def _chunked_first(store: ObjectStore) -> list[ObjectId]:
    """Every object, large blobs kept as chunks first: each chunk is then hashed for its
    own id in the same pass (and beside the same thread) as for its file's."""
    oids = list(store)
    chunked = store.chunked_among(oids)
    return [oid for oid in oids if oid in chunked] + [oid for oid in oids if oid not in chunked]


def verify_object(
    store: ObjectStore, oid: str, verified: set[str] | None = None
) -> list[Damage]:
    """Re-verify one object's stored content against its hash; the problems found.
    `verified`: blobs already checked, which a chunked blob does not re-hash (see
    ObjectStore.verify)."""
    try:
        store.verify(oid, verified)
    except ChecksumMismatch as exc:
        return [Damage(oid, "checksum", f"content hashes to {exc.got}")]
    except ObjectStoreError as exc:  # InvalidObject, ObjectNotFound (a missing chunk), …
        kind = "chunked" if store.record(oid).is_chunked else "invalid"
        return [Damage(oid, kind, str(exc))]
    return []


def _links_or_damage(store: ObjectStore, oid: str, report: FsckReport) -> list[ObjectId]:
    try:
        return store.stored_links(oid)
    except ObjectStoreError as exc:
        if oid not in report.bad_hashes():
            report.damage.append(Damage(oid, "invalid", f"links unreadable: {exc}"))
        return []
    except Exception as exc:  # noqa: BLE001 - undecodable bytes from a damaged record
        report.damage.append(Damage(oid, "invalid", f"links unreadable: {exc}"))
        return []


def _reachable(store: ObjectStore, links: dict[str, list[ObjectId]], report: FsckReport) -> set:
    seen: set[str] = set()
    for name, target in store.refs():
        report.refs += 1
        if target not in links:
            report.damage.append(Damage(name, "ref", f"points at missing object {target}"))
            continue
        reachable([target], lambda oid: links.get(oid, ()), seen)
    return seen
