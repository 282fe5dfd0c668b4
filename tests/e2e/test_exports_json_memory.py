"""PROV, OpenLineage and in-toto stream at any size (docs/limits.md "Exports"): a real
`wfobj serve` (one gunicorn worker, no engine worker) over an LMDB store holding a
20,000-instance fan-out run (built beforehand with the fake executor, full evidence and
audit, as `wfobj worker` writes them). Three clients ask for the three formats at once:
two are served together, the third is answered 503 with Retry-After and is served when
it asks again. Each answer starts at once; the worker's heap (its anonymous resident
memory, RssAnon, sampled while they are sent) grows by far less than these exports held
when they were made whole (397 MiB for PROV, 779 MiB for OpenLineage at this size), no
temporary file is written, and each body is what its format's readers take (the DSSE
signature checked by securesystemslib, the events by the OpenLineage schema).

The heap, not VmHWM: VmHWM also counts the store's pages LMDB maps as they are read
(file-backed, shared, given back under pressure), which grow with what is read, here
the whole run's evidence, whatever the export holds; it is printed beside.

The RO-Crate of the same run, alone: its entities are written as the run is read, so
its heap stays far below what they held when made from the whole run (148 MiB)."""

from __future__ import annotations

import base64
import json
import threading
import time
import zipfile
from pathlib import Path

import pytest
import requests

from tests.e2e.test_exports_streaming import usage
from tests.e2e.test_trees import gunicorn_worker, peak_rss
from tests.support_e2e import Server, start_server
from tests.support_exports import envelope_verifies, openlineage_validators
from wfobj.engine.executors.fake import FakeExecutor
from wfobj.engine.scheduling.worker import Worker
from wfobj.engine.service import WorkflowService
from wfobj.objstore import init_store

pytestmark = pytest.mark.slow
INSTANCES = 20_000
SMALL = 20
MAX_GROWTH = 64 << 20  # the worker's heap may grow by this much, exporting all three
FIRST_BYTE = 5.0  # seconds from the answer's request: a liveness bound, not a benchmark
FORMATS = ("prov", "openlineage", "in-toto")
FAN = {"params": {"n": {"type": "list"}},
       "tasks": {"each": {"image": "none", "command": ["run", "{{item}}"],
                          "for_each": {"param": "n"}, "outputs": {"files": ["o.txt"]}},
                 "all": {"image": "none", "command": ["cat"],
                         "inputs": {"os": {"task": "each", "file": "o.txt"}},
                         "outputs": {"files": ["all"]}}}}


def finished_run(svc: WorkflowService, worker: Worker, size: int) -> str:
    """A fan-out of `size` instances (each writing a file of its own) and a gather, run
    to its end by an in-process worker on the fake executor."""
    run_id = svc.trigger(name="fan", parameters={"n": list(range(size))}, user="bench",
                         cache=False)["run_id"]
    assert worker.claim(run_id)
    assert worker.execute(run_id) == "success"
    return run_id


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-export-json")
    store = init_store(tmp / "store")
    svc = WorkflowService(store)
    svc.apply_workflow("fan", FAN, user="bench")
    fake = FakeExecutor()
    worker = Worker(store, lambda: fake, concurrency=16, worker_id="build",
                    max_instances=INSTANCES)
    worker.initialize()
    try:
        runs = {"small": finished_run(svc, worker, SMALL),
                "large": finished_run(svc, worker, INSTANCES)}
    finally:
        worker.shutdown()
        store.close()
    (tmp / "tmpdir").mkdir()
    server = start_server(tmp, engine_workers=0, workers=1,
                          env={"TMPDIR": str(tmp / "tmpdir")})
    server.runs = runs  # type: ignore[attr-defined]
    server.tmpdir = tmp / "tmpdir"  # type: ignore[attr-defined]
    yield server
    assert server.stop() == 0, server.log()


class Fetch:
    """One client: asks for an export until it is served (a 503 waits Retry-After), then
    writes the answer to a file as it comes."""

    def __init__(self, srv: Server, run_id: str, fmt: str, out: Path) -> None:
        self.srv, self.run_id, self.fmt, self.out = srv, run_id, fmt, out
        self.busy: list[int] = []  # each 503's Retry-After
        self.status = 0
        self.first_byte: float | None = None
        self.error: BaseException | None = None

    def __call__(self, start: threading.Barrier) -> None:
        try:
            start.wait()
            while True:
                asked = time.monotonic()
                with requests.get(f"{self.srv.url}/api/runs/{self.run_id}/export/{self.fmt}",
                                  headers=self.srv.h("reader"), stream=True,
                                  timeout=600) as resp:
                    self.status = resp.status_code
                    if resp.status_code == 503:
                        self.busy.append(int(resp.headers["Retry-After"]))
                        resp.close()
                        time.sleep(self.busy[-1])
                        continue
                    with self.out.open("wb") as fh:
                        for piece in resp.iter_content(1 << 16):
                            if self.first_byte is None:
                                self.first_byte = time.monotonic() - asked
                            fh.write(piece)
                    return
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.error = exc


