"""UI pages through Falcon's test client, on runs driven by the fake executor."""

from __future__ import annotations

import re

import pytest

from tests.support_engine import chain, run_with, trigger
from tests.support_ui import finished_wordcount, make_ui, svg_nodes
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.engine.runs.state import RunState
from wfobj.objstore import MemoryObjectStore


@pytest.fixture
def ui():
    return make_ui(MemoryObjectStore())


@pytest.fixture
def session(ui):
    return ui.login()


def test_runs_list_newest_first_filtered_and_paged(ui, session):
    first, _ = finished_wordcount(ui)
    failing = trigger(ui.service, chain("a", "b"), "chain")
    run_with(ui.store, failing, {"a": TaskBehavior(exit_code=3)})
    pending = trigger(ui.service, chain("a"), "chain")
    page = ui.get("/ui/runs", session).text
    assert re.findall(r'<tr data-run="([^"]+)"', page) == [pending, failing, first]
    assert 'data-live="true"' in page  # a pending run is on it
    failed = ui.get("/ui/runs", session, params={"state": "failed"}).text
    assert re.findall(r'<tr data-run="([^"]+)"', failed) == [failing]
    wc = ui.get("/ui/runs", session, params={"workflow": "wordcount"}).text
    assert re.findall(r'<tr data-run="([^"]+)"', wc) == [first]
    assert '<option value="wordcount" selected>' in wc
    one = ui.get("/ui/runs", session, params={"limit": "1"}).text
    nxt = re.search(r'href="([^"]+)" rel="next"', one).group(1).replace("&amp;", "&")
    second = ui.get(nxt.split("?")[0], session, query_string=nxt.split("?")[1]).text
    assert re.findall(r'<tr data-run="([^"]+)"', second) == [failing]
    assert "First page" in second


def test_runs_list_refuses_bad_filters_with_an_html_page(ui, session):
    resp = ui.get("/ui/runs", session, params={"state": "bogus"})
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("text/html")
    assert "state is one of" in resp.text
    assert ui.get("/ui/runs", session, params={"cursor": "nope"}).status_code == 400


def test_run_page_has_record_task_table_and_a_node_per_task(ui, session):
    run_id, corpus = finished_wordcount(ui)
    page = ui.get(f"/ui/runs/{run_id}", session).text
    assert svg_nodes(page) == {"split": "success", "count": "success"}
    assert re.search(r'class="edge" d="[^"]+" marker-end="url\(#arrow\)" data-from="split" '
                     r'data-to="count"', page)
    run = ui.service.get_run(run_id)
    for value in (run["definition_hash"], run["engine_version"], run["manifest_hash"],
                  "alice", corpus):
        assert value in page
    assert '<tr data-task="split">' in page and '<tr data-task="count">' in page
    assert "✓ success" in page  # the state in words, not colour alone
    assert 'data-live="false"' in page
    assert f'/ui/runs/{run_id}/audit' in page
    files = ui.service.run_files(run_id)
    assert all(f"/ui/files/{f['hash']}/download?name=" in page for f in files)


def test_run_page_links_each_export_of_the_api(ui, session):
    run_id, _ = finished_wordcount(ui)
    page = ui.get(f"/ui/runs/{run_id}", session).text
    links = re.findall(r'<a href="([^"]+)" data-export="([^"]+)">', page)
    assert links == [(f"/api/runs/{run_id}/export/{fmt}", fmt)
                     for fmt in ("ro-crate", "prov", "openlineage", "in-toto")]
    assert '<h2 id="exports">Exports</h2>' in page


def test_dag_states_follow_the_run(ui, session):
    run_id = trigger(ui.service, chain("a", "b", "c"), "chain")
    run_with(ui.store, run_id, {"b": TaskBehavior(exit_code=1)})
    page = ui.get(f"/ui/runs/{run_id}", session).text
    assert svg_nodes(page) == {"a": "success", "b": "failed", "c": "skipped"}
    assert "✗ failed" in page and "– skipped" in page


def test_a_live_run_page_refreshes(ui, session):
    run_id = trigger(ui.service, chain("a", "b"), "chain")
    page = ui.get(f"/ui/runs/{run_id}", session).text
    assert 'data-live="true"' in page and 'http-equiv="refresh"' in page
    assert svg_nodes(page) == {"a": "pending", "b": "pending"}


