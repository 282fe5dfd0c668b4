/* objstore._cnative: the two hot loops of the object store, compiled.
 *
 *   encode_record(value, kind) -> (record, digest, links) | None
 *       Canonical DAG-CBOR of `value` (the subset objstore/codec.py defines), prefixed
 *       with the one-byte record kind, its BLAKE3 digest (of the CBOR, not the kind
 *       byte) and the Link objects it holds in encounter order. Returns None for
 *       anything outside the fast path (floats, subclasses, non-text keys, lone
 *       surrogates, ints beyond int64/uint64 fast range, very deep nesting, links with
 *       unknown codecs): the caller then runs the Python encoder, which is the
 *       reference and the one that words the error.
 *
 *   read_verified(get, oids, db, max_len) -> list | None
 *       For each id (64 lowercase hex chars), the record get(digest, None, db) returns
 *       (an LMDB Transaction.get: kind byte + payload), and then the payload if
 *       BLAKE3(payload) is the id, else None (missing record, mismatch, a chunked record
 *       whose payload is an index, or a record longer than max_len, which the caller
 *       hashes with the multi-threaded SIMD binding instead). Returns None as a whole
 *       if any id is not canonical; the caller then names the bad one. The key is one
 *       32-byte bytearray rewritten for each lookup, so `get` must not keep it.
 *
 *   blake3(data) -> bytes  (32-byte digest; used by the tests against the binding)
 *
 * The Python code in objstore/codec.py and objstore/lmdbstore.py stays the reference
 * and the fallback when this module is not built; tests/test_native.py checks that both
 * produce identical bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "blake3/blake3.h"

#define MAX_DEPTH 256
#define MAX_SORT_STACK 32

static PyObject *link_type = NULL;     /* objstore.codec.Link */
static PyObject *cid_prefixes = NULL;  /* {codec int: 4-byte CID prefix} */
static PyObject *str_oid = NULL;
static PyObject *str_codec = NULL;

/* ---- output buffer ------------------------------------------------------------ */
typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    char small[512];
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap * 2;
    while (cap < b->len + extra) cap *= 2;
    char *p;
    if (b->data == b->small) {
        p = PyMem_Malloc(cap);
        if (p) memcpy(p, b->small, b->len);
    } else {
        p = PyMem_Realloc(b->data, cap);
    }
    if (!p) { PyErr_NoMemory(); return -1; }
    b->data = p;
    b->cap = cap;
    return 0;
}

static void buf_free(Buf *b) {
    if (b->data != b->small) PyMem_Free(b->data);
}

static int put_head(Buf *b, unsigned major, uint64_t n) {
    if (buf_reserve(b, 9) < 0) return -1;
    unsigned char *p = (unsigned char *)b->data + b->len;
    unsigned char m = (unsigned char)(major << 5);
    if (n < 24) { p[0] = m | (unsigned char)n; b->len += 1; }
    else if (n < 0x100) { p[0] = m | 24; p[1] = (unsigned char)n; b->len += 2; }
    else if (n < 0x10000) {
        p[0] = m | 25; p[1] = (unsigned char)(n >> 8); p[2] = (unsigned char)n; b->len += 3;
    } else if (n < 0x100000000ULL) {
        p[0] = m | 26;
        for (int i = 0; i < 4; i++) p[1 + i] = (unsigned char)(n >> (8 * (3 - i)));
        b->len += 5;
    } else {
        p[0] = m | 27;
        for (int i = 0; i < 8; i++) p[1 + i] = (unsigned char)(n >> (8 * (7 - i)));
        b->len += 9;
    }
    return 0;
}

