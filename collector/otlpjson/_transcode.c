/* Protobuf wire bytes -> OTLP/JSON, table-driven: the file exporter's encoder without building Python objects.
 *
 * The tables come from Python (collector/otlpjson/_transcode.py builds them from the protobuf descriptors):
 * one per message type, its fields in the order the Python encoder writes them. The output is byte for byte
 * what collector/otlpjson/_encode.py + orjson write; whatever this code is not sure to render the same way
 * (a field the tables do not know, a singular field seen twice or two members of one oneof — protobuf would
 * merge them —, a repeated field in two runs, invalid UTF-8, a wire type that does not match, nesting deeper
 * than the limit, malformed or truncated bytes) makes `transcode` return None: the caller then uses the
 * Python encoder, which decides (it may also fail, as it does today).
 *
 * The input is untrusted (pass-through mode sends client bytes on unparsed): every varint and length is
 * bounds-checked against the end of its enclosing message, recursion is bounded by the depth limit, and the
 * output buffer grows with overflow checks. Doubles are formatted by orjson itself (they are rare).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* field kinds: protobuf's FieldDescriptor.TYPE_* numbers, plus hex bytes (trace and span ids) */
enum {
    K_DOUBLE = 1, K_FLOAT = 2, K_INT64 = 3, K_UINT64 = 4, K_INT32 = 5, K_FIXED64 = 6, K_FIXED32 = 7, K_BOOL = 8,
    K_STRING = 9, K_MESSAGE = 11, K_BYTES = 12, K_UINT32 = 13, K_ENUM = 14, K_SFIXED32 = 15, K_SFIXED64 = 16,
    K_SINT32 = 17, K_SINT64 = 18, K_BYTES_HEX = 19, K_MAX = 19
};
/* field flags */
enum { F_REPEATED = 1, F_PRESENCE = 2, F_ALWAYS = 4 };

#define MAX_FIELDS 64      /* fields of one message type */
#define MAX_NUMBER 4096    /* largest field number a table may hold */
#define MAX_ONEOFS 32

enum { OK = 0, FALLBACK = 1, ERROR = -1 };

typedef struct {
    uint32_t number;
    int kind;
    int flags;
    int oneof;       /* -1: none */
    int subtype;     /* message kinds: index of the type */
    char *name;      /* "jsonName": */
    Py_ssize_t name_len;
} Field;

typedef struct {
    int nfields;
    Field *fields;   /* in output order */
    uint32_t max_number;
    int16_t *by_number;  /* [max_number + 1]: index into fields, -1 unknown */
} MsgType;

typedef struct {
    int ntypes;
    MsgType *types;
    int max_depth;
    PyObject *dumps;  /* orjson.dumps, for doubles */
} Schema;

static Schema *schema = NULL;

typedef struct {
    char *buf;
    Py_ssize_t len, cap;
} Out;

typedef struct {
    const uint8_t *start, *end;  /* singular: the value (payload of a length-delimited one); repeated: the run of tags */
    uint32_t count;
} Slot;

/* ------------------------------------------------------------------------------------------------ output */

static int grow(Out *o, Py_ssize_t need) {
    if (need > PY_SSIZE_T_MAX - o->len) {
        PyErr_NoMemory();
        return ERROR;
    }
    Py_ssize_t want = o->len + need;
    Py_ssize_t cap = o->cap;
    while (cap < want) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            cap = want;
            break;
        }
        cap *= 2;
    }
    char *buf = PyMem_Realloc(o->buf, (size_t)cap);
    if (buf == NULL) {
        PyErr_NoMemory();
        return ERROR;
    }
    o->buf = buf;
    o->cap = cap;
    return OK;
}

static inline int reserve(Out *o, Py_ssize_t need) {
    if (need <= o->cap - o->len) return OK;
    return grow(o, need);
}

static inline int put(Out *o, const char *s, Py_ssize_t n) {
    if (reserve(o, n)) return ERROR;
    memcpy(o->buf + o->len, s, (size_t)n);
    o->len += n;
    return OK;
}

static inline int putc_(Out *o, char c) {
    if (reserve(o, 1)) return ERROR;
    o->buf[o->len++] = c;
    return OK;
}

static int put_u64(Out *o, uint64_t v) {
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return put(o, tmp + i, (Py_ssize_t)sizeof tmp - i);
}

