"""Webhooks through a real `wfobj serve` (gunicorn, engine workers, the deliverer process;
real LMDB, real Docker): hooks added over the API, signed CloudEvents checked with hmac
and the CloudEvents SDK, a receiver that answers 500 then 200, one that hangs while a
SIGKILL takes the whole serve down, and the event still arriving after the restart."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support_e2e import ROOT, start_server, wait_terminal, wfobj_argv
from tests.support_webhooks import Receiver, checked_event, receiving
from wfobj.engine.access.secrets import SecretStore
from wfobj.objstore import init_store

pytestmark = [pytest.mark.slow, pytest.mark.docker]
QUICK = {"tasks": {"t": {"image": "wfobj/toolbox:local", "command": ["true"]}}}
SECRET = b"receiver-shared-secret"


def run_once(srv, name: str = "quick") -> str:
    h = srv.h("runner")
    requests.put(f"{srv.url}/api/workflows/{name}", json=QUICK, headers=h, timeout=10)
    trig = requests.post(f"{srv.url}/api/workflows/{name}/trigger", json={}, headers=h,
                         timeout=10)
    assert trig.status_code == 202, trig.text
    return trig.json()["run_id"]


def add_hook(srv, url: str, events: list[str], secret: str | None = None) -> dict:
    resp = requests.post(f"{srv.url}/api/hooks", headers=srv.h("admin"), timeout=10,
                         json={"url": url, "events": events, "secret_name": secret})
    assert resp.status_code == 201, resp.text
    return resp.json()


def with_secret(tmp: Path) -> None:
    init_store(tmp / "store").close()
    SecretStore(tmp / "store").set("hooksig", SECRET, "admin-user")


def signed(got) -> bool:
    expected = "sha256=" + hmac.new(SECRET, got.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(got.headers.get("X-Wfobj-Signature", ""), expected)


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def kill_9_everything(srv) -> None:
    """SIGKILL the supervisor and every process under it at once: nothing winds down."""
    family = descendants(srv.proc.pid)
    for pid in [srv.proc.pid, *family]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    srv.proc.wait()


def test_api_cli_and_a_500_then_200_receiver(tmp_path, docker_client):
    with_secret(tmp_path)
    with receiving(Receiver(answers=[500])) as rx:
        srv = start_server(tmp_path, extra=("--hook-timeout", "2"))
        try:
            h = srv.h("admin")
            # admin only
            assert requests.get(f"{srv.url}/api/hooks", headers=srv.h("runner"),
                                timeout=10).status_code == 403
            bad = requests.post(f"{srv.url}/api/hooks", headers=h, timeout=10,
                                json={"url": "ftp://example.org/x", "events": ["run.failed"]})
            assert bad.status_code == 400 and "ftp://example.org/x" in bad.json()["description"]
            bad = requests.post(f"{srv.url}/api/hooks", headers=h, timeout=10, json={
                "url": rx.url, "events": ["run.failed"], "secret_name": "nosuch"})
            assert bad.status_code == 400 and "nosuch" in bad.json()["description"]
            bad = requests.post(f"{srv.url}/api/hooks", headers=h, timeout=10,
                                json={"url": rx.url, "events": ["run.done"]})
            assert bad.status_code == 400 and "run.done" in bad.json()["description"]
            # through the CLI, against the server
            cli = subprocess.run(wfobj_argv("--server", srv.url, "--token", srv.tokens["admin"],
                                            "hook", "add", rx.url, "--events",
                                            "run.created,run.succeeded", "--secret-name",
                                            "hooksig", "--json"),
                                 capture_output=True, text=True, timeout=60)
            assert cli.returncode == 0, cli.stderr
            hook = json.loads(cli.stdout)
            assert hook["secret_name"] == "hooksig"
            run_id = run_once(srv)
            assert wait_terminal(srv, run_id)["state"] == "success"
            got = rx.wait_for(3, timeout=60)  # created (500, then again), succeeded
            manifest = requests.get(f"{srv.url}/api/runs/{run_id}", headers=srv.h("reader"),
                                    timeout=10).json()["manifest_hash"]
            deliveries = subprocess.run(
                wfobj_argv("--server", srv.url, "--token", srv.tokens["admin"], "hook",
                           "deliveries", "--run", run_id, "--json"),
                capture_output=True, text=True, timeout=60)
            assert deliveries.returncode == 0, deliveries.stderr
            log = json.loads(deliveries.stdout)
        finally:
            assert srv.stop() == 0, srv.log()
    assert all(signed(r) for r in got)
    events = [checked_event(r) for r in got]
    assert [e.get_type() for e in events] == ["org.wfobj.run.created"] * 2 + [
        "org.wfobj.run.succeeded"]
    assert events[0].get_id() == events[1].get_id()  # a retry is the same event
    assert events[2].get_data()["manifest"] == manifest
    assert events[2].get_data() | {"state": "success", "run_id": run_id,
                                   "workflow": "quick"} == events[2].get_data()
    by_type = {d["type"]: d for d in log}
    assert (by_type["org.wfobj.run.created"]["tries"],
            by_type["org.wfobj.run.created"]["status"],
            by_type["org.wfobj.run.created"]["state"]) == (2, 200, "delivered")
    assert by_type["org.wfobj.run.succeeded"]["tries"] == 1


def test_an_event_outlives_a_kill_9_of_serve_mid_delivery(tmp_path, docker_client):
    with_secret(tmp_path)
    with receiving(Receiver(hang=3600)) as stuck:
        srv = start_server(tmp_path, extra=("--hook-timeout", "1"))
        port = int(srv.url.rsplit(":", 1)[1])
        add_hook(srv, stuck.url, ["run.succeeded"], "hooksig")
        run_id = run_once(srv)
        assert wait_terminal(srv, run_id)["state"] == "success"
        first = stuck.wait_for(1, timeout=60)[0]  # in flight: the receiver hangs on it
        # the engine is not slowed by the hanging receiver: another run ends meanwhile
        t0 = time.monotonic()
        other = run_once(srv)
        assert wait_terminal(srv, other)["state"] == "success"
        assert time.monotonic() - t0 < 60
        kill_9_everything(srv)
    with receiving(port=int(stuck.url.split(":")[2].split("/")[0])) as rx:  # back, answering
        again = start_server(tmp_path, tokens=False, port=port, extra=("--hook-timeout", "1"))
        try:
            got = rx.wait_for(2, timeout=60)  # after the dead deliverer's lease ran out
        finally:
            assert again.stop() == 0, again.log()
    ids = sorted(checked_event(r).get_data()["run_id"] for r in got)
    assert ids == sorted([run_id, other])
    assert first.body in [r.body for r in got]  # the very event that was in flight
    assert all(signed(r) for r in got)


def test_a_worker_alone_delivers_and_stops_with_its_deliverer(tmp_path, docker_client):
    """`wfobj worker` with no `serve` on the store: its runs' events arrive, from a
    deliverer process it started and stops with its engine worker on SIGTERM."""
    from tests.support_engine import service, trigger
    from wfobj.engine.webhooks.registry import HookStore

    store = init_store(tmp_path / "store")
    with receiving() as rx:
        HookStore(store).add(rx.url, ["run.created", "run.succeeded"], user="root")
        run_id = trigger(service(store), QUICK)
        store.close()
        log = (tmp_path / "worker.log").open("w+")
        proc = subprocess.Popen(wfobj_argv("--store", str(tmp_path / "store"), "worker"),
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            got = rx.wait_for(2, timeout=90)
            kids = direct_children(proc.pid)
            roles = sorted("deliver" if b"\0deliver\0" in cmdline(p) else "worker"
                           for p in kids)
        finally:
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(60)
    log.seek(0)
    assert status == 0, log.read()
    assert [r.event["type"] for r in got] == ["org.wfobj.run.created",
                                              "org.wfobj.run.succeeded"]
    assert {r.event["data"]["run_id"] for r in got} == {run_id}
    assert roles == ["deliver", "worker"]
    assert not any(alive(p) for p in kids)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def direct_children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat
