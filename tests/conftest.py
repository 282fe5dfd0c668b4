"""Shared fixtures. Area-specific helpers live in tests/support_<area>.py."""

from __future__ import annotations

import os

import pytest

from wfobj.objstore import LmdbObjectStore, MemoryObjectStore


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


def require_or_skip(part: str, value, reason: str | None, hint: str):
    """`value` when the real part is there; else skip the test or, in CI (WFOBJ_REQUIRE_<PART>=1),
    fail it: a missing Docker, Slurm or browser never passes as a skip there."""
    if value is not None:
        return value
    msg = f"{hint} ({reason})"
    if os.environ.get(f"WFOBJ_REQUIRE_{part}") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


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
    client = require_or_skip("DOCKER", *_docker_or_reason(),
                             'Docker not usable; run: eval "$(bash scripts/ensure-docker.sh)"')
    yield client
    client.close()


@pytest.fixture(scope="session")
def slurm_cluster():
    """The private two-node Slurm cluster of scripts/slurm-cluster.sh, started (or reused)
    for the session; its SLURM_CONF is set in this process's environment, so the Slurm
    commands and every `wfobj` started from here find it. Stopped at the end if this
    session started it. In CI (WFOBJ_REQUIRE_SLURM=1) a cluster that cannot start FAILS."""
    from tests.support_slurm import start_cluster, stop_cluster

    cluster = require_or_skip("SLURM", *start_cluster(),
                              "no Slurm cluster; apt-get install slurm-wlm munge")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.conf
    yield cluster
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous
    if cluster.started_here:
        stop_cluster(cluster)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (tests/support_browser.py), one for the session. In CI
    (WFOBJ_REQUIRE_BROWSER=1) a missing or broken browser FAILS the test instead of skipping."""
    from tests.support_browser import browser_or_reason

    started = require_or_skip("BROWSER", *browser_or_reason(), "no headless Chromium")
    yield started
    started.quit()
