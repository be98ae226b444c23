/* dispatch.c - the method table and the checklist every request passes:
 * decode, lookup, params shape, argument names, types and limits; then the
 * handler, on the loop thread for reads or on the writer for writes. */
#include "dispatch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "proto_errors.h"
#include "proto_rpc.h"

#define ARGS(a) a, (unsigned)(sizeof a / sizeof a[0])
#define NO_ARGS NULL, 0

#ifdef NOORMME_TEST_METHODS
static const cmd_arg_t test_write_args[] = {
    {"key", CMD_T_STR, true, 256},
    {"value", CMD_T_STR | CMD_T_BIN, true, 65536},
    {"fail", CMD_T_BOOL, false, 0}, /* write, then fail: the savepoint must undo it */
};
static const cmd_arg_t test_get_args[] = {
    {"key", CMD_T_STR, true, 256},
};
static const cmd_arg_t test_sleep_args[] = {
    {"ms", CMD_T_INT, true, 0},
};
#endif

/* The method table. A read runs on the loop thread against the read-only
 * connection; a write runs on the writer thread inside its own savepoint of
 * a group-commit transaction and is answered after the commit. */
const cmd_method_t cmd_methods[] = {
    {"server.ping", cmd_admin_ping, false, NO_ARGS},
    {"server.version", cmd_admin_version, false, NO_ARGS},
    {"server.stats", cmd_admin_stats, false, NO_ARGS},
#ifdef NOORMME_TEST_METHODS
    {"test.write", cmd_test_write, true, ARGS(test_write_args)},
    {"test.get", cmd_test_get, false, ARGS(test_get_args)},
    {"test.count", cmd_test_count, false, NO_ARGS},
    {"test.sleep", cmd_test_sleep, true, ARGS(test_sleep_args)},
#endif
};
const unsigned cmd_method_count = sizeof cmd_methods / sizeof cmd_methods[0];

/* A queued write: owns a copy of the message (the decoded arguments point
 * into it), the zone they were decoded into, and the result bytes. */
typedef struct {
    writer_job_t base;        /* must be first */
    server_t *srv;            /* shared state */
    unsigned method;          /* index into cmd_methods */
    void *owner;              /* connection to answer */
    bool notify;              /* notification: no reply */
    uint32_t msgid;           /* request id */
    uint64_t t0_ns;           /* when the request was dispatched */
    msgpack_zone zone;        /* decoded arguments */
    const msgpack_object *arg[CMD_MAX_ARGS]; /* by spec position */
    proto_buf_t result;       /* packed result object */
    size_t len;               /* message bytes */
    uint8_t msg[];            /* message copy */
} dispatch_job_t;

int cmd_fail(cmd_ctx_t *ctx, int code, const char *field, const char *fmt, ...)
{
    proto_err_set(ctx->err, code, NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err->message, sizeof ctx->err->message, fmt, ap);
    va_end(ap);
    if (field)
        proto_err_detail(ctx->err, "field", field, strlen(field));
    return code < 0 ? code : -code;
}

int dispatch_init(server_t *srv)
{
    srv->method_stats = calloc(cmd_method_count, sizeof *srv->method_stats);
    return srv->method_stats ? 0 : -1;
}

void dispatch_deinit(server_t *srv)
{
    free(srv->method_stats);
    srv->method_stats = NULL;
}

static int method_lookup(proto_str_t name)
{
    for (unsigned i = 0; i < cmd_method_count; i++) {
        if (strlen(cmd_methods[i].name) == name.len &&
            memcmp(cmd_methods[i].name, name.ptr, name.len) == 0)
            return (int)i;
    }
    return -1;
}

