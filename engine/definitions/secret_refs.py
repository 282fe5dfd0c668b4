"""What registration and trigger check about secrets (docs/secrets.md): a task names only
secrets the server keeps, and no `string` parameter carries a stored secret's value (it
would be recorded in the run for ever; `secrets:` is the way to pass one)."""

from __future__ import annotations

from wfobj.engine.access.secrets import SecretStore
from wfobj.engine.errors import DefinitionError, ParameterError, SecretStoreUnusable
from wfobj.engine.model import Definition, ParamDefinition


def check_secret_names(secrets: SecretStore | None, definition: Definition) -> None:
    """DefinitionError naming the first task secret the server does not keep."""
    for tname, task in definition.tasks.items():
        for place, spec in sorted((task.secrets or {}).items()):
            where, name = f"tasks.{tname}.secrets.{place}", spec["secret"]
            if secrets is None:
                raise DefinitionError(where, "this store keeps no secrets (it has no folder)")
            try:
                known = secrets.exists(name)
            except SecretStoreUnusable as exc:
                raise DefinitionError(where, f"the secret store cannot be read ({exc})") from None
            if not known:
                raise DefinitionError(where, f"names an unknown secret {name!r} (store it "
                                      f"first: `wfobj secret set {name}`)")


def check_no_secret_params(secrets: SecretStore | None, params: dict[str, ParamDefinition],
                           values: dict) -> None:
    """ParameterError for a `string` parameter whose value is a stored secret's value."""
    if secrets is None:
        return
    texts = [(name, values[name]) for name, param in sorted(params.items())
             if param.type == "string" and isinstance(values.get(name), str) and values[name]]
    if not texts:
        return
    for name, text in texts:
        holder = secrets.holding(text.encode("utf-8", "surrogatepass"))
        if holder is not None:
            raise ParameterError(name, f"its value is the value of secret {holder!r}; a "
                                 "parameter is recorded in the run for ever, so pass it with "
                                 f"the task's `secrets:` ({{ENV: {{secret: {holder}}}}}) "
                                 "instead (docs/secrets.md)")
