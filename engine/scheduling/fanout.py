"""Fan-out at run time (docs/workflow-format.md, "Fan-out"): the items of a task's
collection once it is known, the instances they make and how many run, and the gathered
directory a task without `for_each` reads from a fanned-out one.

Costs: expanding a task reads its collection once (one tree, one var or one param) and
adds one row per instance; each instance then costs what a task costs. A gather builds
one tree of every instance's file once per (task, file), however many tasks read it.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field

from wfobj.engine.definitions.fanout import instance_name, key_problem
from wfobj.engine.errors import FanOutRefused, excerpt
from wfobj.engine.executors.base import OutputFile
from wfobj.engine.model import DIR, ForEach, ParamDefinition
from wfobj.objstore import ObjectId, PathNotInTree, Tree, TreeEntry, WriteBatch, entry_at, read_tree

DEFAULT_MAX_INSTANCES = 10_000


@dataclass(frozen=True)
class Produced:
    """What a finished task or instance made that others read: its outputs and vars
    (all the scheduler keeps of an attempt once it is recorded)."""

    outputs: list[OutputFile]
    vars: dict[str, str]


@dataclass(frozen=True)
class Item:
    """One item of a collection: its KEY, its text ({{item}}) and, for a directory's
    entry, the entry ({item: true} mounts it)."""

    key: str
    text: str
    entry: TreeEntry | None = None


@dataclass
class FanOut:
    """A fanned-out task while its instances run: which wait, how many run, how many ended."""

    task: str
    items: dict[str, Item]  # by instance name, in item order
    limit: int  # parallelism (at most this many instances running at once)
    queue: deque[str] = field(default_factory=deque)
    running: int = 0
    ended: int = 0
    failed: int = 0
    skipped: int = 0  # instances their task's kind skipped by a condition (a CWL `when`)

    @property
    def complete(self) -> bool:
        return self.ended == len(self.items)

    def next(self) -> str | None:
        if not self.queue or self.running >= self.limit:
            return None
        self.running += 1
        return self.queue.popleft()


def item_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def collection_items(store, task: str, each: ForEach, params: dict[str, ParamDefinition],
                     values: dict, produced: dict[str, Produced], bound: int) -> list[Item]:
    """The items of `each` now, in order (FanOutRefused saying why there are none to take)."""
    where = each.describe()
    if each.param is not None:
        value = values[each.param]
        items = (tree_items(store, value) if params[each.param].type == DIR
                 else [Item(str(i), item_text(v)) for i, v in enumerate(value)])
    elif each.file is not None:
        items = tree_items(store, output_dir(store, task, where, each, produced[each.task]))
    else:
        items = var_items(task, where, produced[each.task].vars.get(each.var))
    if len(items) > bound:
        raise FanOutRefused(task, where, f"{len(items)} items, more than the bound of {bound} "
                            "instances per task (the server's --max-instances)")
    for item in items:
        problem = key_problem(item.key)
        if problem:
            raise FanOutRefused(task, where, problem)
    return items


def tree_items(store, oid: ObjectId) -> list[Item]:
    return [Item(e.name, e.name, e) for e in read_tree(store, oid).entries]


def output_dir(store, task: str, where: str, each: ForEach, produced: Produced) -> ObjectId:
    """The tree of the directory `each.file` among `produced`'s outputs (or inside one)."""
    entry = find_output(store, produced, each.file)
    if entry is None:
        raise FanOutRefused(task, where, "no such directory was produced")
    if entry.kind != DIR:
        raise FanOutRefused(task, where, "it is a file, not a directory")
    return entry.oid


def var_items(task: str, where: str, raw: str | None) -> list[Item]:
    if raw is None:
        raise FanOutRefused(task, where, "the var was not set")
    try:
        value = json.loads(raw)
    except ValueError:
        raise FanOutRefused(task, where, f"{excerpt(raw)} is not JSON") from None
    if not isinstance(value, list) or not all(
            isinstance(v, str | bool | int) or isinstance(v, float) and v == v for v in value):
        raise FanOutRefused(task, where, f"{excerpt(raw)} is not a JSON array of strings, "
                            "numbers and booleans")
    return [Item(str(i), item_text(v)) for i, v in enumerate(value)]


def instances(task: str, items: list[Item], parallelism: int | None) -> FanOut:
    named = {instance_name(task, item.key): item for item in items}
    fan = FanOut(task, named, parallelism or len(named) or 1)
    fan.queue.extend(named)
    return fan


# ---- gather ---------------------------------------------------------------------------
def find_output(store, produced: Produced, path: str) -> TreeEntry | None:
    """The file or folder at `path` among `produced`'s outputs (exact, or inside an output
    directory); None if it is not there."""
    for out in produced.outputs:
        if out.path == path:
            return TreeEntry(path.rsplit("/", 1)[-1], out.kind, out.oid, out.size)
    for out in produced.outputs:
        if out.kind == DIR and path.startswith(out.path + "/"):
            try:
                return entry_at(store, out.oid, path[len(out.path) + 1:])
            except PathNotInTree:
                return None
    return None


def gather(store, b: WriteBatch, path: str,
           found: list[tuple[str, TreeEntry]]) -> OutputFile:
    """The directory `<KEY>/<path>` for every (KEY, entry) found, stored in `b`: what a
    task without for_each reads from a fanned-out task."""
    root: dict = {}
    parts = path.split("/")
    for key, entry in found:
        folder = root.setdefault(key, {})
        for part in parts[:-1]:
            folder = folder.setdefault(part, {})
        folder[parts[-1]] = TreeEntry(parts[-1], entry.kind, entry.oid, entry.size,
                                      entry.executable)
    top = _write(b, "", root)
    return OutputFile(path, top.oid, top.size, DIR)


def _write(b: WriteBatch, name: str, folder: dict) -> TreeEntry:
    entries = [_write(b, key, value) if isinstance(value, dict) else value
               for key, value in folder.items()]
    tree = Tree.of(entries)
    return TreeEntry(name, DIR, b.put_object(tree.to_value()), tree.size)

