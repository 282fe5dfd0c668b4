"""Walking the object graph: every object reachable from some roots, children first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .codec import Link
from .ids import ObjectId
from .store import ObjectStore


def walk_closure(
    store: ObjectStore,
    roots: Iterable[str],
    *,
    prune: Callable[[ObjectId], bool] | None = None,
    include_storage: bool = True,
) -> Iterator[ObjectId]:
    """Yield every object reachable from `roots` once, each after all it links to.

    `prune(oid)` returning True skips an object and everything below it (used by sync:
    an object the other side has comes with its whole closure). With `include_storage`,
    chunked blobs yield their chunklist index and chunks too (what a store must hold).
    Raises ObjectNotFound for a dangling link.
    """
    links = store.stored_links if include_storage else _outside_links(store)
    done: set[str] = set()
    for root in roots:
        if root in done or (prune is not None and prune(ObjectId(root))):
            done.add(root)
            continue
        # iterative post-order DFS: (oid, expanded?)
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            oid, expanded = stack.pop()
            if expanded:
                if oid not in done:
                    done.add(oid)
                    yield ObjectId(oid)
                continue
            if oid in done:
                continue
            stack.append((oid, True))
            for child in reversed(links(oid)):
                if child in done:
                    continue
                if prune is not None and prune(ObjectId(child)):
                    done.add(child)
                    continue
                stack.append((child, False))


def reachable(
    starts: Iterable[str], links: Callable[[str], Iterable[str]], seen: set[str] | None = None
) -> set[str]:
    """Every id reachable from `starts` through `links(id)`, starts included, added to
    `seen` (ids already there are not expanded again). Iterative: any depth."""
    seen = set() if seen is None else seen
    stack = list(starts)
    while stack:
        oid = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        stack.extend(links(oid))
    return seen


def _outside_links(store: ObjectStore) -> Callable[[str], list[ObjectId]]:
    return lambda oid: [link.oid for link in store.links_of(oid)]


@dataclass(frozen=True)
class GraphEntry:
    """One line of `walk_graph`: depth below the root, the field that links here, the
    object, and whether it was already shown above (shared subtrees appear once)."""

    depth: int
    label: str
    oid: ObjectId
    repeated: bool


def named_links(value: Any, path: str = "") -> Iterator[tuple[str, Link]]:
    """(field path, link) for every link inside a decoded value, e.g. ('inputs[0].hash', …)."""
    if isinstance(value, Link):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from named_links(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from named_links(item, f"{path}[{index}]")


def walk_graph(store: ObjectStore, root: str) -> Iterator[GraphEntry]:
    """The graph below `root`, depth first, as the outside sees it (a chunked blob is one
    blob); an object reached a second time is yielded with repeated=True and not expanded."""
    shown: set[str] = set()
    stack: list[tuple[int, str, str]] = [(0, "", root)]
    while stack:
        depth, label, oid = stack.pop()
        repeated = oid in shown
        yield GraphEntry(depth, label, ObjectId(oid), repeated)
        if repeated:
            continue
        shown.add(oid)
        if store.type_of(oid) == "blob":
            continue
        children = list(named_links(store.get_object(oid)))
        for name, link in reversed(children):
            stack.append((depth + 1, name, link.oid))


def follow_chain(store: ObjectStore, start: str, field: str = "previous") -> Iterator[ObjectId]:
    """`start`, then the object its `field` link names, and so on (a version history)."""
    seen: set[str] = set()
    oid: str | None = start
    while oid is not None and oid not in seen:
        seen.add(oid)
        yield ObjectId(oid)
        if store.type_of(oid) == "blob":
            return
        nxt = store.get_object(oid).get(field)
        oid = nxt.oid if isinstance(nxt, Link) else None
