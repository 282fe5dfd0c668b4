"""The engine's one facade: what the API resources and the local CLI call.

Every method returns JSON-ready data in exactly the shapes of docs/api.md (times as RFC 3339
UTC strings with microseconds, hashes as hex), so `api/` and `cli/` only move it around.
Errors are engine.errors / objstore.errors exceptions carrying data; the edges translate.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import BinaryIO

from wfobj.engine.access.secrets import SecretStore, check_name, secret_store_of
from wfobj.engine.definitions.graph import TaskGraph
from wfobj.engine.definitions.params import check_parameters, split_file_names
from wfobj.engine.definitions.registry import WorkflowRegistry
from wfobj.engine.definitions.secret_refs import check_no_secret_params, check_secret_names
from wfobj.engine.executors.base import Executor, check_executor
from wfobj.engine.layout import RUN_PREFIX
from wfobj.engine.provenance.audit import check_audit_chain
from wfobj.engine.provenance.exports import Export, KeyFile, export_run
from wfobj.engine.provenance.exports.signing import PublicKey
from wfobj.engine.provenance.exports.verify import verify_attestation
from wfobj.engine.runs.lifecycle import (
    create_run,
    kill_pending,
    request_kill,
    scan_index,
    scan_prefix,
)
from wfobj.engine.runs.rows import RunHead
from wfobj.engine.runs.state import RunState
from wfobj.engine.runs.waiting import ChangeWatcher, Progress, poll_run
from wfobj.engine.scheduling import data_triggers
from wfobj.engine.scheduling.data_triggers import TriggerBook
from wfobj.engine.scheduling.render import check_rendered_sizes
from wfobj.engine.scheduling.schedules import ScheduleBook
from wfobj.engine.upkeep.reindex import rebuild_counters
from wfobj.engine.upkeep.sync_policy import index_runs
from wfobj.engine.webhooks.outbox import Outbox
from wfobj.engine.webhooks.registry import HookStore, store_secrets
from wfobj.objstore import (
    NotAFile,
    NotATree,
    ObjectStore,
    ObjectStoreError,
    TreeEntry,
    check_hash,
    entry_at,
    put_tar,
    read_tree,
    walk_tree,
)
from wfobj.objstore.ids import HASH_HEX_LEN

from .clock import Clock
from .errors import (
    BadCursor,
    ExecutorUnavailable,
    InvalidStoredObject,
    NoSigningKey,
    RunAlreadyTerminal,
    SecretStoreUnusable,
    UnknownRun,
)
from .indexes import lineage
from .model import WorkflowVersion, read
from .provenance import compare, views
from .provenance import logs as live_logs
from .provenance.explain import explain
from .provenance.views import TASKS_IN_VIEW
from .runs import repeat
from .states import TaskStatus

# what a run's unreadable objects raise (damaged, lost or not of the expected type)
DAMAGE = (ObjectStoreError, InvalidStoredObject)


def engine_version() -> str:
    try:
        return "wfobj " + metadata.version("wfobj")
    except metadata.PackageNotFoundError:
        return "wfobj (unpackaged)"


class WorkflowService:
    """The engine.protocol.Service on a local store. `executor_factory` is used
    only when this process runs a run itself (`wait`); `keys` is the store folder's signing
    key, for signed exports and `public_keys`."""

    def __init__(self, store: ObjectStore, *, clock: Clock | None = None,
                 executor_factory: Callable[[], Executor] | None = None,
                 concurrency: int = 4, keys: KeyFile | None = None) -> None:
        self.store = store
        self.keys = keys
        self.clock = clock or Clock()
        self.executor_factory = executor_factory
        self.concurrency = concurrency
        self.secrets: SecretStore | None = secret_store_of(store)
        self.registry = WorkflowRegistry(
            store, self.clock, check=lambda d: check_secret_names(self.secrets, d))
        self.engine_version = engine_version()

    # workflows ---------------------------------------------------------------------
    def apply_workflow(self, name: str, source: str | bytes | dict, *, user: str,
                       content_type: str = "application/json") -> tuple[dict, bool]:
        """Register a definition under `name`. Returns ({"name", "definition_hash",
        "version"}, created) — created is False when the definition is unchanged."""
        reg = self.registry.apply(name, source, user=user, content_type=content_type)
        return {"name": reg.name, "definition_hash": reg.definition_hash,
                "version": reg.version}, reg.created

    def validate_workflow(self, name: str, source: str | bytes | dict, *,
                          content_type: str = "application/json") -> dict:
        """Check a definition as `apply_workflow` would, registering nothing.
        {"name", "definition_hash", "registered", "params", "tasks"} (tasks in run order)."""
        oid, definition = self.registry.validate(name, source, content_type)
        head = self.registry.head(name)
        registered = (head is not None
                      and read(self.store, head, WorkflowVersion).definition.oid == oid)
        return {"name": name, "definition_hash": oid, "registered": registered,
                "params": sorted(definition.params),
                "tasks": TaskGraph.of(definition.tasks).order()}

    def list_workflows(self) -> list[dict]:
        """[{"name", "definition_hash", "version", "updated_at"}]"""
        out = []
        for name, oid in self.registry.names():
            version = read(self.store, oid, WorkflowVersion)
            out.append({"name": name, "definition_hash": version.definition.oid,
                        "version": version.version, "updated_at": version.registered_at})
        return out

    def get_workflow(self, name: str) -> dict:
        """{"name", "definition_hash", "version", "definition"}"""
        _, version = self.registry.newest(name)
        oid, definition = self.registry.definition(version.definition.oid)
        return {"name": name, "definition_hash": oid, "version": version.version,
                "definition": definition.as_json()}

    def workflow_versions(self, name: str) -> list[dict]:
        """[{"version", "definition_hash", "registered_by", "registered_at"}], newest first"""
        return [{"version": v.version, "definition_hash": v.definition.oid,
                 "registered_by": v.registered_by, "registered_at": v.registered_at}
                for v in self.registry.history(name)]

    def get_definition(self, definition_hash: str) -> dict:
        """{"definition_hash", "definition"}"""
        oid, definition = self.registry.definition(definition_hash)
        return {"definition_hash": oid, "definition": definition.as_json()}

    # runs ---------------------------------------------------------------------------
    def trigger(self, *, name: str | None = None, definition_hash: str | None = None,
                parameters: dict | None = None, user: str, cache: bool = True) -> dict:
        """Validate parameters, record the run, queue it. {"run_id", "state", "definition_hash"}
        With cache=False no task reuses an earlier attempt."""
        if (name is None) == (definition_hash is None):
            raise ValueError("trigger needs exactly one of name and definition_hash")
        if name is not None:
            _, version = self.registry.newest(name)
            definition_hash = version.definition.oid
        oid, definition = self.registry.definition(definition_hash)
        parameters, names = split_file_names(definition.params, parameters)
        values = check_parameters(definition.params, parameters, self.store)
        check_no_secret_params(self.secrets, definition.params, values)
        check_rendered_sizes(definition, values)
        origin = ({} if cache else {"cache": False}) | ({"file_names": names} if names else {})
        run = create_run(self.store, self.clock, definition_oid=oid, definition=definition,
                         parameters=values, user=user, engine_version=self.engine_version,
                         origin=origin or None)
        return {"run_id": run.run_id, "state": run.state, "definition_hash": oid}

    def resume(self, run_id: str, *, user: str) -> dict:
        """A new run of an ended run's definition and parameters, cache on.
        {"run_id", "resumes", "state"}"""
        source = self.load(run_id)
        run = self.repeat(source, repeat.resume_origin(source), user)
        return {"run_id": run.run_id, "resumes": run_id, "state": run.state}

    def reproduce(self, run_id: str, *, user: str) -> dict:
        """A new run of an ended run's definition and parameters, cache off, every task
        pinned to the image id it ran. {"run_id", "reproduces", "state"}"""
        source = self.load(run_id)
        run = self.repeat(source, repeat.reproduce_origin(self.store, source), user)
        return {"run_id": run.run_id, "reproduces": run_id, "state": run.state}

    def repeat(self, source: RunState, origin: dict, user: str) -> RunState:
        return create_run(self.store, self.clock, definition_oid=source.record.definition.oid,
                          definition=source.definition, parameters=source.record.parameters,
                          user=user, engine_version=self.engine_version,
                          origin=origin | ({"file_names": source.record.file_names}
                                           if source.record.file_names else {}))

    def compare_runs(self, a: str, b: str) -> dict:
        """{"a", "b", "same_definition", "same_parameters", "identical", "tasks"}; an output
        directory on both sides lists the `paths` inside it that differ."""
        return compare.compare_runs(self.store, self.load(a), self.load(b))

    def explain_task(self, run_id: str, task: str) -> dict:
        """{"key", "components", "hit", "cached_from", "nearest"}: the task's cache key."""
        head = RunHead.load(self.store, run_id)
        entry = views.entry_of(head, task)
        return explain(self.store, head.record.workflow, run_id, task, entry.attempts)

    # secrets (docs/secrets.md): kept beside the store, never objects ---------------------
    def set_secret(self, name: str, value: bytes, *, user: str) -> dict:
        """Store `value` as secret `name` (new, or its new value: a new fingerprint).
        {"name", "fingerprint", "set_by", "set_at"}; the value is never given back."""
        return self._secret_store().set(name, value, user).to_json()

    def list_secrets(self) -> list[dict]:
        """[{"name", "fingerprint", "set_by", "set_at"}] by name; never a value."""
        return [info.to_json() for info in self._secret_store().list()]

    def remove_secret(self, name: str) -> dict:
        """Delete secret `name` (SecretNotFound); what it was, without its value. Workflows
        naming it stay registered; their next attempt fails, naming it."""
        return self._secret_store().remove(check_name(name)).to_json()

    def _secret_store(self) -> SecretStore:
        if self.secrets is None:
            raise SecretStoreUnusable("this store", "keeps no secrets: it has no folder")
        return self.secrets

    # files --------------------------------------------------------------------------
    def file_info(self, oid: str) -> dict:
        """{"hash", "size", "produced_by", "used_by", "parameter_of"}, newest first."""
        return lineage.file_view(self.store, self.file_hash(oid))

    def file_lineage(self, oid: str, *, direction: str = "up",
                     depth: int = lineage.DEFAULT_DEPTH) -> dict:
        """{"nodes", "edges"} across runs from the file `oid`, up or down `depth` tasks."""
        return lineage.file_lineage(self.store, self.file_hash(oid), direction, depth)

    def list_runs(self, *, workflow: str | None = None, state: str | None = None,
                  limit: int = 50, cursor: str | None = None,
                  id_prefix: str | None = None) -> dict:
        """{"runs": [run…], "next_cursor"}, newest first; cursor stable while runs arrive.
        `id_prefix` keeps the runs whose id starts with it (how the CLI resolves an
        abbreviated id).

        Run ids are UUIDv7, so id order is creation order: the cursor is the last id
        returned, and runs created later sort before it and never shift a page."""
        limit = max(1, min(int(limit), 1000))
        after = decode_cursor(cursor) if cursor else None
        runs, last = [], None
        # a state filter reads the by-state index: only runs in that state are visited
        rows = (scan_index(self.store, state, after) if id_prefix is None
                else scan_prefix(self.store, id_prefix, state, after))
        for run_id, entry in rows:
            last = run_id
            if workflow and entry["workflow"] != workflow:
                continue
            try:
                runs.append(self.listed_run(run_id, entry))
            except UnknownRun:
                continue
            if len(runs) == limit:
                break
        more = (len(runs) == limit and last is not None
                and self.has_more(last, state, id_prefix))
        return {"runs": runs, "next_cursor": encode_cursor(last) if more else None}

    def listed_run(self, run_id: str, entry: dict) -> dict:
        """A run as a listing shows it: its view, or, if an object it needs is damaged or
        missing, what can still be read (the record, else the list index entry) with
        `"damaged": reason`, so one damaged run never fails a listing."""
        try:
            return self.get_run(run_id)
        except DAMAGE as exc:
            damage = str(exc)
        try:
            return {**views.record_view(self.load(run_id, plan=False)), "damaged": damage}
        except DAMAGE:
            return {"run_id": run_id, **entry, "damaged": damage}

    def has_more(self, after: str, state: str | None = None,
                 id_prefix: str | None = None) -> bool:
        rows = (scan_index(self.store, state, after) if id_prefix is None
                else scan_prefix(self.store, id_prefix, state, after))
        return next(rows, None) is not None

    def get_run(self, run_id: str) -> dict:
        """The run, naming its first TASKS_IN_VIEW tasks (`tasks_truncated` when there
        are more; `task_count` and `task_states` count them all). Reads the manifest and
        those rows only, however large the run."""
        return views.head_view(RunHead.load(self.store, run_id))

    def run_tasks(self, run_id: str, *, start: int = 0, limit: int = TASKS_IN_VIEW) -> list[dict]:
        """Evidence of the tasks at positions start… of the run's table, at most `limit`
        (1–TASKS_IN_VIEW); the run's `task_count` says how many there are."""
        limit = max(1, min(int(limit), TASKS_IN_VIEW))
        return views.tasks_view(self.store, RunHead.load(self.store, run_id), max(0, int(start)), limit)

    def run_task(self, run_id: str, task: str) -> dict:
        """A task's (or an instance's, `TASK[KEY]`) last attempt, found without reading
        the whole task table."""
        return views.task_view(self.store, RunHead.load(self.store, run_id), task)

    def run_files(self, run_id: str, *, recursive: bool = False) -> list[dict]:
        """[{"task", "path", "kind", "hash", "size"}]: every output of each task's last
        attempt; with `recursive` also every file inside output directories, by its full
        path, with the `tree` it sits in."""
        return views.files_view(self.store, self.load(run_id), recursive)

    def run_lineage(self, run_id: str) -> dict:
        return views.lineage_view(self.store, self.load(run_id))

    def run_audit(self, run_id: str) -> list[dict]:
        return views.audit_view(self.store, self.load(run_id))

    def verify_audit(self, run_id: str) -> dict:
        """{"run_id", "ok", "head", "entries", "expected", "problems"}: the chain checked."""
        return check_audit_chain(self.store, self.load(run_id)).to_json()

    def run_attempt(self, run_id: str, task: str, attempt: int) -> dict:
        """The evidence of attempt `attempt` (1-based) of `task`, with all `attempts`."""
        return views.attempt_view(self.store, RunHead.load(self.store, run_id), task, attempt)

    def run_logs(self, run_id: str, task: str) -> dict:
        """{"task", "attempt", "stdout", "stderr"}: the full streams of the last attempt."""
        return views.logs_view(self.store, RunHead.load(self.store, run_id), task)

    def follow_logs(self, run_id: str, task: str, *, attempt: int | None = None,
                    stdout_offset: int = 0, stderr_offset: int = 0, follow: bool = True,
                    wait: float | None = None) -> Iterator[dict]:
        """The task's attempt's (default: its running or last one) stdout and stderr from
        the offsets on, as `output` pieces while they are written, then one `end` record
        (engine/provenance/logs.py). Waits at most `wait` seconds (default FOLLOW_WAIT_S; not
        at all without `follow`) for the attempt to end; the `end` record says from where to
        ask again."""
        wait = live_logs.FOLLOW_WAIT_S if wait is None else wait
        position = live_logs.LogPosition(attempt, stdout_offset, stderr_offset)
        return iter(live_logs.LogFollower(self.store, run_id, task, position, follow=follow,
                                          wait=wait, sleep=self.clock.sleep))

    def live_tail(self, run_id: str, task: str) -> dict[str, str] | None:
        """{"stdout", "stderr"}: the end of what the task's running attempt wrote so far,
        or None when it is not running here."""
        entry = self.load(run_id).tasks.get(task)
        if entry is None or entry.state != TaskStatus.RUNNING:
            return None
        return live_logs.tail_text(self.store, run_id, task, len(entry.attempts) + 1)

    def export_run(self, run_id: str, fmt: str, *, files: str = "all") -> Export:
        """The run in an export format (docs/exports.md): bytes, media type, file name."""
        return export_run(self.store, run_id, fmt, files=files, keys=self.keys)

    def public_keys(self) -> list[dict]:
        """[{"keyid", "algorithm", "public_key_pem"}]: the keys signed exports verify with."""
        if self.keys is None:
            return []
        return [self.keys.key().public.to_json()]

    def verify_export(self, data: bytes, keys: list[str] | None = None) -> dict:
        """Check a signed in-toto export: its signature with `keys` (PEM texts; default
        this store's own key) and every subject against the files in this store.
        {"ok", "keyid", "run_id", "subjects", "subjects_checked"}"""
        if keys is None:
            if self.keys is None or not self.keys.exists():
                raise NoSigningKey()
            public = [self.keys.key().public]
        else:
            public = [PublicKey.from_pem(pem) for pem in keys]
        return verify_attestation(data, public, self.store.iter_blob).to_json()

    def kill_run(self, run_id: str, *, user: str) -> dict:
        """{"run_id", "state"}; raises a conflict error if the run is already terminal.
        A pending run is killed at once; a running one is stopped by its worker."""
        run = kill_pending(self.store, self.clock, run_id, user)
        if run is not None:
            return {"run_id": run_id, "state": run.state}
        run = self.load(run_id)
        if run.terminal:
            raise RunAlreadyTerminal(run_id, run.state)
        request_kill(self.store, self.clock, run_id, user)
        return {"run_id": run_id, "state": run.state}

    def wait(self, run_id: str, *, timeout: float | None = None, poll: float = 0.2,
             on_progress: Progress | None = None, stop: threading.Event | None = None,
             on_waiting: Callable[[str], None] | None = None) -> dict:
        """Block until the run ends and return it; `on_progress(run)` is told of every
        change of the run's or a task's state as it happens. If no worker has claimed it
        and this service has a usable executor, run it in this process; `stop` winds it
        down (the run ends failed, its evidence kept) or, for a run left to a worker,
        stops waiting. `on_waiting(why)` is told when the executor is unavailable and the
        run waits."""
        watcher = ChangeWatcher(on_progress)
        if self.executor_factory is not None:
            self.run_here(run_id, stop, on_waiting, watcher)
        return poll_run(lambda: self.get_run(run_id), self.clock.sleep, poll=poll,
                        timeout=timeout, stop=stop, watcher=watcher)

    def run_here(self, run_id: str, stop: threading.Event | None,
                 on_waiting: Callable[[str], None] | None,
                 watcher: ChangeWatcher | None = None) -> None:
        """Claim and run `run_id` in this process, unless a worker has it or the executor
        cannot run anything now (then the run stays queued for a worker); `watcher` sees
        the run after every scheduler step."""
        from wfobj.engine.scheduling.worker import Worker

        try:
            check_executor(self.executor_factory)
        except ExecutorUnavailable as exc:
            if on_waiting is not None:
                on_waiting(f"{exc}; run {run_id} waits for a worker")
            return
        worker = Worker(self.store, self.executor_factory, clock=self.clock,
                        concurrency=self.concurrency)
        if stop is not None:
            worker.stop = stop
        if watcher is not None and watcher.on_progress is not None:
            worker.on_step = lambda: watcher.see(self.get_run(run_id))
        if worker.claim(run_id):
            worker.executor = self.executor_factory()
            try:
                worker.execute(run_id)
            finally:
                worker.shutdown()

    def put_file(self, stream: BinaryIO) -> dict:
        """Store a file's bytes as a blob (for `file` params): {"hash", "size"}."""
        oid, size = self.store.put_stream(stream)
        return {"hash": oid, "size": size}

    # trees ----------------------------------------------------------------------------
    def put_tree(self, stream: BinaryIO) -> dict:
        """Store a directory sent as a tar stream (for `dir` params): {"hash", "files",
        "size"}. A bad entry is TreeRefused naming it, and nothing links to what was read."""
        return put_tar(self.store, stream).to_json()

    def get_tree(self, oid: str, *, recursive: bool = False) -> dict:
        """{"hash", "size", "entries"}: a tree's entries ({"name", "kind", "hash", "size",
        "executable"}), or with `recursive` every file below it by its full `path`."""
        oid = self.tree_hash(oid)
        tree = read_tree(self.store, oid)
        if recursive:
            entries = [{"path": path, **_entry_view(e)}
                       for path, e in walk_tree(self.store, oid) if e.kind == "file"]
        else:
            entries = [{"name": e.name, **_entry_view(e)} for e in tree.entries]
        return {"hash": oid, "size": tree.size, "entries": entries}

    def tree_file(self, oid: str, path: str) -> dict:
        """{"hash", "size", "executable"} of the file at `path` in the tree (PathNotInTree
        when there is none; NotAFile when `path` names a directory)."""
        entry = entry_at(self.store, self.tree_hash(oid), path)
        if entry.kind != "file":
            raise NotAFile(oid, path)
        return _entry_view(entry)

    def tree_hash(self, text: str) -> str:
        """The tree a full hash or unique prefix names (NotATree if it is something else)."""
        oid = self.store.resolve(text)
        if self.store.type_of(oid) != "tree":
            raise NotATree(oid, self.store.type_of(oid))
        return oid

    # schedules (docs/schedules-and-triggers.md) -------------------------------------
    def add_schedule(self, name: str, *, cron: str, workflow: str,
                     parameters: dict | None = None, timezone: str = "UTC", pin: bool = False,
                     catchup: str = "none", user: str) -> dict:
        """Create the schedule `name`, or change it (a new, audited version). The schedule's
        view: {"name", "version", "cron", "timezone", "workflow", "parameters", "catchup",
        "pinned", "paused", "next_slots", "last", …}"""
        return ScheduleBook(self.store, self.clock).add(
            name, cron=cron, workflow=workflow, parameters=parameters, timezone=timezone,
            pin=pin, catchup=catchup, user=user)

    def list_schedules(self) -> list[dict]:
        return ScheduleBook(self.store, self.clock).list()

    def get_schedule(self, name: str) -> dict:
        """The schedule's view with its `history` (every change: who, when, old, new)."""
        return ScheduleBook(self.store, self.clock).view(name, history=True)

    def pause_schedule(self, name: str, *, user: str) -> dict:
        return ScheduleBook(self.store, self.clock).set_paused(name, True, user)

    def resume_schedule(self, name: str, *, user: str) -> dict:
        """Resume a paused schedule; the slots it missed while paused never start."""
        return ScheduleBook(self.store, self.clock).set_paused(name, False, user)

    def remove_schedule(self, name: str, *, user: str) -> dict:
        return ScheduleBook(self.store, self.clock).remove(name, user)

    # data refs and data triggers -------------------------------------------------------
    def tag_data(self, ref: str, target: str, *, old: str | None = None,
                 new_only: bool = False) -> dict:
        """Point the data ref `ref` (`data/NAME`) at a blob or tree, by compare-and-swap
        from `old` if given (with `new_only`, only if the ref does not exist yet), else
        from where it points now. {"ref", "hash", "kind", "previous"}"""
        check = old is not None or new_only
        return data_triggers.tag(self.store, ref, target, expect=old, check_old=check)

    def list_data(self) -> list[dict]:
        """[{"ref", "hash", "kind"}] of every data ref."""
        return data_triggers.list_data(self.store)

    def get_data(self, ref: str) -> dict:
        return data_triggers.data_view(self.store, ref)

    def add_trigger(self, ref: str, *, workflow: str, param: str,
                    parameters: dict | None = None, user: str) -> dict:
        """Subscribe `workflow` to the data ref `ref`: each move to content its definition
        never ran on starts one run with `param` set to the new hash and the other params
        from `parameters` (else their defaults). The subscription's view, with
        "created": False if it existed already."""
        view, created = TriggerBook(self.store, self.clock).add(
            ref, workflow=workflow, param=param, parameters=parameters, user=user)
        return {**view, "created": created}

    def list_triggers(self) -> list[dict]:
        return TriggerBook(self.store, self.clock).list()

    def remove_trigger(self, ref: str, *, workflow: str, param: str) -> dict:
        return TriggerBook(self.store, self.clock).remove(ref, workflow=workflow, param=param)

    # indexes ------------------------------------------------------------------------
    def reindex(self) -> int:
        """Rebuild the run list, cache and file indexes from every `runs/` ref (all are
        derivable); returns how many runs were indexed."""
        count = index_runs(self.store, (name for name, _ in self.store.refs(RUN_PREFIX)))
        rebuild_counters(self.store)
        return count

    # helpers ------------------------------------------------------------------------
    def file_hash(self, text: str) -> str:
        """A full hash as given (it may name a file no longer here), a prefix resolved."""
        if len(text) == HASH_HEX_LEN:
            return check_hash(text.lower())
        return self.store.resolve(text)

    def load(self, run_id: str, *, plan: bool = True) -> RunState:
        return RunState.load(self.store, run_id, plan=plan)

    # webhooks (docs/events.md) -------------------------------------------------------
    def _hook_store(self) -> HookStore:
        return HookStore(self.store, clock=self.clock, secrets=store_secrets(self.store))

    def add_hook(self, url: str, events: list[str], *, secret_name: str | None = None,
                 user: str) -> dict:
        """A new hook: {"id", "url", "events", "secret_name", "created_by", "created_at"}.
        HookRefused (400) names a URL that is not http(s), an unknown event, a missing secret."""
        return self._hook_store().add(url, events, secret_name=secret_name, user=user).to_json()

    def list_hooks(self) -> list[dict]:
        return [hook.to_json() for hook in self._hook_store().list()]

    def remove_hook(self, hook_id: str, *, user: str) -> dict:
        """The removed hook (UnknownHook, 404, if there is none)."""
        return self._hook_store().remove(hook_id, user=user).to_json()

    def hook_changes(self) -> list[dict]:
        """Every add and remove of a hook, oldest first: {"at", "user", "hook", "old", "new"}."""
        return self._hook_store().changes()

    def hook_deliveries(self, *, hook: str | None = None, run_id: str | None = None,
                        limit: int = 100) -> list[dict]:
        """Deliveries newest first, pending ones included (docs/events.md)."""
        if hook is not None:
            self._hook_store().get(hook)
        return [d.to_json() for d in Outbox(self.store).list(hook=hook, run_id=run_id,
                                                             limit=limit)]


RUN_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def encode_cursor(run_id: str) -> str:
    """The cursor is the page's last run id: every well-formed one is a valid position, so
    its OpenAPI schema (a UUID) says exactly which cursors are accepted."""
    return run_id


def decode_cursor(cursor: str) -> str:
    if not isinstance(cursor, str) or not RUN_ID_RE.match(cursor):
        raise BadCursor(cursor)
    return cursor


def _entry_view(entry: TreeEntry) -> dict:
    return {"kind": entry.kind, "hash": entry.oid, "size": entry.size,
            "executable": entry.executable}
