"""Tree resources: a directory sent as a tar and stored as tree objects, its listing, one
of its files, and the whole tree back as a tar (objstore/trees.py, docs/api.md "Trees")."""

from __future__ import annotations

import falcon

from wfobj.engine import WorkflowService, excerpt
from wfobj.objstore import ObjectStore, archive_tree

from .media import media_type, upload_body
from .objects import DEFAULT_MAX_UPLOAD, primed, send_blob
from .params import prefix_param

TAR = "application/x-tar"


class TreeUpload:
    """POST a tar: streamed into the store entry by entry, never held whole."""

    roles = {"POST": "runner"}

    def __init__(self, service: WorkflowService, max_upload: int = DEFAULT_MAX_UPLOAD) -> None:
        self.service, self.max_upload = service, max_upload

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        kind = media_type(req)
        if kind != TAR:
            raise falcon.HTTPUnsupportedMediaType(
                title="Unsupported content type",
                description=f"content type {excerpt(kind) if kind else '(none)'} is not "
                            f"accepted here; send {TAR}")
        stored = self.service.put_tree(upload_body(req, self.max_upload))
        resp.status = falcon.HTTP_201
        resp.location = f"/api/trees/{stored['hash']}"
        resp.media = stored


class TreeItem:
    roles = {"GET": "reader"}

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        recursive = req.get_param_as_bool("recursive", default=False)
        resp.media = self.service.get_tree(prefix_param(hash), recursive=recursive)


class TreeFile:
    """GET one file of a tree: its bytes, verified as they are sent."""

    roles = {"GET": "reader"}

    def __init__(self, store: ObjectStore, service: WorkflowService) -> None:
        self.store, self.service = store, service

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str,
               path: str) -> None:
        entry = self.service.tree_file(prefix_param(hash), path)
        send_blob(self.store, resp, entry["hash"])


class TreeArchive:
    """GET a tree as a tar: the same tree always gives the same bytes."""

    roles = {"GET": "reader"}

    def __init__(self, store: ObjectStore, service: WorkflowService) -> None:
        self.store, self.service = store, service

    def on_get(self, req: falcon.Request, resp: falcon.Response, hash: str) -> None:
        oid = self.service.tree_hash(prefix_param(hash))
        resp.content_type = TAR
        resp.downloadable_as = f"{oid}.tar"
        resp.stream = primed(archive_tree(self.store, oid), f"tree {oid}")