static const char *type_words(unsigned types)
{
    static const struct {
        unsigned bit;
        const char *word;
    } names[] = {{CMD_T_NIL, "nil"},     {CMD_T_BOOL, "boolean"}, {CMD_T_INT, "integer"},
                 {CMD_T_FLOAT, "float"}, {CMD_T_STR, "string"},   {CMD_T_BIN, "binary"},
                 {CMD_T_ARRAY, "array"}, {CMD_T_MAP, "map"},      {CMD_T_TIME, "timestamp"}};
    static char buf[128];
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (types & names[i].bit) {
            if (buf[0])
                strcat(buf, " or ");
            strcat(buf, names[i].word);
        }
    }
    return buf;
}

static unsigned type_bit(const msgpack_object *o, uint32_t *len)
{
    *len = 0;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return CMD_T_NIL;
    case MSGPACK_OBJECT_BOOLEAN: return CMD_T_BOOL;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return CMD_T_INT;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return CMD_T_FLOAT;
    case MSGPACK_OBJECT_STR: *len = o->via.str.size; return CMD_T_STR;
    case MSGPACK_OBJECT_BIN: *len = o->via.bin.size; return CMD_T_BIN;
    case MSGPACK_OBJECT_ARRAY: *len = o->via.array.size; return CMD_T_ARRAY;
    case MSGPACK_OBJECT_MAP: *len = o->via.map.size; return CMD_T_MAP;
    case MSGPACK_OBJECT_EXT: {
        int64_t ms;
        return proto_obj_time_ms(o, &ms) == 0 ? CMD_T_TIME : 0;
    }
    default: return 0;
    }
}

/* The checklist: binds each argument to its spec position, or fails with the
 * first problem found, naming the field. */
static int bind_args(const cmd_method_t *m, const msgpack_object *map,
                     const msgpack_object *arg[CMD_MAX_ARGS], proto_err_t *err)
{
    memset(arg, 0, sizeof(arg[0]) * CMD_MAX_ARGS);
    uint32_t n = map ? map->via.map.size : 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR)
            return proto_err_set(err, PROTO_E_INVALID_PARAMS, "argument names must be strings");
        const char *key = kv->key.via.str.ptr;
        uint32_t klen = kv->key.via.str.size;
        unsigned a = 0;
        while (a < m->nargs && !(strlen(m->args[a].name) == klen &&
                                 memcmp(m->args[a].name, key, klen) == 0))
            a++;
        if (a == m->nargs) {
            char shown[68];
            proto_err_set(err, PROTO_E_UNKNOWN_FIELD, "%s takes no argument named \"%s\"",
                          m->name, proto_str_printable(shown, sizeof shown, key, klen));
            proto_err_detail(err, "field", key, klen);
            return -PROTO_E_UNKNOWN_FIELD;
        }
        const cmd_arg_t *spec = &m->args[a];
        if (arg[a]) {
            proto_err_set(err, PROTO_E_INVALID_ARGUMENT, "argument \"%s\" is given twice",
                          spec->name);
            proto_err_detail(err, "field", spec->name, strlen(spec->name));
            return -PROTO_E_INVALID_ARGUMENT;
        }
        uint32_t len;
        unsigned bit = type_bit(&kv->val, &len);
        if (!(bit & spec->types)) {
            proto_err_set(err, PROTO_E_INVALID_ARGUMENT, "argument \"%s\" must be %s",
                          spec->name, type_words(spec->types));
            proto_err_detail(err, "field", spec->name, strlen(spec->name));
            return -PROTO_E_INVALID_ARGUMENT;
        }
        if (spec->max_len && len > spec->max_len) {
            proto_err_set(err, PROTO_E_LIMIT_EXCEEDED,
                          "argument \"%s\" is %u long; the limit is %u", spec->name, len,
                          spec->max_len);
            proto_err_detail(err, "field", spec->name, strlen(spec->name));
            return -PROTO_E_LIMIT_EXCEEDED;
        }
        arg[a] = &kv->val;
    }
    for (unsigned a = 0; a < m->nargs; a++) {
        if (m->args[a].required && !arg[a]) {
            proto_err_set(err, PROTO_E_INVALID_ARGUMENT, "argument \"%s\" is required",
                          m->args[a].name);
            proto_err_detail(err, "field", m->args[a].name, strlen(m->args[a].name));
            return -PROTO_E_INVALID_ARGUMENT;
        }
    }
    return 0;
}

