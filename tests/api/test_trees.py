"""Trees over HTTP on a real LMDB store: a tar uploaded as a tree (same content, same
hash), every bad entry refused by name with no tree stored, listings, one file's bytes,
and the tree back as a deterministic tar that uploads to the same hash."""

from __future__ import annotations

import io
import os
import tarfile

import blake3
import pytest

from tests.support_api import make_api, snapshot
from wfobj.objstore import MAX_DEPTH, Link
from wfobj.objstore import trees as trees_module

TAR = {"Content-Type": "application/x-tar"}
SAMPLE = {"genome.fa": b">chr1\nACGT\n", "reads/a.fq": b"@a\nAC\n+\nII\n",
          "reads/b.fq": b"@b\nGT\n+\nII\n", "bin/run.sh": b"#!/bin/sh\necho hi\n"}


@pytest.fixture
def api(lmdb_store):
    return make_api(lmdb_store, max_upload=8 << 20)


def member(name: str, data: bytes | None = None, mode: int = 0o644, mtime: int = 0,
           kind: bytes = tarfile.REGTYPE, **fields) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, mtime
    info.size = len(data) if data is not None else 0
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def tar_of(members) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def sample_tar(order=sorted, mtime: int = 0) -> bytes:
    return tar_of([member(path, data, 0o755 if path.endswith(".sh") else 0o644, mtime)
                   for path, data in ((p, SAMPLE[p]) for p in order(SAMPLE))])


def post(api, body: bytes, role: str = "runner", headers=TAR):
    return api.client.simulate_post("/api/trees", body=body, headers=api.h(role, **headers))


def get(api, path: str, **kw):
    return api.client.simulate_get(path, headers=api.h("reader"), **kw)


def trees_in(store) -> list[str]:
    return [oid for oid in store if store.type_of(oid) == "tree"]


def test_a_tar_becomes_a_tree_whose_hash_depends_only_on_content(api):
    r = post(api, sample_tar())
    assert r.status_code == 201, r.json
    assert r.json == {"hash": r.json["hash"], "files": 4, "size": sum(map(len, SAMPLE.values()))}
    assert r.headers["location"] == f"/api/trees/{r.json['hash']}"
    reordered = post(api, sample_tar(order=lambda d: sorted(d, reverse=True), mtime=1 << 30))
    assert reordered.status_code == 201 and reordered.json == r.json
    other = post(api, tar_of([member("genome.fa", b"changed")]))
    assert other.json["hash"] != r.json["hash"]


BAD_ENTRIES = {
    "absolute": (member("/etc/passwd", b"root"), "/etc/passwd"),
    "dot-dot": (member("reads/../../escape", b"x"), "reads/../../escape"),
    "duplicate": (member("genome.fa", b"again"), "genome.fa"),
    "symlink": (member("link", kind=tarfile.SYMTYPE, linkname="/etc/passwd"), "link"),
    "hardlink": (member("hard", kind=tarfile.LNKTYPE, linkname="genome.fa"), "hard"),
    "char-device": (member("null", kind=tarfile.CHRTYPE, devmajor=1, devminor=3), "null"),
    "block-device": (member("sda", kind=tarfile.BLKTYPE, devmajor=8), "sda"),
    "fifo": (member("pipe", kind=tarfile.FIFOTYPE), "pipe"),
}


@pytest.mark.parametrize("case", BAD_ENTRIES, ids=list(BAD_ENTRIES))
def test_a_bad_entry_is_refused_by_name_and_no_tree_is_stored(api, case):
    bad, name = BAD_ENTRIES[case]
    before = snapshot(api.store)
    r = post(api, tar_of([member("genome.fa", SAMPLE["genome.fa"]), bad]))
    assert r.status_code == 400, r.json
    assert r.json["title"] == "Tree refused" and r.json["description"].startswith(f"{name}: ")
    assert trees_in(api.store) == []
    assert snapshot(api.store)[1:] == before[1:]  # refs and metadata untouched


