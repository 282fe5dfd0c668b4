"""The Slurm executor: one batch job per attempt, running `wfobj exec` on a node.

Per attempt: store the TaskSpec as an `attempt_spec` object, make an attempt token for it,
submit one job with `sbatch` (resources.cpus → --cpus-per-task, the memory cap →
--mem, timeout → --time), record the job id in the store (namespace `slurm_jobs`, so a
worker recovering a dead one's runs cancels the right jobs), then wait for the node's
report. Attempts submitted together with the same resources (the instances of a
fanned-out task, above all) go as one job array: one `sbatch` process for all of them,
each attempt an element `ARRAY_INDEX` with its own token and spec (BatchSubmitter). Every attempt in the worker shares one JobQueue, which looks at all followed jobs
with one `squeue` call per poll interval. Kill: `scancel`. A job that ends, or vanishes,
without a report fails the attempt with the Slurm state as the reason, so `retries`
apply and no run waits on a job that is gone.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wfobj.engine.clock import Clock
from wfobj.engine.errors import ExecutorUnavailable, SlurmError
from wfobj.engine.layout import JOBS_NS
from wfobj.engine.states import AttemptStatus
from wfobj.objstore import ObjectStore

from .attempts import AttemptGrant, AttemptTokens, load_report, spec_object
from .base import AttemptResult, Executor, TaskSpec
from .caps import DEFAULT_LIMITS, ContainerLimits
from .capture import store_empty
from .settings import SlurmSettings

log = logging.getLogger(__name__)

IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
         "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
EXEC_OVERHEAD_MB = 256  # memory for `wfobj exec` itself beside the container's cap
TIME_MARGIN_MIN = 2  # minutes of --time beyond the task's timeout (fetch and report)
TOKEN_TTL_S = 7 * 24 * 3600.0  # an attempt without timeout: the token's longest life
KILL_WAIT_S = 60.0
REPORT_WAIT_S = 10.0  # after a job ended COMPLETED, how long its report may still take
COMMAND_TIMEOUT_S = 30.0
MAX_ARRAY = 1000  # elements of one job array (Slurm's default MaxArraySize is 1001)


@dataclass(frozen=True)
class JobState:
    job_id: str
    state: str  # squeue's %T: PENDING, RUNNING, COMPLETED, CANCELLED, …
    node: str  # "" while pending
    reason: str

    @property
    def ended(self) -> bool:
        return self.state.split()[0] in ENDED


Runner = Callable[[Sequence[str], str | None], str]


def run_command(argv: Sequence[str], stdin: str | None = None) -> str:
    """Run a Slurm command; its stdout, or SlurmError with its stderr."""
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SlurmError(argv[0], str(exc)) from None
    if done.returncode != 0:
        raise SlurmError(argv[0], " ".join((done.stderr or done.stdout).split())[:500])
    return done.stdout


class SlurmCommands:
    """sbatch, squeue, scancel and sinfo; the runner is injectable."""

    def __init__(self, runner: Runner = run_command):
        self.runner = runner

    def submit(self, script: str, args: Sequence[str]) -> str:
        out = self.runner(["sbatch", "--parsable", *args], script).strip()
        job_id = out.split(";")[0]
        if not job_id.isdigit():
            raise SlurmError("sbatch", f"answered {out[:200]!r}, not a job id")
        return job_id

    def queue(self) -> dict[str, JobState]:
        """Every job the controller still knows (pending, running and recently ended),
        each element of a job array on a line of its own (`ARRAY_INDEX`)."""
        out = self.runner(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%N|%r"], None)
        jobs = {}
        for line in out.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 4:
                jobs[parts[0]] = JobState(parts[0], parts[1], parts[2], parts[3])
        return jobs

    def cancel(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            self.runner(["scancel", *job_ids], None)

    def check(self) -> None:
        self.runner(["sinfo", "-h", "-o", "%P"], None)


class JobQueue:
    """The queue as last seen, refreshed by at most one squeue per `poll` seconds,
    whichever attempt thread asks."""

    def __init__(self, commands: SlurmCommands, poll: float):
        self.commands = commands
        self.poll = poll
        self.lock = threading.Lock()
        self.seen_at = 0.0
        self.jobs: dict[str, JobState] = {}
        self.error: str | None = None

    def state(self, job_id: str) -> JobState | None:
        """The job's state, or None if the controller no longer knows it."""
        with self.lock:
            if time.monotonic() - self.seen_at >= self.poll:
                try:
                    self.jobs, self.error = self.commands.queue(), None
                except SlurmError as exc:  # the controller may be restarting: keep the last
                    self.error = str(exc)
                    log.warning("squeue: %s", exc)
                self.seen_at = time.monotonic()
            return self.jobs.get(job_id)

    def forget_age(self) -> None:
        """The next state() looks again (after a submit or a cancel)."""
        with self.lock:
            self.seen_at = 0.0


