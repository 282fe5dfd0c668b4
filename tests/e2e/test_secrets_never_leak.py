"""SPEC §16's proof: a secret stored with `wfobj secret set` over HTTP, used by real Docker
tasks as an environment variable and as a file, echoed to stdout, stderr and vars, by a
task that fails, a cache hit, a task followed live, exported in every format, pulled into
a second store, shown in the web UI and logged by the server: then every byte of both
stores' folders (LMDB included), every export, every served page and answer, and the
server's log is searched, and the value is nowhere."""

from __future__ import annotations

import base64
import json
import secrets as random_secrets
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from tests.support_e2e import served, wait_terminal
from wfobj.cli.context import CliContext
from wfobj.cli.main import cli

pytestmark = [pytest.mark.docker, pytest.mark.slow]

VALUE = "leak-probe-" + random_secrets.token_hex(16)
FORMATS = ("ro-crate", "prov", "openlineage", "in-toto")

USES = {"TOKEN": {"secret": "probe"}, "/run/secrets/probe": {"secret": "probe"}}
ECHO = {"tasks": {
    "env": {"image": "wfobj/toolbox:local", "secrets": USES, "outputs": {"vars": ["v"]},
            "command": ["sh", "-c", 'echo "token=$TOKEN"; echo "$TOKEN" >&2; '
                        'echo "v=$TOKEN" >> $WFOBJ_VARS']},
    "file": {"image": "wfobj/toolbox:local", "secrets": USES, "after": ["env"],
             "command": ["sh", "-c", "cat /run/secrets/probe; echo; "
                         "printf %s \"$TOKEN\" | sha256sum"]}}}
FAIL = {"tasks": {"boom": {"image": "wfobj/toolbox:local", "secrets": USES,
                           "command": ["sh", "-c", 'echo "about to fail with $TOKEN" >&2; '
                                       "exit 3"]}}}
SLOW = {"tasks": {"slow": {"image": "wfobj/toolbox:local", "secrets": USES, "cache": False,
                           "command": ["sh", "-c", 'echo "start $TOKEN"; sleep 3; '
                                       'echo "end $(cat /run/secrets/probe)"']}}}


def wfobj(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), obj=CliContext(), input=input)


class Seen:
    """Everything served to the test: each body is kept to be searched at the end."""

    def __init__(self, server) -> None:
        self.server, self.bodies = server, []

    def get(self, path: str, role: str = "reader", **kw) -> requests.Response:
        resp = requests.get(self.server.url + path, headers=self.server.h(role),
                            **{"timeout": 60, **kw})
        self.bodies.append((path, resp.content))
        return resp

    def send(self, method: str, path: str, role: str = "runner", **kw) -> requests.Response:
        resp = requests.request(method, self.server.url + path, headers=self.server.h(role),
                                timeout=60, **kw)
        self.bodies.append((path, resp.content))
        return resp


def leaks(data: bytes) -> bool:
    raw = VALUE.encode()
    return any(probe in data for probe in (raw, raw.hex().encode(), base64.b64encode(raw)))


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    yield from served(tmp_path_factory.mktemp("e2e-secrets"))