def test_entries_past_the_bounds_are_refused_by_name(api, monkeypatch):
    deep = "/".join(["d"] * (MAX_DEPTH + 1)) + "/f"
    long_path = "/".join(["n" * 250] * 20)  # 5,019 bytes, past MAX_PATH_BYTES
    monkeypatch.setattr(trees_module, "MAX_ENTRIES", 3)
    wide = [member(f"w/{i}", b"") for i in range(4)]
    for members, named in (([member(deep, b"x")], deep),
                           ([member(long_path, b"x")], long_path[:200]),
                           ([member("n" * 256, b"x")], "n" * 256),
                           (wide, "w/3")):
        r = post(api, tar_of(members))
        assert r.status_code == 400 and r.json["title"] == "Tree refused", r.json
        assert named[:80] in r.json["description"]
    assert trees_in(api.store) == []


@pytest.mark.parametrize("cut", ["in-a-file", "before-the-end-blocks", "in-a-header"])
def test_a_truncated_tar_is_refused_and_no_tree_is_stored(api, cut):
    whole = tar_of([member("big.bin", os.urandom(20_000)), member("small.txt", b"hi")])
    with tarfile.open(fileobj=io.BytesIO(whole)) as tar:
        last = tar.getmembers()[-1]
    data_end = last.offset_data + 512  # "hi" and its padding: the end blocks come next
    body = {"in-a-file": whole[:10_000], "before-the-end-blocks": whole[:data_end],
            "in-a-header": whole[:last.offset + 100]}[cut]
    r = post(api, body)
    assert r.status_code == 400 and r.json["title"] == "Tree refused", r.json
    assert trees_in(api.store) == []


@pytest.mark.parametrize("body", [b"", b"not a tar at all" * 100], ids=["empty", "garbage"])
def test_a_body_that_is_not_a_tar_is_400(api, body):
    r = post(api, body)
    assert r.status_code == 400 and "(archive)" in r.json["description"]


@pytest.mark.parametrize("headers", [{"Content-Type": "application/octet-stream"}, {}],
                         ids=["octet-stream", "none"])
def test_another_content_type_is_415_and_nothing_is_stored(api, headers):
    before = snapshot(api.store)
    r = post(api, sample_tar(), headers=headers)
    assert r.status_code == 415 and "application/x-tar" in r.json["description"]
    assert snapshot(api.store) == before


def test_an_upload_over_the_limit_is_413_and_no_tree_is_stored(lmdb_store):
    api = make_api(lmdb_store, max_upload=64 << 10)
    body = tar_of([member("a.bin", os.urandom(100 << 10))])
    r = post(api, body)
    assert r.status_code == 413 and r.json["title"] == "Body too large"
    chunked = api.client.simulate_post("/api/trees", body=body, headers=api.h(**TAR),
                                       extras={"CONTENT_LENGTH": "",  # as if chunked
                                               "wsgi.input_terminated": True})
    assert chunked.status_code == 413
    assert trees_in(api.store) == []


def test_get_a_tree_its_entries_or_every_file_by_path(api):
    oid = post(api, sample_tar()).json["hash"]
    tree = get(api, f"/api/trees/{oid}").json
    assert tree["hash"] == oid and tree["size"] == sum(map(len, SAMPLE.values()))
    assert [(e["name"], e["kind"]) for e in tree["entries"]] == [
        ("bin", "dir"), ("genome.fa", "file"), ("reads", "dir")]
    genome = tree["entries"][1]
    assert genome == {"name": "genome.fa", "kind": "file", "size": 11, "executable": False,
                      "hash": blake3.blake3(SAMPLE["genome.fa"]).hexdigest()}
    every = get(api, f"/api/trees/{oid[:8]}", params={"recursive": "true"}).json
    assert every["hash"] == oid
    assert {e["path"]: (e["hash"], e["executable"]) for e in every["entries"]} == {
        p: (blake3.blake3(d).hexdigest(), p.endswith(".sh")) for p, d in SAMPLE.items()}
    assert all(e["kind"] == "file" for e in every["entries"])