static int put_i64(Out *o, int64_t v) {
    if (v < 0) {
        if (putc_(o, '-')) return ERROR;
        return put_u64(o, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(o, (uint64_t)v);
}

static const char HEX[] = "0123456789abcdef";

/* A string as orjson writes it: `"` `\` and control characters escaped (\b \t \n \f \r, else \u00xx), the
 * rest (DEL, '/', non-ASCII) as is. FALLBACK when the bytes are not valid UTF-8 (protobuf refuses them). */
static int put_string(Out *o, const uint8_t *s, Py_ssize_t n) {
    if (reserve(o, n + 2)) return ERROR;
    o->buf[o->len++] = '"';
    Py_ssize_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            Py_ssize_t j = i + 1;
            while (j < n && s[j] >= 0x20 && s[j] != '"' && s[j] != '\\' && s[j] < 0x80) j++;
            if (reserve(o, j - i + 1)) return ERROR;
            memcpy(o->buf + o->len, s + i, (size_t)(j - i));
            o->len += j - i;
            i = j;
            continue;
        }
        if (c < 0x80) {
            char esc[6];
            Py_ssize_t k = 2;
            esc[0] = '\\';
            switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\t': esc[1] = 't'; break;
            case '\n': esc[1] = 'n'; break;
            case '\f': esc[1] = 'f'; break;
            case '\r': esc[1] = 'r'; break;
            default:
                esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = HEX[c >> 4]; esc[5] = HEX[c & 15];
                k = 6;
            }
            if (put(o, esc, k)) return ERROR;
            i++;
            continue;
        }
        /* multi-byte UTF-8, strictly (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) */
        Py_ssize_t len;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
        } else return FALLBACK;
        if (n - i < len) return FALLBACK;
        if (s[i + 1] < lo || s[i + 1] > hi) return FALLBACK;
        for (Py_ssize_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return FALLBACK;
        if (put(o, (const char *)s + i, len)) return ERROR;
        i += len;
    }
    return putc_(o, '"');
}

static int put_hex(Out *o, const uint8_t *s, Py_ssize_t n) {
    if (n > (PY_SSIZE_T_MAX - 2) / 2) return FALLBACK;
    if (reserve(o, 2 * n + 2)) return ERROR;
    char *p = o->buf + o->len;
    *p++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        *p++ = HEX[s[i] >> 4];
        *p++ = HEX[s[i] & 15];
    }
    *p++ = '"';
    o->len = p - o->buf;
    return OK;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int put_base64(Out *o, const uint8_t *s, Py_ssize_t n) {
    if (n > (PY_SSIZE_T_MAX - 6) / 4 * 3) return FALLBACK;
    if (reserve(o, (n + 2) / 3 * 4 + 2)) return ERROR;
    char *p = o->buf + o->len;
    *p++ = '"';
    Py_ssize_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)s[i] << 16) | ((uint32_t)s[i + 1] << 8) | s[i + 2];
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = B64[(v >> 6) & 63];
        *p++ = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = '=';
        *p++ = '=';
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)s[i] << 16) | ((uint32_t)s[i + 1] << 8);
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = B64[(v >> 6) & 63];
        *p++ = '=';
    }
    *p++ = '"';
    o->len = p - o->buf;
    return OK;
}

/* A string or bytes field's payload as the Python encoder writes its kind. */
static int put_payload(Out *o, int kind, const uint8_t *s, Py_ssize_t n) {
    if (kind == K_STRING) return put_string(o, s, n);
    if (kind == K_BYTES_HEX) return put_hex(o, s, n);
    return put_base64(o, s, n);
}

/* A double as the Python encoder writes it: finite ones by orjson, the others as the strings of the proto3 JSON
 * mapping. */
static int put_double(Out *o, double d) {
    if (isnan(d)) return put(o, "\"NaN\"", 5);
    if (isinf(d)) return d > 0 ? put(o, "\"Infinity\"", 10) : put(o, "\"-Infinity\"", 11);
    PyObject *f = PyFloat_FromDouble(d);
    if (f == NULL) return ERROR;
    PyObject *b = PyObject_CallOneArg(schema->dumps, f);
    Py_DECREF(f);
    if (b == NULL) return ERROR;
    if (!PyBytes_Check(b)) {
        Py_DECREF(b);
        PyErr_SetString(PyExc_TypeError, "the float formatter did not return bytes");
        return ERROR;
    }
    int rc = put(o, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return rc;
}

/* ------------------------------------------------------------------------------------------------- input */

static inline int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    const uint8_t *q = *p;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (q >= end) return FALLBACK;
        uint8_t b = *q++;
        if (i == 9 && b > 1) return FALLBACK;
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *p = q;
            *out = v;
            return OK;
        }
    }
    return FALLBACK;
}

