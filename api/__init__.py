"""The wfobj REST API: a Falcon app built by `create_app` (docs/api.md)."""

from .factory import create_app

__all__ = ["create_app"]
