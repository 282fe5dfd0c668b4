"""`wfobj push` / `wfobj pull` between store paths, through the click program."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tests.support_sync import make_run, make_workflow_version, set_workflow, verify_store
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.objstore import init_store, open_store


def run(*args):
    return CliRunner().invoke(cli, list(args), obj=CliContext())


def test_push_pull_by_path(tmp_path):
    a, b, c = (str(tmp_path / n) for n in "abc")
    src = init_store(a)
    name, manifest = make_run(src)
    count = len(list(src))
    src.close()
    init_store(b).close()
    init_store(c).close()

    dry = run("--store", a, "push", b, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["objects"] == count
    assert list(open_store(b).refs()) == []

    res = run("--store", a, "push", b)
    assert res.exit_code == 0, res.output
    assert f"sent {count} objects" in res.output
    assert "1 updated" in res.output

    res = run("--store", a, "push", b, "--json")
    report = json.loads(res.output)
    assert (report["objects"], report["bytes"]) == (0, 0)
    assert report["refs"][0]["status"] == "unchanged"

    res = run("--store", c, "pull", b, name)
    assert res.exit_code == 0, res.output
    assert f"received {count} objects" in res.output
    dest = open_store(c)
    assert dest.get_ref(name) == manifest
    assert verify_store(dest) == count


def test_refused_ref_exits_nonzero_with_reason(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    src, dst = init_store(a), init_store(b)
    set_workflow(src, "wc", make_workflow_version(src, "wc", "mine"))
    set_workflow(dst, "wc", make_workflow_version(dst, "wc", "theirs"))
    src.close()
    dst.close()
    res = run("--store", a, "push", b)
    assert res.exit_code == 1
    assert "refused" in res.output and "fast-forward" in res.output
    forced = run("--store", a, "push", b, "--force")
    assert forced.exit_code == 0, forced.output


def test_bad_remote_is_one_readable_line(tmp_path):
    a = str(tmp_path / "a")
    init_store(a).close()
    res = run("--store", a, "push", str(tmp_path / "nowhere"))
    assert res.exit_code != 0
    assert "no wfobj store at" in res.output
    assert "Traceback" not in res.output
    res = run("--store", a, "push", a)
    assert res.exit_code == 2 and "is the local store itself" in res.output
    init_store(str(tmp_path / "b")).close()
    res = run("--store", a, "push", str(tmp_path / "b"), "runs/missing")
    assert res.exit_code != 0
    assert "ref not found: runs/missing" in res.output