static int put_bytes(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

/* ---- encoder -------------------------------------------------------------------
 * Return codes: 0 ok, 1 "not on the fast path" (no Python error set), -1 Python error. */
#define FALLBACK 1

static int encode_value(PyObject *v, Buf *b, PyObject *links, int depth);

static int encode_text(PyObject *s, Buf *b) {
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) {  /* lone surrogate: the Python encoder words the error */
        PyErr_Clear();
        return FALLBACK;
    }
    if (put_head(b, 3, (uint64_t)n) < 0) return -1;
    return put_bytes(b, u, n);
}

/* lowercase hex digit values; -1 for every other byte (ids are canonical lowercase) */
static signed char HEX[256];

static void init_hex(void) {
    memset(HEX, -1, sizeof HEX);
    for (int c = '0'; c <= '9'; c++) HEX[c] = (signed char)(c - '0');
    for (int c = 'a'; c <= 'f'; c++) HEX[c] = (signed char)(c - 'a' + 10);
}

/* 64 hex chars to 32 bytes; -1 if any char is not lowercase hex */
static int unhex32(const char *hex, unsigned char *raw) {
    int bad = 0;
    for (int i = 0; i < 32; i++) {
        int hi = HEX[(unsigned char)hex[2 * i]], lo = HEX[(unsigned char)hex[2 * i + 1]];
        bad |= hi | lo;
        raw[i] = (unsigned char)(((unsigned)hi << 4) | (unsigned)lo);  /* junk if bad */
    }
    return bad < 0 ? -1 : 0;
}

static int encode_link(PyObject *v, Buf *b, PyObject *links) {
    PyObject *oid = PyObject_GetAttr(v, str_oid);
    if (!oid) return -1;
    PyObject *codec = PyObject_GetAttr(v, str_codec);
    if (!codec) { Py_DECREF(oid); return -1; }
    int rc = FALLBACK;
    /* exact str and int only: then the lookup and the read below run no Python code
     * (anything else goes to the Python encoder, the reference) */
    if (PyUnicode_CheckExact(oid) && PyUnicode_IS_ASCII(oid) && PyUnicode_GET_LENGTH(oid) == 64
        && PyLong_CheckExact(codec)) {
        PyObject *prefixes = Py_NewRef(cid_prefixes);
        PyObject *prefix = PyDict_GetItemWithError(prefixes, codec);  /* borrowed */
        if (!prefix && PyErr_Occurred()) {
            rc = -1;
        } else if (prefix && PyBytes_CheckExact(prefix) && PyBytes_GET_SIZE(prefix) == 4) {
            unsigned char raw[5 + 4 + 32] = {0xd8, 0x2a, 0x58, 0x25, 0x00};
            memcpy(raw + 5, PyBytes_AS_STRING(prefix), 4);
            if (unhex32((const char *)PyUnicode_DATA(oid), raw + 9) == 0) {
                rc = put_bytes(b, (const char *)raw, sizeof raw);
                if (rc == 0 && PyList_Append(links, v) < 0) rc = -1;
            }
        }
        Py_DECREF(prefixes);
    }
    Py_DECREF(oid);
    Py_DECREF(codec);
    return rc;
}

static int encode_int(PyObject *v, Buf *b) {
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (overflow > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(v);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();  /* beyond 2**64 - 1: the Python encoder refuses it */
            return FALLBACK;
        }
        return put_head(b, 0, u);
    }
    if (overflow < 0) return FALLBACK;  /* below -2**63: rare, the Python path handles it */
    if (x >= 0) return put_head(b, 0, (uint64_t)x);
    return put_head(b, 1, (uint64_t)(-1 - x));
}

typedef struct {
    PyObject *key;
    const char *utf8;
    Py_ssize_t len;
} KeyRef;

static int key_less(const KeyRef *a, const KeyRef *b) {
    if (a->len != b->len) return a->len < b->len;
    return memcmp(a->utf8, b->utf8, a->len) < 0;
}

static int key_cmp(const void *pa, const void *pb) {
    const KeyRef *a = pa, *b = pb;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return memcmp(a->utf8, b->utf8, a->len);
}

