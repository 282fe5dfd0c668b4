"""Engine workers: claim pending runs by CAS, run them, keep their leases alive, and
finish runs whose worker died.

A worker's loop() step: recover abandoned leases, claim the oldest queued run (queue
entry removed and lease written in one transaction), drive it with a RunScheduler whose
every step renews the lease. Several workers (threads or processes, on one store) never
run the same run twice; a SIGKILLed worker's runs are ended `failed` by the next worker
that notices its lease expired, with an audit entry naming the worker and why.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable

from wfobj.engine.clock import Clock
from wfobj.engine.errors import LeaseLost, UnknownRun
from wfobj.engine.executors.base import Executor
from wfobj.engine.layout import KILL_NS, LEASE_NS, QUEUE_NS
from wfobj.engine.model import AuditEvent, RunManifest, read
from wfobj.engine.runs.lifecycle import end_run, kill_request, scan_index
from wfobj.engine.runs.state import RunState, run_ref
from wfobj.engine.states import RunStatus, TaskStatus
from wfobj.objstore import ConflictError, CorruptObject, ObjectStore

from .fanout import DEFAULT_MAX_INSTANCES
from .leases import Lease, process_alive, this_host
from .scheduler import RunScheduler
from .ticker import Ticker

log = logging.getLogger(__name__)
WORKER_ACTOR = "worker:"  # audit actor of a worker: "worker:<host>:<pid>:<suffix>"


# told (store, run_id) at every scheduler step of a run this worker drives (the
# OpenLineage feed, engine/provenance/exports/openlineage_feed.py)
RunStepHook = Callable[[ObjectStore, str], None]


class Worker:
    def __init__(self, store: ObjectStore, executor_factory: Callable[[], Executor], *,
                 clock: Clock | None = None, concurrency: int = 4, worker_id: str | None = None,
                 lease_ttl: float = 15.0, poll: float = 0.2,
                 on_run_step: RunStepHook | None = None, max_instances: int | None = None,
                 ticks: bool = False):
        self.store = store
        self.max_instances = max_instances or DEFAULT_MAX_INSTANCES
        self.on_run_step = on_run_step
        self.executor_factory = executor_factory
        self.clock = clock or Clock()
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{this_host()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_ttl = lease_ttl
        self.poll = poll
        self.executor: Executor | None = None
        self.stop = threading.Event()
        self.on_step: Callable[[], None] | None = None  # called after each lease heartbeat
        self.unleased_due = 0.0  # when recover() next looks for runs left without a lease
        # with `ticks`, serve() also starts the runs of schedules and data triggers, in a
        # thread of its own (engine/scheduling/ticker.py)
        self.ticker = Ticker(store, clock=self.clock, stop=self.stop) if ticks else None

    # ---- lifecycle -------------------------------------------------------------------
    def initialize(self) -> None:
        self.executor = self.executor_factory()
        self.recover()

    def loop(self) -> bool:
        """One step: recover, claim, run. Returns False once asked to stop."""
        if self.stop.is_set():
            return False
        self.recover()
        run_id = self.claim_next()
        if run_id is None:
            self.stop.wait(self.poll)
        else:
            self.execute(run_id)
        return not self.stop.is_set()

    def shutdown(self) -> None:
        if self.executor is not None:
            self.executor.close()
            self.executor = None

    def serve(self) -> None:
        """Run until `stop` is set (the ticker too, if this worker has one)."""
        self.initialize()
        if self.ticker is not None:
            self.ticker.stop = self.stop
            self.ticker.start()
        try:
            while self.loop():
                pass
        finally:
            self.stop.set()
            if self.ticker is not None:
                self.ticker.join()
            self.shutdown()

    # ---- leases ----------------------------------------------------------------------
    def new_lease(self) -> Lease:
        return Lease(self.worker_id, os.getpid(), this_host(), self.clock.epoch() + self.lease_ttl)

    def claim_next(self) -> str | None:
        for run_id, _ in self.store.meta_scan(QUEUE_NS, limit=20):
            if self.claim(run_id):
                return run_id
        return None

    def claim(self, run_id: str) -> bool:
        """Take a queued run: remove its queue entry and write our lease, atomically."""
        lease = self.new_lease().encode()
        try:
            with self.store.batch() as b:
                b.meta_cas(QUEUE_NS, run_id, b"1", None)
                b.meta_cas(LEASE_NS, run_id, None, lease)
        except ConflictError:
            return False
        return True

    def heartbeat(self, run_id: str) -> Callable[[], None]:
        """A callback for every scheduler step: renews the lease when a third has passed."""
        state = {"value": self.store.meta_get(LEASE_NS, run_id), "renewed": self.clock.epoch()}

        def beat() -> None:
            now = self.clock.epoch()
            if now - state["renewed"] < self.lease_ttl / 3:
                return
            new = self.new_lease().encode()
            if not self.store.meta_cas(LEASE_NS, run_id, state["value"], new):
                raise LeaseLost(run_id)
            state["value"], state["renewed"] = new, now

        if self.on_run_step is None:
            return beat

        def beat_and_tell() -> None:
            beat()
            self.tell(run_id)

        return beat_and_tell

    def tell(self, run_id: str) -> None:
        """Give `on_run_step` a look at the run; its failures are logged, never the run's."""
        if self.on_run_step is None:
            return
        try:
            self.on_run_step(self.store, run_id)
        except Exception:  # noqa: BLE001 - an observer must not fail the run it watches
            log.exception("worker %s: run step hook failed on run %s", self.worker_id, run_id)

    def step_hook(self, run_id: str) -> Callable[[], None]:
        """What the scheduler calls at each step: the lease heartbeat, then `on_step`."""
        beat, extra = self.heartbeat(run_id), self.on_step
        if extra is None:
            return beat

        def step() -> None:
            beat()
            extra()

        return step

    def execute(self, run_id: str) -> str | None:
        """Run a claimed run to its end, then drop the lease; `on_run_step` gets a last
        look at the ended run."""
        state = self.drive(run_id)
        self.tell(run_id)
        return state

    def drive(self, run_id: str) -> str | None:
        """Run a claimed run to its end. Interrupted (Ctrl-C twice, SystemExit), it still
        ends the run before letting the interruption through."""
        scheduler = RunScheduler(self.store, run_id, self.executor, clock=self.clock,
                                 concurrency=self.concurrency, actor=WORKER_ACTOR + self.worker_id,
                                 on_step=self.step_hook(run_id),
                                 max_instances=self.max_instances)
        try:
            return scheduler.run_to_end(self.stop)
        except LeaseLost:
            log.error("worker %s lost the lease on run %s; leaving it to the new owner",
                      self.worker_id, run_id)
            return None
        except UnknownRun:
            log.error("claimed run %s has no ref; dropping it", run_id)
            return None
        except CorruptObject as exc:  # never act on damaged bytes: end the run instead
            log.error("worker %s: run %s reads a damaged object: %s", self.worker_id, run_id, exc)
            self.fail_own(run_id, f"damaged object in the store: {exc}")
            return RunStatus.FAILED
        except Exception as exc:  # an engine bug: never leave the run `running`
            log.exception("worker %s failed running %s", self.worker_id, run_id)
            self.fail_own(run_id, f"engine error: {type(exc).__name__}: {exc}")
            return RunStatus.FAILED
        except BaseException as exc:
            self.fail_own(run_id, f"interrupted ({type(exc).__name__})")
            raise
        finally:
            self.release(run_id)

    def fail_own(self, run_id: str, why: str) -> None:
        raw = self.store.meta_get(LEASE_NS, run_id)
        if raw is not None and Lease.decode(raw).worker == self.worker_id:
            self.fail_abandoned(run_id, raw, Lease.decode(raw), why)

    def release(self, run_id: str) -> None:
        """Drop our lease of an ended run. The lease of a run not ended stays: its pid and
        expiry are what lets any worker recover the run once this process is gone."""
        raw = self.store.meta_get(LEASE_NS, run_id)
        if raw is not None and Lease.decode(raw).worker == self.worker_id:
            if not self.ended(run_id):
                log.error("worker %s leaves run %s unended; its lease stays for recovery",
                          self.worker_id, run_id)
                return
            with self.store.batch() as b:
                b.meta_cas(LEASE_NS, run_id, raw, None)
                if self.store.meta_get(KILL_NS, run_id) is not None:
                    b.meta_delete(KILL_NS, run_id)

    def ended(self, run_id: str) -> bool:
        try:
            return RunState.load(self.store, run_id, plan=False).terminal
        except UnknownRun:
            return True

    # ---- recovery --------------------------------------------------------------------
    def recover(self) -> list[str]:
        """End the runs of dead workers (lease expired or process gone) as failed; now
        and then also `running` runs left without any lease (recover_unleased)."""
        now = self.clock.epoch()
        recovered = []
        for run_id, raw in list(self.store.meta_scan(LEASE_NS)):
            lease = Lease.decode(raw)
            why = lease.abandoned(now)
            if why and self.fail_abandoned(run_id, raw, lease, why):
                recovered.append(run_id)
        if now >= self.unleased_due:
            self.unleased_due = now + self.lease_ttl
            recovered += self.recover_unleased()
        return recovered

    def recover_unleased(self) -> list[str]:
        """End `running` runs that have no lease and whose claiming process, on this
        host, is gone (earlier versions released a lease without ending the run). A
        running run claimed elsewhere (arrived by sync) is not ours to end."""
        recovered = []
        for run_id, _ in list(scan_index(self.store, RunStatus.RUNNING, None)):
            if self.store.meta_get(LEASE_NS, run_id) is not None:
                continue
            claimer = claiming_worker(self.store, run_id)
            if claimer is None or claimer.host != this_host() or process_alive(claimer.pid):
                continue
            why = f"its process {claimer.pid} on {claimer.host} is gone and left no lease"
            if self.fail_abandoned(run_id, None, claimer, why):
                recovered.append(run_id)
        return recovered

    def fail_abandoned(self, run_id: str, raw: bytes | None, lease: Lease, why: str) -> bool:
        try:
            run = RunState.load(self.store, run_id, plan=False)
        except UnknownRun:
            return self.store.meta_cas(LEASE_NS, run_id, raw, None)
        at = self.clock.stamp()
        reason = f"worker {lease.worker} stopped: {why}"
        kill = kill_request(self.store, run_id)
        try:
            # an ended run only loses the dead worker's lease (and kill request)
            with (self.store.batch() if run.terminal else run.change(self.store, at)) as b:
                b.meta_cas(LEASE_NS, run_id, raw, None)
                if not run.terminal:
                    state = RunStatus.KILLED if kill else RunStatus.FAILED
                    end_run(run, b, at=at, actor=WORKER_ACTOR + self.worker_id, state=state,
                            reason=reason, running_to=TaskStatus.FAILED)
                if kill:
                    b.meta_delete(KILL_NS, run_id)
        except ConflictError:
            return False  # another worker recovered it first
        log.warning("run %s ended %s: %s", run_id, run.state, reason)
        self.remove_leftovers(run_id)
        return True

    def remove_leftovers(self, run_id: str) -> None:
        """Stop and remove the dead worker's containers, so none outlives its run."""
        executor = self.executor or self.executor_factory()
        try:
            removed = executor.remove_leftovers(run_id, self.store)
        except Exception:  # the run is already recorded; a cleanup failure must not undo that
            log.exception("could not remove leftovers of run %s", run_id)
            return
        finally:
            if executor is not self.executor:
                executor.close()
        if removed:
            log.warning("removed %d leftover container(s) of run %s", removed, run_id)


def claiming_worker(store: ObjectStore, run_id: str) -> Lease | None:
    """The worker that last wrote to the run's audit trail, as a lease that has expired
    (worker ids are `host:pid:suffix`); None if no worker ever did."""
    link = read(store, store.get_ref(run_ref(run_id)), RunManifest).audit
    while link is not None:
        event = read(store, link.oid, AuditEvent)
        actor = event.actor
        if actor.startswith(WORKER_ACTOR):
            worker = actor[len(WORKER_ACTOR):]
            parts = worker.rsplit(":", 2)
            if len(parts) != 3 or not parts[1].isdigit():
                return None  # a worker named by hand: where it ran is unknown
            return Lease(worker, int(parts[1]), parts[0], 0.0)
        link = event.prev
    return None

