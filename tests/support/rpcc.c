/* rpcc.c - the blocking MessagePack-RPC test client (see rpcc.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rpcc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Far above anything the server sends; only a runaway stream hits it. */
#define RPCC_MAX_MESSAGE (64u << 20)
#define RPCC_READ_CHUNK  (64u * 1024)

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on `fd` until `deadline` (monotonic ms). Returns 1 when
 * ready (or in error/hang-up: the next call reports it), 0 on timeout. */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - mono_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return 1; /* let the caller's system call report the problem */
        if (r == 0 && mono_ms() >= deadline)
            return 0;
    }
}

int rpcc_connect(rpcc_t *c, const char *path)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    proto_scan_init(&c->scan, RPCC_MAX_MESSAGE, PROTO_SCAN_DEPTH_CAP);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* A blocking connect waits while the listen backlog is full: bound it. */
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    c->fd = fd;
    return 0;
}

void rpcc_close(rpcc_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

int rpcc_shutdown_write(rpcc_t *c)
{
    return shutdown(c->fd, SHUT_WR) == 0 ? 0 : -1;
}

int rpcc_send(rpcc_t *c, const void *p, size_t n, int timeout_ms)
{
    const uint8_t *b = p;
    size_t off = 0;
    long long deadline = mono_ms() + timeout_ms;
    while (off < n) {
        ssize_t w = send(c->fd, b + off, n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(c->fd, POLLOUT, deadline))
                return RPCC_TIMEOUT;
            continue;
        }
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
            return RPCC_CLOSED;
        fprintf(stderr, "rpcc: send: %s\n", w < 0 ? strerror(errno) : "wrote nothing");
        return RPCC_ESYS;
    }
    return RPCC_OK;
}

/* Makes room for one more read chunk. Returns 0 or -1. */
static int grow_input(rpcc_t *c)
{
    if (c->in_cap - c->in_len >= RPCC_READ_CHUNK)
        return 0;
    size_t cap = c->in_cap ? c->in_cap * 2 : 2 * RPCC_READ_CHUNK;
    while (cap - c->in_len < RPCC_READ_CHUNK)
        cap *= 2;
    if (cap > 2 * (size_t)RPCC_MAX_MESSAGE)
        return -1;
    uint8_t *p = realloc(c->in, cap);
    if (!p)
        return -1;
    c->in = p;
    c->in_cap = cap;
    return 0;
}

/* One recv into the input buffer, waiting until `deadline`. Returns RPCC_OK
 * when bytes arrived, or another rpcc_status_t. */
static int fill_input(rpcc_t *c, long long deadline)
{
    if (grow_input(c) != 0) {
        fprintf(stderr, "rpcc: input buffer cannot grow past %zu bytes\n", c->in_cap);
        return RPCC_ESYS;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n > 0) {
            c->in_len += (size_t)n;
            return RPCC_OK;
        }
        if (n == 0)
            return RPCC_CLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_fd(c->fd, POLLIN, deadline))
                return RPCC_TIMEOUT;
            continue;
        }
        if (errno == ECONNRESET || errno == EPIPE)
            return RPCC_CLOSED;
        fprintf(stderr, "rpcc: recv: %s\n", strerror(errno));
        return RPCC_ESYS;
    }
}

