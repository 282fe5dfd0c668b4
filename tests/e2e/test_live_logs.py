"""Following a running task's output with real Docker: GET …/logs?follow=true on a real
`wfobj serve`, and `wfobj run logs RUN TASK --follow` over --server and on the store."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from tests.support_e2e import ROOT, start_server, wait_terminal, wfobj_argv

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# prints, sleeps, prints: the first line is out long before the task ends
TALK = {"tasks": {"talk": {"image": "wfobj/toolbox:local", "command": [
    "sh", "-c", "echo first; sleep 4; echo second >&2; sleep 1; echo third"]}}}


@pytest.fixture(scope="module")
def server(docker_client, tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("live-logs"))
    r = requests.put(f"{srv.url}/api/workflows/talk", json=TALK, headers=srv.h(), timeout=10)
    assert r.status_code == 201, r.text
    yield srv
    assert srv.stop() == 0, srv.log()


def trigger(server) -> str:
    r = requests.post(f"{server.url}/api/workflows/talk/trigger", json={"parameters": {}, "cache": False},
                      headers=server.h(), timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["run_id"]


def run_state(server, run_id: str) -> tuple[str, str]:
    run = requests.get(f"{server.url}/api/runs/{run_id}", headers=server.h("reader"),
                       timeout=10).json()
    return run["state"], run["tasks"]["talk"]


def follow_over_http(server, run_id: str, on_first) -> tuple[dict, dict, int]:
    """Read the NDJSON stream line by line, asking again as each `end` record says,
    until the attempt ended; `on_first` is called when the first output line arrives.
    Returns (texts by stream, the last end record, how many requests it took)."""
    texts = {"stdout": "", "stderr": ""}
    params: dict = {"follow": "true"}
    requests_made = 0
    while True:
        requests_made += 1
        with requests.get(f"{server.url}/api/runs/{run_id}/tasks/talk/logs", params=params,
                          headers=server.h("reader"), stream=True, timeout=60) as resp:
            assert resp.status_code == 200, resp.text
            assert resp.headers["Content-Type"].startswith("application/x-ndjson")
            end = None
            for line in resp.iter_lines():
                item = json.loads(line)
                if item["type"] == "output":
                    assert item["offset"] == len(texts[item["stream"]].encode())
                    if not texts["stdout"] and not texts["stderr"]:
                        on_first(item)
                    texts[item["stream"]] += item["text"]
                else:
                    end = item
        assert end is not None, "the stream ended without its end record"
        if end["ended"]:
            return texts, end, requests_made
        params = {"follow": "true", "attempt": end["attempt"],
                  "stdout_offset": end["stdout_offset"], "stderr_offset": end["stderr_offset"]}


def test_follow_streams_output_while_the_task_runs(server):
    run_id = trigger(server)
    seen = []

    def on_first(item):
        assert item == {"type": "output", "stream": "stdout", "offset": 0, "text": "first\n"}
        seen.append(run_state(server, run_id))

    texts, end, _ = follow_over_http(server, run_id, on_first)
    assert seen == [("running", "running")]  # the first line came while the task ran
    assert texts == {"stdout": "first\nthird\n", "stderr": "second\n"}
    assert end == {"type": "end", "task": "talk", "attempt": 1, "ended": True,
                   "state": "success", "stdout_offset": 12, "stderr_offset": 7}
    assert wait_terminal(server, run_id)["state"] == "success"
    # once ended, the same endpoint serves the stored (verified) blobs without waiting
    again = requests.get(f"{server.url}/api/runs/{run_id}/tasks/talk/logs",
                         params={"stdout_offset": 6}, headers=server.h("reader"), timeout=10)
    lines = [json.loads(line) for line in again.text.splitlines()]
    assert lines[0] == {"type": "output", "stream": "stdout", "offset": 6, "text": "third\n"}
    assert lines[1]["stream"] == "stderr" and lines[1]["text"] == "second\n"
    assert lines[-1]["ended"] is True and lines[-1]["stdout_offset"] == 12
    # nothing of the live spool is left behind
    assert not any((server.store_path / "live-logs").glob("*/*"))


def test_a_short_wait_ends_the_answer_and_the_client_asks_again(server):
    run_id = trigger(server)
    texts = {"stdout": "", "stderr": ""}
    params: dict = {"follow": "true", "wait": "1"}
    ends = []
    while not ends or not ends[-1]["ended"]:
        resp = requests.get(f"{server.url}/api/runs/{run_id}/tasks/talk/logs", params=params,
                            headers=server.h("reader"), timeout=60)
        lines = [json.loads(line) for line in resp.text.splitlines()]
        for item in lines[:-1]:
            texts[item["stream"]] += item["text"]
        ends.append(lines[-1])
        params = {"follow": "true", "wait": "1", "attempt": ends[-1]["attempt"] or None,
                  "stdout_offset": ends[-1]["stdout_offset"],
                  "stderr_offset": ends[-1]["stderr_offset"]}
        params = {k: v for k, v in params.items() if v is not None}
    assert texts == {"stdout": "first\nthird\n", "stderr": "second\n"}
    # the task sleeps 5 s in all, so 1 s answers cannot cover it: every answer but the
    # last stopped at the wait limit with the run still going
    assert len(ends) > 1
    assert all(not e["ended"] and e["state"] in ("pending", "running") for e in ends[:-1])
    assert ends[-1]["state"] == "success"


def read_cli_follow(server, run_id: str, *location: str) -> tuple[list, str, str, int]:
    """`wfobj … run logs RUN talk --follow` as a process; its stdout is read line by line
    and the run's state taken as each line arrives."""
    proc = subprocess.Popen(wfobj_argv(*location, "run", "logs", run_id, "talk", "--follow"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append((line, run_state(server, run_id)))
    err = proc.stderr.read()
    return lines, "".join(line for line, _ in lines), err, proc.wait(60)


def test_cli_follow_over_server(server):
    run_id = trigger(server)
    lines, out, err, code = read_cli_follow(
        server, run_id, "--server", server.url, "--token", server.tokens["reader"])
    assert code == 0, err
    assert lines[0] == ("first\n", ("running", "running"))
    assert out == "first\nthird\n" and err == "second\n"


def test_cli_follow_on_the_local_store(server):
    run_id = trigger(server)
    lines, out, err, code = read_cli_follow(server, run_id, "--store", str(server.store_path))
    assert code == 0, err
    assert lines[0] == ("first\n", ("running", "running"))
    assert out == "first\nthird\n" and err == "second\n"
