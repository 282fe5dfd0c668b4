"""`wfobj serve` lifecycle: clean stop on SIGINT/SIGTERM, nothing left listening, and a
dead child takes the whole service down with a non-zero exit."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests import ROOT
from tests.support_e2e import start_server
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = pytest.mark.slow


def _listening(url: str) -> bool:
    host, port = url.rsplit("//", 1)[1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_everything_cleanly(tmp_path, sig):
    srv = start_server(tmp_path, engine_workers=1, workers=1)
    assert _listening(srv.url)
    srv.proc.send_signal(sig)
    assert srv.proc.wait(30) == 0, srv.log()
    assert not _listening(srv.url)
    assert "stopping" in srv.log()


def _child(srv, marker: bytes) -> str:
    pids = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True,
                          text=True).stdout.split()
    return next(pid for pid in pids if marker in open(f"/proc/{pid}/cmdline", "rb").read())


@pytest.mark.parametrize("marker", [b"\0worker\0", b"gunicorn"])
def test_dead_child_stops_serve_with_error(tmp_path, marker):
    srv = start_server(tmp_path, engine_workers=1, workers=2)
    subprocess.run(["kill", "-KILL", _child(srv, marker)], check=True)
    assert srv.proc.wait(30) == 1
    assert "exited" in srv.log()
    assert not _listening(srv.url), "gunicorn's orphaned workers were left serving"


@pytest.mark.parametrize("bind", ["8080", "localhost:", ":80", "host:99999", "h:x"])
def test_bad_bind_is_a_usage_error(tmp_path, bind):
    result = CliRunner().invoke(cli, ["--store", str(tmp_path / "s"), "serve", "--bind", bind],
                                obj=CliContext())
    assert result.exit_code == 2 and "HOST:PORT" in result.output
    assert not (tmp_path / "s").exists()


def test_get_app_needs_a_store():
    code = "import wfobj.api.app; wfobj.api.app.get_app()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin"}, cwd=str(ROOT))
    assert proc.returncode == 1 and "WFOBJ_STORE" in proc.stderr