/* Tags and lengths as protobuf (upb) reads them: 32-bit varints of at most 5 bytes. A longer one, even of a small
 * value, is malformed there: handed back (read as any varint, the request would be written, not refused). */
static inline int read_varint32(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    const uint8_t *q = *p;
    uint64_t v = 0;
    for (int i = 0; i < 5; i++) {
        if (q >= end) return FALLBACK;
        uint8_t b = *q++;
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (v > 0xFFFFFFFFu) return FALLBACK;
            *p = q;
            *out = v;
            return OK;
        }
    }
    return FALLBACK;
}

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline uint32_t load32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline int wire_type(int kind) {
    switch (kind) {
    case K_DOUBLE: case K_FIXED64: case K_SFIXED64: return 1;
    case K_FLOAT: case K_FIXED32: case K_SFIXED32: return 5;
    case K_STRING: case K_BYTES: case K_BYTES_HEX: case K_MESSAGE: return 2;
    default: return 0;
    }
}

/* Skip one value of wire type `wt` at *p; for length-delimited ones, *payload is where the payload starts. */
static inline int skip_value(const uint8_t **p, const uint8_t *end, uint32_t wt, const uint8_t **payload) {
    uint64_t v;
    switch (wt) {
    case 0:
        return read_varint(p, end, &v);
    case 1:
        if (end - *p < 8) return FALLBACK;
        *p += 8;
        return OK;
    case 5:
        if (end - *p < 4) return FALLBACK;
        *p += 4;
        return OK;
    case 2:
        if (read_varint32(p, end, &v)) return FALLBACK;
        if (v > (uint64_t)(end - *p)) return FALLBACK;
        *payload = *p;
        *p += v;
        return OK;
    default:
        return FALLBACK;  /* groups, and wire types that do not exist */
    }
}

/* ---------------------------------------------------------------------------------------------- messages */

static int message(Out *o, int type, const uint8_t *p, const uint8_t *end, int depth);

/* One scalar value (a singular field's, or one element of a repeated one) starting at *p, advancing *p.
 * `skip_default`: a proto3 field without presence at its default is not written (*written = 0). */
static int scalar(Out *o, const Field *f, const uint8_t **p, const uint8_t *end, int skip_default,
                  const char *name, Py_ssize_t name_len, int *written) {
    uint64_t v = 0;
    int64_t sv = 0;
    int rc;
    *written = 0;
#define NAME() do { if (name != NULL && put(o, name, name_len)) return ERROR; } while (0)
    switch (f->kind) {
    case K_INT64: case K_UINT64: case K_SINT64:
        if (read_varint(p, end, &v)) return FALLBACK;
        if (skip_default && v == 0) return OK;
        NAME();
        if (putc_(o, '"')) return ERROR;
        if (f->kind == K_UINT64) rc = put_u64(o, v);
        else if (f->kind == K_INT64) rc = put_i64(o, (int64_t)v);
        else rc = put_i64(o, (int64_t)(v >> 1) ^ -(int64_t)(v & 1));
        if (rc || putc_(o, '"')) return ERROR;
        break;
    case K_FIXED64: case K_SFIXED64:
        if (end - *p < 8) return FALLBACK;
        v = load64(*p);
        *p += 8;
        if (skip_default && v == 0) return OK;
        NAME();
        if (putc_(o, '"')) return ERROR;
        rc = f->kind == K_FIXED64 ? put_u64(o, v) : put_i64(o, (int64_t)v);
        if (rc || putc_(o, '"')) return ERROR;
        break;
    case K_INT32: case K_ENUM:
        if (read_varint(p, end, &v)) return FALLBACK;
        if (v > 0x7FFFFFFFu && v < 0xFFFFFFFF80000000u) return FALLBACK;  /* protobuf would truncate it */
        if (skip_default && v == 0) return OK;
        NAME();
        if (put_i64(o, (int64_t)(int32_t)(uint32_t)v)) return ERROR;
        break;
    case K_UINT32: case K_SINT32:
        if (read_varint(p, end, &v)) return FALLBACK;
        if (v > 0xFFFFFFFFu) return FALLBACK;
        if (skip_default && v == 0) return OK;
        NAME();
        if (f->kind == K_UINT32) rc = put_u64(o, v);
        else rc = put_i64(o, (int64_t)((int32_t)((uint32_t)v >> 1) ^ -(int32_t)(v & 1)));
        if (rc) return ERROR;
        break;
    case K_BOOL:
        if (read_varint(p, end, &v)) return FALLBACK;
        if (v > 1) return FALLBACK;
        if (skip_default && v == 0) return OK;
        NAME();
        if (v ? put(o, "true", 4) : put(o, "false", 5)) return ERROR;
        break;
    case K_FIXED32: case K_SFIXED32:
        if (end - *p < 4) return FALLBACK;
        v = load32(*p);
        *p += 4;
        if (skip_default && v == 0) return OK;
        NAME();
        sv = f->kind == K_FIXED32 ? (int64_t)v : (int64_t)(int32_t)(uint32_t)v;
        if (put_i64(o, sv)) return ERROR;
        break;
    case K_DOUBLE: case K_FLOAT: {
        double d;
        if (f->kind == K_DOUBLE) {
            if (end - *p < 8) return FALLBACK;
            v = load64(*p);
            *p += 8;
            memcpy(&d, &v, sizeof d);
        } else {
            uint32_t w;
            float x;
            if (end - *p < 4) return FALLBACK;
            w = load32(*p);
            *p += 4;
            memcpy(&x, &w, sizeof x);
            v = w;
            d = (double)x;
        }
        if (skip_default && v == 0) return OK;  /* +0.0; -0.0 is a value (protobuf compares the bits) */
        NAME();
        if (put_double(o, d)) return ERROR;
        break;
    }
    default: {  /* length-delimited */
        const uint8_t *payload = NULL;
        if (read_varint32(p, end, &v)) return FALLBACK;
        if (v > (uint64_t)(end - *p)) return FALLBACK;
        payload = *p;
        *p += v;
        Py_ssize_t n = (Py_ssize_t)v;
        if (f->kind == K_MESSAGE) return FALLBACK;  /* handled by the caller */
        if (skip_default && n == 0) return OK;
        NAME();
        if ((rc = put_payload(o, f->kind, payload, n))) return rc;
    }
    }
#undef NAME
    *written = 1;
    return OK;
}