def test_a_secret_value_is_in_no_stored_or_served_byte(server, tmp_path):
    seen = Seen(server)
    remote = ("--server", server.url, "--token", server.tokens["admin"])
    set_out = wfobj(*remote, "secret", "set", "probe", "--json", input=VALUE + "\n")
    assert set_out.exit_code == 0, set_out.output
    info = json.loads(set_out.output)
    listed = wfobj(*remote, "secret", "list", "--json")
    assert json.loads(listed.output) == [info]
    cli_output = set_out.output + listed.output

    for name, definition in (("echo", ECHO), ("fail", FAIL), ("slow", SLOW)):
        assert seen.send("PUT", f"/api/workflows/{name}", json=definition).status_code == 201
    refused = seen.send("POST", "/api/workflows/echo/trigger",
                        json={"parameters": {"nope": VALUE}})
    assert refused.status_code == 400  # an undeclared param: the message must not quote it

    def run(name: str) -> str:
        trig = seen.send("POST", f"/api/workflows/{name}/trigger", json={})
        assert trig.status_code == 202, trig.text
        return wait_terminal(server, trig.json()["run_id"])["run_id"]

    first, hit = run("echo"), run("echo")
    failed = run("fail")
    slow = seen.send("POST", "/api/workflows/slow/trigger", json={}).json()["run_id"]
    follow = seen.get(f"/api/runs/{slow}/tasks/slow/logs?follow=true&wait=30", timeout=120)
    assert b"start ***" in follow.content and b"end ***" in follow.content, follow.text
    wait_terminal(server, slow)

    runs = {first: ("env", "file"), hit: ("env", "file"), failed: ("boom",), slow: ("slow",)}
    assert seen.get(f"/api/runs/{first}").json()["state"] == "success"
    assert seen.get(f"/api/runs/{failed}").json()["state"] == "failed"
    env = seen.get(f"/api/runs/{first}/tasks/env").json()
    assert env["env"] == {"TOKEN": "<secret probe>"} and env["vars"] == {"v": "***"}
    assert env["stdout"]["text"] == "token=***\n" and env["stderr"]["text"] == "***\n"
    assert {s["fingerprint"] for s in env["secrets"]} == {info["fingerprint"]}
    assert seen.get(f"/api/runs/{hit}/tasks/env").json()["cached_from"] is not None
    boom = seen.get(f"/api/runs/{failed}/tasks/boom").json()
    assert boom["stderr"]["text"] == "about to fail with ***\n"
    compared = seen.get(f"/api/runs/{first}/compare/{hit}").json()
    assert compared["same_secrets"] is True

    exports = tmp_path / "exports"
    exports.mkdir()
    for run_id, tasks in runs.items():
        for path in (f"/api/runs/{run_id}", f"/api/runs/{run_id}/tasks",
                     f"/api/runs/{run_id}/audit", f"/api/runs/{run_id}/files",
                     f"/api/runs/{run_id}/lineage"):
            assert seen.get(path).status_code == 200, path
        for task in tasks:
            for path in (f"/api/runs/{run_id}/tasks/{task}",
                         f"/api/runs/{run_id}/tasks/{task}/logs",
                         f"/api/runs/{run_id}/tasks/{task}/cache"):
                assert seen.get(path).status_code == 200, path
            ev = seen.get(f"/api/runs/{run_id}/tasks/{task}").json()
            for stream in ("stdout", "stderr"):
                assert seen.get(f"/api/objects/{ev[stream]['hash']}").status_code == 200
        for fmt in FORMATS:
            resp = seen.get(f"/api/runs/{run_id}/export/{fmt}")
            assert resp.status_code == 200, (fmt, resp.text[:300])
            (exports / f"{run_id}.{fmt}").write_bytes(resp.content)
    for path in ("/api/workflows/echo", "/api/workflows", "/api/runs", "/api/secrets",
                 "/metrics"):
        seen.get(path, role="admin")

    ui = requests.Session()
    login = ui.post(server.url + "/ui/login", data={"token": server.tokens["reader"]},
                    allow_redirects=False, timeout=30)
    assert login.status_code == 303, login.text
    pages = ["/ui/", "/ui/runs"]
    for run_id, tasks in runs.items():
        pages += [f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/audit"]
        pages += [f"/ui/runs/{run_id}/tasks/{t}" for t in tasks]
        pages += [f"/ui/runs/{run_id}/tasks/{t}/attempts/1" for t in tasks]
    for page in pages:
        resp = ui.get(server.url + page, timeout=30)
        assert resp.status_code == 200, (page, resp.status_code)
        seen.bodies.append((page, resp.content))
    task_page = ui.get(f"{server.url}/ui/runs/{first}/tasks/env", timeout=30).text
    assert "TOKEN=&lt;secret probe&gt;" in task_page
    assert f"title=\"{info['fingerprint']}\"" in task_page  # the Secrets row

    second = tmp_path / "second"
    assert wfobj("--store", str(second), "init").exit_code == 0
    pulled = wfobj("--store", str(second), "pull", server.url, "--token", server.tokens["admin"])
    assert pulled.exit_code == 0, pulled.output
    local = wfobj("--store", str(second), "run", "show", first, "--json")
    assert local.exit_code == 0 and json.loads(local.output)["state"] == "success"
    assert not (second / "secrets.enc").exists()  # secrets never travel by sync

    removed = wfobj(*remote, "secret", "rm", "probe")
    assert removed.exit_code == 0, removed.output
    gone = run("echo")
    assert seen.get(f"/api/runs/{gone}/tasks/env").json()["error"].startswith(
        "secret 'probe': is not in this server's secret store")
    assert server.stop() == 0, server.log()

    searched = 0
    for folder in (server.store_path, second, exports):
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                assert not leaks(path.read_bytes()), f"the value is in {path}"
                searched += 1
    assert (server.store_path / "data.mdb").exists() and (second / "data.mdb").exists()
    for where, body in seen.bodies:
        assert not leaks(body), f"the value was served by {where}"
    assert not leaks(server.log_path.read_bytes()), "the value is in the server's log"
    assert not leaks(cli_output.encode())
    assert searched >= len(FORMATS) * len(runs) + 4
    assert len(seen.bodies) > 60 and "API up" in server.log_path.read_text()