def export_at_once(srv: Server, run_id: str, tmp: Path) -> dict[str, Fetch]:
    fetches = {fmt: Fetch(srv, run_id, fmt, tmp / f"{run_id}.{fmt}.json") for fmt in FORMATS}
    start = threading.Barrier(len(fetches))
    threads = [threading.Thread(target=f, args=(start,)) for f in fetches.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    for fmt, f in fetches.items():
        assert f.error is None, f"{fmt}: {f.error!r}"
        assert f.status == 200, fmt
    return fetches


def rss_anon(pid: int) -> int:
    """RssAnon: the process's resident anonymous memory (its heap), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no RssAnon for {pid}")


def test_three_json_exports_of_a_20000_instance_run_at_once_in_bounded_memory(srv, tmp_path):
    worker = gunicorn_worker(srv)
    export_at_once(srv, srv.runs["small"], tmp_path)  # each format's library imported
    before, before_hwm = rss_anon(worker), peak_rss(worker)
    most_tmp, most_heap, done = 0, before, threading.Event()

    def watch() -> None:
        nonlocal most_tmp, most_heap
        while not done.is_set():
            most_tmp = max(most_tmp, usage(srv.tmpdir))
            most_heap = max(most_heap, rss_anon(worker))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        fetches = export_at_once(srv, srv.runs["large"], tmp_path)
    finally:
        done.set()
        watcher.join()
    sizes = {fmt: f.out.stat().st_size for fmt, f in fetches.items()}
    print(f"worker heap (RssAnon) {before / 2**20:.0f} -> at most {most_heap / 2**20:.0f} MiB, "
          f"VmHWM {before_hwm / 2**20:.0f} -> {peak_rss(worker) / 2**20:.0f} MiB, over three "
          f"exports of {INSTANCES} instances in {time.monotonic() - started:.0f} s; first bytes "
          + ", ".join(f"{fmt} {f.first_byte:.2f} s ({sizes[fmt] / 1e6:.0f} MB)"
                      for fmt, f in fetches.items())
          + f"; 503s {sum(len(f.busy) for f in fetches.values())}; temp disk {most_tmp} B")
    assert sum(len(f.busy) for f in fetches.values()) >= 1  # 2 per process at once
    assert all(wait >= 1 for f in fetches.values() for wait in f.busy)
    assert all(f.first_byte is not None and f.first_byte < FIRST_BYTE
               for f in fetches.values())
    assert most_heap - before < MAX_GROWTH, f"worker heap grew {most_heap - before} bytes"
    assert most_tmp == 0
    check_bodies(srv, fetches)


def check_bodies(srv: Server, fetches: dict[str, Fetch]) -> None:
    prov = json.loads(fetches["prov"].out.read_bytes())
    tasks = [a for a in prov["activity"].values()
             if a["prov:type"]["$"] == "wfobj:TaskAttempt"]
    assert len(tasks) == INSTANCES + 1
    assert len(prov["wasGeneratedBy"]) == INSTANCES + 1
    events = json.loads(fetches["openlineage"].out.read_bytes())
    assert len(events) == 2 * (INSTANCES + 1) + 2
    event_schema, _ = openlineage_validators()
    for event in events[:50] + events[-50:]:  # the run's end event names every output
        event_schema.validate(event)
    assert len(events[-1]["outputs"]) == INSTANCES + 1
    envelope = json.loads(fetches["in-toto"].out.read_bytes())
    keys = requests.get(f"{srv.url}/api/keys", timeout=30).json()
    assert envelope_verifies(envelope, keys[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert len(statement["subject"]) == INSTANCES + 1


# what the crate may add to the worker's heap: the entities made from the whole run held
# 148 MiB here (7.8 KiB an attempt), their text 304 MiB more when it was held whole.
# What is left grows with the run's files, not its attempts (docs/limits.md "Exports")
CRATE_GROWTH = 64 << 20


def test_ro_crate_of_a_20000_instance_run_is_written_as_the_run_is_read(srv, tmp_path):
    """The RO-Crate's entities are written as the run is read (docs/limits.md "Exports"):
    the worker's heap grows by far less than when they were made from the whole run. The
    answer starts at once, writes no temporary file and holds every attempt."""
    worker = gunicorn_worker(srv)
    small = Fetch(srv, srv.runs["small"], "ro-crate", tmp_path / "small.zip")
    small(threading.Barrier(1))  # the library imported
    assert small.error is None and small.status == 200
    before = rss_anon(worker)
    most_tmp, most_heap, done = 0, before, threading.Event()

    def watch() -> None:
        nonlocal most_tmp, most_heap
        while not done.is_set():
            most_tmp = max(most_tmp, usage(srv.tmpdir))
            most_heap = max(most_heap, rss_anon(worker))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    fetch = Fetch(srv, srv.runs["large"], "ro-crate", tmp_path / "large.zip")
    try:
        fetch(threading.Barrier(1))
    finally:
        done.set()
        watcher.join()
    assert fetch.error is None and fetch.status == 200, fetch.error
    attempts = INSTANCES + 1
    print(f"RO-Crate of {INSTANCES} instances: worker heap (RssAnon) {before / 2**20:.0f} -> "
          f"at most {most_heap / 2**20:.0f} MiB ({(most_heap - before) / attempts:.0f} B an "
          f"attempt) in {time.monotonic() - started:.0f} s; first byte "
          f"{fetch.first_byte:.2f} s; {fetch.out.stat().st_size / 1e6:.0f} MB; "
          f"temp disk {most_tmp} B")
    assert fetch.first_byte is not None and fetch.first_byte < FIRST_BYTE
    assert most_heap - before < CRATE_GROWTH, most_heap - before
    assert most_tmp == 0
    with zipfile.ZipFile(fetch.out) as z:
        assert z.getinfo("ro-crate-metadata.json").flag_bits & 0x08  # written as made
        graph = json.loads(z.read("ro-crate-metadata.json"))["@graph"]
        assert len([n for n in z.namelist() if n.startswith("files/")]) == INSTANCES + 1
    names = {e.get("name") for e in graph if e.get("@type") == "CreateAction"}
    assert {f"each[{i}] attempt 1" for i in range(INSTANCES)} <= names
