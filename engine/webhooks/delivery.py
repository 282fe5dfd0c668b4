"""The deliverer: empties the outbox (outbox.py) by POSTing each event to its hook.

A loop with a lifecycle (initialize / loop: one step / shutdown) run by `wfobj hook
deliver`, which `wfobj serve` starts as a process of its own: the engine's workers never
wait for a receiver. Each step claims as many sendable entries as there are free
threads (`concurrency`) and hands them to a thread pool; a receiver that hangs holds one
thread for at most `timeout` seconds to connect and `deadline` (2 x `timeout`) for the
whole try, however it trickles its answer (transport.py), so a try always ends before its
lease; one that fails is tried again after `backoff` seconds, doubling up to
`backoff_cap`, `max_tries` times in all, then its delivery is logged `failed` and the
next event of that run goes.
"""

from __future__ import annotations

import logging
import os
import secrets as token_source
import socket
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

import requests

from wfobj.engine.clock import Clock
from wfobj.engine.errors import UnknownHook, one_line

from .deadline import TryDeadline
from .events import CONTENT_TYPE, SIGNATURE_HEADER, encode, signature
from .outbox import DELIVERED, DROPPED, FAILED, Delivery, Outbox
from .registry import Hook, HookStore, SecretSource, store_secrets
from .transport import watched_session

