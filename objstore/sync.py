"""Store-to-store sync, independent of transport: negotiation, packs, ref rules.

Push: list the remote's refs, walk from the refs being sent asking the remote in
batches which ids it lacks (pruning wherever it has one: closure means it has all
below), send what is missing children-first in packs of a few MiB, then move refs by
compare-and-swap under the ref rules. Pull: ask the remote for the ids of the closure
of what we want (pruned at our refs), keep those we lack, stream them as one pack that
is committed every few MiB, then move our refs under the same rules. Everything stored
is verified and closure-complete, so an interrupted sync simply runs again.
"""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

from .car import ReceiveStats, block_bytes, block_of, header_bytes, iter_pack, receive_pack
from .errors import InvalidObject, MissingLinks, RefNotFound
from .ids import ObjectId, check_hash
from .refs import check_ref_name
from .store import ObjectStore
from .walk import walk_closure

MISSING_BATCH = 10_000
PACK_BYTES = 8 << 20

UPDATED, UNCHANGED, REFUSED, WOULD_UPDATE = "updated", "unchanged", "refused", "would-update"


# ---- data --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefUpdate:
    """Move `name` from `old` (None: absent, as the sender last saw it) to `new`."""

    name: str
    old: ObjectId | None
    new: ObjectId

    @classmethod
    def from_json(cls, item: dict) -> RefUpdate:
        if not isinstance(item, dict):
            raise InvalidObject("a ref update must be an object with name, old, new")
        old = item.get("old")
        return cls(
            check_ref_name(item.get("name")),
            None if old is None else check_hash(old),
            check_hash(item.get("new")),
        )


@dataclass(frozen=True)
class RefResult:
    name: str
    old: ObjectId | None
    new: ObjectId
    status: str  # updated | unchanged | refused | would-update
    reason: str = ""

    @classmethod
    def from_json(cls, item: dict) -> RefResult:
        return cls(
            item["name"], item.get("old"), item["new"], item["status"], item.get("reason", "")
        )


@dataclass
class SyncReport:
    """What a push or pull did (or, with dry_run, would do)."""

    direction: str
    dry_run: bool = False
    objects: int = 0
    bytes: int = 0
    packs: int = 0
    rounds: int = 0
    refs: list[RefResult] = field(default_factory=list)

    @property
    def refs_updated(self) -> list[str]:
        return [r.name for r in self.refs if r.status in (UPDATED, WOULD_UPDATE)]

    def to_json(self) -> dict:
        out = asdict(self)
        out["refs"] = [asdict(r) for r in self.refs]
        return out


Progress = Callable[[int, int], None]  # (objects so far, bytes so far)


# ---- the other side ---------------------------------------------------------------------
class Remote(abc.ABC):
    """The other store, however it is reached (a path, HTTP). One method = one round."""

    @abc.abstractmethod
    def list_refs(self) -> dict[str, ObjectId]: ...

    @abc.abstractmethod
    def missing(self, ids: Sequence[str]) -> list[ObjectId]:
        """The subset of `ids` the remote does not hold."""

    @abc.abstractmethod
    def send_pack(self, pieces: Iterable[bytes], size: int) -> ReceiveStats:
        """Upload one pack (`size` bytes in `pieces`); the remote verifies and stores it."""

    @abc.abstractmethod
    def list_objects(self, wants: Sequence[str], haves: Sequence[str]) -> list[ObjectId]:
        """Ids of the closure of `wants`, children first, pruned at `haves`."""

    @abc.abstractmethod
    def fetch_pack(self, wants: Sequence[str], haves: Sequence[str]) -> Iterable[bytes]:
        """A pack of the closure of `wants` pruned at `haves`, children first, streamed."""

    @abc.abstractmethod
    def update_refs(self, updates: Sequence[RefUpdate], force: bool) -> list[RefResult]:
        """Apply ref updates under the ref rules (see apply_ref_updates)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection or store handle."""


class LocalRemote(Remote):
    """Another store reached directly (a store path); its ref updates follow `policy`,
    as a server's follow the server's."""

    def __init__(self, store: ObjectStore, policy: RefPolicy):
        self.store = store
        self.policy = policy

    def list_refs(self) -> dict[str, ObjectId]:
        return dict(self.store.refs())

    def missing(self, ids: Sequence[str]) -> list[ObjectId]:
        return missing_ids(self.store, ids)

    def send_pack(self, pieces: Iterable[bytes], size: int) -> ReceiveStats:
        from .car import IterStream

        return receive_pack(self.store, IterStream(pieces))

    def list_objects(self, wants: Sequence[str], haves: Sequence[str]) -> list[ObjectId]:
        return list(closure_ids(self.store, wants, haves))

    def fetch_pack(self, wants: Sequence[str], haves: Sequence[str]) -> Iterable[bytes]:
        return iter_pack(self.store, closure_ids(self.store, wants, haves))

    def update_refs(self, updates: Sequence[RefUpdate], force: bool) -> list[RefResult]:
        return apply_ref_updates(self.store, updates, self.policy, force=force)

    def close(self) -> None:
        self.store.close()