def job_name(spec: TaskSpec) -> str:
    """A job's name: its task (for an instance, its fanned-out task's)."""
    return f"--job-name=wfobj-{spec.task.split('[', 1)[0]}"[:100]


def sbatch_args(spec: TaskSpec, settings: SlurmSettings, limits: ContainerLimits) -> list[str]:
    """The job's resources: cpus, memory (the container's cap plus exec's own), time.
    `--no-requeue`: a job whose node fails ends NODE_FAIL instead of Slurm starting it
    again behind the engine's back; the engine's `retries` decide what runs again. The
    name is not among them (job_name): attempts with equal arguments share a job array."""
    args = [f"--output={settings.job_output}", "--no-requeue",
            f"--cpus-per-task={max(1, math.ceil(spec.cpus or 1))}"]
    cap = limits.overridden(memory=spec.memory, pids=spec.pids, cpus=spec.cpus).memory
    if cap:
        args.append(f"--mem={math.ceil(cap / (1 << 20)) + EXEC_OVERHEAD_MB}M")
    if spec.timeout:
        args.append(f"--time={math.ceil(spec.timeout / 60) + TIME_MARGIN_MIN}")
    if settings.partition:
        args.append(f"--partition={settings.partition}")
    return args + list(settings.sbatch_args)


def node_store_word(path: str) -> str:
    """`path` as one shell word, each `%n` the node's name: the parts between are quoted
    on their own, so the variable is never inside single quotes (shlex.quote leaves a
    path that needs no quoting bare, and then a replaced `%n` would be)."""
    return '"$SLURMD_NODENAME"'.join(shlex.quote(part) for part in path.split("%n"))


def batch_script(settings: SlurmSettings, token: str, spec_oid: str, spec: TaskSpec) -> str:
    """The job: `wfobj exec` with the token in its environment (never on a command line)."""
    return "\n".join([
        "#!/bin/sh",
        f"# wfobj attempt {spec.attempt} of task {spec.task!r}, run {spec.run_id}",
        f"WFOBJ_TOKEN={shlex.quote(token)}; export WFOBJ_TOKEN",
        exec_line(settings, spec_oid), ""])


def exec_line(settings: SlurmSettings, spec_word: str) -> str:
    store = node_store_word(settings.node_store)
    wfobj = " ".join(shlex.quote(part) for part in settings.wfobj_command)
    return (f'exec {wfobj} --store {store} exec --server {shlex.quote(settings.server_url)} '
            f'--node "$SLURMD_NODENAME" {spec_word}')


def array_script(settings: SlurmSettings, batch: list[Submission]) -> str:
    """A job array's script: element i runs `wfobj exec` for the i-th attempt, its token
    in the environment (never on a command line), chosen by $SLURM_ARRAY_TASK_ID."""
    lines = ["#!/bin/sh", f"# wfobj: {len(batch)} attempts, one per element of this job array",
             'case "$SLURM_ARRAY_TASK_ID" in']
    for i, sub in enumerate(batch):
        lines.append(f"{i}) WFOBJ_TOKEN={shlex.quote(sub.token)}; SPEC={sub.spec_oid} "
                     f"# attempt {sub.spec.attempt} of {sub.spec.task!r}, run {sub.spec.run_id}")
        lines.append("   ;;")
    lines += ['*) echo "wfobj: no attempt for array element $SLURM_ARRAY_TASK_ID" >&2; exit 2;;',
              "esac", "export WFOBJ_TOKEN", exec_line(settings, '"$SPEC"'), ""]
    return "\n".join(lines)


@dataclass
class Submission:
    """One attempt waiting to be submitted (alone, or as an element of a job array)."""

    token: str
    spec_oid: str
    spec: TaskSpec
    args: tuple[str, ...]
    done: threading.Event = field(default_factory=threading.Event)
    job_id: str | None = None
    error: SlurmError | None = None


class BatchSubmitter:
    """Submits attempts with one `sbatch` per group: the attempts that arrive within
    `window` seconds of each other with the same sbatch arguments go as one job array (at
    most MAX_ARRAY elements; a lone attempt as a plain job). Each attempt gets its own job
    id, `ARRAY_INDEX` for an element, which squeue, scancel and the store's job records
    take like any other. The first attempt of a group waits the window and submits for
    all; the others wait for it."""

    def __init__(self, commands: SlurmCommands, settings: SlurmSettings, window: float = 0.05):
        self.commands, self.settings, self.window = commands, settings, window
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, ...], list[Submission]] = {}

    def submit(self, sub: Submission) -> str:
        with self.lock:
            group = self.pending.setdefault(sub.args, [])
            group.append(sub)
            leads = len(group) == 1
        if leads:
            time.sleep(self.window)
            with self.lock:
                batch = self.pending.pop(sub.args)
            for first in range(0, len(batch), MAX_ARRAY):
                self.send(batch[first:first + MAX_ARRAY])
        sub.done.wait()
        if sub.error is not None:
            raise sub.error
        return sub.job_id

    def send(self, batch: list[Submission]) -> None:
        args = list(batch[0].args)
        try:
            if len(batch) == 1:
                sub = batch[0]
                sub.job_id = self.commands.submit(
                    batch_script(self.settings, sub.token, sub.spec_oid, sub.spec),
                    [job_name(sub.spec), *args])
            else:
                names = {job_name(sub.spec) for sub in batch}
                name = names.pop() if len(names) == 1 else "--job-name=wfobj-batch"
                base = self.commands.submit(array_script(self.settings, batch),
                                            [name, f"--array=0-{len(batch) - 1}", *args])
                for i, sub in enumerate(batch):
                    sub.job_id = f"{base}_{i}"
        except SlurmError as exc:
            for sub in batch:
                sub.error = exc
        finally:
            for sub in batch:
                sub.done.set()


class SlurmExecutor(Executor):
    def __init__(self, settings: SlurmSettings, *, limits: ContainerLimits = DEFAULT_LIMITS,
                 commands: SlurmCommands | None = None,
                 clock: Clock | None = None):
        self.settings = settings
        self.limits = limits
        self.commands = commands or SlurmCommands()
        self.queue = JobQueue(self.commands, settings.poll)
        self.submitter = BatchSubmitter(self.commands, settings)
        self.clock = clock or Clock()

    def check(self) -> None:
        if not self.settings.server_url:
            raise ExecutorUnavailable("the slurm executor", "no server URL for the nodes "
                                      "(--slurm-server-url)")
        try:
            self.commands.check()
        except SlurmError as exc:
            raise ExecutorUnavailable("Slurm", exc.reason) from None

    def run(self, spec: TaskSpec, store: ObjectStore, cancel: threading.Event) -> AttemptResult:
        return SlurmAttempt(self, spec, store, cancel).execute()

    def image_id(self, image: str) -> str | None:
        """An image id (`sha256:…`) names itself; whether a node holds it is checked on
        the node, which fails the attempt naming the id. A tag resolves only on the node
        that runs it, after the cache lookup: None here (such attempts have no key)."""
        return image if IMAGE_ID.fullmatch(image) else None

    def remove_leftovers(self, run_id: str, store: ObjectStore | None = None) -> int:
        """Cancel the jobs of `run_id` recorded in the store (their worker died) and end
        their tokens; returns how many jobs."""
        if store is None:
            return 0
        records = list(store.meta_scan(JOBS_NS, f"{run_id}/"))
        job_ids = [json.loads(raw)["job_id"] for _, raw in records]
        try:
            self.commands.cancel(job_ids)
        except SlurmError as exc:
            log.warning("could not cancel jobs %s of run %s: %s", job_ids, run_id, exc)
        AttemptTokens(store).end_run(run_id)
        with store.batch() as b:
            for key, _ in records:
                b.meta_delete(JOBS_NS, key)
        return len(job_ids)


class SlurmAttempt:
    """One attempt from submit to report (or to the job's end without one)."""

    def __init__(self, ex: SlurmExecutor, spec: TaskSpec, store: ObjectStore,
                 cancel: threading.Event):
        self.ex, self.spec, self.store, self.cancel = ex, spec, store, cancel
        self.tokens = AttemptTokens(store)
        self.key = f"{spec.run_id}/{spec.task}/{spec.attempt}"
        self.started_at = ex.clock.now()
        self.job_id: str | None = None
        self.node = ""

    def execute(self) -> AttemptResult:
        if self.cancel.is_set():
            return self.unreported(AttemptStatus.KILLED, "cancelled before the job was submitted")
        spec_oid = self.store.put_object(spec_object(self.spec, self.ex.limits).to_value())
        ttl = (self.spec.timeout or TOKEN_TTL_S) + 60 * (TIME_MARGIN_MIN + 5)
        token, grant = self.tokens.create(spec_oid, self.spec, ttl)
        try:
            try:
                args = sbatch_args(self.spec, self.ex.settings, self.ex.limits)
                self.job_id = self.ex.submitter.submit(
                    Submission(token, spec_oid, self.spec, tuple(args)))
            except SlurmError as exc:
                return self.unreported(AttemptStatus.FAILED, str(exc))
            self.store.meta_cas(JOBS_NS, self.key, None, json.dumps(
                {"job_id": self.job_id, "spec": spec_oid, "token": grant.digest}).encode())
            self.ex.queue.forget_age()
            return self.follow(grant)
        finally:
            self.tokens.end(grant)
            self.store.meta_cas(JOBS_NS, self.key, self.store.meta_get(JOBS_NS, self.key), None)

    def follow(self, grant: AttemptGrant) -> AttemptResult:
        ended_at: float | None = None
        while True:
            result = self.reported(grant)
            if result is not None:
                return self.as_reported(result)
            if self.cancel.is_set():
                return self.kill(grant)
            job = self.ex.queue.state(self.job_id)
            if job is not None and job.node and job.node != "(null)":
                self.node = job.node
            if job is None or job.ended:
                # exec submits its report before it exits; give a COMPLETED job's report
                # a moment to become visible, then call the job ended without one
                ended_at = ended_at or time.monotonic()
                if job is None or job.state != "COMPLETED" or \
                        time.monotonic() - ended_at >= REPORT_WAIT_S:
                    result = self.reported(grant)
                    if result is not None:
                        return self.as_reported(result)
                    return self.unreported(AttemptStatus.FAILED, self.why_ended(job))
            self.cancel.wait(min(self.ex.settings.poll, 1.0))

    def as_reported(self, result: AttemptResult) -> AttemptResult:
        """The node's result, except that a node stopped by a signal the engine never sent
        (an outside `scancel`, Slurm's own time limit) reports `killed`: that attempt
        failed, named by the state Slurm gives the job, as when no report came at all
        (`killed` is only for a kill through wfobj, which goes through kill())."""
        if result.state != AttemptStatus.KILLED or self.cancel.is_set():
            return result
        job = self.ended_job()
        state = job.state if job is not None else "CANCELLED"
        node = result.host.get("name") or self.node
        where = f" on {node}" if node else ""
        result.state = AttemptStatus.FAILED
        result.error = (f"Slurm job {self.job_id} ended {state}{where}, not killed through "
                        f"wfobj ({result.error or 'the node stopped the task'})")
        return result

    def ended_job(self) -> JobState | None:
        """The job's final state, once the queue shows it (the node exits right after its
        report); None if it is not seen ended within REPORT_WAIT_S."""
        deadline = time.monotonic() + REPORT_WAIT_S
        while time.monotonic() < deadline:
            job = self.ex.queue.state(self.job_id)
            if job is None or job.ended:
                return job
            time.sleep(min(self.ex.settings.poll, 0.5))
        return None

    def why_ended(self, job: JobState | None) -> str:
        if job is None:
            return f"Slurm job {self.job_id} vanished from the queue without evidence"
        where = f" on {job.node}" if job.node and job.node != "(null)" else ""
        why = f" ({job.reason})" if job.reason and job.reason != "None" else ""
        return f"Slurm job {self.job_id} ended {job.state}{where}{why} without evidence"

    def kill(self, grant: AttemptGrant) -> AttemptResult:
        """scancel, then wait for the job to leave the queue (or end); a report the node
        still sent is kept (it has the logs up to the kill)."""
        try:
            self.ex.commands.cancel([self.job_id])
        except SlurmError as exc:
            log.warning("scancel %s: %s", self.job_id, exc)
        self.ex.queue.forget_age()
        deadline = time.monotonic() + KILL_WAIT_S
        while time.monotonic() < deadline:
            job = self.ex.queue.state(self.job_id)
            if job is None or job.ended:
                break
            time.sleep(min(self.ex.settings.poll, 0.5))
        result = self.reported(grant)
        if result is not None:
            result.state = AttemptStatus.KILLED
            result.error = result.error or "killed"
            return result
        return self.unreported(AttemptStatus.KILLED, f"killed: Slurm job {self.job_id} cancelled")

    def reported(self, grant: AttemptGrant) -> AttemptResult | None:
        report = self.tokens.report_of(grant.spec)
        if report is None:
            return None
        _, result = load_report(self.store, report)
        node = result.host.get("name") or self.node
        result.host = {**result.host, "name": node}
        result.executor = {"kind": "slurm", "job_id": self.job_id, "node": node}
        return result

    def unreported(self, state: str, error: str) -> AttemptResult:
        empty = store_empty(self.store)
        result = AttemptResult(state=state, exit_code=None, stdout=empty, stderr=empty,
                               started_at=self.started_at, ended_at=self.ex.clock.now(),
                               error=error)
        if self.job_id is not None:
            result.host = {"name": self.node} if self.node else {}
            result.executor = {"kind": "slurm", "job_id": self.job_id, "node": self.node or None}
        return result
