"""The executor interface: how the scheduler runs one task attempt, whatever runs it.

The Docker executor (engine/executors/docker.py) is the real one; tests and the scheduling
benchmark use a fake. An executor stages inputs from the store, runs the command, stores
stdout/stderr/outputs as blobs, and returns an AttemptResult. It never raises for task
failures (non-zero exit, timeout, missing output, bad image): those are results with
`error` set. It raises only for engine bugs.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from wfobj.engine.model import FILE
from wfobj.objstore import Link, ObjectId, ObjectStore


@dataclass(frozen=True)
class InputFile:
    """One input, mounted read-only at /in/<name>: a file (`oid` a blob) or a directory
    (`oid` a tree, `size` the total of its files)."""

    name: str
    oid: ObjectId
    size: int
    kind: str = FILE  # FILE or DIR


@dataclass(frozen=True)
class SecretUse:
    """One secret an attempt uses: its name, where it goes (an environment variable, or a
    file under /run/secrets/) and the fingerprint of the value it resolved to. Never the
    value: a spec is stored (the Slurm path) and shown."""

    name: str
    place: str
    fingerprint: str

    @property
    def kind(self) -> str:
        return "file" if self.place.startswith("/") else "env"

    def record(self) -> dict:
        """As evidence, task keys and attempt specs hold it."""
        return {"name": self.name, self.kind: self.place, "fingerprint": self.fingerprint}

    @classmethod
    def of_record(cls, row: dict) -> SecretUse:
        return cls(row["name"], row["file"] if "file" in row else row["env"], row["fingerprint"])


def secret_records(uses: tuple[SecretUse, ...]) -> list[dict] | None:
    """The records of `uses` for a stored object; None (left out) when there are none."""
    return [use.record() for use in uses] or None


@dataclass(frozen=True)
class TaskSpec:
    """One attempt of one task, with every {{…}} reference already substituted."""

    run_id: str
    task: str
    attempt: int
    image: str
    command: list[str]
    env: dict[str, str]
    workdir: str | None
    network: bool
    cpus: float | None
    memory: str | None  # docker-style size, e.g. "512m"
    timeout: float | None  # seconds
    inputs: list[InputFile]
    output_files: list[str]  # relative paths under /out (a directory is stored as a tree)
    output_vars: list[str]  # names expected in $WFOBJ_VARS
    pids: int | None = None  # the task's own process cap (resources.pids)
    pull: str | None = None  # missing | always | never; None: the executor's default
    secrets: tuple[SecretUse, ...] = ()  # placed by the executor; values never here


@dataclass(frozen=True)
class StoredText:
    """A captured stream: the blob holding all of it, its size, and a text preview."""

    oid: ObjectId
    size: int
    text: str

    def record(self) -> dict:
        """As evidence and attempt reports store it: {"blob": link, "size", "text"}."""
        return {"blob": Link.blob(self.oid), "size": self.size, "text": self.text}


@dataclass(frozen=True)
class OutputFile:
    """One declared output: a file (`oid` a blob) or a directory (`oid` a tree)."""

    path: str  # relative to /out
    oid: ObjectId
    size: int
    kind: str = FILE  # FILE or DIR


@dataclass
class AttemptResult:
    state: str  # an AttemptStatus
    exit_code: int | None
    stdout: StoredText
    stderr: StoredText
    started_at: datetime  # UTC, microseconds
    ended_at: datetime
    image_id: str | None = None
    image_digests: list[str] = field(default_factory=list)
    outputs: list[OutputFile] = field(default_factory=list)
    vars: dict[str, str] = field(default_factory=dict)
    host: dict[str, str] = field(default_factory=dict)  # {"name", "docker_version"}
    workdir: str = "/"
    error: str | None = None  # why the attempt failed, in one readable line
    limits: dict | None = None  # {"memory", "pids", "cpus"} applied; None: no container
    # where it ran: {"kind": "local"} or {"kind": "slurm", "job_id", "node"}
    executor: dict = field(default_factory=lambda: {"kind": "local"})


class SecretSource(abc.ABC):
    """Where an executor gets the values of an attempt's secrets: the secret store beside
    the server's store (engine/executors/secret_values.py), or, on a cluster node, the
    values the server handed over for this one attempt."""

    @abc.abstractmethod
    def values(self, spec: TaskSpec, store: ObjectStore) -> dict[str, bytes]:
        """{name: value} of every secret `spec` uses, or SecretUnavailable naming one."""


class Executor(abc.ABC):
    # None: the secret store beside the store an attempt runs on (local attempts)
    secret_source: SecretSource | None = None

    @abc.abstractmethod
    def run(self, spec: TaskSpec, store: ObjectStore, cancel: threading.Event) -> AttemptResult:
        """Run one attempt to its end. When `cancel` is set, stop it (SIGTERM, grace,
        SIGKILL) and return a result with state "killed". Leaves no container behind."""

    def image_id(self, image: str) -> str | None:
        """The id `image` (a tag or an id) resolves to here now, without pulling; None
        when it is not present. Cache keys use it, so a moved tag never hits."""
        return None

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise ExecutorUnavailable, naming what is missing, if attempts cannot run now
        (the start-up check of `serve` and `worker`)."""

    def remove_leftovers(self, run_id: str, store: ObjectStore | None = None) -> int:
        """Remove what attempts of `run_id` left behind when their worker process died
        (containers, folders, cluster jobs recorded in `store`); returns how many were
        removed. Executors that keep nothing outside their own process have nothing to
        remove."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and temp folders."""


def check_executor(factory: Callable[[], Executor]) -> None:
    """Make one executor of `factory` and run its start-up check (ExecutorUnavailable)."""
    executor = factory()
    try:
        executor.check()
    finally:
        executor.close()
