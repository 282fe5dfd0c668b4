"""The Docker executor: runs one task attempt in a hardened container and records it all.

Per attempt: resolve the image (cached; pulled as the pull policy says), stage inputs in a
private folder bind-mounted read-only at /in, give the task an empty /out and a vars file
($WFOBJ_VARS, on /wfobj — not in /out), run with no network unless asked, capped
capabilities and no-new-privileges, enforce the timeout and the cancel event, stream stdout
and stderr from an attach made before the container starts into spools and store them as
blobs (Docker keeps no log of its own: the container's log driver is `none`, so the
output is on the daemon's disk nowhere), collect declared outputs and vars safely
(engine/executors/outputs.py), and always remove the container and the folder. Task
failures are results, never exceptions.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import docker
import docker.errors
import requests
from docker.types import LogConfig

from wfobj.engine.clock import Clock
from wfobj.engine.errors import (
    BadInputName,
    ContainerNotCreated,
    ExecutorUnavailable,
    ImageUnavailable,
    MissingVar,
    OutputRefused,
    OutputTooLarge,
    SecretUnavailable,
)
from wfobj.engine.executors.spools import live_paths, open_spools, remove_run_logs, remove_spools
from wfobj.engine.states import AttemptStatus
from wfobj.objstore import CorruptObject, NotATree, ObjectNotFound, ObjectStore, TreeRefused

from .base import AttemptResult, Executor, StoredText, TaskSpec
from .caps import DEFAULT_LIMITS, ContainerLimits
from .capture import FrameSplitter, store_empty, store_file
from .images import DockerFacts, DockerImage, check_pull_policy, docker_message, image_facts
from .masking import NO_MASK, Masker
from .outputs import OutputCollector, read_vars
from .secret_files import SecretFiles, remove_run_secret_files
from .secret_values import StoreSecrets
from .staging import VARS_FILE, VARS_MOUNT, AttemptFolder, remove_run_folders

log = logging.getLogger(__name__)

# What a root task needs to work on its own files; everything else Docker grants by
# default (MKNOD, NET_RAW, SETPCAP, SETFCAP, SYS_CHROOT, AUDIT_WRITE) is dropped.
KEPT_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
                     "NET_BIND_SERVICE"]
DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)
KILL_WAIT_S = 30.0
LOG_READ_BYTES = 1 << 20
CHECK_TIMEOUT_S = 10.0
DEFAULT_MAX_OUTPUT = 1 << 30  # bytes of stdout, and of stderr, one attempt may write


@dataclass(frozen=True)
class ExitOutcome:
    """How the container ended: state, exit code and why it did not succeed."""

    state: str
    exit_code: int | None
    error: str | None


class DockerExecutor(Executor):
    """Runs TaskSpecs with the docker SDK. The client and the clock are injectable.

    pull: the image pull policy of tasks that set none (missing, always, never); grace: seconds between SIGTERM and SIGKILL on
    cancel; work_root: where attempt folders go (default: the system temp dir);
    network_mode: what `network: true` means (Docker's default bridge unless set);
    init: run a tiny init as PID 1 so SIGTERM reaches the task's command;
    limits: the memory, pids and cpus caps of a task whose `resources` do not set them;
    max_output: bytes each of stdout and stderr may reach (None: no cap) before the
    container is killed and the attempt fails (the spools hold the only copy: Docker
    keeps no log of the container, docs/executors.md);
    secrets_root: the tmpfs where secret files are put for their bind mount (default
    /dev/shm; docs/secrets.md).
    """

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        pull: str = "missing",
        grace: float = 10.0,
        work_root: str | None = None,
        network_mode: str | None = None,
        init: bool = True,
        limits: ContainerLimits = DEFAULT_LIMITS,
        max_output: int | None = DEFAULT_MAX_OUTPUT,
        clock: Clock | None = None,
        poll_interval: float = 0.05,
        secrets_root: str | None = None,
    ):
        self._client = client
        self._owns_client = client is None
        self._pid = os.getpid()
        self._facts: DockerFacts | None = None
        self.pull = check_pull_policy(pull)
        self.grace = grace
        self.work_root = work_root
        self.network_mode = network_mode
        self.init = init
        self.limits = limits
        self.max_output = max_output
        self.clock = clock or Clock()
        self.poll_interval = poll_interval
        self.secrets_root = secrets_root

    @property
    def client(self) -> docker.DockerClient:
        """The Docker client; one owned by the executor is reopened after a fork."""
        if self._owns_client and (self._client is None or self._pid != os.getpid()):
            self._client = docker.from_env()
            self._pid = os.getpid()
            self._facts = None
        return self._client

    @property
    def facts(self) -> DockerFacts:
        client = self.client
        if self._facts is None:
            self._facts = DockerFacts(client, pull=self.pull)
        return self._facts

    def run(self, spec: TaskSpec, store: ObjectStore, cancel: threading.Event) -> AttemptResult:
        return DockerAttempt(self, spec, store, cancel).execute()

    def image_id(self, image: str) -> str | None:
        """The local image's id now (looked up again: a tag may have moved); None when it
        is not here. Never pulls."""
        try:
            return image_facts(self.client.images.get(image)).image_id
        except docker.errors.ImageNotFound:
            return None
        except DOCKER_ERRORS as exc:
            log.warning("cannot inspect image %r: %s", image, docker_message(exc))
            return None

    def check(self) -> None:
        """The daemon answers a ping within CHECK_TIMEOUT_S, or ExecutorUnavailable."""
        address = os.environ.get("DOCKER_HOST") or "the default socket"
        try:
            if self._owns_client:
                client = docker.from_env(timeout=CHECK_TIMEOUT_S)
                try:
                    client.ping()
                finally:
                    client.close()
            else:
                self._client.ping()
        except DOCKER_ERRORS as exc:
            raise ExecutorUnavailable(f"Docker at {address}", docker_message(exc)) from None

    def remove_leftovers(self, run_id: str, store: ObjectStore | None = None) -> int:
        """Remove every container and attempt folder of `run_id` still around (after a
        worker died mid-run); returns how many containers were removed."""
        containers = self.client.containers.list(
            all=True, filters={"label": f"wfobj.run={run_id}"})
        for container in containers:
            remove_container(container)
        remove_run_folders(self.work_root, run_id)
        remove_run_secret_files(self.secrets_root, run_id)
        if store is not None:
            remove_run_logs(store, run_id)
        return len(containers)

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None


class DockerAttempt:
    """One attempt from image lookup to cleanup; holds what the steps share."""

    def __init__(self, ex: DockerExecutor, spec: TaskSpec, store: ObjectStore,
                 cancel: threading.Event):
        self.ex = ex
        self.spec = spec
        self.store = store
        self.cancel = cancel
        self.started_at = ex.clock.now()
        self.image: DockerImage | None = None
        self.host: dict[str, str] = {}
        self.limits: ContainerLimits | None = None
        self.masker: Masker = NO_MASK  # the values of the secrets used, masked in streams
        self.secret_env: dict[str, str] = {}

    def execute(self) -> AttemptResult:
        if self.cancel.is_set():
            return self.unstarted(AttemptStatus.KILLED, "cancelled before the container started")
        try:
            self.host = self.ex.facts.host()
            self.image = self.ex.facts.image(self.spec.image, self.spec.pull)
            return self.in_folder()
        except ImageUnavailable as exc:
            return self.unstarted(AttemptStatus.FAILED, str(exc))
        except DOCKER_ERRORS as exc:
            log.exception("docker failed for %s/%s", self.spec.run_id, self.spec.task)
            return self.unstarted(AttemptStatus.FAILED, f"docker error: {docker_message(exc)}")

    def in_folder(self) -> AttemptResult:
        folder = AttemptFolder(self.ex.work_root, self.spec.run_id)
        try:
            try:
                folder.stage_inputs(self.store, self.spec.inputs)
            except (BadInputName, ObjectNotFound, NotATree, TreeRefused, CorruptObject) as exc:
                return self.unstarted(AttemptStatus.FAILED, f"cannot stage inputs: {exc}")
            try:
                files = self.place_secrets()
            except SecretUnavailable as exc:
                return self.unstarted(AttemptStatus.FAILED, str(exc))
            try:
                return self.in_secret_places(folder, files)
            finally:
                files.remove()
        finally:
            folder.remove()

    def in_secret_places(self, folder: AttemptFolder, files: SecretFiles) -> AttemptResult:
        try:
            container = self.create(folder, files)
        except ContainerNotCreated as exc:
            return self.unstarted(AttemptStatus.FAILED, str(exc))
        try:
            return self.in_container(container, folder)
        finally:
            remove_container(container)

    def place_secrets(self) -> SecretFiles:
        """The values of the spec's secrets (docs/secrets.md): environment variables kept
        for create(), files written on a tmpfs; the masker of their values."""
        uses = self.spec.secrets
        if not uses:
            return SecretFiles((), {}, self.spec.run_id)
        values = (self.ex.secret_source or StoreSecrets()).values(self.spec, self.store)
        self.masker = Masker(values.values())
        for use in uses:
            if use.kind == "env":
                self.secret_env[use.place] = env_text(use.name, values[use.name])
        return SecretFiles(uses, values, self.spec.run_id, self.ex.secrets_root)

    def container_limits(self) -> ContainerLimits:
        """The executor's default caps with the task's own `resources` over them."""
        spec = self.spec
        try:
            return self.ex.limits.overridden(memory=spec.memory, pids=spec.pids, cpus=spec.cpus)
        except ValueError as exc:
            raise ContainerNotCreated(str(exc)) from None

    def create(self, folder: AttemptFolder, files: SecretFiles):
        spec, ex = self.spec, self.ex
        limits = self.limits = self.container_limits()
        try:
            container = ex.client.containers.create(
                image=spec.image,
                command=list(spec.command),
                environment={**spec.env, **self.secret_env,
                             "WFOBJ_VARS": f"{VARS_MOUNT}/{VARS_FILE}"},
                working_dir=spec.workdir or None,
                network_mode=ex.network_mode if spec.network else "none",
                nano_cpus=int(limits.cpus * 1e9) if limits.cpus else None,
                mem_limit=limits.memory,
                memswap_limit=limits.memory,  # the cap holds swap too
                pids_limit=limits.pids,
                labels={"wfobj.run": spec.run_id, "wfobj.task": spec.task,
                        "wfobj.attempt": str(spec.attempt)},
                volumes={**folder.volumes(), **files.volumes()},
                cap_drop=["ALL"],
                cap_add=KEPT_CAPABILITIES,
                security_opt=["no-new-privileges"],
                privileged=False,
                init=ex.init,
                # the output's one copy is the executor's spool (OutputTap): no log on
                # the daemon's disk, whose JSON lines cost up to 36x the output
                log_config=LogConfig(type=LogConfig.types.NONE),
            )
        except docker.errors.ImageNotFound as exc:
            ex.facts.forget(spec.image)
            raise ContainerNotCreated(f"image {spec.image!r} not found: {docker_message(exc)}") from None
        except docker.errors.DockerException as exc:  # API refusal or bad limit values
            raise ContainerNotCreated(docker_message(exc)) from None
        return container

    def in_container(self, container, folder: AttemptFolder) -> AttemptResult:
        if container.attrs.get("Image") != self.image.image_id:
            self.image = self.ex.facts.refresh(self.spec.image)  # the tag moved since cached
        spools, live = self.spools(folder)
        try:
            # attached before the start, so not a byte the container writes is missed
            tap = OutputTap(self.ex.client, container.id, spools, self.ex.max_output,
                            self.masker)
            try:
                outcome, ended_at = self.start_and_wait(container, tap)
            finally:
                tap.close()  # the stream is over, or an error leaves: hang up, close spools
            stdout, stderr = (store_file(self.store, spools["stdout"]),
                              store_file(self.store, spools["stderr"]))
        finally:
            if live:
                remove_spools(spools)
        result = self.result(outcome, stdout, stderr, ended_at)
        if outcome.state == AttemptStatus.SUCCESS:
            self.collect(result, folder)
        return result

    def spools(self, folder: AttemptFolder) -> tuple[dict[str, str], bool]:
        """Where stdout and stderr are spooled, and whether that is the store's live-log
        folder (engine/provenance/logs.py: readable by `follow` while the task runs)."""
        spec = self.spec
        paths = live_paths(self.store, spec.run_id, spec.task, spec.attempt)
        if paths is not None:
            try:
                open_spools(paths)
                return {name: str(path) for name, path in paths.items()}, True
            except OSError as exc:
                log.warning("no live logs for %s/%s: %s", spec.run_id, spec.task, exc)
        return {name: folder.spool(name) for name in ("stdout", "stderr")}, False

    def wait(self, container, tap: OutputTap) -> ExitOutcome:
        """Wait for the exit, the timeout, the cancel event or a stream past its cap,
        whichever comes first."""
        waiter = ContainerWaiter(container)
        timeout = self.spec.timeout
        deadline = time.monotonic() + timeout if timeout else None
        while not waiter.done.wait(self._poll_slice(deadline)):
            if self.cancel.is_set():
                return self.stop(container, waiter)
            if tap.too_large is not None:
                kill(container, "SIGKILL")
                return ExitOutcome(AttemptStatus.FAILED, waiter.finish(KILL_WAIT_S),
                                   str(tap.too_large))
            if deadline is not None and time.monotonic() >= deadline:
                kill(container, "SIGKILL")
                return ExitOutcome(AttemptStatus.FAILED, waiter.finish(KILL_WAIT_S),
                                   f"timed out after {timeout:g}s")
        code = waiter.finish(0)
        if code == 0:
            return ExitOutcome(AttemptStatus.SUCCESS, 0, None)
        return ExitOutcome(AttemptStatus.FAILED, code, f"exited with code {code}")

    def _poll_slice(self, deadline: float | None) -> float:
        if deadline is None:
            return self.ex.poll_interval
        return max(0.0, min(self.ex.poll_interval, deadline - time.monotonic()))

    def stop(self, container, waiter: ContainerWaiter) -> ExitOutcome:
        """SIGTERM, wait the grace period, then SIGKILL."""
        kill(container, "SIGTERM")
        if waiter.done.wait(self.ex.grace):
            return ExitOutcome(AttemptStatus.KILLED, waiter.finish(0), "killed on request (SIGTERM)")
        kill(container, "SIGKILL")
        return ExitOutcome(AttemptStatus.KILLED, waiter.finish(KILL_WAIT_S),
                           f"killed on request (SIGKILL after {self.ex.grace:g}s grace)")

    def start_and_wait(self, container, tap: OutputTap) -> tuple[ExitOutcome, datetime]:
        """Start the container and wait for its end and the end of its output; the
        outcome and when the container ended."""
        self.started_at = self.ex.clock.now()
        try:
            container.start()
        except docker.errors.APIError as exc:
            tap.stop()
            outcome = ExitOutcome(AttemptStatus.FAILED, None,
                                  f"container could not start: {docker_message(exc)}")
        else:
            outcome = self.wait(container, tap)
        ended_at = self.ex.clock.now()
        return self.output_outcome(outcome, tap), ended_at

    def output_outcome(self, outcome: ExitOutcome, tap: OutputTap) -> ExitOutcome:
        """The outcome once the output stream has ended (the spools are then whole and
        closed): a stream past the cap fails the attempt (its first `max_output` bytes
        kept), and so does output that could not be read to its end, since the stored
        streams would not be what the task wrote; a kill on request stays a kill."""
        lost = tap.finish(KILL_WAIT_S)
        if outcome.state == AttemptStatus.KILLED:
            return outcome
        if tap.too_large is not None:
            return ExitOutcome(AttemptStatus.FAILED, outcome.exit_code, str(tap.too_large))
        if lost is not None and outcome.state == AttemptStatus.SUCCESS:
            return ExitOutcome(AttemptStatus.FAILED, outcome.exit_code, lost)
        return outcome

    def collect(self, result: AttemptResult, folder: AttemptFolder) -> None:
        """Outputs and vars of a successful exit; a refusal fails the attempt."""
        try:
            result.outputs = OutputCollector(self.store, folder.out_dir).collect(
                self.spec.output_files)
            result.vars = {name: self.masker.text(value) for name, value in
                           read_vars(folder.meta_dir, VARS_FILE, self.spec.output_vars).items()}
        except (OutputRefused, MissingVar) as exc:
            result.state, result.error = AttemptStatus.FAILED, str(exc)

    def result(self, outcome: ExitOutcome, stdout: StoredText, stderr: StoredText,
               ended_at: datetime) -> AttemptResult:
        image = self.image
        return AttemptResult(
            state=outcome.state,
            exit_code=outcome.exit_code,
            stdout=stdout,
            stderr=stderr,
            started_at=self.started_at,
            ended_at=ended_at,
            image_id=image.image_id if image else None,
            image_digests=list(image.digests) if image else [],
            host=dict(self.host),
            workdir=self.spec.workdir or (image.workdir if image else "/"),
            error=outcome.error,
            limits=self.limits.as_json() if self.limits else None,
        )

    def unstarted(self, state: str, error: str) -> AttemptResult:
        """The result of an attempt whose container never ran."""
        empty = store_empty(self.store)
        return self.result(ExitOutcome(state, None, error), empty, empty, self.ex.clock.now())


class ContainerWaiter:
    """Blocks on the container's wait endpoint in a thread, so the caller can also watch
    the clock and the cancel event."""

    def __init__(self, container):
        self.container = container
        self.done = threading.Event()
        self.status: dict | None = None
        self.failure: BaseException | None = None
        threading.Thread(target=self._wait, name="wfobj-wait", daemon=True).start()

    def _wait(self) -> None:
        try:
            self.status = self.container.wait()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller via finish()
            self.failure = exc
        finally:
            self.done.set()

    def finish(self, timeout: float) -> int | None:
        """The exit code once the wait returns; None if it does not within `timeout`."""
        if not self.done.wait(timeout):
            log.error("container %s did not stop within %ss", self.container.id, timeout)
            return None
        if self.failure is not None:
            raise self.failure
        return int(self.status.get("StatusCode", -1))


class OutputTap:
    """The container's stdout and stderr, from an attach made when the tap is made (before
    the container starts), written to the spool files as the task writes them (so
    live-log readers see them) by a thread, each up to the cap. Docker ends the attach
    once the container has stopped and all its output is sent (moby attaches the streams
    before it answers the attach call, and closes them after the last byte is copied),
    so the stream alone is the whole output: nothing to complete it from afterwards."""

    def __init__(self, client: docker.DockerClient, container_id: str,
                 spools: dict[str, str], cap: int | None = None,
                 masker: Masker = NO_MASK) -> None:
        self.container_id = container_id
        self.too_large: OutputTooLarge | None = None  # set once a stream passed the cap
        self.failure: BaseException | None = None
        self.stopped = False
        self.done = threading.Event()
        self.response = open_attach(client, container_id)
        try:
            self.files = [open(spools[name], "wb", buffering=0)
                          for name in ("stdout", "stderr")]
        except OSError:
            self.response.close()
            raise
        self.splitter = FrameSplitter(*self.files, cap, masker)
        threading.Thread(target=self._follow, name="wfobj-output", daemon=True).start()

    def _follow(self) -> None:
        try:
            with self.response:
                self.splitter.take(read_pieces(self.response))
            self.splitter.end()
        except OutputTooLarge as exc:  # the spools hold the first `cap` bytes; hang up
            self.too_large = exc
        except BaseException as exc:  # noqa: BLE001 - finish() reports it
            self.failure = exc
        finally:
            self.done.set()

    def stop(self) -> None:
        """The container never started: hang up (its attach would wait for a start)."""
        self.stopped = True
        cut(self.response)

    def close(self) -> None:
        """Hang up if still attached and close the spool files (again: harmless)."""
        if not self.done.is_set():
            self.stopped = True
            cut(self.response)
            self.done.wait(KILL_WAIT_S)
        for file in self.files:
            file.close()

    def finish(self, timeout: float) -> str | None:
        """Once the container has stopped: wait for the stream to end; None when it
        ended whole (or a stream passed its cap), else why the output is incomplete. The
        spool files are closed."""
        try:
            if not self.done.wait(timeout):
                log.error("output stream of container %s did not end within %ss of its exit",
                          self.container_id, timeout)
                cut(self.response)
                self.done.wait(KILL_WAIT_S)
                return (f"the container's output did not end within {timeout:g}s of its "
                        "exit; stdout and stderr may be incomplete")
            if self.failure is not None and not self.stopped:
                log.error("reading the output of container %s failed: %s",
                          self.container_id, docker_message(self.failure))
                return ("reading the container's output failed "
                        f"({docker_message(self.failure)}); stdout and stderr may be "
                        "incomplete")
            return None
        finally:
            for file in self.files:
                file.close()


def env_text(name: str, value: bytes) -> str:
    """A secret's value as an environment variable: UTF-8 text without NUL bytes."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        raise SecretUnavailable(name, "is not UTF-8 text without NUL bytes, so it cannot be "
                                "an environment variable: place it as a file")
    return text


