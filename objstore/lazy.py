"""Package faces that import on first use.

A face lists, module by module, the names a package offers; a name's module is imported
the first time the name is read (PEP 562 module `__getattr__`), so `wfobj --help` does not
pay for LMDB, Docker or the exports. Every name still has one home: its module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def face(package: str, table: Mapping[str, tuple[str, ...]]) -> tuple[
        list[str], Callable[[str], object], Callable[[], list[str]]]:
    """`__all__`, `__getattr__` and `__dir__` for `package` offering `table`'s names (a
    module, relative to the package, to the names it gives)."""
    where = {name: module for module, names in table.items() for name in names}
    names = sorted(where)

    def getattr_(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        vars(importlib.import_module(package))[name] = value  # later reads skip this hook
        return value

    return names, getattr_, lambda: names
