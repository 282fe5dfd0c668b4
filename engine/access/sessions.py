"""Web UI sessions: a browser's login, kept server-side only as a hash, tied to its token.

A session is opened with an API token. The store keeps, under the SHA-256 of the session
secret (namespace `ui-sessions`), the SHA-256 of that token, the user, and when it expires;
the secret itself lives only in the browser's cookie. Every check reads the token again, so
revoking a token ends its sessions and a session never has more than the token's role.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from wfobj.engine.clock import Clock, format_time, parse_time
from wfobj.engine.layout import SESSIONS_NS
from wfobj.objstore import ObjectStore

from .tokens import TokenInfo, TokenStore, token_digest

SESSION_PREFIX = "wfs_"
DEFAULT_LIFETIME = timedelta(hours=12)
PRUNE_BATCH = 100


@dataclass(frozen=True)
class Session:
    """A session just opened: the secret (for the cookie, shown only now) and who it is."""

    secret: str
    info: TokenInfo
    expires_at: str


def session_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    """Open, check and close UI sessions on top of the store's API tokens."""

    def __init__(self, store: ObjectStore, tokens: TokenStore, *, clock: Clock | None = None,
                 lifetime: timedelta = DEFAULT_LIFETIME) -> None:
        self.store, self.tokens = store, tokens
        self.clock = clock or Clock()
        self.lifetime = lifetime

    def open(self, token: str) -> Session | None:
        """A new session for a valid API token, or None if the token is unknown or revoked."""
        info = self.tokens.authenticate(token)
        if info is None:
            return None
        self.prune()
        expires = format_time(self.clock.now() + self.lifetime)
        record = json.dumps({"token": token_digest(token), "user": info.user,
                             "created_at": self.clock.stamp(), "expires_at": expires}).encode()
        while True:
            secret = SESSION_PREFIX + secrets.token_urlsafe(32)
            if self.store.meta_cas(SESSIONS_NS, session_digest(secret), None, record):
                return Session(secret, info, expires)

    def check(self, secret: str | None) -> TokenInfo | None:
        """Who a live session belongs to (its token's current info), or None."""
        if not secret or not secret.startswith(SESSION_PREFIX) or len(secret) > 200:
            return None
        key = session_digest(secret)
        raw = self.store.meta_get(SESSIONS_NS, key)
        if raw is None:
            return None
        record = json.loads(raw)
        if self.expired(record):
            self.store.meta_cas(SESSIONS_NS, key, raw, None)
            return None
        return self.tokens.by_digest(record["token"])

    def close(self, secret: str | None) -> bool:
        """End a session (logout); False if there was none."""
        if not secret or not secret.startswith(SESSION_PREFIX) or len(secret) > 200:
            return False
        key = session_digest(secret)
        raw = self.store.meta_get(SESSIONS_NS, key)
        return raw is not None and self.store.meta_cas(SESSIONS_NS, key, raw, None)

    def expired(self, record: dict) -> bool:
        return parse_time(record["expires_at"]) <= self.clock.now()

    def prune(self) -> int:
        """Delete up to PRUNE_BATCH expired sessions (called on each login); returns how many."""
        gone = 0
        for key, raw in list(self.store.meta_scan(SESSIONS_NS, limit=PRUNE_BATCH)):
            if self.expired(json.loads(raw)) and self.store.meta_cas(SESSIONS_NS, key, raw, None):
                gone += 1
        return gone
