"""wfobj object store: content-addressed, canonical-CBOR objects in LMDB, with refs."""

from .batch import WriteBatch
from .codec import Link
from .errors import (
    AmbiguousPrefix,
    ChecksumMismatch,
    ConflictError,
    CorruptObject,
    DamagedRecord,
    GcRefused,
    InvalidHash,
    InvalidObject,
    InvalidRefName,
    MissingLinks,
    ObjectNotFound,
    ObjectStoreError,
    PackBlockMismatch,
    RefNotFound,
    RefRefused,
    StoreNotFound,
    WfobjError,
)
from .ids import CODEC_DAG_CBOR, CODEC_RAW, ObjectId, RefName, check_hash, hash_bytes
from .lmdbstore import LmdbObjectStore, init_store, open_store
from .memory import MemoryObjectStore
from .store import ObjectStore

__all__ = [
    "AmbiguousPrefix", "ChecksumMismatch", "ConflictError", "CorruptObject", "DamagedRecord", "GcRefused", "InvalidHash", "InvalidObject",
    "InvalidRefName", "MissingLinks", "ObjectNotFound", "ObjectStoreError", "PackBlockMismatch", "RefNotFound", "RefRefused",
    "StoreNotFound", "WfobjError", "Link", "CODEC_DAG_CBOR", "CODEC_RAW", "ObjectId", "RefName",
    "check_hash", "hash_bytes", "LmdbObjectStore", "MemoryObjectStore", "ObjectStore",
    "WriteBatch", "init_store", "open_store",
]
