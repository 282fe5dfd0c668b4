"""Walking the object graph: every object reachable from some roots, children first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

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


def _outside_links(store: ObjectStore) -> Callable[[str], list[ObjectId]]:
    return lambda oid: [link.oid for link in store.links_of(oid)]
