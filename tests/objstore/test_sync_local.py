"""Store-to-store sync by path: push, pull, resumption, verification and ref rules."""

from __future__ import annotations

import pytest

from tests.support_sync import (
    RecordingPolicy,
    deliver,
    make_run,
    make_workflow_version,
    sent_bytes,
    set_workflow,
    verify_store,
    wide_tree,
)
from wfobj.engine.upkeep.sync_policy import EngineRefPolicy
from wfobj.objstore import (
    ChecksumMismatch,
    Link,
    LmdbObjectStore,
    MemoryObjectStore,
    RefNotFound,
)
from wfobj.objstore.car import IterStream, iter_pack, receive_pack
from wfobj.objstore.sync import (
    REFUSED,
    UNCHANGED,
    UPDATED,
    WOULD_UPDATE,
    LocalRemote,
    find_missing,
    pull,
    push,
)
from wfobj.objstore.trees import read_tree

POLICY = EngineRefPolicy()


@pytest.fixture(params=["memory", "lmdb"])
def stores(request, tmp_path):
    """Three empty stores of one backend: a, b, c."""
    if request.param == "memory":
        yield [MemoryObjectStore() for _ in range(3)]
        return
    opened = [LmdbObjectStore(tmp_path / name, create=True) for name in "abc"]
    yield opened
    for st in opened:
        st.close()


class FlakyRemote(LocalRemote):
    """A transport that breaks after `packs_ok` packs (a sync killed halfway)."""

    def __init__(self, store, packs_ok: int):
        super().__init__(store, POLICY)
        self.packs_ok = packs_ok

    def send_pack(self, pieces, size):
        if self.packs_ok == 0:
            raise ConnectionError("transport died")
        self.packs_ok -= 1
        return super().send_pack(pieces, size)


def statuses(report):
    return {r.name: r.status for r in report.refs}


def test_push_everything_then_nothing(stores):
    a, b, _ = stores
    names = [make_run(a)[0] for _ in range(3)]
    report = push(a, LocalRemote(b, POLICY), POLICY, pack_bytes=2048)
    assert report.objects == len(list(a))
    assert report.packs > 1
    assert statuses(report) == {n: UPDATED for n in names}
    assert dict(b.refs()) == dict(a.refs())
    assert verify_store(a) == verify_store(b)

    again = push(a, LocalRemote(b, POLICY), POLICY)
    assert (again.objects, again.bytes, again.packs) == (0, 0, 0)
    assert statuses(again) == {n: UNCHANGED for n in names}


def test_incremental_push_sends_only_new_objects(stores):
    a, b, _ = stores
    make_run(a, seed=b"shared")
    push(a, LocalRemote(b, POLICY), POLICY)
    before = set(a)
    name, _ = make_run(a, seed=b"shared")
    new = set(a) - before
    report = push(a, LocalRemote(b, POLICY), POLICY)
    assert report.objects == len(new)
    assert statuses(report)[name] == UPDATED
    assert set(b) == set(a)


def test_named_refs_only(stores):
    a, b, _ = stores
    first, _ = make_run(a)
    second, _ = make_run(a)
    push(a, LocalRemote(b, POLICY), POLICY, [first])
    assert [n for n, _ in b.refs()] == [first]
    with pytest.raises(RefNotFound):
        push(a, LocalRemote(b, POLICY), POLICY, ["runs/nope"])
    assert second not in dict(b.refs())


def test_killed_push_resumes(stores):
    a, b, _ = stores
    for _ in range(4):
        make_run(a, tasks=5)
    total = len(list(a))
    with pytest.raises(ConnectionError):
        push(a, FlakyRemote(b, packs_ok=2), POLICY, pack_bytes=1024)
    received = len(list(b))
    assert 0 < received < total
    assert list(b.refs()) == []
    verify_store(b)  # what arrived is verified and closure-complete

    report = push(a, LocalRemote(b, POLICY), POLICY, pack_bytes=1024)
    assert report.objects == total - received
    assert dict(b.refs()) == dict(a.refs())
    verify_store(b)


