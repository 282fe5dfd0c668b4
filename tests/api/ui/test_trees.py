"""The tree page: a directory browsed folder by folder, files linked to their own page and
download, the whole tree as a tar; bad paths and non-trees refused."""

from __future__ import annotations

import io
import re
import tarfile

import pytest

from tests.support_ui import make_ui
from wfobj.objstore import MemoryObjectStore, archive_tree


def tar_of(files: dict[str, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


FILES = {"genome.fa": b">chr1\nACGT\n", "reads/a.fq": b"@a\nAC\n+\nII\n",
         "reads/deep/b.fq": b"@b\nGT\n+\nII\n", "run.sh": b"#!/bin/sh\n"}


@pytest.fixture
def ui():
    return make_ui(MemoryObjectStore())


@pytest.fixture
def tree(ui):
    return ui.service.put_tree(tar_of(FILES))["hash"]


def entry_rows(page: str) -> list[str]:
    body = page.split('<table id="entries">', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<td><a href=\"[^\"]+\">([^<]+)</a></td>", body)


def test_a_tree_is_browsed_folder_by_folder(ui, tree):
    session = ui.login()
    page = ui.get(f"/ui/trees/{tree}", session).text
    assert entry_rows(page) == ["genome.fa", "reads/", "run.sh"]
    assert f'href="/ui/trees/{tree}?path=reads"' in page
    assert "file, executable" in page
    genome = ui.service.tree_file(tree, "genome.fa")["hash"]
    assert f'href="/ui/files/{genome}?name=genome.fa"' in page
    assert f'href="/ui/files/{genome}/download?name=genome.fa"' in page
    inner = ui.get(f"/ui/trees/{tree}", session, params={"path": "reads/./deep/"}).text
    assert entry_rows(inner) == ["b.fq"]
    assert 'aria-current="page">deep<' in inner
    assert f'href="/ui/trees/{tree}?path=reads">reads</a>' in inner


def test_the_archive_is_the_deterministic_tar(ui, tree):
    resp = ui.get(f"/ui/trees/{tree}/archive", ui.login())
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-tar"
    assert resp.content == b"".join(archive_tree(ui.store, tree))
    assert sorted(tarfile.open(fileobj=io.BytesIO(resp.content)).getnames()) == sorted(
        ["genome.fa", "reads", "reads/a.fq", "reads/deep", "reads/deep/b.fq", "run.sh"])


def test_bad_paths_and_non_trees_are_refused(ui, tree):
    session = ui.login()
    assert ui.get(f"/ui/trees/{tree}", session, params={"path": "../x"}).status_code == 400
    assert ui.get(f"/ui/trees/{tree}", session, params={"path": "nope"}).status_code == 404
    assert ui.get(f"/ui/trees/{tree}", session, params={"path": "run.sh"}).status_code == 400
    blob = ui.service.tree_file(tree, "run.sh")["hash"]
    assert ui.get(f"/ui/trees/{blob}", session).status_code == 400
    assert ui.get("/ui/trees/" + "0" * 64, session).status_code == 404


def test_the_tree_page_needs_a_session(ui, tree):
    resp = ui.get(f"/ui/trees/{tree}", None)
    assert resp.status_code in (302, 303, 401) and "genome.fa" not in resp.text
