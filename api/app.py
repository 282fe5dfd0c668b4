"""gunicorn entry: `gunicorn 'wfobj.api.app:get_app()'` with WFOBJ_STORE naming the store.

get_app() runs in each worker after fork, so LMDB is opened in the process that uses it.
"""

from __future__ import annotations

import os

import falcon

from wfobj.engine import KeyFile, SessionStore, TokenStore, WorkflowService
from wfobj.objstore import open_store

from .factory import create_app


def get_app() -> falcon.App:
    path = os.environ.get("WFOBJ_STORE")
    if not path:
        raise SystemExit("WFOBJ_STORE is not set: the API needs a store path")
    store = open_store(path)
    max_upload = int(os.environ.get("WFOBJ_MAX_UPLOAD", 1 << 30))
    tokens = TokenStore(store)
    service = WorkflowService(store, keys=KeyFile(path))
    return create_app(store, service, tokens, max_upload=max_upload,
                      sessions=SessionStore(store, tokens))