def test_attempt_page_shows_every_evidence_field(ui, session):
    run_id, _ = finished_wordcount(ui, split=TaskBehavior(stdout=b"split says hello\n"))
    ev = ui.service.run_task(run_id, "split")
    page = ui.get(f"/ui/runs/{run_id}/tasks/split", session).text
    assert "split says hello" in page
    for value in (ev["evidence_hash"], ev["image_id"], ev["image_facts_hash"], ev["workdir"],
                  ev["stdout"]["hash"], ev["host"]["name"], ev["outputs"][0]["hash"],
                  ev["inputs"][0]["hash"]):
        assert value in page, value
    for label in ("Exit code", "Image digests", "Command", "Environment", "Variables",
                  "Limits", "Cache key", "Reused", "Started", "Ended", "Duration"):
        assert f"<dt>{label}</dt>" in page, label
    assert f'/ui/files/{ev["outputs"][0]["hash"]}/download?name=words.txt' in page


def test_attempt_page_explains_the_cache_key(ui, session):
    run_id, _ = finished_wordcount(ui)
    explained = ui.service.explain_task(run_id, "count")
    page = ui.get(f"/ui/runs/{run_id}/tasks/count", session).text
    cache = page.split('<h2 id="cache-h">Cache</h2>')[1].split("</section>")[0]
    assert explained["key"] in cache and explained["reason"] in cache
    assert all(f"<li>{name}: " in cache for name in explained["components"])
    assert "&gt; /out/count.txt" in cache and "\\u003e" not in page  # JSON shown as written


def test_attempt_pages_per_attempt(ui, session):
    run_id, _ = finished_wordcount(ui, count=TaskBehavior(fail_attempts=1))
    last = ui.get(f"/ui/runs/{run_id}/tasks/count", session).text
    assert "attempt 2" in last and "/attempts/1" in last
    first = ui.get(f"/ui/runs/{run_id}/tasks/count/attempts/1", session).text
    assert "Task count, attempt 1" in first and "✗ failed" in first
    assert ui.get(f"/ui/runs/{run_id}/tasks/count/attempts/3", session).status_code == 404
    assert ui.get(f"/ui/runs/{run_id}/tasks/count/attempts/0", session).status_code == 404


def test_unknown_fields_of_evidence_are_listed_too(ui, session):
    from wfobj.api.ui import pages

    run_id, _ = finished_wordcount(ui)
    ev = ui.service.run_task(run_id, "count")
    assert set(ev) - pages.KNOWN_EVIDENCE_FIELDS <= {"vars"}  # the known list is complete


def test_a_pending_task_page_says_so_and_refreshes(ui, session):
    run_id = trigger(ui.service, chain("a"), "chain")
    page = ui.get(f"/ui/runs/{run_id}/tasks/a", session).text
    assert 'data-live="true"' in page and "recorded when the attempt ends" in page


def test_audit_page_says_the_chain_verifies(ui, session):
    run_id, _ = finished_wordcount(ui)
    page = ui.get(f"/ui/runs/{run_id}/audit", session).text
    entries = ui.service.run_audit(run_id)
    assert 'data-verified="true"' in page and "The hash chain verifies" in page
    assert f"{len(entries)} entries" in page
    assert all(e["hash"][:12] in page for e in entries)


def test_audit_page_says_when_the_chain_breaks(ui, session):
    run_id, _ = finished_wordcount(ui)
    run = RunState.load(ui.store, run_id)
    head = ui.store.get_object(run.audit_head)
    # a forged trail: the same head event re-pointed at nothing, manifest moved to it
    forged = dict(head, prev=None)
    with run.change(ui.store, head["at"]) as b:
        run.audit_head = b.put_object(forged)
    page = ui.get(f"/ui/runs/{run_id}/audit", session).text
    assert 'data-verified="false"' in page and "does not verify" in page
    assert "the chain has 1" in page


def test_file_page_links_the_runs_that_made_and_used_it(ui, session):
    run_id, corpus = finished_wordcount(ui)
    words = next(f for f in ui.service.run_files(run_id) if f["path"] == "words.txt")
    page = ui.get(f"/ui/files/{words['hash']}", session, params={"name": "words.txt"}).text
    assert words["hash"] in page and "(words.txt)" in page
    produced = section(page, "produced-by")
    used = section(page, "used-by")
    assert run_id in produced and ">split<" in produced
    assert run_id in used and ">count<" in used
    corpus_page = ui.get(f"/ui/files/{corpus}", session).text
    assert "<code>corpus</code>" in section(corpus_page, "parameter-of")


