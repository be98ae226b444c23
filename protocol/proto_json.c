/* proto_json.c - MessagePack <-> JSON for extra fields. */
#include "proto_json.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_rpc.h"

/* Appends already-packed bytes to a packer's output. */
static void pack_raw(msgpack_packer *pk, const uint8_t *p, size_t n)
{
    if (n)
        pk->callback(pk->data, (const char *)p, n);
}

static int put(proto_buf_t *out, const char *s, size_t n)
{
    return proto_buf_append(out, s, n);
}

static int write_string(const char *s, size_t n, proto_buf_t *out)
{
    static const char hex[] = "0123456789abcdef";
    if (put(out, "\"", 1))
        return -1;
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        if (put(out, s + i - run, run))
            return -1;
        run = 0;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"':
        case '\\': break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (put(out, esc, elen))
            return -1;
    }
    if (put(out, s + n - run, run))
        return -1;
    return put(out, "\"", 1);
}

int proto_json_write(const msgpack_object *o, proto_buf_t *out)
{
    char num[40];
    int n;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return put(out, "null", 4);
    case MSGPACK_OBJECT_BOOLEAN: return o->via.boolean ? put(out, "true", 4) : put(out, "false", 5);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        n = snprintf(num, sizeof num, "%llu", (unsigned long long)o->via.u64);
        return put(out, num, (size_t)n);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        n = snprintf(num, sizeof num, "%lld", (long long)o->via.i64);
        return put(out, num, (size_t)n);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return -1;
        n = snprintf(num, sizeof num, "%.17g", o->via.f64);
        /* Keep it a float when read back: 1.0 must not become 1. */
        if (!strpbrk(num, ".eE") && (size_t)n + 2 < sizeof num) {
            memcpy(num + n, ".0", 3);
            n += 2;
        }
        return put(out, num, (size_t)n);
    case MSGPACK_OBJECT_STR: return write_string(o->via.str.ptr, o->via.str.size, out);
    case MSGPACK_OBJECT_ARRAY:
        if (put(out, "[", 1))
            return -1;
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if ((i && put(out, ",", 1)) || proto_json_write(&o->via.array.ptr[i], out))
                return -1;
        }
        return put(out, "]", 1);
    case MSGPACK_OBJECT_MAP: {
        if (put(out, "{", 1))
            return -1;
        uint32_t count = 0;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR)
                return -1; /* JSON keys are strings */
            if (proto_json_write_member(kv->key.via.str.ptr, kv->key.via.str.size, &kv->val, out,
                                        &count))
                return -1;
        }
        return put(out, "}", 1);
    }
    case MSGPACK_OBJECT_EXT: {
        int64_t ms;
        if (proto_obj_time_ms(o, &ms) != 0)
            return -1;
        n = snprintf(num, sizeof num, "{\"$date\":%lld}", (long long)ms);
        return put(out, num, (size_t)n);
    }
    default: return -1;
    }
}