static inline int packable(int kind) {
    return wire_type(kind) != 2;
}

/* A repeated field's run of tags, [start, end): the elements, packed or not, as a JSON list. */
static int repeated(Out *o, const Field *f, const uint8_t *p, const uint8_t *end, int depth,
                    int *written) {
    Py_ssize_t mark = o->len;
    int n = 0;
    *written = 0;
    if (put(o, f->name, f->name_len) || putc_(o, '[')) return ERROR;
    while (p < end) {
        uint64_t tag;
        if (read_varint32(&p, end, &tag)) return FALLBACK;
        if ((tag >> 3) != f->number) return FALLBACK;  /* cannot happen: the run was checked */
        if (f->kind == K_MESSAGE) {
            const uint8_t *payload = NULL;
            if (skip_value(&p, end, (uint32_t)(tag & 7), &payload) || (tag & 7) != 2) return FALLBACK;
            if (n++ && putc_(o, ',')) return ERROR;
            int rc = message(o, f->subtype, payload, p, depth + 1);
            if (rc) return rc;
        } else if ((tag & 7) == 2 && packable(f->kind)) {
            uint64_t len;
            if (read_varint32(&p, end, &len) || len > (uint64_t)(end - p)) return FALLBACK;
            const uint8_t *q = p, *qend = p + len;
            p = qend;
            while (q < qend) {
                int w;
                if (n++ && putc_(o, ',')) return ERROR;
                int rc = scalar(o, f, &q, qend, 0, NULL, 0, &w);
                if (rc) return rc;
            }
        } else {
            int w;
            if (n++ && putc_(o, ',')) return ERROR;
            int rc = scalar(o, f, &p, end, 0, NULL, 0, &w);
            if (rc) return rc;
        }
    }
    if (n == 0) {  /* only empty packed runs: protobuf holds an empty list, the field is left out */
        o->len = mark;
        return OK;
    }
    *written = 1;
    return putc_(o, ']');
}