# ---- serving side helpers (used by LocalRemote and the HTTP endpoints) -----------------
def missing_ids(store: ObjectStore, ids: Iterable[str]) -> list[ObjectId]:
    return [ObjectId(i) for i in ids if i not in store]


def closure_ids(
    store: ObjectStore, wants: Iterable[str], haves: Iterable[str]
) -> Iterator[ObjectId]:
    """What a peer holding `haves` (with their closures) lacks of `wants`' closure."""
    have_set = set(haves)
    roots = [w for w in wants if w not in have_set]
    for oid in roots:
        if oid not in store:
            raise RefNotFound(oid)
    return walk_closure(store, roots, prune=have_set.__contains__)


# ---- ref rules -----------------------------------------------------------------------------
class RefPolicy(abc.ABC):
    """Which refs exist and what they may point at, supplied by the layer that knows what
    refs mean (objstore only moves them). Every update on either side of a sync passes
    `check_name` and `check_target`; an existing ref moves only if `movable`, and then
    only forward (`descends`) unless forced."""

    @abc.abstractmethod
    def check_name(self, name: str) -> None:
        """RefRefused unless a ref called `name` may exist."""

    @abc.abstractmethod
    def check_target(self, store: ObjectStore, name: str, oid: str) -> None:
        """RefRefused unless `oid` (in `store` with its closure) may be `name`'s value."""

    @abc.abstractmethod
    def movable(self, name: str) -> bool:
        """True if an existing `name` may take another value (else it is add-only)."""

    @abc.abstractmethod
    def descends(self, store: ObjectStore, ancestor: str, descendant: str) -> bool:
        """True if moving a ref from `ancestor` to `descendant` is a fast-forward."""

    def refs_updated(self, store: ObjectStore, names: list[str]) -> None:
        """Told which refs of `store` a sync moved (to index them, say); by default,
        nothing to do."""
        return None


def decide_ref(
    store: ObjectStore, policy: RefPolicy, name: str, current: str | None, new: str,
    force: bool,
) -> tuple[str, str]:
    """(status, reason) for moving `name` from `current` to `new` on a side whose `store`
    holds `new`'s closure. Add-only refs are never overwritten, even with force; movable
    ones move fast-forward only unless force."""
    if current == new:
        return UNCHANGED, ""
    if current is None:
        return UPDATED, ""
    if not policy.movable(name):
        return REFUSED, _add_only_reason(current)
    if policy.descends(store, current, new):
        return UPDATED, ""
    if force:
        return UPDATED, "forced (not a fast-forward)"
    return REFUSED, f"not a fast-forward: {current} is not an ancestor of {new} (use --force)"


def _add_only_reason(current: str) -> str:
    return f"exists with a different value ({current}) and is add-only"


def check_updates(store: ObjectStore, policy: RefPolicy, targets: Iterable[tuple[str, str]],
                  ) -> None:
    """RefRefused for the first (name, target) the policy forbids; targets that are not
    in `store` are left to the caller (refused per ref, or not fetched yet)."""
    for name, oid in targets:
        policy.check_name(name)
        if oid in store:
            policy.check_target(store, name, oid)


def apply_ref_updates(
    store: ObjectStore, updates: Sequence[RefUpdate], policy: RefPolicy, *, force: bool = False
) -> list[RefResult]:
    """Move refs on the receiving side, each by compare-and-swap against what the sender
    saw. Every update is checked against `policy` first: one it forbids raises RefRefused
    and none moves. An update whose object is not (closure-complete) in the store, or
    that is not a permitted move, is refused in its result."""
    check_updates(store, policy, ((up.name, up.new) for up in updates))
    results = [_apply_one(store, policy, up, force) for up in updates]
    moved = [r.name for r in results if r.status == UPDATED]
    if moved:
        policy.refs_updated(store, moved)
    return results


def _apply_one(store: ObjectStore, policy: RefPolicy, up: RefUpdate, force: bool) -> RefResult:
    current = _ref_or_none(store, up.name)
    if up.new not in store:
        return RefResult(up.name, current, up.new, REFUSED, f"object {up.new} not in store")
    if current != up.old and current != up.new:
        reason = f"ref moved since it was listed (expected {up.old}, found {current})"
        return RefResult(up.name, current, up.new, REFUSED, reason)
    status, reason = decide_ref(store, policy, up.name, current, up.new, force)
    if status == UPDATED and not _cas(store, up.name, current, up.new):
        status, reason = REFUSED, "ref changed concurrently; sync again"
    return RefResult(up.name, current, up.new, status, reason)