def test_a_hash_that_is_no_tree_is_400_or_404_never_500(api):
    post(api, sample_tar())
    blob = blake3.blake3(SAMPLE["genome.fa"]).hexdigest()
    note = api.store.put_object({"type": "note", "file": Link.blob(blob)})
    for oid, status in ((blob, 400), (note, 400), (blob[:6], 400), ("0" * 64, 404),
                        ("abc", 400), ("not-hex-at-all", 400)):
        for suffix in ("", "/archive", "/files/genome.fa"):
            r = get(api, f"/api/trees/{oid}{suffix}")
            assert r.status_code == status, (oid, suffix, r.json)
            assert set(r.json) == {"title", "description"}
    assert get(api, f"/api/trees/{blob}").json["title"] == "Not a tree"
    bad = get(api, f"/api/trees/{post(api, sample_tar()).json['hash']}",
              params={"recursive": "maybe"})
    assert bad.status_code == 400


def test_one_file_of_a_tree_its_bytes_or_404_or_400(api):
    oid = post(api, sample_tar()).json["hash"]
    r = get(api, f"/api/trees/{oid}/files/reads/b.fq")
    assert r.status_code == 200 and r.content == SAMPLE["reads/b.fq"]
    assert r.headers["content-type"] == "application/octet-stream"
    assert get(api, f"/api/trees/{oid[:10]}/files/bin/run.sh").content == SAMPLE["bin/run.sh"]
    for missing in ("reads/c.fq", "nothing/here", "genome.fa/below"):
        r = get(api, f"/api/trees/{oid}/files/{missing}")
        assert r.status_code == 404 and r.json["title"] == "Not found", missing
    r = get(api, f"/api/trees/{oid}/files/reads")
    assert r.status_code == 400 and "directory" in r.json["description"]


def test_a_large_file_of_a_tree_streams_verified(api):
    data = os.urandom((5 << 20) + 123)  # past WHOLE_DOWNLOAD: sent in verified pieces
    oid = post(api, tar_of([member("deep/big.bin", data)])).json["hash"]
    r = get(api, f"/api/trees/{oid}/files/deep/big.bin")
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-length"] == str(len(data))


def test_the_archive_is_deterministic_and_uploads_to_the_same_hash(api):
    oid = post(api, sample_tar()).json["hash"]
    first = get(api, f"/api/trees/{oid}/archive")
    assert first.status_code == 200 and first.headers["content-type"] == "application/x-tar"
    assert oid in first.headers["content-disposition"]
    again = post(api, sample_tar(order=lambda d: sorted(d, reverse=True), mtime=12345))
    assert get(api, f"/api/trees/{again.json['hash']}/archive").content == first.content
    back = post(api, first.content)
    assert back.status_code == 201 and back.json["hash"] == oid
    with tarfile.open(fileobj=io.BytesIO(first.content)) as tar:
        files = {m.name: (tar.extractfile(m).read(), m.mode) for m in tar if m.isfile()}
    assert files == {p: (d, 0o755 if p.endswith(".sh") else 0o644) for p, d in SAMPLE.items()}


def test_reader_cannot_upload_and_no_token_is_401(api):
    before = snapshot(api.store)
    assert post(api, sample_tar(), role="reader").status_code == 403
    assert api.client.simulate_post("/api/trees", body=sample_tar(),
                                    headers=TAR).status_code == 401
    assert snapshot(api.store) == before
    oid = post(api, sample_tar()).json["hash"]
    for suffix in ("", "/archive", "/files/genome.fa"):
        assert api.client.simulate_get(f"/api/trees/{oid}{suffix}").status_code == 401
