#!/usr/bin/env python3
"""The per-tag table of two conformance runs (docs/cwl.md), from cwltest's badge folders.

    scripts/cwl-tag-table.py WFOBJ_BADGES [CWLTOOL_BADGES]

Each badge folder (`cwltest --badgedir D`, as scripts/cwl-conformance.sh writes it: by
default /tmp/cwl-badges-wfobj-cwl-runner and /tmp/cwl-badges-cwltool) holds a `TAG.md`
per tag listing its passed, failed and unsupported tests. Prints a Markdown table, one row
per tag (`all` first): passed/total of each run; then the tests each run missed, by short
name, to re-run with `scripts/cwl-conformance.sh SUITE -s NAME,NAME…`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

SECTION = re.compile(r"^## List of (\w+)")
ITEM = re.compile(r"^- \[([^\]]+)\]")


def tag_lists(folder: Path) -> dict[str, dict[str, list[str]]]:
    """{tag: {"passed"|"failed"|"unsupported": [short names]}}"""
    tags: dict[str, dict[str, list[str]]] = {}
    for md in sorted(folder.glob("*.md")):
        lists: dict[str, list[str]] = {"passed": [], "failed": [], "unsupported": []}
        section = None
        for line in md.read_text(encoding="utf-8").splitlines():
            if m := SECTION.match(line):
                section = m.group(1)
            elif (m := ITEM.match(line)) and section:
                lists.setdefault(section, []).append(m.group(1))
        tags[md.stem] = lists
    return tags


def cell(lists: dict[str, list[str]] | None) -> str:
    if lists is None:
        return "–"
    total = sum(len(v) for v in lists.values())
    return f"{len(lists['passed'])}/{total}"


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    runs = [tag_lists(Path(a)) for a in argv]
    if not runs[0]:
        print(f"no TAG.md files in {argv[0]}", file=sys.stderr)
        return 1
    names = ["wfobj-cwl-runner", "cwltool"][:len(runs)]
    print("| tag | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(runs))
    order = sorted(runs[0], key=lambda t: (t != "all", t))
    for tag in order:
        print(f"| `{tag}` | " + " | ".join(cell(r.get(tag)) for r in runs) + " |")
    for name, run in zip(names, runs, strict=True):
        missed = sorted(set(run.get("all", {}).get("failed", []))
                        | set(run.get("all", {}).get("unsupported", [])))
        print(f"\n{name} missed {len(missed)}: {','.join(missed) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