def _cas(store: ObjectStore, name: str, old: str | None, new: str) -> bool:
    try:
        return store.set_ref_if_equals(name, old, new)
    except MissingLinks:
        return False


def _ref_or_none(store: ObjectStore, name: str) -> ObjectId | None:
    try:
        return store.get_ref(name)
    except RefNotFound:
        return None


def select_refs(refs: dict[str, ObjectId], names: Sequence[str] | None) -> dict[str, ObjectId]:
    """The refs to sync: all of `refs`, or the named ones (each must exist)."""
    if not names:
        return dict(refs)
    picked = {}
    for name in names:
        check_ref_name(name)
        if name not in refs:
            raise RefNotFound(name)
        picked[name] = refs[name]
    return picked


# ---- negotiation -----------------------------------------------------------------------
class _Rounds:
    """Counts requests to the remote (one method call = one round)."""

    def __init__(self, remote: Remote, report: SyncReport):
        self.remote, self.report = remote, report

    def __getattr__(self, name: str):
        method = getattr(self.remote, name)

        def counted(*args, **kwargs):
            self.report.rounds += 1
            return method(*args, **kwargs)

        return counted


def find_missing(
    store: ObjectStore,
    remote: Remote,
    roots: Iterable[str],
    known_present: Iterable[str] = (),
    *,
    batch: int = MISSING_BATCH,
) -> list[ObjectId]:
    """Objects below `roots` the remote lacks, children first.

    Each round asks about at most `batch` ids at once: first the pending ones (children
    of objects the remote lacks), then, speculatively, what lies below them, breadth
    first; a chain of new objects therefore costs one round per `batch` objects, not one
    per link. What a round leaves unasked stays pending, so every object below one the
    remote lacks is asked about once (a chunked file's chunks too), and anything the
    remote has is pruned with everything below it.
    """
    status: dict[str, bool] = dict.fromkeys(known_present, True)
    pending = deque(r for r in dict.fromkeys(roots) if r not in status)
    while pending:
        asked, children = _collect(store, pending, status, batch)
        if not asked:
            break
        lacking = set(remote.missing(asked))
        for oid in asked:
            status[oid] = oid not in lacking
        pending.extend(dict.fromkeys(
            c for oid in asked if oid in lacking for c in children[oid] if c not in status))
    roots_lacking = [r for r in dict.fromkeys(roots) if status.get(r) is False]
    return list(walk_closure(store, roots_lacking, prune=lambda o: status.get(o, False)))


def _collect(
    store: ObjectStore, pending: deque[str], status: dict[str, bool], batch: int
) -> tuple[list[str], dict[str, list[ObjectId]]]:
    """Up to `batch` ids of unknown status to ask about: taken from `pending` (which
    keeps what is left), then from below them, breadth first; with each one's links."""
    asked: list[str] = []
    children: dict[str, list[ObjectId]] = {}
    below: deque[str] = deque()
    while len(asked) < batch and (pending or below):
        oid = pending.popleft() if pending else below.popleft()
        if oid in status or oid in children:
            continue
        asked.append(oid)
        children[oid] = store.stored_links(oid)
        below.extend(c for c in children[oid] if c not in status and c not in children)
    return asked, children


@dataclass
class Pack:
    """One pack to send: its objects (children first) and its bytes."""

    oids: list[str]
    pieces: list[bytes]

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.pieces)


def plan_packs(
    store: ObjectStore, oids: Iterable[str], pack_bytes: int = PACK_BYTES
) -> Iterator[Pack]:
    """Split children-first `oids` into consecutive packs of about `pack_bytes`."""
    pack, size = Pack([], [header_bytes()]), 0
    for oid in oids:
        block = block_bytes(*block_of(store, oid))
        if pack.oids and size + len(block) > pack_bytes:
            yield pack
            pack, size = Pack([], [header_bytes()]), 0
        pack.oids.append(oid)
        pack.pieces.append(block)
        size += len(block)
    if pack.oids:
        yield pack


