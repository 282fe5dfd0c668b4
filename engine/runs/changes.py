"""What changed in a run's task table between two of its manifests, found without reading
the whole table.

The table is Merkle-linked (engine/runs/state.py): a page whose link is the same in both
manifests holds the same buckets, a bucket whose link is the same holds the same rows, and
a scheduler step rewrites only the buckets whose rows changed and the pages linking them.
So comparing two manifests reads their page links (one per 4,096 rows), both versions of
each page that differs (64 bucket links each) and both versions of each bucket that differs
(64 rows each): the cost grows with what changed between them, not with the run. A
100,000-instance run compares 25 page links per look. Rows are only ever appended and a
row's attempts only appended to, so a row is compared with the row at the same position.
(Manifests written before pages link every bucket from `tasks`: those are compared bucket
link by bucket link, one link per 64 rows.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from wfobj.engine.model import RunManifest, RunTaskPage, RunTasks, read
from wfobj.objstore import ObjectStore

from .state import BUCKET, PAGE


@dataclass(frozen=True)
class ChangedRow:
    """A row of the newer table that is not the same in the older one (`before` None
    when the older table did not have it yet)."""

    position: int
    before: dict | None
    row: dict

    def new_attempts(self) -> list[str]:
        """The evidence hashes of the attempts recorded since the older manifest."""
        known = {link.oid for link in self.before["attempts"]} if self.before else set()
        return [link.oid for link in self.row["attempts"] if link.oid not in known]


def changed_rows(store: ObjectStore, old: RunManifest | None,
                 new: RunManifest) -> Iterator[ChangedRow]:
    """The rows of `new`'s table that differ from `old`'s (every row when `old` is None),
    in table order."""
    for index, before, after in changed_buckets(store, old, new):
        old_rows = read(store, before, RunTasks).tasks if before else []
        for offset, row in enumerate(read(store, after, RunTasks).tasks):
            prior = old_rows[offset] if offset < len(old_rows) else None
            if row != prior:
                yield ChangedRow(index * BUCKET + offset, prior, row)


def changed_buckets(store: ObjectStore, old: RunManifest | None,
                    new: RunManifest) -> Iterator[tuple[int, str | None, str]]:
    """(bucket index, its link in `old` or None, its link in `new`) of each bucket whose
    link differs."""
    if new.pages is None or (old is not None and old.pages is None):
        yield from _differing(0, _all_buckets(store, old), _all_buckets(store, new))
        return
    old_pages = [p.oid for p in old.pages] if old is not None else []
    for number, page in enumerate(new.pages):
        before = old_pages[number] if number < len(old_pages) else None
        if page.oid != before:
            yield from _differing(number * PAGE, _page_buckets(store, before),
                                  _page_buckets(store, page.oid))


def _differing(first: int, old: list[str], new: list[str]) -> Iterator[tuple[int, str | None, str]]:
    for offset, oid in enumerate(new):
        before = old[offset] if offset < len(old) else None
        if oid != before:
            yield first + offset, before, oid


def _page_buckets(store: ObjectStore, page: str | None) -> list[str]:
    return [] if page is None else [b.oid for b in read(store, page, RunTaskPage).buckets]


def _all_buckets(store: ObjectStore, m: RunManifest | None) -> list[str]:
    if m is None:
        return []
    if m.pages is None:
        return [link.oid for link in m.tasks]
    return [b for page in m.pages for b in _page_buckets(store, page.oid)]
