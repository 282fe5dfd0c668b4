"""The values of an attempt's secrets, checked against the fingerprints its spec recorded
(so the attempt runs with exactly the value its cache key and evidence name)."""

from __future__ import annotations

from wfobj.engine.access.secrets import secret_store_of
from wfobj.engine.errors import SecretNotFound, SecretStoreUnusable, SecretUnavailable
from wfobj.objstore import ObjectStore

from .attempts import load_spec
from .base import SecretSource, TaskSpec

REMOVED = ("is not in this server's secret store: it was removed after the workflow was "
           "registered (`wfobj secret set` it again, or drop it from the task's `secrets`)")
CHANGED = ("was set to a new value after this attempt began; the next attempt or run uses "
           "the new one")


def store_values(spec: TaskSpec, store: ObjectStore) -> dict[str, bytes]:
    """The values of `spec`'s secrets from the secret store beside `store`."""
    if not spec.secrets:
        return {}
    first = spec.secrets[0].name
    secrets = secret_store_of(store)
    if secrets is None:
        raise SecretUnavailable(first, "this store keeps no secrets (it has no folder)")
    try:
        values = secrets.values(sorted({use.name for use in spec.secrets}))
        for use in spec.secrets:
            if secrets.fingerprint_of(values[use.name]) != use.fingerprint:
                raise SecretUnavailable(use.name, CHANGED)
    except SecretNotFound as exc:
        raise SecretUnavailable(exc.name, REMOVED) from None
    except SecretStoreUnusable as exc:
        raise SecretUnavailable(first, f"the secret store cannot be read ({exc})") from None
    return values


def attempt_secret_values(store: ObjectStore, spec_oid: str) -> dict:
    """What POST /api/attempts/{spec}/secrets answers the node holding that attempt's
    token: {"secrets": {name: value}} for every secret its spec uses (checked against the
    spec's fingerprints), or {"unavailable": {"name", "reason"}} when one cannot be given."""
    spec, _ = load_spec(store, spec_oid)
    try:
        return {"secrets": store_values(spec, store)}
    except SecretUnavailable as exc:
        return {"unavailable": {"name": exc.name, "reason": exc.reason}}


class StoreSecrets(SecretSource):
    """Values from the secret store beside the attempt's store (a local attempt)."""

    def values(self, spec: TaskSpec, store: ObjectStore) -> dict[str, bytes]:
        return store_values(spec, store)


class GivenSecrets(SecretSource):
    """Values handed over for one attempt (a cluster node got them over its attempt
    token); held in memory only."""

    def __init__(self, values: dict[str, bytes],
                 unavailable: SecretUnavailable | None = None) -> None:
        self._values = dict(values)
        self.unavailable = unavailable  # why the server gave none: the attempt fails on it

    def values(self, spec: TaskSpec, store: ObjectStore) -> dict[str, bytes]:
        if self.unavailable is not None:
            raise self.unavailable
        for use in spec.secrets:
            if use.name not in self._values:
                raise SecretUnavailable(use.name, "the server did not hand its value over")
        return {use.name: self._values[use.name] for use in spec.secrets}

    def __repr__(self) -> str:
        return f"GivenSecrets({sorted(self._values)})"  # names only
