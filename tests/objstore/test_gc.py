"""gc against every backend: what nothing reaches and nobody needed lately goes, the rest
stays; a write that needs an object during gc keeps it; the store is whole afterwards."""

from __future__ import annotations

import io
import random

import pytest

from tests.support_damage import replace_record
from wfobj.objstore import GcRefused, Link, LmdbObjectStore, MemoryObjectStore
from wfobj.objstore.chunking import CHUNK_THRESHOLD
from wfobj.objstore.fsck import fsck_store
from wfobj.objstore.gc import DEFAULT_GRACE, collect

HOUR = 3600.0
T0 = 1_800_000_000.0  # when the "old" objects were stored


class SteppedClock:
    """The store's clock: stored-at times come from here."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "lmdb"])
def clocked(request, tmp_path):
    clock = SteppedClock()
    if request.param == "memory":
        yield MemoryObjectStore(clock=clock), clock
    else:
        st = LmdbObjectStore(tmp_path / "store", create=True, clock=clock)
        yield st, clock
        st.close()


def big_bytes(seed: int) -> bytes:
    return random.Random(seed).randbytes(CHUNK_THRESHOLD + 10)


def test_removes_old_unreachable_keeps_reachable_and_young(clocked):
    store, clock = clocked
    leaf = store.put_blob(b"leaf")
    big, _ = store.put_stream(io.BytesIO(big_bytes(1)))
    top = store.put_object({"type": "tree", "leaf": Link.blob(leaf), "big": Link.blob(big)})
    store.add_ref_if_new("workflows/a", top)
    stray = store.put_blob(b"nobody points here")
    stray_big, _ = store.put_stream(io.BytesIO(big_bytes(2)))
    stray_parts = {stray_big, *store.stored_links(stray_big)}
    stray_parts |= {c for c, _ in store.chunk_list(stray_big)}
    before = set(store)
    clock.now = T0 + 2 * HOUR
    upload = store.put_blob(b"an upload waiting for its trigger")

    report = collect(store, now=clock.now)

    assert set(report.removed) == {stray} | stray_parts
    assert report.freed_bytes >= CHUNK_THRESHOLD + 10 + len(b"nobody points here")
    assert set(store) == (before | {upload}) - {stray} - stray_parts
    assert b"".join(store.iter_blob(big)) == big_bytes(1)  # chunks kept through the blob's links
    assert upload in store
    after = fsck_store(store)
    assert after.ok, after.damage
    assert after.unreachable == [upload]


def test_dry_run_removes_nothing_and_reports_the_same(clocked):
    store, clock = clocked
    stray = store.put_blob(b"stray")
    clock.now = T0 + 2 * HOUR
    before = set(store)
    dry = collect(store, dry_run=True, now=clock.now)
    assert dry.removed == [stray] and dry.dry_run
    assert set(store) == before
    real = collect(store, now=clock.now)
    assert real.removed == [stray] and real.freed_bytes == dry.freed_bytes == 1 + 5
    assert stray not in store


def test_young_object_keeps_the_old_objects_it_links_to(clocked):
    store, clock = clocked
    old_leaf = store.put_blob(b"old leaf")
    clock.now = T0 + 2 * HOUR
    young = store.put_object({"type": "tree", "leaf": Link.blob(old_leaf)})
    report = collect(store, now=clock.now)
    assert report.removed == []
    assert {old_leaf, young} <= set(store)


def test_grace_period_decides_what_is_old(clocked):
    store, clock = clocked
    stray = store.put_blob(b"stray")
    assert collect(store, now=T0 + DEFAULT_GRACE - 1).removed == []
    assert collect(store, grace=2 * HOUR, now=T0 + 1.5 * HOUR).removed == []
    assert collect(store, grace=2 * HOUR, now=T0 + 2.5 * HOUR).removed == [stray]


def test_storing_an_old_object_again_makes_it_young(clocked):
    store, clock = clocked
    stray = store.put_blob(b"stored twice")
    clock.now = T0 + 2 * HOUR
    store.put_blob(b"stored twice")
    assert collect(store, now=clock.now).removed == []
    assert stray in store


def test_extra_roots_keep_their_closure(clocked):
    store, clock = clocked
    leaf = store.put_blob(b"input")
    spec = store.put_object({"type": "attempt_spec", "input": Link.blob(leaf)})
    clock.now = T0 + 2 * HOUR
    assert collect(store, roots=[spec], now=clock.now).removed == []
    assert collect(store, now=clock.now).removed == sorted([leaf, spec])


def test_a_write_during_gc_keeps_what_it_needs(clocked):
    """An old unreachable object linked by a new object between gc's mark and its sweep
    is kept, with what it links to: the sweep re-reads ages in its own transaction."""
    store, clock = clocked
    old_leaf = store.put_blob(b"old leaf")
    old_tree = store.put_object({"type": "tree", "leaf": Link.blob(old_leaf)})
    old_other = store.put_blob(b"really garbage")
    clock.now = T0 + 2 * HOUR
    sweep = store.remove_where
    written = []

    def write_then_sweep(select):
        written.append(store.put_object({"type": "tree", "sub": Link(old_tree, 0x71)}))
        return sweep(select)

    store.remove_where = write_then_sweep
    report = collect(store, now=clock.now)
    assert report.removed == [old_other]
    assert {old_leaf, old_tree, written[0]} <= set(store)
    assert fsck_store(store).ok


def test_a_ref_moved_during_gc_keeps_its_target(clocked):
    store, clock = clocked
    old = store.put_blob(b"old")
    clock.now = T0 + 2 * HOUR
    sweep = store.remove_where

    def ref_then_sweep(select):
        assert store.add_ref_if_new("workflows/late", old)
        return sweep(select)

    store.remove_where = ref_then_sweep
    assert collect(store, now=clock.now).removed == []
    assert store.get_raw(old) == b"old"


def test_short_grace_is_refused(clocked):
    store, _ = clocked
    with pytest.raises(GcRefused, match="shorter than the minimum"):
        collect(store, grace=60)


def test_damaged_object_stops_gc_before_anything_is_removed():
    clock = SteppedClock()
    store = MemoryObjectStore(clock=clock)
    leaf = store.put_blob(b"leaf")
    top = store.put_object({"type": "tree", "leaf": Link.blob(leaf)})
    store.add_ref_if_new("workflows/a", top)
    stray = store.put_blob(b"stray")
    replace_record(store, top, b"S" + b"\xa1garbage")
    clock.now = T0 + 2 * HOUR
    with pytest.raises(GcRefused, match=top):
        collect(store, now=clock.now)
    assert stray in store and leaf in store


def test_objects_without_a_time_are_stamped_then_judged_by_it():
    """An object stored before the store kept times has no age: the first gc stamps it
    and keeps it; one a grace period later removes it."""
    clock = SteppedClock()
    store = MemoryObjectStore(clock=clock)
    legacy = store.put_blob(b"stored by an older wfobj")
    del store._times[bytes.fromhex(legacy)]  # the memory double's table, as an old store
    clock.now = T0 + 5 * HOUR
    dry = collect(store, dry_run=True, now=clock.now)
    assert dry.removed == [] and dry.stamped == 1
    first = collect(store, now=clock.now)
    assert first.removed == [] and first.stamped == 1 and legacy in store
    assert collect(store, now=clock.now + 30 * 60).removed == []
    later = collect(store, now=clock.now + 2 * HOUR)
    assert later.removed == [legacy] and later.stamped == 0