void dispatch_pack_fatal(proto_buf_t *out, int code, const char *message)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, proto_buf_msgpack_write);
    proto_err_t err;
    proto_err_set(&err, code, "%s", message ? message : proto_error_message(code));
    proto_pack_error_notify(&pk, &err);
}

static void pack_error(proto_buf_t *out, uint32_t msgid, const proto_err_t *err)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, proto_buf_msgpack_write);
    proto_pack_error_response(&pk, msgid, err);
}

static int run_write(writer_job_t *base, store_t *w);

#define DISPATCH_ZONE_CHUNK 2048

size_t dispatch_job_cost(size_t len)
{
    return sizeof(dispatch_job_t) + len + DISPATCH_ZONE_CHUNK;
}

/* Queues a write: copies the message, decodes it again into the job's own
 * zone (the loop's zone is reused for the next message) and submits it. */
static dispatch_result_t queue_write(server_t *srv, unsigned mi, const proto_msg_t *msg,
                                     const uint8_t *bytes, size_t len, void *owner,
                                     uint64_t t0, proto_buf_t *out)
{
    proto_err_t err;
    size_t cost = dispatch_job_cost(len);
    if (srv->write_queue_bytes + cost > (uint64_t)srv->cfg.write_queue_bytes) {
        /* The writer is behind: refuse now rather than hold unbounded
         * memory. Nothing was written, so a retry is safe. */
        if (msg->type == PROTO_MSG_REQUEST) {
            proto_err_set(&err, PROTO_E_UNAVAILABLE,
                          "the write queue is full (%llu bytes waiting); retry shortly",
                          (unsigned long long)srv->write_queue_bytes);
            pack_error(out, msg->msgid, &err);
        }
        stats_record(&srv->method_stats[mi], stats_now_ns() - t0, true);
        return DISPATCH_DONE;
    }
    dispatch_job_t *job = malloc(sizeof *job + len);
    if (!job) {
        if (msg->type == PROTO_MSG_REQUEST) {
            proto_err_set(&err, PROTO_E_UNAVAILABLE, "out of memory queueing the write");
            pack_error(out, msg->msgid, &err);
        }
        return DISPATCH_DONE;
    }
    memset(job, 0, sizeof *job);
    job->base.run = run_write;
    job->srv = srv;
    job->method = mi;
    job->owner = owner;
    job->notify = msg->type == PROTO_MSG_NOTIFY;
    job->msgid = msg->msgid;
    job->t0_ns = t0;
    job->len = len;
    memcpy(job->msg, bytes, len);
    proto_buf_init(&job->result);
    msgpack_zone_init(&job->zone, DISPATCH_ZONE_CHUNK);
    proto_msg_t again;
    /* Cannot fail: the same bytes were just decoded and checked. */
    proto_msg_decode(job->msg, len, &job->zone, &again);
    bind_args(&cmd_methods[mi], again.args, job->arg, &err);
    srv->write_queue_bytes += cost;
    writer_submit(srv->writer, &job->base);
    return DISPATCH_QUEUED;
}

/* Writer thread: runs the handler inside the job's savepoint. */
static int run_write(writer_job_t *base, store_t *w)
{
    dispatch_job_t *job = (dispatch_job_t *)base;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &job->result, proto_buf_msgpack_write);
    cmd_ctx_t ctx = {.srv = job->srv, .store = w, .pk = &pk, .err = &base->err};
    memcpy(ctx.arg, job->arg, sizeof ctx.arg);
    int rc = cmd_methods[job->method].fn(&ctx);
    if (rc == 0 && job->result.failed)
        rc = proto_err_set(&base->err, PROTO_E_UNAVAILABLE, "out of memory building the reply");
    return rc;
}

