"""wfobj object store: content-addressed, canonical-CBOR objects in LMDB, with refs.

This is the package's face: the engine, the API and the command line import from here
only. Names are imported on first use (objstore/lazy.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import face

_FACE = {
    ".batch": ("WriteBatch",),
    ".car": ("CAR_MEDIA_TYPE", "MAX_BLOCK", "ReceiveStats", "iter_pack", "receive_pack"),
    ".codec": ("Link", "to_json"),
    ".errors": (
        "AmbiguousPrefix", "ChecksumMismatch", "ConflictError", "CorruptObject",
        "DamagedRecord", "GcRefused", "InvalidHash", "InvalidObject", "InvalidPack",
        "InvalidRefName", "MissingLinks", "ObjectNotFound", "ObjectStoreError",
        "NotAFile", "NotATree", "PackBlockMismatch", "PathNotInTree", "RefNotFound", "RefRefused",
        "StoreNotFound", "TreeRefused", "WfobjError"),
    ".fsck": ("fsck_store", "parse_sample"),
    ".gc": ("DEFAULT_GRACE", "parse_duration"),
    ".ids": ("CODEC_DAG_CBOR", "CODEC_RAW", "ObjectId", "RefName", "check_hash",
             "check_prefix", "digest_of", "hash_bytes", "is_hash", "oid_of"),
    ".lmdbstore": ("LmdbObjectStore", "init_store", "open_store"),
    ".memory": ("MemoryObjectStore",),
    ".store": ("ObjectStore",),
    ".sync": ("REFUSED", "LocalRemote", "RefPolicy", "RefResult", "RefUpdate", "Remote",
              "SyncReport", "apply_ref_updates", "closure_ids", "missing_ids", "pull", "push"),
    ".trees": ("MAX_DEPTH", "MAX_ENTRIES", "MAX_NAME_BYTES", "MAX_PATH_BYTES",
               "MAX_UPLOAD_ENTRIES", "DirectoryArchive", "FolderItem", "StoredTree", "Tree",
               "TreeBuilder", "TreeEntry", "archive_tree", "checkout_archive",
               "checkout_tree", "entry_at", "is_tree", "put_directory", "put_tar",
               "read_tree", "scan_directory", "walk_tree"),
    ".walk": ("follow_chain", "walk_graph"),
}
__all__, __getattr__, __dir__ = face(__name__, _FACE)

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports
    from .batch import WriteBatch  # noqa: F401
    from .car import CAR_MEDIA_TYPE, MAX_BLOCK, ReceiveStats, iter_pack, receive_pack  # noqa: F401
    from .codec import Link, to_json  # noqa: F401
    from .errors import (  # noqa: F401
        AmbiguousPrefix,
        ChecksumMismatch,
        ConflictError,
        CorruptObject,
        DamagedRecord,
        GcRefused,
        InvalidHash,
        InvalidObject,
        InvalidPack,
        InvalidRefName,
        MissingLinks,
        NotAFile,
        NotATree,
        ObjectNotFound,
        ObjectStoreError,
        PackBlockMismatch,
        PathNotInTree,
        RefNotFound,
        RefRefused,
        StoreNotFound,
        TreeRefused,
        WfobjError,
    )
    from .fsck import fsck_store, parse_sample  # noqa: F401
    from .gc import DEFAULT_GRACE, parse_duration  # noqa: F401
    from .ids import (  # noqa: F401
        CODEC_DAG_CBOR,
        CODEC_RAW,
        ObjectId,
        RefName,
        check_hash,
        check_prefix,
        digest_of,
        hash_bytes,
        is_hash,
        oid_of,
    )
    from .lmdbstore import LmdbObjectStore, init_store, open_store  # noqa: F401
    from .memory import MemoryObjectStore  # noqa: F401
    from .store import ObjectStore  # noqa: F401
    from .sync import (  # noqa: F401
        REFUSED,
        LocalRemote,
        RefPolicy,
        RefResult,
        RefUpdate,
        Remote,
        SyncReport,
        apply_ref_updates,
        closure_ids,
        missing_ids,
        pull,
        push,
    )
    from .trees import (  # noqa: F401
        MAX_DEPTH,
        MAX_ENTRIES,
        MAX_NAME_BYTES,
        MAX_PATH_BYTES,
        MAX_UPLOAD_ENTRIES,
        DirectoryArchive,
        FolderItem,
        StoredTree,
        Tree,
        TreeBuilder,
        TreeEntry,
        archive_tree,
        checkout_archive,
        checkout_tree,
        entry_at,
        is_tree,
        put_directory,
        put_tar,
        read_tree,
        scan_directory,
        walk_tree,
    )
    from .walk import follow_chain, walk_graph  # noqa: F401
