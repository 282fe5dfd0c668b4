"""The UI's pages of what the store is set up with, read-only: webhooks (admin, as
`GET /api/hooks`) and secrets (runner, as `GET /api/secrets`: names and fingerprints,
never a value). Changing either stays with the CLI and the API (docs/events.md,
docs/secrets.md)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import falcon

from wfobj.engine import SecretStoreUnusable

from .pages import Page

RECENT_DELIVERIES = 20


def shown_url(url: str) -> str:
    """A hook's URL with the password of its user part, if any, replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class HooksPage(Page):
    """The hooks (URL, events, secret name, who added them) and the latest deliveries."""

    roles = {"GET": "admin"}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        hooks = [{**hook, "url": shown_url(hook["url"])} for hook in self.service.list_hooks()]
        self.render(req, resp, "hooks.html", title="Webhooks", hooks=hooks,
                    deliveries=self.service.hook_deliveries(limit=RECENT_DELIVERIES),
                    recent=RECENT_DELIVERIES)


class SecretsPage(Page):
    """The secrets' names, fingerprints and who set them when; never a value."""

    roles = {"GET": "runner"}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            secrets, unusable = self.service.list_secrets(), None
        except SecretStoreUnusable as exc:
            secrets, unusable = [], str(exc)
        self.render(req, resp, "secrets.html", title="Secrets", secrets=secrets,
                    unusable=unusable)
