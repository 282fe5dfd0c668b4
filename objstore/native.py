"""The compiled hot loops of the store, `objstore._cnative`, or None when not built.

setup.py builds the extension (objstore/_native/native.c with BLAKE3's vendored portable
C code). It does two things faster than Python can: canonical encoding + hashing of a
small structured object in one call (`codec.encode_record`), and reading and verifying a
batch of stored records against their ids (`LmdbObjectStore.get_raws`). The pure-Python code is
the reference and the fallback: whatever the compiled encoder does not handle (floats,
subclasses, bad keys, ...) it hands back, and Python encodes it or words the error.

WFOBJ_NATIVE=0 in the environment leaves the extension unloaded (and unbuilt, at
install time). CI sets WFOBJ_REQUIRE_NATIVE=1, and a test then fails if it is missing.
"""

from __future__ import annotations

import os
from types import ModuleType

# read_verified hashes records up to this size in C (single-threaded, portable code);
# longer ones go through the multi-threaded SIMD `blake3` binding
VERIFY_MAX_RECORD = 1 << 14


def _load() -> ModuleType | None:
    if os.environ.get("WFOBJ_NATIVE", "1") == "0":
        return None
    try:
        from . import _cnative
    except ImportError:
        return None
    return _cnative


compiled: ModuleType | None = _load()
