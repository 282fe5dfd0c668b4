"""Shared fixtures. Area-specific helpers live in tests/support_<area>.py."""

from __future__ import annotations

import os

import pytest

from objstore import LmdbObjectStore, MemoryObjectStore


@pytest.fixture(params=["memory", "lmdb"])
def store(request, tmp_path):
    """The same contract tests run against every backend."""
    if request.param == "memory":
        yield MemoryObjectStore()
    else:
        st = LmdbObjectStore(tmp_path / "store", create=True)
        yield st
        st.close()


@pytest.fixture
def lmdb_store(tmp_path):
    st = LmdbObjectStore(tmp_path / "store", create=True)
    yield st
    st.close()


def _docker_or_reason():
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.images.get("wfobj/toolbox:local")
        return client, None
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable Docker"
        return None, f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def docker_client():
    """A Docker client with the wfobj/toolbox:local image. In CI (WFOBJ_REQUIRE_DOCKER=1)
    a missing daemon or image FAILS the test instead of skipping it."""
    client, reason = _docker_or_reason()
    if client is None:
        msg = f"Docker not usable ({reason}); run: eval \"$(bash scripts/ensure-docker.sh)\""
        if os.environ.get("WFOBJ_REQUIRE_DOCKER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    yield client
    client.close()
