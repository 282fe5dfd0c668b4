/* BLAKE3's SSE4.1 code, compiled for SSE4.1 whatever the global flags say; the
 * vendored dispatcher picks it only when cpuid reports SSE4.1 at run time. Other
 * machines (and other architectures, where this file is empty) use the portable code. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC target("sse4.1")
#include "blake3/blake3_sse41.c"
#endif
