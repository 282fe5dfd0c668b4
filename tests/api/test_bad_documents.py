"""Definitions and bodies built to exhaust the server: YAML alias bombs, huge normalized
definitions, input echoed into error messages (issue 11, hole 1)."""

from __future__ import annotations

import json
import time

import pytest

from tests.support_api import WORDCOUNT, make_api, snapshot
from wfobj.objstore import MemoryObjectStore

JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}
SHORT = 2048  # no error answer about user input needs more than this


@pytest.fixture
def api():
    return make_api(MemoryObjectStore(), max_upload=1 << 20)


def _put(api, body, name="wc", headers=JSON):
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return api.client.simulate_put(f"/api/workflows/{name}", body=text,
                                   headers=api.h(**headers))


def alias_bomb(levels: int, width: int = 10) -> str:
    """A few hundred bytes of YAML whose `name` expands to width**levels strings."""
    items = [f"&l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        items.append(f"&l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return f"name: [{', '.join(items)}]\n"


def test_yaml_alias_bomb_is_refused_quickly_with_a_short_answer(api):
    body = alias_bomb(6)
    assert len(body) < 500
    before = snapshot(api.store)
    started = time.monotonic()
    r = _put(api, body, headers=YAML)
    assert r.status_code == 400
    assert len(r.content) < SHORT, len(r.content)
    assert "alias" in r.json["description"]
    assert time.monotonic() - started < 5
    assert snapshot(api.store) == before


def test_yaml_aliased_big_string_cannot_register_a_huge_definition(api):
    big = "x" * (256 << 10)
    body = (f"description: &d {big}\n"
            "tasks:\n  t: {image: img, command: [*d, *d, *d, *d, *d, *d, *d, *d]}\n")
    r = _put(api, body, headers=YAML)
    assert r.status_code == 400 and len(r.content) < SHORT
    assert "alias" in r.json["description"] or "anchor" in r.json["description"]


def test_yaml_anchor_alone_is_refused_naming_the_line(api):
    r = _put(api, "description: &d hello\ntasks: {t: {image: i, command: [x]}}\n",
             headers=YAML)
    assert r.status_code == 400
    assert "anchor" in r.json["description"] and "line 1" in r.json["description"]


def test_normalized_definition_over_1_mib_is_413(api):
    body = {**WORDCOUNT, "description": "d" * ((1 << 20) + 10)}
    before = snapshot(api.store)
    r = _put(api, body)
    assert r.status_code == 413, r.json
    assert "1048576" in r.json["description"] and len(r.content) < SHORT
    assert snapshot(api.store) == before


def test_definition_just_under_the_limit_registers(api):
    r = _put(api, {**WORDCOUNT, "description": "d" * (1000 << 10)})
    assert r.status_code == 201, r.json


HUGE = "y" * 300_000


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(name=HUGE),                                   # name mismatch
    lambda d: d["params"].update({HUGE: {"type": "int"}}),           # bad param name
    lambda d: d["params"]["min_len"].update(type=HUGE),              # bad param type
    lambda d: d["params"]["min_len"].update(default=HUGE),           # mistyped default
    lambda d: d["tasks"].update({HUGE: {"image": "i", "command": ["x"]}}),  # task name
    lambda d: d["tasks"]["split"].update({HUGE: 1}),                 # unknown key
    lambda d: d["tasks"]["split"].update(workdir=HUGE),              # not absolute
    lambda d: d["tasks"]["split"].update(timeout=HUGE),              # not a number
    lambda d: d["tasks"]["split"].update(env={HUGE: "v"}),           # bad env name
    lambda d: d["tasks"]["split"]["outputs"].update(files=["/" + HUGE]),  # absolute path
    lambda d: d["tasks"]["split"].update(after=[HUGE]),              # unknown task
    lambda d: d["tasks"]["split"]["inputs"].update(x={"param": HUGE}),   # unknown param
])
def test_definition_errors_quote_only_an_excerpt(api, mutate):
    body = json.loads(json.dumps(WORDCOUNT))
    mutate(body)
    r = _put(api, body)
    assert r.status_code == 400
    assert len(r.content) < SHORT, r.content[:200]
    assert "yyyy" in r.json["description"]  # an excerpt is still shown


def test_trigger_errors_quote_only_an_excerpt(api):
    assert _put(api, WORDCOUNT).status_code == 201
    corpus = api.store.put_blob(b"words")
    for params in ({"corpus": corpus, "min_len": HUGE}, {"corpus": HUGE},
                   {"corpus": corpus, "mode": HUGE}, {"corpus": corpus, HUGE: 1}):
        r = api.client.simulate_post("/api/workflows/wc/trigger",
                                     json={"parameters": params}, headers=api.h())
        assert r.status_code == 400 and len(r.content) < SHORT, r.content[:200]
    r = api.client.simulate_post("/api/workflows/wc/trigger",
                                 json={"parameters": {}, HUGE: 1}, headers=api.h())
    assert r.status_code == 400 and len(r.content) < SHORT


def test_sync_errors_quote_only_an_excerpt(api):
    for path, body in (("/api/sync/objects", {"wants": [HUGE]}),
                       ("/api/sync/packs/download", {"wants": ["a" * 64], "haves": [HUGE]}),
                       ("/api/sync/refs", {"updates": [{"name": HUGE, "old": None,
                                                        "new": "a" * 64}]})):
        r = api.client.simulate_post(path, json=body, headers=api.h("admin"))
        assert r.status_code == 400, (path, r.status_code)
        assert len(r.content) < SHORT, (path, r.content[:200])


def test_query_and_path_errors_quote_only_an_excerpt(api):
    r = api.client.simulate_get("/api/runs", params={"state": "s" * 3000}, headers=api.h())
    assert r.status_code == 400 and len(r.content) < SHORT
    r = api.client.simulate_get("/api/runs", params={"cursor": "c" * 3000}, headers=api.h())
    assert r.status_code == 400 and len(r.content) < SHORT
    r = api.client.simulate_get("/api/runs", params={"limit": "9" * 3000}, headers=api.h())
    assert r.status_code == 400 and len(r.content) < SHORT
    r = api.client.simulate_get("/api/objects/" + "z" * 3000, headers=api.h())
    assert r.status_code == 400 and len(r.content) < SHORT