static int message(Out *o, int type, const uint8_t *p, const uint8_t *end, int depth) {
    if (depth > schema->max_depth) return FALLBACK;
    const MsgType *t = &schema->types[type];
    Slot slots[MAX_FIELDS];
    memset(slots, 0, sizeof(Slot) * (size_t)t->nfields);
    uint32_t oneofs = 0;
    int last = -1;

    /* pass 1: where each field is */
    while (p < end) {
        const uint8_t *tag_start = p;
        uint64_t tag;
        if (read_varint32(&p, end, &tag)) return FALLBACK;
        uint64_t number = tag >> 3;
        uint32_t wt = (uint32_t)(tag & 7);
        if (number == 0 || number > t->max_number) return FALLBACK;
        int idx = t->by_number[number];
        if (idx < 0) return FALLBACK;  /* unknown field */
        const Field *f = &t->fields[idx];
        int expected = wire_type(f->kind);
        if ((int)wt != expected && !((f->flags & F_REPEATED) && wt == 2 && packable(f->kind))) return FALLBACK;
        const uint8_t *value = p, *payload = NULL;
        if (skip_value(&p, end, wt, &payload)) return FALLBACK;
        Slot *s = &slots[idx];
        if (f->flags & F_REPEATED) {
            if (s->count && last != idx) return FALLBACK;  /* a second run: protobuf would join them */
            if (!s->count) s->start = tag_start;
            s->end = p;
            s->count++;
        } else {
            if (s->count) return FALLBACK;  /* seen twice: protobuf would merge or overwrite */
            if (f->oneof >= 0) {
                if (oneofs & (1u << f->oneof)) return FALLBACK;  /* two members of one oneof: the last wins */
                oneofs |= 1u << f->oneof;
            }
            s->start = wt == 2 ? payload : value;
            s->end = p;
            s->count = 1;
        }
        last = idx;
    }

    /* pass 2: the fields in output order */
    if (putc_(o, '{')) return ERROR;
    int first = 1;
    for (int i = 0; i < t->nfields; i++) {
        const Field *f = &t->fields[i];
        const Slot *s = &slots[i];
        int rc, written = 0;
        Py_ssize_t mark = o->len;
        if (!s->count) {
            if (!(f->flags & F_ALWAYS)) continue;
            if (!first && putc_(o, ',')) return ERROR;
            if (put(o, f->name, f->name_len) || put(o, "\"\"", 2)) return ERROR;  /* a KeyValue's key */
            first = 0;
            continue;
        }
        if (!first && putc_(o, ',')) return ERROR;
        if (f->flags & F_REPEATED) {
            rc = repeated(o, f, s->start, s->end, depth, &written);
        } else if (f->kind == K_MESSAGE) {
            if (put(o, f->name, f->name_len)) return ERROR;
            rc = message(o, f->subtype, s->start, s->end, depth + 1);
            written = 1;
        } else {
            const uint8_t *q = s->start;
            int skip = !(f->flags & (F_PRESENCE | F_ALWAYS));
            if (wire_type(f->kind) == 2) {  /* the slot holds the payload: its length is known */
                Py_ssize_t n = s->end - s->start;
                rc = OK;
                if (n || !skip) {
                    if (put(o, f->name, f->name_len)) return ERROR;
                    rc = put_payload(o, f->kind, q, n);
                    written = 1;
                }
            } else {
                rc = scalar(o, f, &q, s->end, skip, f->name, f->name_len, &written);
            }
        }
        if (rc) return rc;
        if (written) first = 0;
        else o->len = mark;  /* nor its comma */
    }
    return putc_(o, '}');
}

/* ------------------------------------------------------------------------------------------------ module */

static void free_schema(Schema *s) {
    if (s == NULL) return;
    for (int i = 0; i < s->ntypes; i++) {
        MsgType *t = &s->types[i];
        if (t->fields != NULL)
            for (int j = 0; j < t->nfields; j++) PyMem_Free(t->fields[j].name);
        PyMem_Free(t->fields);
        PyMem_Free(t->by_number);
    }
    PyMem_Free(s->types);
    Py_XDECREF(s->dumps);
    PyMem_Free(s);
}

static int table_error(const char *what, int type, int field) {
    PyErr_Format(PyExc_ValueError, "transcoder table: %s (type %d, field %d)", what, type, field);
    return -1;
}