dispatch_result_t dispatch_message(server_t *srv, const uint8_t *bytes, size_t len,
                                   msgpack_zone *zone, proto_buf_t *out, void *owner)
{
    uint64_t t0 = stats_now_ns();
    proto_msg_t msg;
    msgpack_zone_clear(zone);
    int rc = proto_msg_decode(bytes, len, zone, &msg);
    if (rc != 0) {
        srv->protocol_errors++;
        log_event(LOG_WARN, "protocol_error", " code=%s", proto_error_name(rc));
        proto_err_t err;
        proto_err_set(&err, rc, NULL);
        if (msg.has_msgid)
            pack_error(out, msg.msgid, &err);
        else
            dispatch_pack_fatal(out, rc, NULL);
        return DISPATCH_CLOSE;
    }
    bool notify = msg.type == PROTO_MSG_NOTIFY;
    proto_err_t err;
    if (srv->shutting_down) {
        /* Requests read after SIGTERM are refused, not run: the client may
         * retry them against the next server. */
        if (!notify) {
            proto_err_set(&err, PROTO_E_SHUTTING_DOWN, NULL);
            pack_error(out, msg.msgid, &err);
        }
        return DISPATCH_DONE;
    }
    int mi = method_lookup(msg.method);
    if (mi < 0) {
        char shown[68];
        proto_err_set(&err, PROTO_E_METHOD_NOT_FOUND, "no method named \"%s\"",
                      proto_str_printable(shown, sizeof shown, msg.method.ptr, msg.method.len));
        proto_err_detail(&err, "method", msg.method.ptr, msg.method.len);
        if (!notify)
            pack_error(out, msg.msgid, &err);
        return DISPATCH_DONE;
    }
    const cmd_method_t *m = &cmd_methods[mi];
    const msgpack_object *arg[CMD_MAX_ARGS];
    if (!msg.params_ok)
        rc = proto_err_set(&err, PROTO_E_INVALID_PARAMS, NULL);
    else
        rc = bind_args(m, msg.args, arg, &err);
    if (rc != 0) {
        if (!notify)
            pack_error(out, msg.msgid, &err);
        stats_record(&srv->method_stats[mi], stats_now_ns() - t0, true);
        return DISPATCH_DONE;
    }
    if (m->write)
        return queue_write(srv, (unsigned)mi, &msg, bytes, len, owner, t0, out);

    /* A read: pack the reply in place; on failure cut it back and answer
     * with the error instead. */
    size_t mark = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, proto_buf_msgpack_write);
    if (!notify)
        proto_pack_result_head(&pk, msg.msgid);
    cmd_ctx_t ctx = {.srv = srv, .store = srv->reader, .pk = &pk, .err = &err};
    memcpy(ctx.arg, arg, sizeof ctx.arg);
    rc = m->fn(&ctx);
    if (rc != 0 || notify) {
        out->len = mark;
        if (rc != 0 && !notify)
            pack_error(out, msg.msgid, &err);
    }
    stats_record(&srv->method_stats[mi], stats_now_ns() - t0, rc != 0);
    return DISPATCH_DONE;
}

void *dispatch_job_owner(const writer_job_t *job)
{
    return ((const dispatch_job_t *)job)->owner;
}

void dispatch_job_finish(server_t *srv, writer_job_t *base, proto_buf_t *out)
{
    dispatch_job_t *job = (dispatch_job_t *)base;
    if (out && !job->notify) {
        if (base->rc == 0) {
            msgpack_packer pk;
            msgpack_packer_init(&pk, out, proto_buf_msgpack_write);
            proto_pack_result_head(&pk, job->msgid);
            proto_buf_append(out, job->result.data, job->result.len);
        } else {
            pack_error(out, job->msgid, &base->err);
        }
    }
    stats_record(&srv->method_stats[job->method], stats_now_ns() - job->t0_ns, base->rc != 0);
    srv->write_queue_bytes -= dispatch_job_cost(job->len);
    msgpack_zone_destroy(&job->zone);
    proto_buf_deinit(&job->result);
    free(job);
}
