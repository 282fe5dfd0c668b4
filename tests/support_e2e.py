"""A real `wfobj serve` (gunicorn + engine workers) on a temp LMDB store, on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import blake3
import requests

from wfobj.engine.access.tokens import TokenStore
from wfobj.engine.states import RUN_TERMINAL
from wfobj.objstore import init_store, open_store

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(store_path: Path) -> tuple:
    """Objects, refs and metadata of the store (read from this test process)."""
    store = open_store(store_path)
    try:
        return (sorted(store), sorted(store.refs()),
                sorted(store._meta_scan(b"", None, False)))
    finally:
        store.close()


@dataclass
class Server:
    url: str
    store_path: Path
    proc: subprocess.Popen
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def h(self, role: str = "runner", **extra: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def wfobj_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "from wfobj.cli.main import main; main()", *args]


def start_server(tmp: Path, *, tokens: bool = True, engine_workers: int = 1,
                 workers: int = 2, env: dict | None = None, extra: tuple[str, ...] = (),
                 port: int | None = None) -> Server:
    """`wfobj serve` on a new store in `tmp` (or the one already there), on `port` (or a
    free one), with `extra` serve options; returns once /api/health answers and the
    engine workers (started after that) are on their way."""
    store_path = tmp / "store"
    store = init_store(store_path)
    issued = {}
    if tokens:
        ts = TokenStore(store)
        issued = {role: ts.create(f"{role}-user", role)[0]
                  for role in ("reader", "runner", "admin")}
    store.close()
    port = port or free_port()
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            wfobj_argv("--store", str(store_path), "serve", "--bind", f"127.0.0.1:{port}",
                       "--workers", str(workers), "--engine-workers", str(engine_workers),
                       *extra),
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})})
    server = Server(f"http://127.0.0.1:{port}", store_path, proc, log_path, issued)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"wfobj serve exited {proc.returncode}:\n{server.log()}")
        try:
            if (requests.get(server.url + "/api/health", timeout=1).ok
                    and "API up" in server.log()):
                return server
        except requests.RequestException:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"wfobj serve did not come up:\n{server.log()}")


def served(tmp: Path, **kw) -> Iterator[Server]:
    """The body of a module's `server` fixture (`yield from served(...)`): a server for the
    module, which must stop cleanly (exit 0) at its end."""
    srv = start_server(tmp, **kw)
    yield srv
    assert srv.stop() == 0, srv.log()


def finished_wordcount(server: Server) -> dict:
    """examples/wordcount.yaml applied, its corpus uploaded (hash sent along), one run
    triggered by name and ended in success: {"definition", "corpus", "run", "data"}."""
    put = requests.put(f"{server.url}/api/workflows/wordcount",
                       data=(ROOT / "examples" / "wordcount.yaml").read_bytes(),
                       headers=server.h(**{"Content-Type": "application/yaml"}))
    assert put.status_code == 201, put.text
    data = (ROOT / "examples" / "corpus.txt").read_bytes()
    up = requests.post(f"{server.url}/api/objects", data=data, headers=server.h(
        **{"X-Wfobj-Hash": blake3.blake3(data).hexdigest()}))
    assert up.status_code == 201, up.text
    trig = requests.post(f"{server.url}/api/workflows/wordcount/trigger",
                         json={"parameters": {"corpus": up.json()["hash"]}}, headers=server.h())
    assert trig.status_code == 202 and trig.json()["state"] == "pending", trig.text
    run = wait_terminal(server, trig.json()["run_id"])
    assert run["state"] == "success", (run, server.log())
    return {"definition": put.json(), "corpus": up.json(), "run": run, "data": data}


def wait_terminal(server: Server, run_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = requests.get(f"{server.url}/api/runs/{run_id}", headers=server.h("reader"),
                           timeout=10).json()
        if run["state"] in RUN_TERMINAL or time.monotonic() > deadline:
            return run
        time.sleep(0.2)
