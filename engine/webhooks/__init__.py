"""Webhooks: hooks (stored config), the CloudEvents they receive, the durable outbox and
the deliverer that empties it (docs/events.md)."""
