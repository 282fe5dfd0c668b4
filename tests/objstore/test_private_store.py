"""A store is created readable by its owner only, whatever the umask: it holds every
parameter, log, output and token hash. Real LMDB files."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from wfobj.objstore import init_store, open_store


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000])
def test_a_new_store_is_private_whatever_the_umask(tmp_path, mask):
    path = tmp_path / "store"
    with umask(mask):
        init_store(path).close()
    assert mode(path) == 0o700
    assert {name: mode(path / name) for name in os.listdir(path)} == {
        "data.mdb": 0o600, "lock.mdb": 0o600}


def test_a_store_made_in_an_existing_empty_folder_makes_it_private(tmp_path):
    path = tmp_path / "store"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    init_store(path).close()
    assert mode(path) == 0o700


def test_a_lock_file_made_again_on_open_is_private(tmp_path):
    path = tmp_path / "store"
    init_store(path).close()
    (path / "lock.mdb").unlink()
    with umask(0o022):
        store = open_store(path)
        store.put_blob(b"opened")
        store.close()
    assert mode(path / "lock.mdb") == 0o600


def test_opening_an_existing_store_leaves_its_modes_alone(tmp_path):
    """An owner who shared a store with a group on purpose keeps it so (serve and worker
    warn about it instead)."""
    path = tmp_path / "store"
    init_store(path).close()
    path.chmod(0o750)
    (path / "data.mdb").chmod(0o640)
    open_store(path).close()
    init_store(path).close()
    assert (mode(path), mode(path / "data.mdb")) == (0o750, 0o640)
