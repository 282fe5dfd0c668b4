"""API tokens: who a bearer token belongs to and what it may do.

Tokens live in the store's metadata (namespace `tokens`) keyed by the SHA-256 of the
token, so a copy of the store never reveals a usable token. A token is shown once, when
it is created. Roles are ordered: reader < runner < admin.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from wfobj.engine.errors import InvalidTokenRequest, TokenNotFound
from wfobj.engine.layout import TOKENS_NS
from wfobj.objstore import ObjectStore

ROLES = ("reader", "runner", "admin")
TOKEN_PREFIX = "wfo_"
TOKEN_ID_LEN = 12
_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}\Z")


@dataclass(frozen=True)
class TokenInfo:
    """What the store keeps about a token (never the token itself)."""

    id: str
    user: str
    role: str
    created_at: str

    def to_json(self) -> dict:
        return asdict(self)


def role_allows(role: str, needed: str) -> bool:
    """True if `role` is at least `needed` in reader < runner < admin."""
    return ROLES.index(role) >= ROLES.index(needed)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidTokenRequest("role", role, "must be one of " + ", ".join(ROLES))
    return role


def check_user(user: str) -> str:
    if not isinstance(user, str) or not _USER_RE.match(user):
        raise InvalidTokenRequest(
            "user", user, "1-128 characters: letters, digits, '.', '_', '@', '-'"
        )
    return user


def token_digest(token: str) -> str:
    """The key a token is stored under: hex SHA-256 of its text."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TokenStore:
    """Create, check, list and revoke tokens kept (hashed) in a store's metadata."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def create(self, user: str, role: str) -> tuple[str, TokenInfo]:
        """A new token for `user` with `role`: (the token, shown only now; its info)."""
        check_user(user)
        check_role(role)
        while True:
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            digest = token_digest(token)
            info = TokenInfo(digest[:TOKEN_ID_LEN], user, role, _now())
            record = json.dumps({"user": user, "role": role, "created_at": info.created_at})
            if self.store.meta_cas(TOKENS_NS, digest, None, record.encode()):
                return token, info

    def authenticate(self, token: str) -> TokenInfo | None:
        """The info of a valid token, or None."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        return self.by_digest(token_digest(token))

    def by_digest(self, digest: str) -> TokenInfo | None:
        """The info of the token whose SHA-256 is `digest` (a UI session's link), or None."""
        raw = self.store.meta_get(TOKENS_NS, digest)
        return None if raw is None else _info(digest, raw)

    def list(self) -> list[TokenInfo]:
        """Every token's info, oldest first."""
        infos = [_info(key, raw) for key, raw in self.store.meta_scan(TOKENS_NS)]
        return sorted(infos, key=lambda i: (i.created_at, i.id))

    def is_empty(self) -> bool:
        return next(iter(self.store.meta_scan(TOKENS_NS, limit=1)), None) is None

    def revoke(self, token_id: str) -> TokenInfo:
        """Delete the token whose id starts with `token_id` (at least 6 chars, unique)."""
        if not isinstance(token_id, str) or not re.fullmatch(r"[0-9a-f]{6,64}", token_id):
            raise InvalidTokenRequest("token id", token_id, "6-64 lower-case hex characters")
        found = list(self.store.meta_scan(TOKENS_NS, token_id, limit=2))
        if len(found) != 1:
            raise TokenNotFound(token_id) if not found else InvalidTokenRequest(
                "token id", token_id, "matches more than one token; give more characters"
            )
        digest, raw = found[0]
        if not self.store.meta_cas(TOKENS_NS, digest, raw, None):
            raise TokenNotFound(token_id)
        return _info(digest, raw)


def _info(digest: str, raw: bytes) -> TokenInfo:
    record = json.loads(raw)
    return TokenInfo(digest[:TOKEN_ID_LEN], record["user"], record["role"], record["created_at"])