static int encode_map(PyObject *v, Buf *b, PyObject *links, int depth) {
    Py_ssize_t n = PyDict_GET_SIZE(v);
    KeyRef stack_keys[MAX_SORT_STACK];
    KeyRef *keys = n <= MAX_SORT_STACK ? stack_keys : PyMem_Malloc(sizeof(KeyRef) * n);
    if (!keys) { PyErr_NoMemory(); return -1; }
    int rc = 0;
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *item;
    while (PyDict_Next(v, &pos, &key, &item)) {
        if (i >= n || !PyUnicode_CheckExact(key)) { rc = FALLBACK; goto done; }
        Py_ssize_t len;
        const char *u = PyUnicode_AsUTF8AndSize(key, &len);
        if (!u) { PyErr_Clear(); rc = FALLBACK; goto done; }
        /* Each key is held (its UTF-8 lives in it) in case a finalizer run by an
         * allocation below mutates the map. */
        Py_INCREF(key);
        keys[i++] = (KeyRef){key, u, len};
    }
    if (i != n) { rc = FALLBACK; goto done; }  /* changed while we read it */
    if (n <= MAX_SORT_STACK) {  /* small maps, the common case: insertion sort */
        for (Py_ssize_t k = 1; k < n; k++) {
            KeyRef ref = keys[k];
            Py_ssize_t j = k;
            while (j > 0 && key_less(&ref, &keys[j - 1])) { keys[j] = keys[j - 1]; j--; }
            keys[j] = ref;
        }
    } else {
        qsort(keys, (size_t)n, sizeof(KeyRef), key_cmp);
    }
    for (Py_ssize_t k = 1; k < n; k++) {
        /* equal UTF-8 for distinct keys cannot happen in a dict of exact str */
        if (keys[k].len == keys[k - 1].len &&
            memcmp(keys[k].utf8, keys[k - 1].utf8, keys[k].len) == 0) { rc = FALLBACK; goto done; }
    }
    if ((rc = put_head(b, 5, (uint64_t)n)) != 0) goto done;
    for (Py_ssize_t k = 0; k < n; k++) {
        if ((rc = put_head(b, 3, (uint64_t)keys[k].len)) != 0) goto done;
        if ((rc = put_bytes(b, keys[k].utf8, keys[k].len)) != 0) goto done;
        item = PyDict_GetItemWithError(v, keys[k].key);  /* borrowed */
        if (!item) { rc = PyErr_Occurred() ? -1 : FALLBACK; goto done; }
        Py_INCREF(item);
        rc = encode_value(item, b, links, depth + 1);
        Py_DECREF(item);
        if (rc != 0) goto done;
    }
done:
    for (Py_ssize_t k = 0; k < i; k++) Py_DECREF(keys[k].key);
    if (keys != stack_keys) PyMem_Free(keys);
    return rc;
}

static int encode_seq(PyObject *v, Buf *b, PyObject *links, int depth) {
    PyObject *fast = PySequence_Fast(v, "not a sequence");  /* list or tuple: no copy */
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    int rc = put_head(b, 4, (uint64_t)n);
    for (Py_ssize_t i = 0; rc == 0 && i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        Py_INCREF(item);
        rc = encode_value(item, b, links, depth + 1);
        Py_DECREF(item);
        if (rc == 0 && PySequence_Fast_GET_SIZE(fast) != n) rc = FALLBACK;
    }
    Py_DECREF(fast);
    return rc;
}

