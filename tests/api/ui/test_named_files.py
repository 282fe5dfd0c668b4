"""The run page shows the name a `file` or `dir` parameter was given with
(`{"hash", "name"}`, kept in the run record's `file_names`) beside its hash, escaped, and
hands it to the file page as its download name; a parameter given by hash alone shows its
hash only. Falcon's test client, runs of the fake executor."""

from __future__ import annotations

import html
import io
import re

import pytest
from markupsafe import escape

from tests.support_engine import run_with, task
from tests.support_ui import make_ui
from wfobj.objstore import MemoryObjectStore, TreeBuilder

FLOW = {"params": {"table": {"type": "file"}, "notes": {"type": "file"},
                   "photos": {"type": "dir"}},
        "tasks": {"look": task("ls /in", inputs={"t": {"param": "table"},
                                                 "n": {"param": "notes"},
                                                 "p": {"param": "photos"}})}}
NAME = "ré<port> & \"q1\".csv"


@pytest.fixture
def ui():
    return make_ui(MemoryObjectStore())


def named_run(ui) -> tuple[str, dict]:
    table = ui.service.put_file(io.BytesIO(b"a,b\n1,2\n"))["hash"]
    notes = ui.service.put_file(io.BytesIO(b"notes\n"))["hash"]
    builder = TreeBuilder(ui.store)
    builder.add_file("one.jpg", io.BytesIO(b"jpg"))
    photos = builder.finish().oid
    ui.service.apply_workflow("named", FLOW, user="alice")
    run_id = ui.service.trigger(
        name="named", user="alice", cache=False,
        parameters={"table": {"hash": table, "name": NAME}, "notes": notes,
                    "photos": {"hash": photos, "name": "holiday 2026"}})["run_id"]
    run_with(ui.store, run_id)
    return run_id, {"table": table, "notes": notes, "photos": photos}


def param_cell(page: str, name: str) -> str:
    return re.search(rf"<dt>{name}</dt>\s*<dd>(.*?)</dd>", page, re.S).group(1)


def test_a_named_parameter_shows_its_name_beside_its_hash(ui):
    run_id, hashes = named_run(ui)
    assert ui.service.get_run(run_id)["file_names"] == {"table": NAME, "photos": "holiday 2026"}
    page = ui.get(f"/ui/runs/{run_id}", ui.login()).text
    table = param_cell(page, "table")
    assert hashes["table"] in table
    assert f'<span class="file-name" data-file-name>{escape(NAME)}</span>' in table
    assert NAME not in page  # never unescaped
    link = re.search(r'<a href="([^"]+)"><code class="hash-full">', table).group(1)
    assert html.unescape(link) == (f"/ui/files/{hashes['table']}?name="
                                   "r%C3%A9%3Cport%3E%20%26%20%22q1%22.csv")
    photos = param_cell(page, "photos")
    assert f"/ui/trees/{hashes['photos']}" in photos
    assert '<span class="file-name" data-file-name>holiday 2026</span>' in photos
    notes = param_cell(page, "notes")  # given by hash alone: no name
    assert hashes["notes"] in notes and "file-name" not in notes
    assert f"/ui/files/{hashes['notes']}?name=notes" in notes
    # the names are shown with their params, not again as a raw JSON record field
    assert "<dt>File names</dt>" not in page


def test_the_file_page_offers_the_given_name_for_download(ui):
    run_id, hashes = named_run(ui)
    session = ui.login()
    page = ui.get(f"/ui/runs/{run_id}", session).text
    link = html.unescape(re.search(r'<a href="([^"]+)"><code class="hash-full">',
                                   param_cell(page, "table")).group(1))
    path, query = link.split("?")
    file_page = ui.get(path, session, query_string=query).text
    # the download name: its printable ASCII, without quotes (api/ui/pages.py download_name)
    assert f"/ui/files/{hashes['table']}/download?name=r%3Cport%3E%26q1.csv" in file_page
    assert f"({escape('r<port>&q1.csv')})" in file_page
