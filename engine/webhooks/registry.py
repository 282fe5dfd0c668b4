"""Hooks as stored config: the URL an event goes to, the events it wants, the name of the
secret that signs them. Kept in meta (`hooks`); every add and remove is written, in the
same transaction, to the change log (`hook-changes`: who, when, the old and new hook).

A hook names its secret, never holds it: the value stays in the store's secret store
(engine/access/secrets.py) and is read when an event is signed.
"""

from __future__ import annotations

import json
import secrets as token_source
from dataclasses import asdict, dataclass
from typing import Protocol
from urllib.parse import urlsplit

from wfobj.engine.access.secrets import SecretStore
from wfobj.engine.clock import Clock
from wfobj.engine.errors import HookRefused, UnknownHook, excerpt
from wfobj.engine.layout import HOOK_CHANGES_NS, HOOKS_NS
from wfobj.objstore import ObjectStore

from .events import EVENT_NAMES

MAX_URL_CHARS = 2048


class SecretSource(Protocol):
    """Where a hook's secret is looked up by name (engine/access/secrets.py SecretStore)."""

    def exists(self, name: str) -> bool: ...

    def value(self, name: str) -> bytes: ...


def store_secrets(store: ObjectStore) -> SecretStore | None:
    """The secret store beside `store`'s files (none for a store without a folder)."""
    folder = getattr(store, "path", None)
    return SecretStore(folder) if folder is not None else None


@dataclass(frozen=True)
class Hook:
    id: str
    url: str
    events: tuple[str, ...]
    secret_name: str | None
    created_by: str
    created_at: str

    def wants(self, event: str) -> bool:
        return event in self.events

    def to_json(self) -> dict:
        return asdict(self) | {"events": list(self.events)}

    def to_bytes(self) -> bytes:
        value = {k: v for k, v in self.to_json().items() if k != "id"}
        return json.dumps(value, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, hook_id: str, raw: bytes) -> Hook:
        value = json.loads(raw)
        return cls(hook_id, value["url"], tuple(value["events"]), value["secret_name"],
                   value["created_by"], value["created_at"])


def check_url(url: object) -> str:
    """An absolute http(s) URL with a host, else HookRefused naming it."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise HookRefused("url", f"{excerpt(url)} is not an http(s) URL "
                                 f"(at most {MAX_URL_CHARS} characters)")
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or IPv6 literal
        ok = False
    if not ok or any(c.isspace() for c in url):
        raise HookRefused("url", f"{excerpt(url)} is not an http(s) URL")
    return url


def check_events(events: object) -> tuple[str, ...]:
    """Known event names, deduplicated in EVENT_NAMES order; HookRefused naming one that is not."""
    if isinstance(events, str):
        events = [e.strip() for e in events.split(",") if e.strip()]
    if not isinstance(events, list | tuple) or not events:
        raise HookRefused("events", f"name at least one of {', '.join(EVENT_NAMES)}")
    for name in events:
        if name not in EVENT_NAMES:
            raise HookRefused("events", f"{excerpt(name)} is not an event "
                                        f"(one of {', '.join(EVENT_NAMES)})")
    return tuple(name for name in EVENT_NAMES if name in events)


class HookStore:
    """Add, list, look up and remove hooks; `secrets` checks that a named secret exists."""

    def __init__(self, store: ObjectStore, *, clock: Clock | None = None,
                 secrets: SecretSource | None = None) -> None:
        self.store = store
        self.clock = clock or Clock()
        self.secrets = secrets

    def add(self, url: str, events: object, *, secret_name: str | None = None,
            user: str) -> Hook:
        hook = Hook(token_source.token_hex(6), check_url(url), check_events(events),
                    self.check_secret(secret_name), user, self.clock.stamp())
        with self.store.batch() as b:
            b.meta_cas(HOOKS_NS, hook.id, None, hook.to_bytes())
            self.log_change(b, hook.created_at, user, hook.id, None, hook)
        return hook

    def check_secret(self, name: str | None) -> str | None:
        if name is None:
            return None
        if not isinstance(name, str) or self.secrets is None or not self.secrets.exists(name):
            raise HookRefused("secret_name", f"there is no secret {excerpt(name)} "
                                             "(wfobj secret list)")
        return name

    def list(self) -> list[Hook]:
        return [Hook.from_bytes(key, raw) for key, raw in self.store.meta_scan(HOOKS_NS)]

    def get(self, hook_id: str) -> Hook:
        raw = self.store.meta_get(HOOKS_NS, hook_id) if hook_id else None
        if raw is None:
            raise UnknownHook(hook_id)
        return Hook.from_bytes(hook_id, raw)

    def remove(self, hook_id: str, *, user: str) -> Hook:
        """Remove a hook; its events not delivered yet are dropped by the deliverer."""
        hook = self.get(hook_id)
        at = self.clock.stamp()
        with self.store.batch() as b:
            b.meta_cas(HOOKS_NS, hook.id, hook.to_bytes(), None)
            self.log_change(b, at, user, hook.id, hook, None)
        return hook

    def changes(self) -> list[dict]:
        """The change log, oldest first: {"at", "user", "hook", "old", "new"}."""
        return [json.loads(raw) for _, raw in self.store.meta_scan(HOOK_CHANGES_NS)]

    @staticmethod
    def log_change(b, at: str, user: str, hook_id: str, old: Hook | None,
                   new: Hook | None) -> None:
        entry = {"at": at, "user": user, "hook": hook_id,
                 "old": old and old.to_json(), "new": new and new.to_json()}
        b.meta_put(HOOK_CHANGES_NS, f"{at}/{hook_id}",
                   json.dumps(entry, separators=(",", ":")).encode())
