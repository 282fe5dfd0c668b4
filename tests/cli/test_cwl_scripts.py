"""scripts/cwl-tag-table.py (the per-tag table of two conformance runs, from cwltest's
badge folders) and the refusals of scripts/cwl-conformance.sh that come before any test
runs. The badge folders are written here in cwltest's layout; no file of the suite is
used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import ROOT

TABLE = ROOT / "scripts" / "cwl-tag-table.py"
CONFORMANCE = ROOT / "scripts" / "cwl-conformance.sh"


def badge(folder: Path, tag: str, **lists: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    lines = [f"# `{tag}` tests"]
    for section in ("passed", "failed", "unsupported"):
        if lists.get(section):
            lines.append(f"## List of {section} tests")
            lines += [f"- [{name}](file://x.yaml#L1) ([tool](file://t.cwl))"
                      for name in lists[section]]
    (folder / f"{tag}.md").write_text("\n".join(lines) + "\n")
    (folder / f"{tag}.json").write_text(json.dumps({"subject": tag}))


def table(*folders: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TABLE), *map(str, folders)],
                          capture_output=True, text=True, timeout=60)


def test_the_table_puts_both_runs_side_by_side_all_first_and_names_the_misses(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    badge(ours, "all", passed=["a", "b", "c"], failed=["d"])
    badge(ours, "required", passed=["a", "b"])
    badge(ours, "docker", passed=["c"], unsupported=["e"])
    badge(theirs, "all", passed=["a", "b"], failed=["c", "d"])
    badge(theirs, "required", passed=["a", "b"])

    done = table(ours, theirs)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:5] == ["| tag | wfobj-cwl-runner | cwltool |", "| --- | --- | --- |",
                         "| `all` | 3/4 | 2/4 |", "| `docker` | 1/2 | – |",
                         "| `required` | 2/2 | 2/2 |"]
    assert "wfobj-cwl-runner missed 1: d" in lines
    assert "cwltool missed 2: c,d" in lines


def test_the_table_refuses_a_folder_without_badges(tmp_path):
    done = table(tmp_path)
    assert done.returncode == 1 and done.stderr.strip() == f"no TAG.md files in {tmp_path}"
    assert table().returncode == 2


def test_the_conformance_script_refuses_a_folder_that_is_not_the_suite(tmp_path):
    done = subprocess.run(["bash", str(CONFORMANCE), str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"no conformance_tests.yaml in {tmp_path}"


def test_the_conformance_script_refuses_to_overwrite_badges_it_was_given(tmp_path):
    (tmp_path / "conformance_tests.yaml").write_text("[]\n")
    taken = tmp_path / "badges"
    taken.mkdir()
    done = subprocess.run(["bash", str(CONFORMANCE), str(tmp_path)], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                      "BADGES": str(taken)})
    assert done.returncode == 2
    assert done.stderr.strip() == f"BADGES={taken} exists: remove it or name another"