static int load_type(Schema *s, int ti, PyObject *fields) {
    MsgType *t = &s->types[ti];
    if (!PyTuple_Check(fields)) return table_error("a type is not a tuple", ti, -1);
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    if (n > MAX_FIELDS) return table_error("too many fields", ti, -1);
    t->fields = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Field));
    if (t->fields == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->nfields = (int)n;
    uint32_t max_number = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        Field *f = &t->fields[j];
        PyObject *item = PyTuple_GET_ITEM(fields, j), *name;
        unsigned long number;
        if (!PyTuple_Check(item)) {  /* PyArg_ParseTuple would raise SystemError */
            PyErr_Format(PyExc_TypeError, "transcoder field: a tuple expected (type %d, field %d)", ti, (int)j);
            return -1;
        }
        if (!PyArg_ParseTuple(item, "kSiiii;transcoder field", &number, &name, &f->kind, &f->flags, &f->oneof,
                              &f->subtype))
            return -1;
        if (number == 0 || number > MAX_NUMBER) return table_error("field number out of range", ti, (int)j);
        if (f->kind < 1 || f->kind > K_MAX || f->kind == 10) return table_error("unknown kind", ti, (int)j);
        if (f->kind == K_MESSAGE && (f->subtype < 0 || f->subtype >= s->ntypes))
            return table_error("bad message type index", ti, (int)j);
        if (f->oneof < -1 || f->oneof >= MAX_ONEOFS) return table_error("bad oneof index", ti, (int)j);
        f->number = (uint32_t)number;
        f->name_len = PyBytes_GET_SIZE(name);
        f->name = PyMem_Malloc((size_t)f->name_len + 1);
        if (f->name == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(f->name, PyBytes_AS_STRING(name), (size_t)f->name_len);
        if (f->number > max_number) max_number = f->number;
    }
    t->max_number = max_number;
    t->by_number = PyMem_Malloc(sizeof(int16_t) * (max_number + 1));
    if (t->by_number == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t k = 0; k <= max_number; k++) t->by_number[k] = -1;
    for (int j = 0; j < t->nfields; j++) {
        if (t->by_number[t->fields[j].number] >= 0) return table_error("field number twice", ti, j);
        t->by_number[t->fields[j].number] = (int16_t)j;
    }
    return 0;
}

PyDoc_STRVAR(configure_doc,
"configure(types, max_depth, dumps)\n--\n\n"
"Install the message tables: `types` is a tuple of types, each a tuple of fields in output order, each\n"
"(number, b'\"jsonName\":', kind, flags, oneof index or -1, message type index or -1); `dumps` formats doubles.");

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *types, *dumps;
    int max_depth;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!iO:configure", &PyTuple_Type, &types, &max_depth, &dumps)) return NULL;
    if (max_depth < 1 || max_depth > 1000) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be between 1 and 1000");
        return NULL;
    }
    Schema *s = PyMem_Calloc(1, sizeof(Schema));
    if (s == NULL) return PyErr_NoMemory();
    Py_ssize_t n = PyTuple_GET_SIZE(types);
    s->types = PyMem_Calloc((size_t)(n ? n : 1), sizeof(MsgType));
    if (s->types == NULL) {
        PyMem_Free(s);
        return PyErr_NoMemory();
    }
    s->ntypes = (int)n;
    s->max_depth = max_depth;
    Py_INCREF(dumps);
    s->dumps = dumps;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (load_type(s, (int)i, PyTuple_GET_ITEM(types, i))) {
            free_schema(s);
            return NULL;
        }
    }
    free_schema(schema);
    schema = s;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(transcode_doc,
"transcode(type, data)\n--\n\n"
"The message of table `type` serialized in `data`, as OTLP/JSON bytes; None when the Python encoder must do it.");

static PyObject *transcode(PyObject *self, PyObject *args) {
    int type;
    Py_buffer data;
    (void)self;
    if (!PyArg_ParseTuple(args, "iy*:transcode", &type, &data)) return NULL;
    if (schema == NULL || type < 0 || type >= schema->ntypes) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "transcode: no such type (configure first)");
        return NULL;
    }
    Out o = {NULL, 0, 0};
    /* OTLP/JSON is about twice the protobuf size (hex ids, names, quotes): room for a bit more than that */
    Py_ssize_t cap = data.len > (PY_SSIZE_T_MAX - 256) / 3 ? data.len : data.len / 2 * 5 + 256;
    o.buf = PyMem_Malloc((size_t)cap);
    if (o.buf == NULL) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    o.cap = cap;
    const uint8_t *p = data.buf;
    int rc = message(&o, type, p, p + data.len, 1);
    PyBuffer_Release(&data);
    PyObject *result;
    if (rc == OK) result = PyBytes_FromStringAndSize(o.buf, o.len);
    else if (rc == FALLBACK) result = Py_NewRef(Py_None);
    else result = NULL;
    PyMem_Free(o.buf);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS, configure_doc},
    {"transcode", transcode, METH_VARARGS, transcode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ctranscode",
    "Protobuf wire bytes to OTLP/JSON, table-driven (see collector/otlpjson/_transcode.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ctranscode(void) {
    return PyModule_Create(&module);
}