int rpcc_read(rpcc_t *c, msgpack_unpacked *out, int timeout_ms)
{
    msgpack_unpacked_init(out);
    if (c->fd < 0)
        return RPCC_CLOSED;
    long long deadline = mono_ms() + timeout_ms;
    for (;;) {
        if (c->in_len > 0) {
            size_t mlen = 0;
            int r = proto_scan_feed(&c->scan, c->in, c->in_len, &mlen);
            if (r == PROTO_SCAN_COMPLETE) {
                /* Decoded strings point into the bytes they came from, so
                 * the message gets a copy that lives in out's own zone. */
                size_t off = 0;
                msgpack_unpack_return ur = MSGPACK_UNPACK_NOMEM_ERROR;
                out->zone = msgpack_zone_new(mlen + 1024);
                char *copy = out->zone ? msgpack_zone_malloc(out->zone, mlen) : NULL;
                if (copy) {
                    memcpy(copy, c->in, mlen);
                    ur = msgpack_unpack(copy, mlen, &off, out->zone, &out->data);
                }
                proto_scan_reset(&c->scan);
                memmove(c->in, c->in + mlen, c->in_len - mlen);
                c->in_len -= mlen;
                if (ur != MSGPACK_UNPACK_SUCCESS || off != mlen) {
                    fprintf(stderr, "rpcc: msgpack_unpack failed (%d) on a scanned message\n",
                            (int)ur);
                    return RPCC_EPROTO;
                }
                return RPCC_OK;
            }
            if (r < 0) {
                fprintf(stderr, "rpcc: the server sent bytes that do not scan: %s\n",
                        proto_scan_strerror(r));
                return RPCC_EPROTO;
            }
        }
        int f = fill_input(c, deadline);
        if (f != RPCC_OK)
            return f;
    }
}

int rpcc_drain_until_closed(rpcc_t *c, size_t max_discard, int timeout_ms)
{
    long long deadline = mono_ms() + timeout_ms;
    size_t discarded = 0;
    for (;;) {
        discarded += c->in_len;
        c->in_len = 0;
        proto_scan_reset(&c->scan);
        if (discarded > max_discard)
            return RPCC_EPROTO;
        int f = fill_input(c, deadline);
        if (f != RPCC_OK)
            return f;
    }
}

void rpcc_pack_request(msgpack_sbuffer *sb, uint32_t msgid, const char *method,
                       const rpcc_arg_t *args, size_t nargs)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, 0);
    msgpack_pack_uint32(&pk, msgid);
    msgpack_pack_str_with_body(&pk, method, strlen(method));
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, nargs);
    for (size_t i = 0; i < nargs; i++) {
        const rpcc_arg_t *a = &args[i];
        msgpack_pack_str_with_body(&pk, a->key, strlen(a->key));
        switch (a->type) {
        case RPCC_ARG_STR: msgpack_pack_str_with_body(&pk, a->ptr, a->len); break;
        case RPCC_ARG_BIN: msgpack_pack_bin_with_body(&pk, a->ptr, a->len); break;
        case RPCC_ARG_INT: msgpack_pack_int64(&pk, a->i); break;
        case RPCC_ARG_BOOL:
            if (a->i)
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
            break;
        case RPCC_ARG_NIL: msgpack_pack_nil(&pk); break;
        case RPCC_ARG_RAW: msgpack_sbuffer_write(sb, a->ptr, a->len); break;
        case RPCC_ARG_TIME: rpcc_pack_time_ms(&pk, a->i); break;
        case RPCC_ARG_FLOAT: msgpack_pack_double(&pk, a->f); break;
        }
    }
}

void rpcc_pack_time_ms(msgpack_packer *pk, int64_t unix_ms)
{
    /* C division truncates toward zero; a timestamp wants the floor. */
    int64_t sec = unix_ms / 1000, rem = unix_ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec--;
    }
    msgpack_timestamp ts = {.tv_sec = sec, .tv_nsec = (uint32_t)rem * 1000000u};
    msgpack_pack_timestamp(pk, &ts);
}

int rpcc_send_request(rpcc_t *c, uint32_t msgid, const char *method, const rpcc_arg_t *args,
                      size_t nargs, int timeout_ms)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_pack_request(&sb, msgid, method, args, nargs);
    int rc = rpcc_send(c, sb.data, sb.size, timeout_ms);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

const char *rpcc_status_name(int status)
{
    switch (status) {
    case RPCC_OK: return "OK";
    case RPCC_CLOSED: return "CLOSED";
    case RPCC_TIMEOUT: return "TIMEOUT";
    case RPCC_EPROTO: return "EPROTO";
    case RPCC_ESYS: return "ESYS";
    default: return "?";
    }
}