log = logging.getLogger(__name__)
USER_AGENT = "wfobj-webhooks/1"
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True)
class DeliverySettings:
    concurrency: int = 8  # deliveries in flight at once, per deliverer
    timeout: float = 10.0  # seconds to connect, and for each read of the answer
    max_tries: int = 8
    backoff: float = 2.0  # seconds before the second try; doubled each time after
    backoff_cap: float = 600.0
    poll: float = 0.5  # seconds between looks at the outbox when idle
    # once a send finishes, seconds to let others finish too: they are then all recorded
    # in one transaction, so the engine's writes rarely wait for the deliverer's
    gather: float = 0.5
    log_days: float = 30.0  # the delivery log keeps the runs of this many days (0: all)

    @property
    def deadline(self) -> float:
        """Seconds one try may take in all (connect, send, the answer's status and
        headers), however slowly the receiver answers."""
        return 2 * self.timeout

    @property
    def lease(self) -> float:
        """How long a claimed entry stays ours: longer than one try can take (its
        deadline), so no other deliverer sends it while a try is still open."""
        return 3 * self.timeout + 5.0

    def delay(self, tries: int) -> float:
        return min(self.backoff_cap, self.backoff * 2 ** (tries - 1))


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None
    final: bool = False  # no later try can go better (the hook's secret is gone)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Deliverer:
    """Sends outbox entries on `store` to their hooks, signed with secrets from `secrets`
    (default: the store's own secret store); `stop` ends `serve`."""

    def __init__(self, store, *, secrets: SecretSource | None = None,
                 settings: DeliverySettings | None = None, clock: Clock | None = None,
                 deliverer_id: str | None = None) -> None:
        self.store = store
        self.secrets = secrets if secrets is not None else store_secrets(store)
        self.settings = settings or DeliverySettings()
        self.clock = clock or Clock()
        self.outbox = Outbox(store)
        self.hooks = HookStore(store, clock=self.clock)
        self.id = deliverer_id or f"{socket.gethostname()}:{os.getpid()}:{token_source.token_hex(3)}"
        self.stop = threading.Event()
        self.inflight: dict[Future, tuple[str, str]] = {}
        self.pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self.pruned_at = 0.0

    # ---- lifecycle -----------------------------------------------------------------
    def initialize(self) -> None:
        self.pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="webhook")
        self.pruned_at = 0.0

    def prune(self) -> int:
        """Once an hour, drop the delivery log's lines of runs older than `log_days`."""
        now = self.clock.epoch()
        if not self.settings.log_days or now - self.pruned_at < PRUNE_EVERY_S:
            return 0
        self.pruned_at = now
        dropped, step = 0, -1
        while step:
            step = self.outbox.prune_log(now - self.settings.log_days * 86400)
            dropped += step
        return dropped

    def loop(self) -> int:
        """One step: record the sends that finished and take what may go now, in one
        transaction; start those; then wait a little for one to finish (or for the poll
        interval). Returns how many sends started."""
        self.prune()
        done = self.reap()
        free = self.settings.concurrency - len(self.inflight)
        now = self.clock.epoch()
        wanted = (self.outbox.heads(now, busy=set(self.inflight.values()), limit=free)
                  if free > 0 and self.pool is not None else [])
        taken = self.outbox.commit(done, wanted, self.id, now + self.settings.lease)
        for claimed, delivery in taken:
            self.inflight[self.pool.submit(self.deliver, claimed, delivery)] = delivery.group
        if self.inflight:
            finished, _ = wait(list(self.inflight), timeout=self.settings.poll,
                               return_when=FIRST_COMPLETED)
            if finished and len(finished) < len(self.inflight):
                self.stop.wait(self.settings.gather)
        elif not taken:
            self.stop.wait(self.settings.poll)
        return len(taken)

    def shutdown(self) -> None:
        """Let the sends in flight finish (each bounded by its timeouts), record them, stop."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self.outbox.commit(self.reap(), [], self.id, 0.0)

    def serve(self) -> None:
        self.initialize()
        try:
            while not self.stop.is_set():
                self.loop()
        finally:
            self.shutdown()

    def reap(self) -> list[tuple[bytes, Delivery]]:
        """The finished sends: (the entry's bytes as claimed, how it went)."""
        done = []
        for future in [f for f in self.inflight if f.done()]:
            del self.inflight[future]
            if (exc := future.exception()) is not None:
                log.error("webhook delivery failed unexpectedly", exc_info=exc)
            else:
                done.append(future.result())
        return done

    # ---- one delivery (in a pool thread) -------------------------------------------
    def deliver(self, claimed: bytes, delivery: Delivery) -> tuple[bytes, Delivery]:
        """Try `delivery` once; (its bytes as claimed, how it went) for the next step to
        record (a lost entry, should this process die first, is sent again: at least once)."""
        at = self.clock.stamp()
        try:
            hook = self.hooks.get(delivery.hook)
        except UnknownHook:
            return claimed, replace(delivery, state=DROPPED, ended_at=at,
                                    error="the hook was removed")
        outcome = self.post(hook, delivery)
        tried = replace(delivery, tries=delivery.tries + 1, status=outcome.status,
                        error=outcome.error, last_try_at=at)
        if outcome.ok:
            return claimed, replace(tried, state=DELIVERED, error=None,
                                    ended_at=self.clock.stamp())
        log.warning("webhook %s: event %s to %s: %s (try %d)", hook.id, delivery.event["id"],
                    hook.url, outcome.error, tried.tries)
        if tried.tries >= self.settings.max_tries or outcome.final:
            return claimed, replace(tried, state=FAILED, ended_at=self.clock.stamp())
        return claimed, replace(tried, next_at=self.clock.epoch()
                                + self.settings.delay(tried.tries))

    def post(self, hook: Hook, delivery: Delivery) -> Outcome:
        """POST the event once, signed with the hook's secret if it names one."""
        body = encode(delivery.event)
        headers = {"Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT}
        if hook.secret_name is not None:
            try:
                secret = self.secrets.value(hook.secret_name) if self.secrets else None
            except KeyError:
                secret = None
            if secret is None:
                return Outcome(None, f"its secret {hook.secret_name!r} no longer exists", final=True)
            headers[SIGNATURE_HEADER] = signature(secret, body)
        timeout = self.settings.timeout
        with TryDeadline(self.settings.deadline) as deadline:
            try:
                resp = self.session().post(hook.url, data=body, headers=headers, stream=True,
                                           timeout=(timeout, timeout), allow_redirects=False)
                resp.close()  # the answer's body is not read: a receiver cannot make us hold it
            except requests.RequestException as exc:
                if not deadline.expired:
                    return Outcome(None, one_line(f"{type(exc).__name__}: {exc}", 300))
        if deadline.expired:  # cut: what was read may be a status line with half its headers
            return Outcome(None, f"no answer within {deadline.seconds:g}s "
                           "(the deadline of one try)")
        error = None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"
        return Outcome(resp.status_code, error)

    def session(self) -> requests.Session:
        """One HTTP session per thread (connections reused, never shared), its tries
        cut at their deadline."""
        if getattr(self._local, "session", None) is None:
            self._local.session = watched_session()
        return self._local.session