def test_chunks_the_peer_holds_are_not_sent_again(stores):
    """Chunked files behind 30,000 small ones: the peer holds the small ones and the
    first half of each big file's chunks; a push sends the other chunks and what links
    them (the folder's tree, the run), nothing more."""
    a, b, _ = stores
    tree, bigs = wide_tree(a, files=30_000, big=3)
    make_run(a, tasks=1, links={"outputs": Link.obj(tree)})
    small = [e.oid for e in read_tree(a, tree).entries if e.oid not in bigs]
    held = [c for big in bigs for c in a.chunk_list(big)[: len(a.chunk_list(big)) // 2]]
    deliver(a, b, small + [oid for oid, _ in held])
    lacking = set(a) - set(b)
    report = push(a, LocalRemote(b, POLICY), POLICY)
    assert (report.objects, report.bytes) == (len(lacking), sent_bytes(a, lacking, report.packs))
    rest = 3 * (6 << 20) - sum(size for _, size in held) + len(a.get_raw(tree))
    assert report.bytes < rest + (64 << 10)  # the other chunks, the tree, the run
    assert set(b) == set(a)
    verify_store(b)


def test_negotiation_asks_every_id_once_in_bounded_rounds(stores):
    """However wide the graph against the round's size, no id goes unasked: what the
    remote holds is never planned, and no round asks more than `batch` ids."""
    a, b, _ = stores
    tree, _ = wide_tree(a, files=1_000)
    entries = read_tree(a, tree).entries
    deliver(a, b, [e.oid for e in entries[::2]])
    asked: list[int] = []

    class Counting(LocalRemote):
        def missing(self, ids):
            asked.append(len(ids))
            return super().missing(ids)

    planned = find_missing(a, Counting(b, POLICY), [tree], batch=100)
    assert sorted(planned) == sorted(set(a) - set(b))
    assert max(asked) <= 100 and sum(asked) == len(list(a))


def test_flipped_byte_refused_naming_hash(stores):
    a, b, _ = stores
    make_run(a, tasks=2)
    oids = list(find_missing(a, LocalRemote(b, POLICY), [oid for _, oid in a.refs()]))
    pack = bytearray(b"".join(iter_pack(a, oids)))
    victim = oids[len(oids) // 2]
    data = a.get_raw(victim)
    at = pack.index(data) + len(data) // 2
    pack[at] ^= 0x01
    with pytest.raises(ChecksumMismatch) as err:
        receive_pack(b, IterStream([bytes(pack)]))
    assert err.value.expected == victim
    assert victim in str(err.value)
    assert victim not in b
    verify_store(b)


def test_chunked_blob_syncs_and_verifies(stores):
    a, b, c = stores
    name, manifest = make_run(a, tasks=1, big=20 << 20)
    big = a.get_object(a.get_object(manifest)["run"].oid)["big"].oid
    assert a.record(big).is_chunked
    report = push(a, LocalRemote(b, POLICY), POLICY)
    assert report.bytes < (20 << 20) * 1.01
    assert b.record(big).is_chunked
    assert b.chunk_list(big) == a.chunk_list(big)
    assert b"".join(b.iter_blob(big)) == b"".join(a.iter_blob(big))
    pull(c, LocalRemote(b, POLICY), POLICY)
    assert dict(c.refs()) == {name: manifest}
    for st in (a, b, c):
        verify_store(st)


def test_workflow_fast_forward_and_divergence(stores):
    a, b, _ = stores
    v1 = make_workflow_version(a, "wc", "one")
    set_workflow(a, "wc", v1)
    push(a, LocalRemote(b, POLICY), POLICY)
    v2 = make_workflow_version(a, "wc", "two", previous=v1)
    set_workflow(a, "wc", v2)
    assert statuses(push(a, LocalRemote(b, POLICY), POLICY)) == {"workflows/wc": UPDATED}
    assert b.get_ref("workflows/wc") == v2

    other = make_workflow_version(b, "wc", "diverged", previous=v2)
    set_workflow(b, "wc", other)
    v3 = make_workflow_version(a, "wc", "three", previous=v2)
    set_workflow(a, "wc", v3)
    refused = push(a, LocalRemote(b, POLICY), POLICY)
    assert statuses(refused) == {"workflows/wc": REFUSED}
    assert "fast-forward" in refused.refs[0].reason
    assert refused.objects == 0
    assert b.get_ref("workflows/wc") == other

    forced = push(a, LocalRemote(b, POLICY), POLICY, force=True)
    assert statuses(forced) == {"workflows/wc": UPDATED}
    assert b.get_ref("workflows/wc") == v3


def test_pull_refuses_diverged_workflow_without_force(stores):
    a, b, _ = stores
    base = make_workflow_version(a, "wc", "base")
    set_workflow(a, "wc", base)
    pull(b, LocalRemote(a, POLICY), POLICY)
    set_workflow(a, "wc", make_workflow_version(a, "wc", "remote", previous=base))
    mine = make_workflow_version(b, "wc", "local", previous=base)
    set_workflow(b, "wc", mine)
    report = pull(b, LocalRemote(a, POLICY), POLICY)
    assert statuses(report) == {"workflows/wc": REFUSED}
    assert b.get_ref("workflows/wc") == mine
    assert statuses(pull(b, LocalRemote(a, POLICY), POLICY, force=True)) == {"workflows/wc": UPDATED}


def test_runs_are_add_only(stores):
    a, b, _ = stores
    name, mine = make_run(a, tasks=1)
    own_name, theirs = make_run(b, tasks=1)
    assert b.set_ref_if_equals(own_name, theirs, None)  # b's manifest, under a's run id
    assert b.add_ref_if_new(name, theirs)
    for force in (False, True):
        report = push(a, LocalRemote(b, POLICY), POLICY, force=force)
        assert statuses(report) == {name: REFUSED}
        assert "different" in report.refs[0].reason
        assert b.get_ref(name) == theirs
        report = pull(a, LocalRemote(b, POLICY), POLICY, force=force)
        assert statuses(report)[name] == REFUSED
        assert a.get_ref(name) == mine


def test_dry_run_changes_nothing(stores):
    a, b, _ = stores
    name, _ = make_run(a)
    report = push(a, LocalRemote(b, POLICY), POLICY, dry_run=True)
    assert report.objects == len(list(a)) and report.bytes > 0
    assert statuses(report) == {name: WOULD_UPDATE}
    assert list(b) == [] and list(b.refs()) == []
    report = pull(b, LocalRemote(a, POLICY), POLICY, dry_run=True)
    assert report.objects == len(list(a))
    assert list(b) == []


def test_pull_resumes_after_broken_stream(stores):
    a, b, _ = stores
    for _ in range(3):
        make_run(a, tasks=4)
    total = len(list(a))

    class Cut(LocalRemote):
        def fetch_pack(self, wants, haves):
            data = b"".join(super().fetch_pack(wants, haves))
            yield data[: len(data) * 2 // 3]

    with pytest.raises(Exception, match="truncated"):
        pull(b, Cut(a, POLICY), POLICY, commit_bytes=512)
    got = len(list(b))
    assert 0 < got < total and list(b.refs()) == []
    report = pull(b, LocalRemote(a, POLICY), POLICY)
    assert report.objects == total - got
    assert dict(b.refs()) == dict(a.refs())
    verify_store(b)


def test_deep_chain_costs_few_rounds(stores):
    a, b, _ = stores
    name, _ = make_run(a, tasks=200)  # a 200-link audit chain
    report = push(a, LocalRemote(b, POLICY), POLICY, batch=10_000)
    # list_refs + one missing() round + one pack + update_refs
    assert report.rounds == 4
    assert report.objects == len(list(a))


def test_policy_told_which_refs_moved(stores):
    a, b, _ = stores
    name, _ = make_run(a)
    pushed = RecordingPolicy()
    push(a, LocalRemote(b, pushed), POLICY)
    assert pushed.moved == [[name]]
    pulled = RecordingPolicy()
    pull(MemoryObjectStore(), LocalRemote(a, POLICY), pulled)
    assert pulled.moved == [[name]]
    assert push(a, LocalRemote(b, pushed), POLICY).refs_updated == []
    assert pushed.moved == [[name]]  # nothing moved: not told again
