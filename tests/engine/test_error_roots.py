"""Every error a package raises on purpose lives in its errors module, under its root."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import wfobj.engine as engine
import wfobj.objstore as objstore
from wfobj.engine.errors import EngineError
from wfobj.objstore.errors import ObjectStoreError

ROOTS = [(engine, EngineError), (objstore, ObjectStoreError)]


def _exceptions(package):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith(
                    package.__name__ + "."):
                yield value


@pytest.mark.parametrize(("package", "root"), ROOTS, ids=["engine", "objstore"])
def test_every_error_is_under_the_package_root(package, root):
    found = set(_exceptions(package))
    assert len(found) > 5
    for cls in found:
        assert cls.__module__ == f"{package.__name__}.errors", cls
        assert cls is root or issubclass(cls, root) or cls.__name__ == "WfobjError", cls