def section(page: str, ident: str) -> str:
    return page.split(f'<section id="{ident}"')[1].split("</section>")[0]


def test_file_page_draws_its_lineage_across_runs(ui, session):
    run_id, corpus = finished_wordcount(ui)
    words = next(f for f in ui.service.run_files(run_id) if f["path"] == "words.txt")
    page = ui.get(f"/ui/files/{words['hash']}", session).text
    up = section(page, "lineage-up-section")
    nodes = dict(re.findall(r'data-node="([^"]+)" data-kind="(file|task)"', up))
    assert nodes == {f"file:{corpus}": "file", f"task:{run_id}/split": "task",
                     f"file:{words['hash']}": "file"}
    assert f'data-from="file:{corpus}" data-to="task:{run_id}/split"' in up
    assert f'data-from="task:{run_id}/split" data-to="file:{words["hash"]}"' in up
    assert f'href="/ui/runs/{run_id}/tasks/split"' in up and ">corpus</text>" in up
    down = section(page, "lineage-down-section")
    assert f'data-node="task:{run_id}/count" data-kind="task" data-state="success"' in down
    assert ">count.txt</text>" in down
    count = next(f for f in ui.service.run_files(run_id) if f["path"] == "count.txt")
    last = ui.get(f"/ui/files/{count['hash']}", session).text
    assert 'id="lineage-up-section"' in last and 'id="lineage-down-section"' not in last


def test_file_download_is_the_verified_bytes_as_an_attachment(ui, session):
    run_id, corpus = finished_wordcount(ui)
    resp = ui.get(f"/ui/files/{corpus}/download", session, params={"name": "../x\"y.txt"})
    assert resp.content == b"the quick brown fox jumps over the lazy dog\n"
    assert resp.headers["content-disposition"] == 'attachment; filename="xy.txt"'


def test_file_page_errors(ui, session):
    run_id, _ = finished_wordcount(ui)
    manifest = ui.service.get_run(run_id)["manifest_hash"]
    assert ui.get(f"/ui/files/{manifest}", session).status_code == 404  # not a blob
    assert ui.get("/ui/files/" + "0" * 64, session).status_code == 404
    bad = ui.get("/ui/files/zz", session)
    assert bad.status_code == 400 and "Invalid hash" in bad.text


def test_unknown_run_is_an_html_404_and_api_errors_stay_json(ui, session):
    resp = ui.get("/ui/runs/01a2376e-164b-7414-80df-5b4260a4ac6e", session)
    assert resp.status_code == 404 and "<h1>" in resp.text
    api = ui.client.simulate_get("/api/runs/nope", headers={"Authorization": "Bearer x"})
    assert api.status_code == 401 and api.json["title"]


def test_static_files_ship_in_the_package(ui):
    css = ui.client.simulate_get("/ui/static/ui.css")
    js = ui.client.simulate_get("/ui/static/ui.js")
    assert css.status_code == 200 and ".state-success" in css.text
    assert js.status_code == 200 and "data-live-part" in js.text


def test_pages_have_landmarks_and_labels(ui, session):
    run_id, _ = finished_wordcount(ui)
    for path in ("/ui/runs", f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/tasks/split",
                 f"/ui/runs/{run_id}/audit", "/ui/login"):
        page = ui.get(path, None if path == "/ui/login" else session).text
        assert '<html lang="en">' in page and '<main id="main"' in page
        assert 'class="skip" href="#main"' in page and page.count("<h1") == 1, path
    runs = ui.get("/ui/runs", session).text
    assert '<label for="f-workflow">' in runs and '<label for="f-state">' in runs


def test_a_skipped_task_page_says_it_never_started(ui, session):
    run_id = trigger(ui.service, chain("a", "b"), "chain")
    run_with(ui.store, run_id, {"a": TaskBehavior(exit_code=1)})
    page = ui.get(f"/ui/runs/{run_id}/tasks/b", session).text
    assert "– skipped" in page
    assert "No attempt of this task has been recorded: it was skipped before it started" in page


def test_run_page_shows_no_raw_null_for_a_run_that_resumes_nothing(ui, session):
    run_id, _ = finished_wordcount(ui)
    record = ui.get(f"/ui/runs/{run_id}", session).text.split('id="run-record"', 1)[1]
    record = record.split("</dl>", 1)[0]
    assert "<code>null</code>" not in record
    assert re.search(r"<dt>Resumes</dt><dd><span class=\"muted\">—</span></dd>", record)