static int encode_value(PyObject *v, Buf *b, PyObject *links, int depth) {
    if (depth > MAX_DEPTH) return FALLBACK;
    if (PyUnicode_CheckExact(v)) return encode_text(v, b);
    if (v == Py_True) return put_bytes(b, "\xf5", 1);
    if (v == Py_False) return put_bytes(b, "\xf4", 1);
    if (v == Py_None) return put_bytes(b, "\xf6", 1);
    if (PyLong_CheckExact(v)) return encode_int(v, b);
    if ((PyObject *)Py_TYPE(v) == link_type) return encode_link(v, b, links);
    if (PyDict_CheckExact(v)) return encode_map(v, b, links, depth);
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) return encode_seq(v, b, links, depth);
    if (PyBytes_CheckExact(v)) {
        if (put_head(b, 2, (uint64_t)PyBytes_GET_SIZE(v)) < 0) return -1;
        return put_bytes(b, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
    }
    return FALLBACK;  /* floats, subclasses, other types: the Python encoder decides */
}

static PyObject *py_encode_record(PyObject *self, PyObject *args) {
    PyObject *value;
    const char *kind;
    Py_ssize_t kind_len;
    if (!PyArg_ParseTuple(args, "Oy#", &value, &kind, &kind_len)) return NULL;
    if (!link_type) {
        PyErr_SetString(PyExc_RuntimeError, "objstore._cnative.setup() was not called");
        return NULL;
    }
    Buf b = {.len = 0, .cap = sizeof b.small};
    b.data = b.small;
    PyObject *links = PyList_New(0);
    if (!links) return NULL;
    int rc = put_bytes(&b, kind, kind_len);
    if (rc == 0) rc = encode_value(value, &b, links, 0);
    if (rc != 0) {
        buf_free(&b);
        Py_DECREF(links);
        if (rc < 0) return NULL;
        Py_RETURN_NONE;
    }
    unsigned char digest[BLAKE3_OUT_LEN];
    blake3_hasher h;
    blake3_hasher_init(&h);
    blake3_hasher_update(&h, b.data + kind_len, b.len - kind_len);
    blake3_hasher_finalize(&h, digest, BLAKE3_OUT_LEN);
    PyObject *record = PyBytes_FromStringAndSize(b.data, b.len);
    buf_free(&b);
    if (!record) { Py_DECREF(links); return NULL; }
    PyObject *dig = PyBytes_FromStringAndSize((const char *)digest, BLAKE3_OUT_LEN);
    if (!dig) { Py_DECREF(record); Py_DECREF(links); return NULL; }
    PyObject *out = PyTuple_New(3);
    if (!out) { Py_DECREF(record); Py_DECREF(dig); Py_DECREF(links); return NULL; }
    PyTuple_SET_ITEM(out, 0, record);
    PyTuple_SET_ITEM(out, 1, dig);
    PyTuple_SET_ITEM(out, 2, links);
    return out;
}

/* ---- verified reads ------------------------------------------------------------- */
static int payload_matches(const char *rec, Py_ssize_t len, const char *digest) {
    unsigned char got[BLAKE3_OUT_LEN];
    blake3_hasher h;
    blake3_hasher_init(&h);
    blake3_hasher_update(&h, rec + 1, len - 1);
    blake3_hasher_finalize(&h, got, BLAKE3_OUT_LEN);
    return memcmp(got, digest, BLAKE3_OUT_LEN) == 0;
}

/* read_verified: see the top of this file. Each record is dropped as soon as its payload
 * is copied, so the memory of one is reused for the next, as in a plain lookup loop. */
