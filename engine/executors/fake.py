"""A scripted executor without containers: for unit tests and the scheduling benchmark.

Each task behaves as its TaskBehavior says (exit code, sleep, failures on early attempts,
outputs, vars); declared outputs and vars are produced unless told otherwise. It honours
the cancel event like the real one, and records when each attempt ran and its spec.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wfobj.engine.model import DIR
from wfobj.engine.states import AttemptStatus
from wfobj.objstore import ObjectStore, TreeBuilder

from .base import AttemptResult, Executor, OutputFile, StoredText, TaskSpec

FAKE_IMAGE_ID = "sha256:" + "0" * 64


@dataclass
class TaskBehavior:
    exit_code: int = 0
    sleep: float = 0.0
    fail_attempts: int = 0  # the first N attempts fail with exit code 1
    # path -> a file's bytes, or a directory as {path inside it: bytes};
    # None: one file per declared output
    outputs: dict[str, bytes | dict[str, bytes]] | None = None
    vars: dict[str, str] | None = None  # None: "1" per declared var
    stdout: bytes = b""


@dataclass
class FakeExecutor(Executor):
    behaviors: dict[str, TaskBehavior] = field(default_factory=dict)
    default: TaskBehavior = field(default_factory=TaskBehavior)
    host: dict[str, str] = field(default_factory=lambda: {"name": "fake", "docker_version": "none"})
    image_ids: dict[str, str | None] = field(default_factory=dict)  # else FAKE_IMAGE_ID
    spans: list[tuple[str, int, float, float]] = field(default_factory=list)
    specs: list[TaskSpec] = field(default_factory=list)  # every attempt's, in start order
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _empty: dict[int, StoredText] = field(default_factory=dict)
    _blobs: dict[tuple[int, bytes], str] = field(default_factory=dict)

    def run(self, spec: TaskSpec, store: ObjectStore, cancel: threading.Event) -> AttemptResult:
        behavior = self.behaviors.get(spec.task, self.default)
        with self._lock:
            self.specs.append(spec)
        started, t0 = datetime.now(UTC), time.monotonic()
        cancelled = cancel.wait(behavior.sleep) if behavior.sleep else cancel.is_set()
        failed = spec.attempt <= behavior.fail_attempts or behavior.exit_code != 0
        exit_code = 137 if cancelled else (behavior.exit_code or 1) if failed else 0
        outputs = [] if cancelled or failed else self.outputs(spec, behavior, store)
        result = AttemptResult(
            state=AttemptStatus.KILLED if cancelled else AttemptStatus.FAILED if failed else AttemptStatus.SUCCESS,
            exit_code=exit_code, stdout=self.text(store, behavior.stdout),
            stderr=self.text(store, b""), started_at=started, ended_at=datetime.now(UTC),
            image_id=self.image_id(spec.image), outputs=outputs,
            vars={} if failed or cancelled else self.vars(spec, behavior), host=dict(self.host),
            error="cancelled" if cancelled else f"exit code {exit_code}" if failed else None)
        with self._lock:
            self.spans.append((spec.task, spec.attempt, t0, time.monotonic()))
        return result

    def image_id(self, image: str) -> str | None:
        return self.image_ids.get(image, FAKE_IMAGE_ID)

    def outputs(self, spec: TaskSpec, behavior: TaskBehavior, store: ObjectStore) -> list[OutputFile]:
        files = behavior.outputs
        if files is None:
            files = {path: f"{spec.task}:{path}\n".encode() for path in spec.output_files}
        return [self.tree(store, path, data) if isinstance(data, dict) else
                OutputFile(path, self.blob(store, data), len(data)) for path, data in files.items()]

    def tree(self, store: ObjectStore, path: str, files: dict[str, bytes]) -> OutputFile:
        """A directory output: its files stored as one tree."""
        builder = TreeBuilder(store)
        for inner, data in sorted(files.items()):
            builder.add_file(inner, io.BytesIO(data))
        stored = builder.finish()
        return OutputFile(path, stored.oid, stored.size, DIR)

    def blob(self, store: ObjectStore, data: bytes) -> str:
        """Store `data` once per store (repeated contents cost no write transaction)."""
        key = (id(store), data)
        oid = self._blobs.get(key)
        if oid is None:
            oid = self._blobs[key] = store.put_blob(data)
        return oid

    def vars(self, spec: TaskSpec, behavior: TaskBehavior) -> dict[str, str]:
        return dict(behavior.vars) if behavior.vars is not None else {v: "1" for v in spec.output_vars}

    def text(self, store: ObjectStore, data: bytes) -> StoredText:
        if not data:
            key = id(store)
            if key not in self._empty:
                self._empty[key] = StoredText(store.put_blob(b""), 0, "")
            return self._empty[key]
        return StoredText(store.put_blob(data), len(data), data.decode(errors="replace"))
