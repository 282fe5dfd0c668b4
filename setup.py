"""Build of the optional compiled part, objstore._cnative (everything else is pyproject.toml).

The extension speeds up the object store's two hot loops (canonical encoding of small
objects, verified batch reads); objstore/native.py falls back to the pure-Python code
when it is not built. BLAKE3's portable C reference (CC0 / Apache-2.0) is vendored in
objstore/_native/blake3; only small records are hashed with it, large data keeps using
the multi-threaded SIMD `blake3` package. blake3_sse41.c is included only on x86-64,
through objstore/_native/blake3_x86.c.
"""

import os
import platform

from setuptools import Extension, setup

BLAKE3 = "objstore/_native/blake3"
# The records hashed here are small (one chunk), where only the single-block
# compression function matters: SSE4.1 on x86-64 (chosen at run time), else portable.
X86 = platform.machine().lower() in ("x86_64", "amd64")
NO_SIMD = [(f"BLAKE3_NO_{isa}", "1") for isa in ("SSE2", "AVX2", "AVX512")]
if not X86:
    NO_SIMD.append(("BLAKE3_NO_SSE41", "1"))

native = Extension(
    "objstore._cnative",
    sources=[
        "objstore/_native/native.c",
        f"{BLAKE3}/blake3.c",
        f"{BLAKE3}/blake3_dispatch.c",
        f"{BLAKE3}/blake3_portable.c",
        *(["objstore/_native/blake3_x86.c"] if X86 else []),
    ],
    include_dirs=["objstore/_native"],
    define_macros=[*NO_SIMD, ("BLAKE3_USE_NEON", "0")],
    extra_compile_args=["-O3", "-std=c11", "-fvisibility=hidden"],
)

# WFOBJ_NATIVE=0 skips it; otherwise a failed build fails the install (no silent fallback)
setup(ext_modules=[] if os.environ.get("WFOBJ_NATIVE", "1") == "0" else [native])
