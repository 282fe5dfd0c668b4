"""Live-log spool files hold a running task's stdout and stderr (secrets masked, but still
the task's data): under a umask of 022 they are created 0600 in 0700 folders, like the
store itself. Real LMDB store folder, real files."""

from __future__ import annotations

import os
import stat

import pytest

from wfobj.engine.executors.spools import live_paths, open_spools


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_spools_are_private_under_a_permissive_umask(lmdb_store, umask_022):
    paths = live_paths(lmdb_store, "run-1", "talk", 1)
    open_spools(paths)
    for path in paths.values():
        assert mode(path) == 0o600, path
    assert mode(paths["stdout"].parent) == 0o700
    assert mode(paths["stdout"].parent.parent) == 0o700


def test_reopening_a_spool_empties_it_and_keeps_it_private(lmdb_store, umask_022):
    paths = live_paths(lmdb_store, "run-2", "talk", 1)
    open_spools(paths)
    paths["stdout"].write_bytes(b"old")
    os.chmod(paths["stdout"], 0o644)  # left by an older version
    open_spools(paths)
    assert paths["stdout"].read_bytes() == b""
    assert mode(paths["stdout"]) == 0o600