def open_attach(client: docker.DockerClient, container_id: str) -> requests.Response:
    """An attach to the container's stdout and stderr (no stdin, no past logs): the
    multiplexed stream of what it writes from now on (8-byte frame headers, as the logs
    endpoint's), ending when the container stops. Without an `Upgrade` header Docker
    answers `200` and sends the stream as a body that ends when it closes, so it is read
    like any streamed response. The call returns once Docker has attached."""
    api = client.api
    url = f"{api.base_url}/v{api.api_version}/containers/{container_id}/attach"
    params = {"stdout": 1, "stderr": 1, "stream": 1, "logs": 0}
    # a task may print nothing for longer than any read timeout
    response = api.post(url, params=params, stream=True, timeout=(api.timeout, None))
    try:
        response.raise_for_status()
    except requests.exceptions.HTTPError as exc:
        response.close()
        raise docker.errors.create_api_error_from_http_exception(exc) from exc
    return response


def read_pieces(response: requests.Response) -> Iterator[bytes]:
    """The response body as it arrives, in pieces of at most LOG_READ_BYTES (read1 hands
    over what is there instead of waiting for a full piece)."""
    while piece := response.raw.read1(LOG_READ_BYTES):
        yield piece


def cut(response: requests.Response) -> None:
    """Hang up a streamed response, waking a thread blocked reading it."""
    try:
        response.raw.shutdown()  # SHUT_RD: a blocked read returns at once
    except (ValueError, RuntimeError, OSError):
        pass  # already closed or released
    response.close()


def kill(container, signal: str) -> None:
    """Send a signal; a container that already exited is not an error."""
    try:
        container.kill(signal=signal)
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: not running any more
            raise


def remove_container(container) -> None:
    """Remove the container whatever state it is in; failures are logged, never raised."""
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except DOCKER_ERRORS:
        log.exception("could not remove container %s", container.id)