int proto_json_write_member(const char *key, size_t klen, const msgpack_object *val,
                            proto_buf_t *out, uint32_t *count)
{
    /* A member named "$date" gets its '$' escaped: the reader takes only the
     * unescaped {"$date":ms} for a timestamp, so a map that merely looks
     * like one comes back as a map. */
    bool date_like = klen == 5 && memcmp(key, "$date", 5) == 0;
    if ((*count && put(out, ",", 1)) ||
        (date_like ? put(out, "\"\\u0024date\"", 12) : write_string(key, klen, out)) ||
        put(out, ":", 1) || proto_json_write(val, out))
        return -1;
    (*count)++;
    return 0;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct {
    const char *p, *end; /* unread text */
    msgpack_packer *pk;  /* output */
    proto_buf_t str;     /* scratch for decoded strings */
    bool nomem;          /* a scratch buffer could not grow: not the text's fault */
} reader_t;

static void skip_ws(reader_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d = (c >= '0' && c <= '9')   ? (unsigned)(c - '0')
                     : (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 10)
                     : (c >= 'A' && c <= 'F') ? (unsigned)(c - 'A' + 10)
                                              : 16u;
        if (d > 15)
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static int put_utf8(proto_buf_t *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return proto_buf_append(b, u, n);
}

/* Reads a string (the opening quote is at r->p) into r->str. */
static int read_string(reader_t *r)
{
    r->str.len = 0;
    r->p++;
    while (r->p < r->end && *r->p != '"') {
        const char *start = r->p;
        while (r->p < r->end && *r->p != '"' && *r->p != '\\' && (unsigned char)*r->p >= 0x20)
            r->p++;
        if (proto_buf_append(&r->str, start, (size_t)(r->p - start)))
            return -1;
        if (r->p >= r->end || *r->p == '"')
            break;
        if ((unsigned char)*r->p < 0x20 || r->end - r->p < 2)
            return -1;
        char e = r->p[1];
        r->p += 2;
        char c;
        switch (e) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (r->end - r->p < 4 || hex4(r->p, &cp))
                return -1;
            r->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair */
                if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                r->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return -1;
            }
            if (put_utf8(&r->str, cp))
                return -1;
            continue;
        }
        default: return -1;
        }
        if (proto_buf_append(&r->str, &c, 1))
            return -1;
    }
    if (r->p >= r->end)
        return -1;
    r->p++;
    return 0;
}

static int read_number(reader_t *r)
{
    const char *start = r->p;
    bool is_float = false;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    while (r->p < r->end) {
        char c = *r->p;
        if (c == '.' || c == 'e' || c == 'E' || c == '+' || (c == '-' && r->p != start))
            is_float = true;
        else if (c < '0' || c > '9')
            break;
        r->p++;
    }
    char num[64];
    size_t n = (size_t)(r->p - start);
    if (n == 0 || n >= sizeof num)
        return -1;
    memcpy(num, start, n);
    num[n] = '\0';
    char *end = NULL;
    if (!is_float) {
        errno = 0;
        if (num[0] == '-') {
            long long v = strtoll(num, &end, 10);
            if (errno == 0 && *end == '\0')
                return msgpack_pack_int64(r->pk, v);
        } else {
            unsigned long long v = strtoull(num, &end, 10);
            if (errno == 0 && *end == '\0')
                return msgpack_pack_uint64(r->pk, v);
        }
        /* Too big for 64 bits: keep it as a float, as JavaScript would. */
    }
    double d = strtod(num, &end);
    if (*end != '\0')
        return -1;
    return msgpack_pack_double(r->pk, d);
}

static int read_value(reader_t *r, int depth);

/* After an element of an object or array: 1 when a ',' announces another,
 * 0 when `close` ends the container, -1 for anything else. */
static int after_element(reader_t *r, char close)
{
    skip_ws(r);
    if (r->p < r->end && (*r->p == ',' || *r->p == close))
        return *r->p++ == ',' ? 1 : 0;
    return -1;
}

/* Reads an object's members, packing each key and value; counts them. */
static int read_members(reader_t *r, int depth, uint32_t *count)
{
    *count = 0;
    r->p++; /* '{' */
    skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return 0;
    }
    for (;;) {
        skip_ws(r);
        if (r->p >= r->end || *r->p != '"' || read_string(r))
            return -1;
        proto_pack_str(r->pk, (const char *)r->str.data, r->str.len);
        skip_ws(r);
        if (r->p >= r->end || *r->p != ':')
            return -1;
        r->p++;
        if (read_value(r, depth + 1))
            return -1;
        (*count)++;
        int next = after_element(r, '}');
        if (next <= 0)
            return next;
    }
}

