"""API benchmark: the wfobj REST API on gunicorn over loopback, beside a bare Falcon app
under the same gunicorn settings, measured in the same run.

1. GET /api/runs/{id} (auth + run view) with --connections keep-alive connections vs a bare
   Falcon route returning a small JSON: requests/s (p50/p99 latencies printed beside).
2. POST /api/workflows/{name}/trigger (no engine workers: triggers only queue) vs a bare
   Falcon route that parses the same JSON body and answers a new id: triggers/s. Every
   returned run id must then be listed by GET /api/runs (pending), none missing, none extra.

Exits 1 if a request fails or a trigger is lost, duplicated or not pending.

    .venv/bin/python bench/api.py [--seconds 8] [--trigger-seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import figure, free_port, parse_args, wait_for_port  # noqa: E402
from wfobj.engine.access.tokens import TokenStore  # noqa: E402
from wfobj.engine.service import WorkflowService  # noqa: E402
from wfobj.objstore import init_store  # noqa: E402

GUNICORN = ["--workers", "2", "--worker-class", "gthread", "--threads", "16",
            "--backlog", "512", "--keep-alive", "30", "--no-control-socket"]
WORKFLOW = {"name": "bench", "params": {"label": {"type": "string", "default": "x"}},
            "tasks": {"echo": {"image": "wfobj/toolbox:local",
                               "command": ["echo", "{{params.label}}"]}}}
CLIENT_PROCS = 4


def bare_app():
    """gunicorn entry for the baseline: a Falcon GET returning a small JSON, and a POST
    that parses a JSON body and answers a new id."""
    import falcon

    class Small:
        def on_get(self, req, resp, run_id):
            resp.media = {"run_id": run_id, "state": "pending"}

        def on_post(self, req, resp, run_id):
            resp.media = {"run_id": uuid.uuid4().hex, "parameters": req.get_media()}

    app = falcon.App()
    app.add_route("/bare/{run_id}", Small())
    return app


# ---- servers -----------------------------------------------------------------------------
def start_gunicorn(app: str, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *GUNICORN,
         "--chdir", str(ROOT), app], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, f"gunicorn for {app}")
    return proc, port


# ---- load generation ---------------------------------------------------------------------
def _connection_loop(port, method, path, body, headers, stop_at, out, lock):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat, errors, bodies = [], 0, []
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        lat.append(time.perf_counter() - t0)
        if resp.status >= 400:
            errors += 1
        elif method == "POST":
            bodies.append(data)
    conn.close()
    with lock:
        out.append((lat, errors, bodies))


def _client_proc(args, queue):
    port, method, path, body, headers, conns, stop_at = args
    out, lock = [], threading.Lock()
    threads = [threading.Thread(target=_connection_loop, args=(
        port, method, path, body, headers, stop_at, out, lock)) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = [x for o in out for x in o[0]]
    queue.put((lat, sum(o[1] for o in out), [b for o in out for b in o[2]]))


def load(port, method, path, *, seconds, connections, body=None, headers=None) -> dict:
    """Keep `connections` keep-alive connections busy for `seconds`; requests/s, p50/p99."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    stop_at = time.monotonic() + seconds
    per = [connections // CLIENT_PROCS + (i < connections % CLIENT_PROCS)
           for i in range(CLIENT_PROCS)]
    procs = [ctx.Process(target=_client_proc, args=(
        (port, method, path, body, headers or {}, n, stop_at), queue)) for n in per if n]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    elapsed = time.monotonic() - t0
    for p in procs:
        p.join()
    lat = sorted(x for r in results for x in r[0])
    return {"requests": len(lat), "errors": sum(r[1] for r in results),
            "rps": len(lat) / elapsed, "p50_ms": 1000 * lat[len(lat) // 2] if lat else 0,
            "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else 0,
            "bodies": [b for r in results for b in r[2]], "seconds": elapsed}


# ---- the two measurements ----------------------------------------------------------------
def setup_store(path: Path) -> tuple[str, str]:
    store = init_store(path)
    token, _ = TokenStore(store).create("bench", "runner")
    service = WorkflowService(store)
    service.apply_workflow("bench", WORKFLOW, user="bench")
    run_id = service.trigger(name="bench", parameters={}, user="bench")["run_id"]
    store.close()
    return token, run_id


def all_runs(port: int, token: str) -> list[dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    runs, cursor = [], None
    while True:
        query = "limit=1000" + (f"&cursor={cursor}" if cursor else "")
        conn.request("GET", f"/api/runs?workflow=bench&{query}",
                     headers={"Authorization": f"Bearer {token}"})
        page = json.loads(conn.getresponse().read())
        runs += page["runs"]
        cursor = page["next_cursor"]
        if not cursor:
            return runs


def latencies(name: str, res: dict) -> None:
    print(f"  {name}: {res['requests']} requests, p50 {res['p50_ms']:.2f} ms, "
          f"p99 {res['p99_ms']:.2f} ms, errors {res['errors']}")


def bench_get(api_port, bare_port, token, run_id, args) -> bool:
    auth = {"Authorization": f"Bearer {token}"}
    warm = min(1.0, args.seconds)
    load(api_port, "GET", f"/api/runs/{run_id}", seconds=warm, connections=8, headers=auth)
    load(bare_port, "GET", f"/bare/{run_id}", seconds=warm, connections=8)
    bare = load(bare_port, "GET", f"/bare/{run_id}", seconds=args.seconds,
                connections=args.connections)
    api = load(api_port, "GET", f"/api/runs/{run_id}", seconds=args.seconds,
               connections=args.connections, headers=auth)
    print(f"GET, {args.connections} connections, {args.seconds} s each, "
          f"gunicorn {' '.join(GUNICORN)}")
    latencies("bare Falcon route", bare)
    latencies("wfobj GET /api/runs/{id}", api)
    figure("GET /api/runs/{id}", api["rps"], "bare Falcon route", bare["rps"], "req/s")
    return api["errors"] == 0 and bare["errors"] == 0


def bench_trigger(api_port, bare_port, token, args) -> bool:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps({"parameters": {"label": "hi"}}).encode()
    bare = load(bare_port, "POST", "/bare/trigger", seconds=args.trigger_seconds,
                connections=args.trigger_connections, body=body, headers=headers)
    before = {r["run_id"] for r in all_runs(api_port, token)}
    res = load(api_port, "POST", "/api/workflows/bench/trigger", seconds=args.trigger_seconds,
               connections=args.trigger_connections, body=body, headers=headers)
    ids = [json.loads(b)["run_id"] for b in res["bodies"]]
    listed = {r["run_id"]: r["state"] for r in all_runs(api_port, token)}
    new = set(listed) - before
    missing = set(ids) - new
    extra = new - set(ids)
    not_pending = [i for i in ids if listed.get(i) != "pending"]
    print(f"POST, {args.trigger_connections} connections, {args.trigger_seconds} s each, "
          "no engine workers")
    latencies("bare Falcon JSON POST", bare)
    latencies("wfobj trigger", res)
    print(f"  triggers accounted for: {len(set(ids) & new)} of {len(ids)} listed, "
          f"{len(missing)} missing, {len(extra)} extra, {len(not_pending)} not pending, "
          f"{len(ids) - len(set(ids))} duplicate ids")
    figure("POST /api/workflows/{name}/trigger", res["rps"], "bare Falcon JSON POST",
           bare["rps"], "req/s")
    return (res["errors"] == 0 and bare["errors"] == 0 and not missing and not extra
            and not not_pending and len(set(ids)) == len(ids))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--trigger-seconds", type=float, default=10)
    parser.add_argument("--trigger-connections", type=int, default=16)
    args = parse_args(parser, smoke={"seconds": 0.5, "connections": 4, "trigger_seconds": 0.5,
                                     "trigger_connections": 4})
    with tempfile.TemporaryDirectory(prefix="wfobj-bench-api-") as tmp:
        store_path = Path(tmp) / "store"
        token, run_id = setup_store(store_path)
        env = dict(os.environ, WFOBJ_STORE=str(store_path))
        api_proc, api_port = start_gunicorn("wfobj.api.app:get_app()", env)
        bare_proc, bare_port = start_gunicorn("bench.api:bare_app()", env)
        try:
            ok = bench_get(api_port, bare_port, token, run_id, args)
            ok &= bench_trigger(api_port, bare_port, token, args)
        finally:
            for proc in (api_proc, bare_proc):
                proc.terminate()
                proc.wait()
    if not ok:
        print("FAIL: a request failed or a trigger was not accounted for")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