void rpcc_print(const char *label, const msgpack_object *o)
{
    char buf[2048];
    if (!o) {
        fprintf(stderr, "rpcc: %s: (none)\n", label);
        return;
    }
    int n = msgpack_object_print_buffer(buf, sizeof buf, *o);
    if (n < 0)
        n = 0;
    buf[(size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1] = '\0';
    fprintf(stderr, "rpcc: %s: %s%s\n", label, buf,
            (size_t)n >= sizeof buf - 1 ? " (truncated)" : "");
}

bool rpcc_response_parts(const msgpack_object *msg, uint32_t *msgid, const msgpack_object **error,
                         const msgpack_object **result)
{
    uint64_t type, id;
    if (msg->type != MSGPACK_OBJECT_ARRAY || msg->via.array.size != 4 ||
        !rpcc_obj_u64(&msg->via.array.ptr[0], &type) || type != 1 ||
        !rpcc_obj_u64(&msg->via.array.ptr[1], &id) || id > UINT32_MAX)
        return false;
    *msgid = (uint32_t)id;
    *error = &msg->via.array.ptr[2];
    *result = &msg->via.array.ptr[3];
    return true;
}

bool rpcc_error_is(const msgpack_object *err, const char *name)
{
    int64_t code;
    if (err->type != MSGPACK_OBJECT_ARRAY || err->via.array.size != 4 ||
        !rpcc_obj_i64(&err->via.array.ptr[0], &code) ||
        err->via.array.ptr[1].type != MSGPACK_OBJECT_STR ||
        err->via.array.ptr[2].type != MSGPACK_OBJECT_STR ||
        err->via.array.ptr[3].type != MSGPACK_OBJECT_MAP) {
        rpcc_print("not an error object [code, NAME, message, details]", err);
        return false;
    }
    if (name && !rpcc_obj_str_eq(&err->via.array.ptr[1], name)) {
        fprintf(stderr, "rpcc: expected error %s\n", name);
        rpcc_print("got error", err);
        return false;
    }
    return true;
}

const msgpack_object *rpcc_error_details(const msgpack_object *err)
{
    if (err->type != MSGPACK_OBJECT_ARRAY || err->via.array.size != 4 ||
        err->via.array.ptr[3].type != MSGPACK_OBJECT_MAP)
        return NULL;
    return &err->via.array.ptr[3];
}

/* Reads one message for an expect helper, printing a failed read. */
static bool read_for_expect(rpcc_t *c, msgpack_unpacked *out, int timeout_ms, const char *what)
{
    int r = rpcc_read(c, out, timeout_ms);
    if (r != RPCC_OK) {
        fprintf(stderr, "rpcc: waiting for %s: %s\n", what, rpcc_status_name(r));
        return false;
    }
    return true;
}

const msgpack_object *rpcc_expect_result(rpcc_t *c, uint32_t msgid, msgpack_unpacked *out,
                                         int timeout_ms)
{
    if (!read_for_expect(c, out, timeout_ms, "a result"))
        return NULL;
    uint32_t id;
    const msgpack_object *err, *res;
    if (!rpcc_response_parts(&out->data, &id, &err, &res) || id != msgid ||
        err->type != MSGPACK_OBJECT_NIL) {
        fprintf(stderr, "rpcc: expected the result of request %u\n", (unsigned)msgid);
        rpcc_print("got", &out->data);
        return NULL;
    }
    return res;
}

const msgpack_object *rpcc_expect_error(rpcc_t *c, uint32_t msgid, const char *name,
                                        msgpack_unpacked *out, int timeout_ms)
{
    if (!read_for_expect(c, out, timeout_ms, "an error"))
        return NULL;
    uint32_t id;
    const msgpack_object *err, *res;
    if (!rpcc_response_parts(&out->data, &id, &err, &res) || id != msgid ||
        err->type == MSGPACK_OBJECT_NIL || res->type != MSGPACK_OBJECT_NIL) {
        fprintf(stderr, "rpcc: expected error %s for request %u\n", name, (unsigned)msgid);
        rpcc_print("got", &out->data);
        return NULL;
    }
    return rpcc_error_is(err, name) ? err : NULL;
}

const msgpack_object *rpcc_notify_error(const msgpack_object *msg)
{
    uint64_t type;
    if (msg->type != MSGPACK_OBJECT_ARRAY || msg->via.array.size != 3 ||
        !rpcc_obj_u64(&msg->via.array.ptr[0], &type) || type != 2 ||
        !rpcc_obj_str_eq(&msg->via.array.ptr[1], "server.error"))
        return NULL;
    const msgpack_object *params = &msg->via.array.ptr[2];
    if (params->type != MSGPACK_OBJECT_ARRAY || params->via.array.size != 1)
        return NULL;
    return &params->via.array.ptr[0];
}

int rpcc_expect_fatal(rpcc_t *c, long long msgid, const char *name, int timeout_ms)
{
    msgpack_unpacked u;
    bool ok = read_for_expect(c, &u, timeout_ms, name);
    if (ok) {
        uint32_t id;
        const msgpack_object *err = rpcc_notify_error(&u.data), *res = NULL;
        if (err) {
            ok = msgid < 0;
        } else if (rpcc_response_parts(&u.data, &id, &err, &res)) {
            ok = msgid == RPCC_AS_ANY || (msgid >= 0 && id == (uint32_t)msgid);
            ok = ok && res->type == MSGPACK_OBJECT_NIL;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "rpcc: expected protocol error %s %s\n", name,
                    msgid >= 0                ? "as an error response"
                    : msgid == RPCC_AS_NOTIFY ? "as a server.error notification"
                                              : "as a notification or error response");
            rpcc_print("got", &u.data);
        } else {
            ok = rpcc_error_is(err, name);
        }
    }
    msgpack_unpacked_destroy(&u);
    if (!ok)
        return -1;
    return rpcc_expect_closed(c, timeout_ms);
}