/* {"$date": <integer>} exactly: a timestamp. Looks ahead without packing. */
static bool try_date(reader_t *r)
{
    static const char head[] = "{\"$date\":";
    const char *p = r->p;
    if ((size_t)(r->end - p) < sizeof head || memcmp(p, head, sizeof head - 1) != 0)
        return false;
    p += sizeof head - 1;
    char *end = NULL;
    char num[32];
    size_t n = 0;
    while (p + n < r->end && n < sizeof num - 1 && (p[n] == '-' || (p[n] >= '0' && p[n] <= '9')))
        n++;
    if (n == 0 || p + n >= r->end || p[n] != '}')
        return false;
    memcpy(num, p, n);
    num[n] = '\0';
    errno = 0;
    long long ms = strtoll(num, &end, 10);
    if (errno != 0 || *end != '\0' || ms > PROTO_TIME_MAX_MS || ms < -PROTO_TIME_MAX_MS)
        return false;
    proto_pack_time_ms(r->pk, ms);
    r->p = p + n + 1;
    return true;
}

/* Reads an array's items, packing each; counts them. */
static int read_items(reader_t *r, int depth, uint32_t *count)
{
    *count = 0;
    r->p++; /* '[' */
    skip_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return 0;
    }
    for (;;) {
        if (read_value(r, depth + 1))
            return -1;
        (*count)++;
        int next = after_element(r, ']');
        if (next <= 0)
            return next;
    }
}

/* Packs a map or array whose size is known only once it has been read:
 * `body` packs the elements into scratch space while counting them, then
 * the header and the elements go to the real packer. */
static int pack_counted(reader_t *r, int depth, bool map, int (*body)(reader_t *, int, uint32_t *))
{
    proto_buf_t scratch;
    proto_buf_init(&scratch);
    msgpack_packer inner, *outer = r->pk;
    msgpack_packer_init(&inner, &scratch, proto_buf_msgpack_write);
    r->pk = &inner;
    uint32_t count = 0;
    int rc = body(r, depth, &count);
    r->pk = outer;
    if (rc == 0 && !scratch.failed) {
        if (map)
            msgpack_pack_map(outer, count);
        else
            msgpack_pack_array(outer, count);
        pack_raw(outer, scratch.data, scratch.len);
    }
    if (scratch.failed)
        r->nomem = true;
    rc = rc || scratch.failed ? -1 : 0;
    proto_buf_deinit(&scratch);
    return rc;
}

static int read_value(reader_t *r, int depth)
{
    if (depth > PROTO_JSON_MAX_DEPTH)
        return -1;
    skip_ws(r);
    if (r->p >= r->end)
        return -1;
    switch (*r->p) {
    case '{': return try_date(r) ? 0 : pack_counted(r, depth, true, read_members);
    case '[': return pack_counted(r, depth, false, read_items);
    case '"':
        if (read_string(r))
            return -1;
        proto_pack_str(r->pk, (const char *)r->str.data, r->str.len);
        return 0;
    case 't':
        if (r->end - r->p < 4 || memcmp(r->p, "true", 4))
            return -1;
        r->p += 4;
        return msgpack_pack_true(r->pk);
    case 'f':
        if (r->end - r->p < 5 || memcmp(r->p, "false", 5))
            return -1;
        r->p += 5;
        return msgpack_pack_false(r->pk);
    case 'n':
        if (r->end - r->p < 4 || memcmp(r->p, "null", 4))
            return -1;
        r->p += 4;
        return msgpack_pack_nil(r->pk);
    default: return read_number(r) < 0 ? -1 : 0;
    }
}

int proto_json_pack(msgpack_packer *pk, const char *json, size_t len, uint32_t *members)
{
    reader_t r = {json, json + len, pk, {0}, false};
    proto_buf_init(&r.str);
    int rc;
    if (members) {
        skip_ws(&r);
        rc = (r.p < r.end && *r.p == '{') ? read_members(&r, 1, members) : -1;
    } else {
        rc = read_value(&r, 1);
    }
    skip_ws(&r);
    if (rc == 0 && r.p != r.end)
        rc = -1; /* trailing text */
    if (rc != 0 && (r.nomem || r.str.failed))
        rc = PROTO_JSON_NOMEM; /* not the text's fault */
    proto_buf_deinit(&r.str);
    return rc;
}
