"""A URL may carry credentials: `wfobj serve --openlineage-url` hands it to its engine
workers through their environment (readable by the same user only, /proc/<pid>/environ
is 0400), never their argv (`ps` shows every user argv). A real `wfobj serve` and the
/proc entries of its real worker processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.test_serve_processes import descendants
from tests.support_e2e import start_server

SECRET = "s3cret-pw"
URL = f"http://lineage-user:{SECRET}@127.0.0.1:9/"


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def engine_workers(pid: int) -> list[int]:
    return [p for p in descendants(pid) if "worker" in cmdline(p)]


@pytest.mark.docker
def test_the_openlineage_url_is_in_no_worker_argv(docker_client, tmp_path):
    srv = start_server(tmp_path, extra=("--openlineage-url", URL))
    try:
        deadline = time.monotonic() + 30
        while not (workers := engine_workers(srv.proc.pid)):
            assert time.monotonic() < deadline, srv.log()
            time.sleep(0.1)
        for pid in descendants(srv.proc.pid):  # serve's own argv holds what it was given
            assert not any(SECRET in arg for arg in cmdline(pid)), cmdline(pid)
        environ = Path(f"/proc/{workers[0]}/environ").read_bytes().split(b"\0")
        assert f"WFOBJ_OPENLINEAGE_URL={URL}".encode() in environ
    finally:
        assert srv.stop() == 0, srv.log()
