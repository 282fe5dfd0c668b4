"""The UI on fan-out runs (fake executor): a fanned-out task is one DAG node and one table
row with its instances counted by state, opening onto its instances 200 to a page, each
linking to its own page; skips by a condition are drawn apart from skips after a failure
or a stop."""

from __future__ import annotations

import html
import io
import re
from urllib.parse import quote

import pytest

from tests.support_engine import chain, run_with, task, trigger
from tests.support_ui import (
    finished_cohort,
    live_cohort,
    make_ui,
    stop_cohort,
    svg_nodes,
)
from wfobj.engine.executors.fake import TaskBehavior
from wfobj.objstore import MemoryObjectStore, TreeBuilder


@pytest.fixture
def ui():
    return make_ui(MemoryObjectStore())


@pytest.fixture
def session(ui):
    return ui.login()


def node(page: str, name: str) -> str:
    """The SVG group of DAG node `name`."""
    return re.search(rf'<g class="node[^"]*" data-task="{re.escape(name)}".*?</g>', page, re.S).group(0)


def instance_rows(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-task="([^"]+)" data-state="([^"]+)">', page)


def test_a_fanned_out_task_is_one_node_with_its_instances_counted(ui, session):
    run_id = finished_cohort(ui, 12, failing=(3, 7))
    page = ui.get(f"/ui/runs/{run_id}", session).text
    assert svg_nodes(page) == {"align": "failed", "merge": "skipped", "deep": "skipped",
                               "qc": "success"}  # no node per instance
    align = node(page, "align")
    assert 'data-instances="12"' in align and "fanned" in align
    assert ">align ×12</text>" in align and ">10 ✓ 2 ✗</text>" in align
    assert 'aria-label="align: failed, 12 instances: 10 success, 2 failed"' in align
    assert f'href="/ui/runs/{run_id}/tasks/align"' in align
    assert re.search(r'data-from="align" data-to="merge"', page)
    row = re.search(r'<tr data-task="align" data-instances="12">.*?</tr>', page, re.S).group(0)
    assert "12 instances</a>" in row and "10 ✓ success" in row and "2 ✗ failed" in row
    assert "align[3]" not in page  # the run page lists no instance


def test_the_fan_out_page_lists_its_instances_linking_each(ui, session):
    run_id = finished_cohort(ui, 12, failing=(3, 7))
    page = ui.get(f"/ui/runs/{run_id}/tasks/align", session)
    assert page.status_code == 200
    text = page.text
    assert "<h1>Task align, fanned out</h1>" in text and "Instances 1–12 of 12" in text
    rows = instance_rows(text)
    assert [n for n, _ in rows] == [f"align[{i}]" for i in range(12)]
    assert {n: s for n, s in rows if s != "success"} == {"align[3]": "failed", "align[7]": "failed"}
    assert f'href="/ui/runs/{run_id}/tasks/align%5B3%5D"' in text
    assert '<th scope="col">Item</th>' in text  # a list's KEY is an index: its value too
    assert re.search(r'align\[3\]</a></th>\s*<td><code>s3</code></td>', text)
    assert 'rel="next"' not in text  # one page
    one = ui.get(f"/ui/runs/{run_id}/tasks/align%5B3%5D", session).text
    assert "<h1>Task align[3], attempt 1</h1>" in one
    assert f'<a href="/ui/runs/{run_id}/tasks/align">align</a> › align[3]' in one
    assert "✗ failed" in one


def test_instances_come_200_to_a_page(ui, session):
    run_id = finished_cohort(ui, 405, failing=(401,))
    base = f"/ui/runs/{run_id}/tasks/align"
    first = ui.get(base, session).text
    assert len(instance_rows(first)) == 200 and "Instances 1–200 of 405" in first
    assert "Page 1 of 3" in first and 'rel="prev"' not in first
    nxt = re.search(r'href="([^"]+)" rel="next"', first).group(1)
    assert nxt == f"{base}?page=2"
    last = ui.get(base, session, params={"page": "3"}).text
    assert instance_rows(last)[0][0] == "align[400]" and len(instance_rows(last)) == 5
    assert ("align[401]", "failed") in instance_rows(last)
    assert f'href="{base}?page=2" rel="prev"' in last and 'rel="next"' not in last
    assert f'<a href="{base}">First page</a>' in last
    assert ui.get(base, session, params={"page": "4"}).status_code == 404
    assert ui.get(base, session, params={"page": "0"}).status_code == 400


def test_instance_names_are_url_encoded_both_ways(ui, session):
    builder = TreeBuilder(ui.store)
    for name in ("a+b%c.fq", "B=1,2@x.fq"):
        builder.add_file(name, io.BytesIO(name.encode()))
    d = {"params": {"reads": {"type": "dir"}},
         "tasks": {"count": task(for_each={"param": "reads"}, inputs={"r": {"item": True}})}}
    run_id = trigger(ui.service, d, reads=builder.finish().oid)
    run_with(ui.store, run_id)
    listing = ui.get(f"/ui/runs/{run_id}/tasks/count", session).text
    assert '<th scope="col">Item</th>' not in listing  # an entry's KEY is its name
    for name in ("count[a+b%c.fq]", "count[B=1,2@x.fq]"):
        href = f"/ui/runs/{run_id}/tasks/{quote(name, safe='')}"
        assert f'href="{href}"' in listing
        page = ui.get(href, session)
        assert page.status_code == 200 and f"<h1>Task {name}, attempt 1</h1>" in page.text
    audit = ui.get(f"/ui/runs/{run_id}/audit", session).text
    assert f'tasks/{quote("count[a+b%c.fq]", safe="")}"' in audit


def test_bad_and_unknown_instance_names(ui, session):
    run_id = finished_cohort(ui, 3, failing=())
    for bad in ("align%5B..%5D", "align%5B%5D", "al%20ign%5B1%5D", "align%5B1"):
        resp = ui.get(f"/ui/runs/{run_id}/tasks/{bad}", session)
        assert resp.status_code == 400, bad
        assert resp.headers["content-type"].startswith("text/html")
    assert ui.get(f"/ui/runs/{run_id}/tasks/align%5B9%5D", session).status_code == 404
    assert ui.get(f"/ui/runs/{run_id}/tasks/nope", session).status_code == 404


def test_skips_by_condition_are_drawn_apart_from_skips_after_a_failure(ui, session):
    run_id = finished_cohort(ui, 4, failing=(1,))
    page = ui.get(f"/ui/runs/{run_id}", session).text
    deep, merge = node(page, "deep"), node(page, "merge")
    assert 'class="node state-skipped skip-condition"' in deep and 'data-skip="condition"' in deep
    assert 'class="node state-skipped skip-failure"' in merge and 'data-skip="failure"' in merge
    assert ">– skipped: condition</text>" in deep and ">– skipped: failure</text>" in merge
    assert 'aria-label="deep: skipped by a condition"' in deep
    assert 'aria-label="merge: skipped after a failure"' in merge
    table = page.split('id="task-table"', 1)[1].split("</table>", 1)[0]
    assert 'class="state state-skipped skip-condition" data-skip="condition">– skipped: condition' in table
    assert 'class="state state-skipped skip-failure" data-skip="failure">– skipped: failure' in table
    css = ui.client.simulate_get("/ui/static/ui.css").text
    assert "svg.dag .skip-condition rect" in css and "svg.dag .skip-failure rect" in css
    said = ui.get(f"/ui/runs/{run_id}/tasks/deep", session).text
    assert "it was skipped before it started, by a condition." in said
    said = ui.get(f"/ui/runs/{run_id}/tasks/merge", session).text
    assert "it was skipped before it started, after a failure upstream." in said


def test_tasks_left_when_a_run_stops_are_skipped_as_stopped(ui, session):
    run_id = trigger(ui.service, chain("a", "b"), "chain")
    run_with(ui.store, run_id, {"a": TaskBehavior(exit_code=1)})
    b = node(ui.get(f"/ui/runs/{run_id}", session).text, "b")
    assert "skip-stopped" in b and ">– skipped: stopped</text>" in b
    assert "skipped: the run stopped first" in b


def test_a_live_fan_out_shows_running_instances_and_refreshes(ui, session):
    run_id, sched = live_cohort(ui, 20, quick=4, concurrency=3)
    try:
        page = ui.get(f"/ui/runs/{run_id}", session).text
        assert 'data-live="true"' in page
        align = node(page, "align")
        assert 'data-state="running"' in align and ">4 ✓ 3 ▶ 13 ○</text>" in align
        listing = ui.get(f"/ui/runs/{run_id}/tasks/align", session).text
        assert 'data-live="true"' in listing
        assert sum(s == "running" for _, s in instance_rows(listing)) == 3
    finally:
        stop_cohort(sched)
    listing = ui.get(f"/ui/runs/{run_id}/tasks/align", session).text
    skipped = [n for n, s in instance_rows(listing) if s == "skipped"]
    assert skipped and 'data-skip="stopped">– skipped: stopped' in listing
    one = ui.get(f"/ui/runs/{run_id}/tasks/{quote(skipped[0], safe='')}", session).text
    assert "as the run stopped first." in one


def test_a_fan_out_over_nothing_and_one_not_expanded_yet(ui, session):
    d = {"params": {"n": {"type": "list"}}, "tasks": {"each": task(for_each={"param": "n"})}}
    run_id = trigger(ui.service, d, n=[])
    run_with(ui.store, run_id)
    page = ui.get(f"/ui/runs/{run_id}/tasks/each", session).text
    assert "0 instances" in page and "No instances." in page
    pending = trigger(ui.service, d, n=[1, 2])
    page = ui.get(f"/ui/runs/{pending}/tasks/each", session).text
    assert "has not expanded its collection yet" in page
    assert 'data-task="each" data-state="pending"' in ui.get(f"/ui/runs/{pending}", session).text


def test_instances_in_one_state_are_listed_from_their_counts(ui, session):
    run_id = finished_cohort(ui, 405, failing=(3, 401))
    base = f"/ui/runs/{run_id}/tasks/align"
    run_page = ui.get(f"/ui/runs/{run_id}", session).text
    assert f'href="{base}?state=failed">2 ✗ failed</a>' in run_page
    listing = ui.get(base, session).text
    assert f'href="{base}?state=success">403 ✓ success</a>' in listing
    failed = ui.get(base, session, params={"state": "failed"}).text
    assert instance_rows(failed) == [("align[3]", "failed"), ("align[401]", "failed")]
    assert "Instances failed 1–2 of 2" in failed and f'<a href="{base}">All 405 instances</a>' in failed
    success = ui.get(base, session, params={"state": "success", "page": "2"}).text
    rows = instance_rows(success)
    assert len(rows) == 200 and rows[0][0] == "align[201]"  # align[3] is not among them
    assert f'href="{base}?state=success&amp;page=3" rel="next"' in success
    assert f'href="{base}?state=success" rel="prev"' in success
    assert ui.get(base, session, params={"state": "failed", "page": "2"}).status_code == 404
    assert "No instances running." in ui.get(base, session, params={"state": "running"}).text
    assert ui.get(base, session, params={"state": "bogus"}).status_code == 400


def test_the_runs_list_counts_every_row_of_a_large_run(ui, session):
    run_id = finished_cohort(ui, 1200, failing=())
    page = ui.get("/ui/runs", session).text
    row = re.search(rf'<tr data-run="{run_id}">.*?</tr>', page, re.S).group(0)
    assert "<td>1204</td>" in row  # 4 tasks and 1,200 instances, not the first 1,000 rows


def test_a_long_list_parameter_is_shown_cut(ui, session):
    run_id = finished_cohort(ui, 300, failing=())
    page = ui.get(f"/ui/runs/{run_id}", session).text
    shown = html.unescape(re.search(r"<dt>samples</dt>\s*<dd>(.*?)</dd>", page, re.S).group(1))
    assert '<code>["s0", "s1"' in shown and '"s19", …]</code>' in shown and '"s20"' not in shown
    assert "… 280 more (300 items; the whole value in the run's API record)" in shown
    assert "<dt>deep</dt>\n  <dd><code>false</code></dd>" in page