static PyObject *py_read_verified(PyObject *self, PyObject *args) {
    PyObject *get, *given, *db;
    Py_ssize_t max_len;
    if (!PyArg_ParseTuple(args, "OO!On", &get, &PyList_Type, &given, &db, &max_len))
        return NULL;
    /* get() is Python code: work on a private copy of the ids, and hand out no list
     * with empty slots while it runs */
    PyObject *oids = PyList_GetSlice(given, 0, PyList_GET_SIZE(given));
    if (!oids) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(oids);
    PyObject *out = PyList_New(n);
    /* one key buffer, rewritten for each lookup: get() must not keep it (LMDB's does not) */
    PyObject *dig = out ? PyByteArray_FromStringAndSize(NULL, BLAKE3_OUT_LEN) : NULL;
    if (!dig) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) PyList_SET_ITEM(out, i, Py_NewRef(Py_None));
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *oid = PyList_GET_ITEM(oids, i);
        unsigned char *raw = (unsigned char *)PyByteArray_AS_STRING(dig);
        if (!PyUnicode_CheckExact(oid) || !PyUnicode_IS_ASCII(oid) ||
            PyUnicode_GET_LENGTH(oid) != 64 ||
            unhex32((const char *)PyUnicode_DATA(oid), raw) < 0) {
            Py_DECREF(oids); Py_DECREF(out); Py_DECREF(dig);
            Py_RETURN_NONE;  /* not a canonical id: the caller names the bad one */
        }
        PyObject *argv[3] = {dig, Py_None, db};
        PyObject *rec = PyObject_Vectorcall(get, argv, 3, NULL);
        if (!rec) goto fail;
        if (PyByteArray_GET_SIZE(dig) != BLAKE3_OUT_LEN) {  /* get() resized our key */
            Py_DECREF(rec);
            PyErr_SetString(PyExc_RuntimeError, "read_verified: get() changed the key");
            goto fail;
        }
        raw = (unsigned char *)PyByteArray_AS_STRING(dig);
        if (rec != Py_None) {
            if (!PyBytes_Check(rec)) {
                Py_DECREF(rec);
                PyErr_Format(PyExc_TypeError, "record %zd is not bytes", i);
                goto fail;
            }
            Py_ssize_t len = PyBytes_GET_SIZE(rec);
            const char *data = PyBytes_AS_STRING(rec);
            if (len >= 1 && len <= max_len && payload_matches(data, len, (const char *)raw)) {
                PyObject *payload = PyBytes_FromStringAndSize(data + 1, len - 1);
                if (!payload) { Py_DECREF(rec); goto fail; }
                if (PyList_SetItem(out, i, payload) < 0) { Py_DECREF(rec); goto fail; }
            }
        }
        Py_DECREF(rec);
    }
    Py_DECREF(oids);
    Py_DECREF(dig);
    return out;
fail:
    Py_DECREF(oids);
    Py_XDECREF(out);
    Py_XDECREF(dig);
    return NULL;
}

static PyObject *py_blake3(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    unsigned char digest[BLAKE3_OUT_LEN];
    blake3_hasher h;
    blake3_hasher_init(&h);
    blake3_hasher_update(&h, view.buf, view.len);
    blake3_hasher_finalize(&h, digest, BLAKE3_OUT_LEN);
    PyBuffer_Release(&view);
    return PyBytes_FromStringAndSize((const char *)digest, BLAKE3_OUT_LEN);
}

static PyObject *py_setup(PyObject *self, PyObject *args) {
    PyObject *type, *prefixes;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &type, &PyDict_Type, &prefixes))
        return NULL;
    Py_INCREF(type);
    Py_INCREF(prefixes);
    Py_XSETREF(link_type, type);
    Py_XSETREF(cid_prefixes, prefixes);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", py_setup, METH_VARARGS, "setup(Link, {codec: cid_prefix}): bind the Link type."},
    {"encode_record", py_encode_record, METH_VARARGS,
     "encode_record(value, kind) -> (record, digest, links) or None (use the Python encoder)."},
    {"read_verified", py_read_verified, METH_VARARGS,
     "read_verified(get, digests, db, max_len) -> [payload or None]: get(d, None, db) each."},
    {"blake3", py_blake3, METH_O, "blake3(data) -> 32-byte digest (single-threaded, portable C)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "objstore._cnative",
    "Compiled hot loops of the object store (see objstore/native.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__cnative(void) {
    init_hex();
    str_oid = PyUnicode_InternFromString("oid");
    str_codec = PyUnicode_InternFromString("codec");
    if (!str_oid || !str_codec) return NULL;
    return PyModule_Create(&module);
}
