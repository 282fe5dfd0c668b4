"""The scheduler: drives one run from pending to a terminal state.

Lifecycle (an outer driver owns the stop flag): initialize() loads the run and marks it
running; loop() does one step and returns False when the run has ended; shutdown() cancels
what still runs. A step waits for finished attempts, records their evidence and audit
events, starts the tasks the DAG and the concurrency limit allow, and writes all of it in
one store transaction (one new manifest per step, not per task). Fail-fast: after a
failure no new task starts, running ones finish, the rest are skipped (unless the
definition says `on_failure: continue`). Executor and clock are injected.

Beside this module: whether a released task runs or is skipped (`gates.py`: conditions,
the failure policy), retry delays and growth (`retries.py`), sub-workflow child runs
(`subruns.py`) and fan-out (`fanout.py`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from graphlib import TopologicalSorter

from wfobj.engine.clock import Clock
from wfobj.engine.definitions.fanout import base_task, instance_key, instance_name, paired
from wfobj.engine.definitions.graph import TaskGraph
from wfobj.engine.definitions.templates import data_dependencies
from wfobj.engine.errors import FanOutRefused, LeaseLost
from wfobj.engine.executors.base import AttemptResult, Executor, OutputFile, StoredText, TaskSpec
from wfobj.engine.indexes import counters
from wfobj.engine.indexes.attempts import index_attempt
from wfobj.engine.model import TaskDefinition, TaskFileInput
from wfobj.engine.runs.evidence import NO_CACHE, CacheFacts, record_attempt
from wfobj.engine.runs.lifecycle import end_run, kill_request
from wfobj.engine.runs.state import RunState
from wfobj.engine.states import AttemptStatus, RunStatus, TaskStatus, attempt_task_status
from wfobj.objstore import ConflictError, ObjectStore

from .cache import TaskCache
from .fanout import (
    DEFAULT_MAX_INSTANCES,
    FanOut,
    Item,
    Produced,
    collection_items,
    find_output,
    gather,
    instances,
)
from .gates import RUN, SKIP_CONDITION, Gates, Verdict
from .kind_table import kind_of
from .kinds import KindContext, Prepared, attempt_call
from .render import build_spec
from .retries import Backoff
from .subruns import Children

log = logging.getLogger(__name__)


@dataclass
class Running:
    name: str
    spec: TaskSpec
    cancel: threading.Event
    cache: CacheFacts = NO_CACHE
    call: Callable[[], AttemptResult] | None = None  # instead of the executor (a child run)


def read_files(task: TaskDefinition, dep: str) -> list[str]:
    """The paths of task `dep`'s outputs `task` reads: its inputs `{task: dep, file: F}`
    and, on a sub-workflow task, its params `{task: dep, file: F}` (each once)."""
    paths = [spec.file for spec in task.inputs.values()
             if isinstance(spec, TaskFileInput) and spec.task == dep]
    paths += [v["file"] for v in (task.params or {}).values()
              if isinstance(v, dict) and v.get("task") == dep]
    return list(dict.fromkeys(paths))


class RunScheduler:
    def __init__(self, store: ObjectStore, run_id: str, executor: Executor, *,
                 clock: Clock | None = None, concurrency: int = 4, actor: str = "engine",
                 poll: float = 0.5, on_step: Callable[[], None] | None = None,
                 max_instances: int = DEFAULT_MAX_INSTANCES):
        self.store = store
        self.run_id = run_id
        self.executor = executor
        self.clock = clock or Clock()
        self.concurrency = max(1, concurrency)
        self.actor = actor
        self.poll = poll
        self.on_step = on_step
        self.run: RunState | None = None
        self.cache: TaskCache | None = None
        self.running: dict[Future, Running] = {}
        self.results: dict[str, Produced] = {}  # what succeeded tasks and instances others read made
        self.read: set[str] = set()  # tasks whose outputs or vars another task reads
        self.ready: list[str] = []  # pop() takes the next task to start
        self.max_instances = max_instances
        self.graph: TaskGraph | None = None
        self.fanouts: dict[str, FanOut] = {}  # fanned-out tasks by name, once expanded
        self.active: deque[FanOut] = deque()  # those with instances left to start
        self.gathered: dict[tuple[str, str], OutputFile] = {}  # (task, path) → directory
        self.steps: TopologicalSorter | None = None  # releases tasks as their needs succeed
        self.stopping: RunStatus | None = None  # FAILED or KILLED once winding down
        self.killer: str | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.stop_reason: str | None = None
        self.stop_noted = False
        self.gates: Gates | None = None
        self.backoff: Backoff | None = None
        self.children = Children(self)

    # ---- lifecycle -------------------------------------------------------------------
    def initialize(self) -> bool:
        """Load the run and mark it running. False if there is nothing to do."""
        self.run = RunState.load(self.store, self.run_id)
        if self.run.terminal:
            return False
        self.plan()
        self.gates = Gates(self.run.definition, self.run.record.parameters)
        self.backoff = Backoff(self.task_def, self.clock)
        self.cache = TaskCache(self.store, self.executor, self.run.record)
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"run-{self.run_id[:8]}")
        at = self.clock.stamp()
        with self.run.change(self.store, at) as b:
            self.run.audit(b, at=at, actor=self.actor, event="run_state", old=self.run.state,
                           new=RunStatus.RUNNING, reason="claimed by a worker")
            self.run.set_state(RunStatus.RUNNING, at)
        return True

    def plan(self) -> None:
        self.graph = TaskGraph.of(self.run.definition.tasks)
        # the tasks whose outputs or vars another reads: only theirs are kept once recorded
        # (a fan-out of 100,000 instances nobody reads keeps nothing of them)
        self.read = set().union(*(data_dependencies(t) for t in self.run.definition.tasks.values()))
        self.steps = self.graph.sorter(self.run.order)
        self.ready = list(reversed(self.steps.get_ready()))  # pop(): topological order

    def loop(self) -> bool:
        """One step. Returns True while the run goes on."""
        if self.on_step:
            self.on_step()
        finished = self.collect()
        kill = None if self.stopping == RunStatus.KILLED else kill_request(self.store, self.run_id)
        to_start: list[Running] = []
        at = self.clock.stamp()
        try:
            with self.run.change(self.store, at) as b:
                if kill:
                    self.begin_kill(b, at, kill["user"])
                elif self.stop_reason and not self.stop_noted:
                    self.begin_stop(b, at)
                for future in finished:
                    self.record(b, self.running.pop(future), future, at)
                if not self.stopping:
                    to_start = self.start_ready(b, at)
                if (not self.running and not to_start and self.run.state == RunStatus.RUNNING
                        and (self.stopping or not self.backoff.waiting)):
                    self.finish(b, at)
        except ConflictError:
            raise LeaseLost(self.run_id) from None
        for item in to_start:
            call = item.call or partial(self.executor.run, item.spec, self.store, item.cancel)
            self.running[self.pool.submit(call)] = item
        return not self.run.terminal

    def shutdown(self) -> None:
        """Cancel attempts still running and release the thread pool."""
        for item in self.running.values():
            item.cancel.set()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

    def request_stop(self, reason: str) -> None:
        """Wind the run down (its worker is stopping): cancel attempts, end it failed."""
        self.stop_reason = reason

    def run_to_end(self, stop: threading.Event | None = None) -> str:
        """Drive the run until it ends; `stop` winds it down early. Returns its state."""
        try:
            if self.initialize():
                while self.loop():
                    if stop is not None and stop.is_set() and not self.stop_reason:
                        self.request_stop("the worker was asked to stop")
        finally:
            self.shutdown()
        return self.run.state

    # ---- steps ----------------------------------------------------------------------
    def collect(self) -> list[Future]:
        if not self.running:
            if not self.startable():
                self.backoff.pause(self.poll)
            return []
        done, _ = wait(list(self.running), timeout=self.poll, return_when=FIRST_COMPLETED)
        return list(done)

    def startable(self) -> bool:
        """Whether a task or an instance could start now (else a step may sleep until
        the next retry is due)."""
        return bool(self.ready) or any(f.queue and f.running < f.limit for f in self.active)

    def begin_kill(self, b, at: str, user: str) -> None:
        self.stopping = RunStatus.KILLED
        self.killer = user
        self.run.audit(b, at=at, actor=user, event="kill_requested", old=self.run.state,
                       new=RunStatus.KILLED, reason=f"kill requested by {user}")
        for item in self.running.values():
            item.cancel.set()

    def begin_stop(self, b, at: str) -> None:
        self.stop_noted = True
        if not self.stopping:
            self.stopping = RunStatus.FAILED
        self.run.audit(b, at=at, actor=self.actor, event="worker_stopping", old=self.run.state,
                       new=RunStatus.FAILED, reason=self.stop_reason)
        for item in self.running.values():
            item.cancel.set()

    def start_ready(self, b, at: str) -> list[Running]:
        started = []
        for name in self.backoff.due():
            self.requeue(name)
        while len(self.running) + len(started) < self.concurrency:
            name = self.next_ready()
            if name is None:
                break
            # an instance is judged by its task's kind alone (a CWL scatter's `when`): the
            # native gates judged its task when the graph released it
            verdict = self.gate(name) if instance_key(name) is None else self.paired_gate(name)
            if verdict is RUN:
                verdict = self.kind_gate(b, name) or verdict
            if verdict.skip:
                self.skip(b, name, verdict, at)
                continue
            if verdict.problem is None and self.fans_out(name):
                self.expand(b, name, at)
                if self.stopping:
                    break
                continue
            if verdict.problem is None and self.task_def(name).workflow is not None:
                child = self.children.start(b, name, at)  # engine/scheduling/subruns.py
                if child is not None:
                    started.append(Running(*child[:3], call=child[3]))
                continue
            attempt = len(self.run.tasks[name].attempts) + 1
            seen = self.sees(b, name)
            spec, problem = build_spec(self.store, self.run_id, name, attempt,
                                       self.run.definition, self.run.record.parameters,
                                       seen, self.item_of(name))
            problem = verdict.problem or problem
            prepared = None if problem else self.render_kind(name, spec, seen)
            if prepared is not None:  # a task kind's attempt (engine/scheduling/kinds.py)
                spec, problem = prepared.spec, prepared.problem
            spec = self.backoff.grow(spec)
            self.run.audit(b, at=at, actor=self.actor, event="task_state",
                           old=self.run.tasks[name].state, new=TaskStatus.RUNNING, task=name,
                           reason=f"attempt {attempt}")
            self.run.set_task(name, TaskStatus.RUNNING)
            in_engine = prepared is not None and prepared.in_engine is not None
            if not problem and not in_engine:
                spec, problem = self.cache.pin(spec)
            cache = NO_CACHE if problem or in_engine else self.cache_facts(b, spec, name)
            if problem or self.reuse(b, name, spec, cache, at):
                if prepared is not None:
                    prepared.close()
                if problem:
                    self.record_result(b, name, spec, self.unstartable(problem), at, cache)
                    if self.stopping:
                        break
                continue
            cancel = threading.Event()
            call = None if prepared is None else attempt_call(
                prepared, partial(self.executor.run, spec, self.store, cancel))
            started.append(Running(name, spec, cancel, cache, call=call))
        return started

    def render_kind(self, name: str, spec: TaskSpec, seen: dict[str, Produced]) -> Prepared | None:
        """A task kind's render hook (engine/scheduling/kinds.py); None for a plain task."""
        kind = kind_of(self.task_def(name))
        return None if kind is None else kind.render(self.kind_context(name, seen), spec)

    def kind_gate(self, b, name: str) -> Verdict | None:
        """A task kind's gate hook (its own condition); None for a plain task."""
        kind = kind_of(self.task_def(name))
        return None if kind is None else kind.gate(self.kind_context(name, self.sees(b, name)))

    def kind_context(self, name: str, seen: dict[str, Produced]) -> KindContext:
        task = self.task_def(name)
        needs = self.graph.needs[base_task(name)]
        # an instance skipped by a condition is None in its place (its outputs null)
        instances = {dep: [self.results.get(i) for i in self.fanouts[dep].items
                           if i in self.results or self.by_condition(i)]
                     for dep in needs
                     if dep in self.fanouts and not paired(task, self.task_def(dep))}
        key = instance_key(name)
        skipped = frozenset(d for d in needs if self.by_condition(d) or (
            key is not None and self.task_def(d).for_each is not None
            and paired(task, self.task_def(d)) and self.by_condition(instance_name(d, key))))
        return KindContext(self.store, self.run.definition, task, self.run.record.parameters,
                           seen, self.item_of(name), instances, skipped, self.clock,
                           dict(self.run.record.file_names or {}))

    def by_condition(self, name: str) -> bool:
        """Whether task or instance `name` was skipped by a condition."""
        return self.gates.skipped.get(name) == SKIP_CONDITION

    def cache_facts(self, b, spec: TaskSpec, name: str) -> CacheFacts:
        """The attempt's key (stored in `b`) and, on a hit, the evidence it reuses."""
        started = self.clock.now()
        key = self.cache.key(b, spec, self.task_def(name))
        if key is None:
            return NO_CACHE
        hit = self.cache.lookup(key)
        return CacheFacts(key.oid, hit, key.reason, started)

    def reuse(self, b, name: str, spec: TaskSpec, cache: CacheFacts, at: str) -> bool:
        """Record a cache hit as this attempt (no container); False on a miss."""
        if cache.cached_from is None:
            return False
        result = self.cache.hit_result(cache.cached_from, cache.looked_up_at, self.clock.now())
        self.run.audit(b, at=at, actor=self.actor, event="cache_hit",
                       old=TaskStatus.RUNNING, new=TaskStatus.SUCCESS, task=name,
                       reason=f"cache hit: reused evidence {cache.cached_from}")
        self.record_result(b, name, spec, result, at, cache)
        return True

    def unstartable(self, problem: str) -> AttemptResult:
        empty = StoredText(self.store.put_blob(b""), 0, "")
        now = self.clock.now()
        return AttemptResult(state=AttemptStatus.FAILED, exit_code=None, stdout=empty, stderr=empty,
                             started_at=now, ended_at=now, error=problem)

    def record(self, b, item: Running, future: Future, at: str) -> None:
        try:
            result = future.result()
        except Exception as exc:  # an executor bug: keep the evidence, never lose the run
            log.exception("executor raised for %s/%s", self.run_id, item.name)
            result = self.unstartable(f"engine error: {type(exc).__name__}: {exc}")
        self.record_result(b, item.name, item.spec, result, at, item.cache)

    def record_result(self, b, name: str, spec: TaskSpec, result: AttemptResult, at: str,
                      cache: CacheFacts = NO_CACHE) -> None:
        run = self.run
        oid, ev = record_attempt(b, spec, result, cache, self.backoff.facts(spec, cache),
                                 self.children.done(name))
        run.add_attempt(name, oid)
        counters.count_attempt(b, ev.state, float(ev.duration_s))  # as a recount sees it
        index_attempt(self.store, b, run.record.workflow, ev, oid)
        retries = self.task_def(name).retries
        state = attempt_task_status(result.state)
        reason = result.error or f"attempt {spec.attempt} exited {result.exit_code}"
        if state == TaskStatus.FAILED and spec.attempt <= retries and not self.stopping:
            delay = self.backoff.retry(name, spec.attempt)
            later = f" in {delay:g}s" if delay else ""
            run.audit(b, at=at, actor=self.actor, event="task_state", old=TaskStatus.RUNNING,
                      new=TaskStatus.PENDING, task=name, reason=f"{reason}; retrying{later}")
            run.set_task(name, TaskStatus.PENDING)
            if not delay:
                self.requeue(name)
            return
        run.audit(b, at=at, actor=self.actor, event="task_state", old=TaskStatus.RUNNING,
                  new=state, task=name, reason=None if state == TaskStatus.SUCCESS else reason)
        run.set_task(name, state)
        if state == TaskStatus.SUCCESS:
            if base_task(name) in self.read:
                self.results[name] = Produced(result.outputs, result.vars)
        elif not self.stopping and not self.gates.note_failure(name):
            self.stopping = RunStatus.FAILED
        if instance_key(name) is not None:
            self.instance_ended(b, name, state, at)
        elif state == TaskStatus.SUCCESS or not self.stopping:
            self.release(name)  # on_failure: continue: dependents are told by gate()

    def gate(self, name: str) -> Verdict:
        """Whether a released task runs (engine/scheduling/gates.py)."""
        return self.gates.verdict(name, self.graph.needs[name], self.results)

    def paired_gate(self, name: str) -> Verdict:
        """An instance `TASK[KEY]` reading instance KEY of a task it is paired with that
        was skipped by a condition (a CWL scatter's `when`) is skipped so too, as a task
        reading a task skipped by a condition is, unless it reads it as null (a CWL task):
        so a scattered CWL subworkflow step's instance is skipped with the instance of
        `cwl-in-STEP` that judged its `when`."""
        task, key = self.task_def(name), instance_key(name)
        for dep in sorted(self.gates.data_needs(base_task(name))):
            other = self.run.definition.tasks[dep]
            if (other.for_each is not None and paired(task, other)
                    and self.by_condition(instance_name(dep, key))
                    and not self.gates.reads_null(base_task(name), dep)):
                return Verdict(SKIP_CONDITION, f"skipped: needs the outputs of "
                               f"{instance_name(dep, key)!r}, skipped by a condition")
        return RUN

    def skip(self, b, name: str, verdict: Verdict, at: str) -> None:
        """Skip a released task (a condition, or an upstream that failed or was skipped);
        what waits on it is released in turn and judged the same way."""
        self.run.audit(b, at=at, actor=self.actor, event="task_state",
                       old=self.run.tasks[name].state, new=TaskStatus.SKIPPED, task=name,
                       reason=verdict.reason, skip=verdict.skip)
        self.run.set_task(name, TaskStatus.SKIPPED, verdict.skip)
        self.gates.note_skip(name, verdict.skip)
        if instance_key(name) is not None:  # an instance its kind skipped: it has ended
            self.instance_ended(b, name, TaskStatus.SKIPPED, at)
        else:
            self.release(name)

    # ---- fan-out ------------------------------------------------------------------------
    def task_def(self, name: str) -> TaskDefinition:
        """The definition of task `name` (of its task, for an instance `TASK[KEY]`)."""
        return self.run.definition.tasks[base_task(name)]

    def fans_out(self, name: str) -> bool:
        return instance_key(name) is None and self.task_def(name).for_each is not None

    def next_ready(self) -> str | None:
        """The next task to start, else the next instance of a fanned-out task (taking
        the fan-outs in turn, each within its parallelism); None when nothing can start."""
        if self.ready:
            return self.ready.pop()
        for _ in range(len(self.active)):
            fan = self.active[0]
            self.active.rotate(-1)
            name = fan.next()
            if name is not None:
                return name
        return None

    def requeue(self, name: str) -> None:
        """Put a task or instance whose attempt failed with retries left back in line."""
        fan = self.fanouts.get(base_task(name)) if instance_key(name) is not None else None
        if fan is None:
            self.ready.append(name)
        else:
            fan.running -= 1
            fan.queue.appendleft(name)

    def expand(self, b, name: str, at: str) -> None:
        """Fan task `name` out: read its collection, add one row per item, queue them.
        A collection that cannot be fanned out fails the task, saying why."""
        run, each = self.run, self.task_def(name).for_each
        run.audit(b, at=at, actor=self.actor, event="task_state", old=run.tasks[name].state,
                  new=TaskStatus.RUNNING, task=name, reason=f"fanning out over {each.describe()}")
        run.set_task(name, TaskStatus.RUNNING)
        try:
            items = collection_items(self.store, name, each, run.definition.params,
                                     run.record.parameters, self.results, self.max_instances)
        except FanOutRefused as exc:
            run.audit(b, at=at, actor=self.actor, event="task_state", old=TaskStatus.RUNNING,
                      new=TaskStatus.FAILED, task=name, reason=str(exc))
            run.set_task(name, TaskStatus.FAILED)
            if not self.gates.note_failure(name):
                self.stopping = self.stopping or RunStatus.FAILED
            elif not self.stopping:
                self.release(name)  # on_failure: continue: dependents are told by gate()
            return
        fan = instances(name, items, self.task_def(name).parallelism)
        run.add_instances(name, list(fan.items))
        run.audit(b, at=at, actor=self.actor, event="fan_out", old=None, new=None, task=name,
                  reason=f"{len(items)} instances over {each.describe()}")
        self.fanouts[name] = fan
        if fan.complete:
            self.fanout_ended(b, fan, at)
        else:
            self.active.append(fan)

    def item_of(self, name: str) -> Item | None:
        key = instance_key(name)
        return None if key is None else self.fanouts[base_task(name)].items[name]

    def sees(self, b, name: str) -> dict[str, Produced]:
        """What each task `name` needs produced, as `name` sees it: the paired instance of
        a task fanned out over the same collection, the gathered directories of any other
        fanned-out task, else the task's own outputs."""
        task, key = self.task_def(name), instance_key(name)
        view = {}
        for dep in self.graph.needs[base_task(name)]:
            other = self.run.definition.tasks[dep]
            if other.for_each is None:
                got = self.results.get(dep)
            elif paired(task, other):
                got = self.results.get(instance_name(dep, key))
            else:
                got = Produced(self.gathered_outputs(b, dep, task), {})
            if got is not None:
                view[dep] = got
        return view

    def gathered_outputs(self, b, dep: str, task: TaskDefinition) -> list[OutputFile]:
        """For each file `task` reads from fanned-out `dep`, the directory of that file
        of every instance that succeeded, by KEY (built once per file)."""
        out = []
        for path in read_files(task, dep):
            made = self.gathered.get((dep, path))
            if made is None:
                found = []
                for inst in self.fanouts[dep].items:
                    produced = self.results.get(inst)
                    entry = None if produced is None else find_output(self.store, produced, path)
                    if entry is not None:
                        found.append((instance_key(inst), entry))
                made = self.gathered[(dep, path)] = gather(self.store, b, path, found)
            out.append(made)
        return out

    def instance_ended(self, b, name: str, state: str, at: str) -> None:
        fan = self.fanouts[base_task(name)]
        fan.running -= 1
        fan.ended += 1
        if state == TaskStatus.SKIPPED:  # by its kind's condition: ended, not failed
            fan.skipped += 1
        elif state != TaskStatus.SUCCESS:
            fan.failed += 1
            self.end_fanned(b, fan.task, state, at, f"instance {name} {state}")
        if fan.complete:
            self.fanout_ended(b, fan, at)

    def fanout_ended(self, b, fan: FanOut, at: str) -> None:
        """Every instance ended: the task succeeds (releasing what needs it) unless one
        failed (it already ended then)."""
        if fan in self.active:
            self.active.remove(fan)
        if fan.failed == 0:
            skipped = f", {fan.skipped} skipped by a condition" if fan.skipped else ""
            self.end_fanned(b, fan.task, TaskStatus.SUCCESS, at,
                            f"{len(fan.items) - fan.skipped} instances succeeded{skipped}")
            self.release(fan.task)
        elif not self.stopping:  # on_failure: continue: dependents are told by gate()
            self.release(fan.task)

    def end_fanned(self, b, name: str, state: str, at: str, reason: str) -> None:
        """End a fanned-out task's own row (once: its first failed instance ends it)."""
        if self.run.tasks[name].state != TaskStatus.RUNNING:
            return
        self.run.audit(b, at=at, actor=self.actor, event="task_state", old=TaskStatus.RUNNING,
                       new=state, task=name, reason=reason)
        self.run.set_task(name, state)
        if state != TaskStatus.SUCCESS:
            self.gates.note_failure(name)

    def release(self, name: str) -> None:
        self.steps.done(name)
        self.ready.extend(self.steps.get_ready())

    def finish(self, b, at: str) -> None:
        if self.stopping == RunStatus.KILLED:
            state, actor, reason = RunStatus.KILLED, self.killer, f"killed by {self.killer}"
        elif self.stopping == RunStatus.FAILED or any(
                self.gates.spoils_success(n, t.state) for n, t in self.run.tasks.items()):
            failed = [n for n in self.run.order if self.run.tasks[n].state == TaskStatus.FAILED]
            why = self.stop_reason if self.stop_noted else "task failed: " + ", ".join(failed[:5])
            state, actor, reason = RunStatus.FAILED, self.actor, why
        else:
            state, actor, reason = RunStatus.SUCCESS, self.actor, None
        end_run(self.run, b, at=at, actor=actor, state=state, reason=reason or "all tasks succeeded",
                running_to=TaskStatus.KILLED)