int rpcc_expect_closed(rpcc_t *c, int timeout_ms)
{
    msgpack_unpacked u;
    int r = rpcc_read(c, &u, timeout_ms);
    int rc = -1;
    if (r == RPCC_CLOSED && c->in_len == 0) {
        rc = 0;
    } else if (r == RPCC_CLOSED) {
        fprintf(stderr, "rpcc: closed after %zu bytes of an incomplete message\n", c->in_len);
    } else if (r == RPCC_OK) {
        rpcc_print("expected the connection to close, but got", &u.data);
    } else {
        fprintf(stderr, "rpcc: expected the connection to close within %d ms: %s\n", timeout_ms,
                rpcc_status_name(r));
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

int rpcc_ping(rpcc_t *c, uint32_t msgid, int timeout_ms)
{
    int r = rpcc_send_request(c, msgid, "server.ping", NULL, 0, timeout_ms);
    if (r != RPCC_OK) {
        fprintf(stderr, "rpcc: sending ping %u: %s\n", (unsigned)msgid, rpcc_status_name(r));
        return -1;
    }
    msgpack_unpacked u;
    const msgpack_object *res = rpcc_expect_result(c, msgid, &u, timeout_ms);
    int rc = res && rpcc_obj_str_eq(res, "pong") ? 0 : -1;
    if (res && rc != 0)
        rpcc_print("expected \"pong\", got", res);
    msgpack_unpacked_destroy(&u);
    return rc;
}

int rpcc_ping_fresh(const char *path, int timeout_ms)
{
    rpcc_t c;
    int r = rpcc_connect(&c, path);
    if (r != 0) {
        fprintf(stderr, "rpcc: connect %s: %s\n", path, strerror(-r));
        rpcc_close(&c);
        return -1;
    }
    int rc = rpcc_ping(&c, 1, timeout_ms);
    rpcc_close(&c);
    return rc;
}

const msgpack_object *rpcc_call(rpcc_t *c, uint32_t msgid, const char *method,
                                const rpcc_arg_t *args, size_t nargs, msgpack_unpacked *out,
                                int timeout_ms)
{
    int r = rpcc_send_request(c, msgid, method, args, nargs, timeout_ms);
    if (r != RPCC_OK) {
        msgpack_unpacked_init(out);
        fprintf(stderr, "rpcc: sending %s: %s\n", method, rpcc_status_name(r));
        return NULL;
    }
    return rpcc_expect_result(c, msgid, out, timeout_ms);
}

const msgpack_object *rpcc_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        if (rpcc_obj_str_eq(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

const msgpack_object *rpcc_dig(const msgpack_object *obj, ...)
{
    va_list ap;
    va_start(ap, obj);
    for (const char *key = va_arg(ap, const char *); key && obj; key = va_arg(ap, const char *))
        obj = rpcc_map_get(obj, key);
    va_end(ap);
    return obj;
}

bool rpcc_obj_u64(const msgpack_object *o, uint64_t *v)
{
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *v = o->via.u64;
    return true;
}

bool rpcc_obj_i64(const msgpack_object *o, int64_t *v)
{
    if (!o)
        return false;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return true;
    }
    return false;
}

bool rpcc_obj_str_eq(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

bool rpcc_obj_bytes_eq(const msgpack_object *o, const void *p, size_t n)
{
    if (!o)
        return false;
    if (o->type == MSGPACK_OBJECT_STR)
        return o->via.str.size == n && (n == 0 || memcmp(o->via.str.ptr, p, n) == 0);
    if (o->type == MSGPACK_OBJECT_BIN)
        return o->via.bin.size == n && (n == 0 || memcmp(o->via.bin.ptr, p, n) == 0);
    return false;
}

const msgpack_object *rpcc_call_error(rpcc_t *c, uint32_t msgid, const char *method,
                                      const rpcc_arg_t *args, size_t nargs, const char *name,
                                      msgpack_unpacked *out, int timeout_ms)
{
    int r = rpcc_send_request(c, msgid, method, args, nargs, timeout_ms);
    if (r != RPCC_OK) {
        msgpack_unpacked_init(out);
        fprintf(stderr, "rpcc: sending %s: %s\n", method, rpcc_status_name(r));
        return NULL;
    }
    return rpcc_expect_error(c, msgid, name, out, timeout_ms);
}

bool rpcc_error_field_is(const msgpack_object *err, const char *field)
{
    const msgpack_object *got = rpcc_map_get(rpcc_error_details(err), "field");
    if (rpcc_obj_str_eq(got, field))
        return true;
    fprintf(stderr, "rpcc: expected the error to name field \"%s\"\n", field);
    rpcc_print("got error", err);
    return false;
}

bool rpcc_obj_time_ms(const msgpack_object *o, int64_t *unix_ms)
{
    msgpack_timestamp ts;
    if (!o || o->type != MSGPACK_OBJECT_EXT || o->via.ext.type != -1 ||
        !msgpack_object_to_timestamp(o, &ts) || ts.tv_nsec > 999999999u ||
        ts.tv_nsec % 1000000u != 0)
        return false;
    *unix_ms = ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000u);
    return true;
}

bool rpcc_map_keys_are(const msgpack_object *map, ...)
{
    bool ok = map && map->type == MSGPACK_OBJECT_MAP;
    uint32_t want = 0;
    va_list ap;
    va_start(ap, map);
    for (const char *key = va_arg(ap, const char *); key; key = va_arg(ap, const char *)) {
        want++;
        unsigned seen = 0;
        for (uint32_t i = 0; ok && i < map->via.map.size; i++)
            seen += rpcc_obj_str_eq(&map->via.map.ptr[i].key, key);
        if (ok && seen != 1) {
            fprintf(stderr, "rpcc: key \"%s\" appears %u times, want once\n", key, seen);
            ok = false;
        }
    }
    va_end(ap);
    /* Every wanted key appears once, so equal counts mean nothing else. */
    if (ok && map->via.map.size != want) {
        fprintf(stderr, "rpcc: %u keys, want %u\n", (unsigned)map->via.map.size, (unsigned)want);
        ok = false;
    }
    if (!ok)
        rpcc_print("map", map);
    return ok;
}

void rpcc_connect_or_fail(rpcc_t *c, const char *path)
{
    int r = rpcc_connect(c, path);
    if (r != 0)
        fail_msg("connect %s: %s", path, strerror(-r));
}