# ---- push and pull ------------------------------------------------------------------------
def push(
    store: ObjectStore,
    remote: Remote,
    policy: RefPolicy,
    names: Sequence[str] | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
    pack_bytes: int = PACK_BYTES,
    batch: int = MISSING_BATCH,
    progress: Progress | None = None,
) -> SyncReport:
    """Send refs (default: all) and what they need to `remote`. A ref `policy` forbids
    raises RefRefused before anything is sent."""
    report = SyncReport("push", dry_run)
    local = select_refs(dict(store.refs()), names)
    check_updates(store, policy, local.items())
    counted = _Rounds(remote, report)
    remote_refs = counted.list_refs()
    updates, report.refs = _plan_push(store, policy, local, remote_refs, force)
    known = [oid for oid in remote_refs.values() if oid in store]
    to_send = find_missing(store, counted, [u.new for u in updates], known, batch=batch)
    for pack in plan_packs(store, to_send, pack_bytes):
        size = pack.size
        if not dry_run:
            counted.send_pack(pack.pieces, size)
        report.packs += 1
        report.objects += len(pack.oids)
        report.bytes += size
        if progress is not None:
            progress(report.objects, report.bytes)
    if dry_run:
        report.refs += [RefResult(u.name, u.old, u.new, WOULD_UPDATE) for u in updates]
    elif updates:
        report.refs += counted.update_refs(updates, force)
    return _sorted(report)


def _plan_push(
    store: ObjectStore, policy: RefPolicy, local: dict[str, ObjectId],
    remote_refs: dict[str, ObjectId], force: bool,
) -> tuple[list[RefUpdate], list[RefResult]]:
    """Updates worth sending objects for, and refs already settled (unchanged / refused)."""
    updates, settled = [], []
    for name, new in local.items():
        current = remote_refs.get(name)
        status, reason = decide_ref(store, policy, name, current, new, force)
        if status == UPDATED:
            updates.append(RefUpdate(name, current, new))
        else:
            settled.append(RefResult(name, current, new, status, reason))
    return updates, settled


def pull(
    store: ObjectStore,
    remote: Remote,
    policy: RefPolicy,
    names: Sequence[str] | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
    commit_bytes: int = PACK_BYTES,
    progress: Progress | None = None,
) -> SyncReport:
    """Fetch refs (default: all) and what they need from `remote` into `store`. A ref
    name `policy` forbids raises RefRefused before anything is fetched, a forbidden
    target once its objects are here and before any ref moves."""
    report = SyncReport("pull", dry_run)
    counted = _Rounds(remote, report)
    wanted = select_refs(counted.list_refs(), names)
    for name in wanted:
        policy.check_name(name)
    local_refs = dict(store.refs())
    candidates = [
        RefUpdate(name, local_refs.get(name), new)
        for name, new in wanted.items()
        if local_refs.get(name) != new
    ]
    report.refs = [
        RefResult(n, local_refs.get(n), new, UNCHANGED)
        for n, new in wanted.items()
        if local_refs.get(n) == new
    ]
    candidates, refused = _refuse_add_only(policy, candidates)
    report.refs += refused
    wants = list(dict.fromkeys(u.new for u in candidates if u.new not in store))
    if wants:
        haves = list(dict.fromkeys(local_refs.values()))
        listed = counted.list_objects(wants, haves)
        lacking = missing_ids(store, listed)
        if dry_run:
            report.objects = len(lacking)
        else:
            lacking_set = set(lacking)
            haves += [oid for oid in listed if oid not in lacking_set]
            _fetch(store, counted, wants, haves, report, commit_bytes, progress)
    if dry_run:
        check_updates(store, policy, ((u.name, u.new) for u in candidates))
        report.refs += [RefResult(u.name, u.old, u.new, WOULD_UPDATE) for u in candidates]
        return _sorted(report)
    report.refs += apply_ref_updates(store, candidates, policy, force=force)
    return _sorted(report)


def _refuse_add_only(
    policy: RefPolicy, candidates: list[RefUpdate]
) -> tuple[list[RefUpdate], list[RefResult]]:
    """Split off add-only refs that exist locally with another value."""
    keep, refused = [], []
    for up in candidates:
        if up.old is not None and not policy.movable(up.name):
            reason = _add_only_reason(up.old)
            refused.append(RefResult(up.name, up.old, up.new, REFUSED, reason))
        else:
            keep.append(up)
    return keep, refused


def _fetch(
    store: ObjectStore,
    remote: Remote,
    wants: list[str],
    haves: list[str],
    report: SyncReport,
    commit_bytes: int,
    progress: Progress | None,
) -> None:
    from .car import IterStream

    def on_commit(stats: ReceiveStats) -> None:
        report.objects, report.bytes = stats.blocks, stats.bytes
        report.packs += 1
        if progress is not None:
            progress(stats.blocks, stats.bytes)

    stats = receive_pack(
        store,
        IterStream(remote.fetch_pack(wants, haves)),
        commit_bytes=commit_bytes,
        progress=on_commit,
    )
    report.objects, report.bytes = stats.blocks, stats.bytes


def _sorted(report: SyncReport) -> SyncReport:
    report.refs.sort(key=lambda r: r.name)
    return report
