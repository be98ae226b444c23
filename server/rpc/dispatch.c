/* dispatch.c - the checklist every request passes (decode, lookup, params
 * shape, argument names, types and limits) and the routing by execution
 * class: a LOOP method runs here, a POOL or WRITER method becomes a job that
 * owns a copy of its message and its decoded arguments (one allocation,
 * decoded once) and comes back through the completion queue. */
#include "dispatch.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "pool.h"
#include "proto_errors.h"
#include "proto_rpc.h"

/* A queued request: one allocation holding the job, the message copy that
 * the decoded strings point into, and the arrays and maps of its arguments
 * (proto_obj_clone). Its cost is what it really holds. */
typedef struct {
    exec_job_t base;                      /* must be first */
    server_t *srv;                        /* shared state (handlers read cfg and crypto only) */
    unsigned method;                      /* index into srv->methods */
    void *owner;                          /* connection to answer; NULL for internal calls */
    bool notify;                          /* notification: no reply */
    uint32_t msgid;                       /* request id */
    uint64_t t0_ns;                       /* when the request's bytes arrived */
    size_t cost;                          /* bytes charged to the memory budget */
    msgpack_object args;                  /* the argument map, cloned (nil when none) */
    cmd_args_t in;                        /* bound arguments, pointing into args */
    proto_buf_t result;                   /* packed result object */
    cmd_after_fn after;                   /* the handler's after-success hook, or NULL */
    int64_t after_vals[2];                /* its arguments */
    _Alignas(max_align_t) uint8_t tail[]; /* args' arrays and maps, then the message copy */
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

int dispatch_register(server_t *srv, const cmd_method_t *ms, unsigned n)
{
    if (srv->method_stats)
        return -1; /* fixed by dispatch_init: the stats are sized to it */
    for (unsigned i = 0; i < n; i++) {
        if (ms[i].nargs > CMD_MAX_ARGS)
            return -1;
        for (unsigned k = 0; k < srv->nmethods; k++)
            if (strcmp(srv->methods[k].name, ms[i].name) == 0)
                return -1;
        for (unsigned k = 0; k < i; k++)
            if (strcmp(ms[k].name, ms[i].name) == 0)
                return -1;
    }
    if (srv->nmethods + n > srv->methods_cap) {
        unsigned cap = srv->methods_cap ? srv->methods_cap : 64;
        while (cap < srv->nmethods + n)
            cap *= 2;
        cmd_method_t *all = realloc(srv->methods, cap * sizeof *all);
        if (!all)
            return -1;
        srv->methods = all;
        srv->methods_cap = cap;
    }
    for (unsigned i = 0; i < n; i++) {
        cmd_method_t *m = &srv->methods[srv->nmethods++];
        *m = ms[i];
        m->name_len = strlen(m->name); /* a lookup compares lengths before bytes */
    }
    return 0;
}

int cmd_fail_oom(cmd_ctx_t *ctx)
{
    return proto_err_set(ctx->err, PROTO_E_OUT_OF_MEMORY, NULL);
}

int dispatch_init(server_t *srv)
{
    srv->method_stats = calloc(srv->nmethods ? srv->nmethods : 1, sizeof *srv->method_stats);
    return srv->method_stats ? 0 : -1;
}

void dispatch_deinit(server_t *srv)
{
    free(srv->method_stats);
    srv->method_stats = NULL;
    free(srv->methods);
    srv->methods = NULL;
    srv->nmethods = srv->methods_cap = 0;
}

static int method_lookup(const server_t *srv, proto_str_t name)
{
    for (unsigned i = 0; i < srv->nmethods; i++) {
        const cmd_method_t *m = &srv->methods[i];
        if (m->name_len == name.len && memcmp(m->name, name.ptr, name.len) == 0)
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
static int bind_args(const cmd_method_t *m, const msgpack_object *map, cmd_args_t *in,
                     proto_err_t *err)
{
    memset(in, 0, sizeof *in);
    uint32_t n = map ? map->via.map.size : 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR)
            return proto_err_set(err, PROTO_E_INVALID_PARAMS, "argument names must be strings");
        const char *key = kv->key.via.str.ptr;
        uint32_t klen = kv->key.via.str.size;
        unsigned a = 0;
        while (a < m->nargs &&
               !(strlen(m->args[a].name) == klen && memcmp(m->args[a].name, key, klen) == 0))
            a++;
        if (a == m->nargs) {
            char shown[68];
            proto_str_printable(shown, sizeof shown, key, klen);
            if (m->extra) {
                /* Kept as an extra field; duplicates and the count are
                 * checked here, the value's type by the handler. */
                for (unsigned e = 0; e < in->nextra; e++) {
                    const msgpack_object *k = &in->extra[e]->key;
                    if (k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0) {
                        proto_err_set(err, PROTO_E_INVALID_ARGUMENT,
                                      "argument \"%s\" is given twice", shown);
                        proto_err_detail(err, "field", key, klen);
                        return -PROTO_E_INVALID_ARGUMENT;
                    }
                }
                if (in->nextra == CMD_MAX_EXTRA) {
                    proto_err_set(err, PROTO_E_LIMIT_EXCEEDED,
                                  "more than %d extra fields; the limit is %d", CMD_MAX_EXTRA,
                                  CMD_MAX_EXTRA);
                    proto_err_detail(err, "field", key, klen);
                    return -PROTO_E_LIMIT_EXCEEDED;
                }
                in->extra[in->nextra++] = kv;
                continue;
            }
            proto_err_set(err, PROTO_E_UNKNOWN_FIELD, "%s takes no argument named \"%s\"", m->name,
                          shown);
            proto_err_detail(err, "field", key, klen);
            return -PROTO_E_UNKNOWN_FIELD;
        }
        const cmd_arg_t *spec = &m->args[a];
        if (in->arg[a]) {
            proto_err_set(err, PROTO_E_INVALID_ARGUMENT, "argument \"%s\" is given twice",
                          spec->name);
            proto_err_detail(err, "field", spec->name, strlen(spec->name));
            return -PROTO_E_INVALID_ARGUMENT;
        }
        uint32_t len;
        unsigned bit = type_bit(&kv->val, &len);
        if (!(bit & spec->types)) {
            proto_err_set(err, PROTO_E_INVALID_ARGUMENT, "argument \"%s\" must be %s", spec->name,
                          type_words(spec->types));
            proto_err_detail(err, "field", spec->name, strlen(spec->name));
            return -PROTO_E_INVALID_ARGUMENT;
        }
        if (bit == CMD_T_INT && kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            kv->val.via.u64 > (uint64_t)INT64_MAX) {
            /* SQLite integers are signed 64-bit: refuse rather than wrap. */
            proto_err_set(err, PROTO_E_LIMIT_EXCEEDED,
                          "argument \"%s\" is larger than a signed 64-bit integer", spec->name);
            proto_err_detail(err, "field", spec->name, strlen(spec->name));
            return -PROTO_E_LIMIT_EXCEEDED;
        }
        if (spec->max_len && len > spec->max_len) {
            proto_err_set(err, PROTO_E_LIMIT_EXCEEDED,
                          "argument \"%s\" is %u long; the limit is %u", spec->name, len,
                          spec->max_len);
            proto_err_detail(err, "field", spec->name, strlen(spec->name));
            return -PROTO_E_LIMIT_EXCEEDED;
        }
        in->arg[a] = &kv->val;
    }
    for (unsigned a = 0; a < m->nargs; a++) {
        if (m->args[a].required && !in->arg[a]) {
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

/* A handler that succeeded without packing its result is a bug: answer
 * INTERNAL rather than send a reply with a missing element. */
static int no_result(const cmd_method_t *m, proto_err_t *err)
{
    log_event(LOG_ERROR, "handler_without_result", " method=%s", m->name);
    return proto_err_set(err, PROTO_E_INTERNAL, "%s produced no result", m->name);
}

/* Pool or writer thread: runs the handler on the executor's connection. */
static int run_job(exec_job_t *base, store_t *conn)
{
    dispatch_job_t *job = (dispatch_job_t *)base;
    const cmd_method_t *m = &job->srv->methods[job->method];
    msgpack_packer pk;
    msgpack_packer_init(&pk, &job->result, proto_buf_msgpack_write);
    cmd_ctx_t ctx = {.srv = job->srv, .store = conn, .pk = &pk, .err = &base->err, .in = job->in};
    int rc = m->fn(&ctx);
    job->after = ctx.after;
    job->after_vals[0] = ctx.after_vals[0];
    job->after_vals[1] = ctx.after_vals[1];
    if (rc == 0 && job->result.failed)
        rc = proto_err_set(&base->err, PROTO_E_OUT_OF_MEMORY, "out of memory building the reply");
    else if (rc == 0 && job->result.len == 0)
        rc = no_result(m, &base->err);
    return rc;
}

/* The one allocation of a job: the struct, `arena` bytes of cloned
 * arrays and maps, and the message copy. */
static size_t job_size(size_t arena, size_t len)
{
    return sizeof(dispatch_job_t) + arena + len;
}

size_t dispatch_job_cost(size_t len, const msgpack_object *args)
{
    return args ? job_size(proto_obj_clone_size(args), len) : job_size(0, 0);
}

/* Points the arguments bound into the decoded map `from` at the same
 * entries of its clone `to`: the clone has the same shape, so each bound
 * value keeps its index. The checklist is not run twice. */
static void rebind(cmd_args_t *in, const msgpack_object *from, const msgpack_object *to)
{
    const msgpack_object_kv *old = from->via.map.ptr, *now = to->via.map.ptr;
    for (unsigned a = 0; a < CMD_MAX_ARGS; a++) {
        if (in->arg[a]) {
            const msgpack_object_kv *kv =
                (const msgpack_object_kv *)((const char *)in->arg[a] -
                                            offsetof(msgpack_object_kv, val));
            in->arg[a] = &now[kv - old].val;
        }
    }
    for (unsigned e = 0; e < in->nextra; e++)
        in->extra[e] = &now[in->extra[e] - old];
}

/* Answers a request that could not be queued: nothing ran, so the client
 * may send it again as it is. */
static dispatch_result_t refuse_job(server_t *srv, unsigned mi, const proto_msg_t *msg,
                                    proto_buf_t *out, uint64_t t0, const proto_err_t *err)
{
    if (msg->type == PROTO_MSG_REQUEST)
        pack_error(out, msg->msgid, err);
    stats_record(&srv->method_stats[mi], stats_now_ns() - t0, true);
    return DISPATCH_DONE;
}

/* Hands a POOL or WRITER request, its arguments already checked and bound
 * into `in`, to its executor as one job: checks the budgets, copies the
 * message and its decoded arguments, and submits it. Nothing is decoded or
 * checked again. */
static dispatch_result_t queue_job(server_t *srv, unsigned mi, const proto_msg_t *msg,
                                   const cmd_args_t *in, const uint8_t *bytes, size_t len,
                                   dispatch_conn_t *conn, uint64_t t0, proto_buf_t *out)
{
    const cmd_method_t *m = &srv->methods[mi];
    /* Without arguments nothing points into the message: no copy. */
    size_t arena = msg->args ? proto_obj_clone_size(msg->args) : 0;
    size_t cost = job_size(arena, msg->args ? len : 0);
    uint64_t budget = (uint64_t)srv->cfg.memory_budget_bytes;
    proto_err_t err;
    if (m->cls == CMD_WRITER &&
        srv->write_queue_bytes + cost > (uint64_t)srv->cfg.write_queue_bytes) {
        /* The writer is behind: refuse now rather than hold unbounded
         * memory. */
        proto_err_set(&err, PROTO_E_UNAVAILABLE,
                      "the write queue is full (%llu bytes waiting); retry shortly",
                      (unsigned long long)srv->write_queue_bytes);
        return refuse_job(srv, mi, msg, out, t0, &err);
    }
    if (!server_mem_fits(srv, cost)) {
        srv->mem.refused++;
        proto_err_set(&err, PROTO_E_OUT_OF_MEMORY,
                      "the server's memory budget is in use (%llu bytes held); retry shortly",
                      (unsigned long long)srv->mem.used);
        return refuse_job(srv, mi, msg, out, t0, &err);
    }
    if (conn && conn->held + cost > budget / 4) {
        /* One connection may not take the whole budget from the others. */
        srv->mem.refused++;
        proto_err_set(&err, PROTO_E_OUT_OF_MEMORY,
                      "this connection holds %llu bytes of the server's memory budget, "
                      "its share; read the replies, then retry",
                      (unsigned long long)conn->held);
        return refuse_job(srv, mi, msg, out, t0, &err);
    }
    dispatch_job_t *job = malloc(cost);
    if (!job) {
        proto_err_set(&err, PROTO_E_OUT_OF_MEMORY,
                      "out of memory queueing the request (%llu bytes held); retry shortly",
                      (unsigned long long)srv->mem.used);
        return refuse_job(srv, mi, msg, out, t0, &err);
    }
    memset(job, 0, sizeof *job);
    job->base.run = run_job;
    job->srv = srv;
    job->method = mi;
    job->owner = conn ? conn->owner : NULL;
    job->notify = msg->type == PROTO_MSG_NOTIFY;
    job->msgid = msg->msgid;
    job->t0_ns = t0;
    job->cost = cost;
    proto_buf_init(&job->result);
    job->in = *in;
    if (msg->args) {
        uint8_t *copy = job->tail + arena;
        memcpy(copy, bytes, len);
        proto_obj_clone(&job->args, msg->args, bytes, copy, job->tail);
        rebind(&job->in, msg->args, &job->args);
    }
    srv->mem.used += cost;
    srv->mem.jobs += cost;
    if (conn)
        conn->cost = cost;
    if (m->cls == CMD_WRITER) {
        srv->write_queue_bytes += cost;
        writer_submit(srv->writer, &job->base);
    } else {
        pool_submit(srv->pool, &job->base);
    }
    return DISPATCH_QUEUED;
}

dispatch_result_t dispatch_message(server_t *srv, const uint8_t *bytes, size_t len,
                                   msgpack_zone *zone, proto_buf_t *out, dispatch_conn_t *conn,
                                   uint64_t t0)
{
    proto_msg_t msg;
    msgpack_zone_clear(zone);
    int rc = proto_msg_decode(bytes, len, zone, &msg);
    if (rc == -PROTO_E_OUT_OF_MEMORY) {
        /* The server's shortage, not the client's fault: the request did
         * not run; answer it (retriable) and keep the connection. */
        log_event(LOG_WARN, "out_of_memory", " at=decode bytes=%zu", len);
        proto_err_t err;
        proto_err_set(&err, rc, NULL);
        if (msg.has_msgid)
            pack_error(out, msg.msgid, &err);
        return DISPATCH_DONE;
    }
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
    int mi = method_lookup(srv, msg.method);
    if (mi < 0) {
        char shown[68];
        proto_err_set(&err, PROTO_E_METHOD_NOT_FOUND, "no method named \"%s\"",
                      proto_str_printable(shown, sizeof shown, msg.method.ptr, msg.method.len));
        proto_err_detail(&err, "method", msg.method.ptr, msg.method.len);
        if (!notify)
            pack_error(out, msg.msgid, &err);
        return DISPATCH_DONE;
    }
    const cmd_method_t *m = &srv->methods[mi];
    cmd_ctx_t ctx = {.srv = srv, .store = srv->reader, .err = &err};
    if (!msg.params_ok)
        rc = proto_err_set(&err, PROTO_E_INVALID_PARAMS, NULL);
    else
        rc = bind_args(m, msg.args, &ctx.in, &err);
    if (rc != 0) {
        if (!notify)
            pack_error(out, msg.msgid, &err);
        stats_record(&srv->method_stats[mi], stats_now_ns() - t0, true);
        return DISPATCH_DONE;
    }
    if (m->cls != CMD_LOOP)
        return queue_job(srv, (unsigned)mi, &msg, &ctx.in, bytes, len, conn, t0, out);

    /* A read: pack the reply in place; on failure cut it back and answer
     * with the error instead. */
    size_t mark = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, proto_buf_msgpack_write);
    if (!notify)
        proto_pack_result_head(&pk, msg.msgid);
    ctx.pk = &pk;
    size_t head_end = out->len;
    rc = m->fn(&ctx);
    if (rc == 0 && out->len == head_end && !notify)
        rc = no_result(m, &err);
    if (rc == 0 && ctx.after)
        ctx.after(srv, ctx.after_vals);
    if (rc != 0 || notify) {
        out->len = mark;
        if (rc != 0 && !notify)
            pack_error(out, msg.msgid, &err);
    }
    stats_record(&srv->method_stats[mi], stats_now_ns() - t0, rc != 0);
    return DISPATCH_DONE;
}

void dispatch_internal(server_t *srv, const char *method)
{
    /* [2, method, []]: a notification, so no reply is framed for it. */
    proto_buf_t msg, out;
    proto_buf_init(&msg);
    proto_buf_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &msg, proto_buf_msgpack_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, PROTO_MSG_NOTIFY);
    proto_pack_cstr(&pk, method);
    msgpack_pack_array(&pk, 0);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 256);
    if (!msg.failed)
        dispatch_message(srv, msg.data, msg.len, &zone, &out, NULL, stats_now_ns());
    msgpack_zone_destroy(&zone);
    proto_buf_deinit(&msg);
    proto_buf_deinit(&out);
}

uint64_t dispatch_job_held(const exec_job_t *job)
{
    return ((const dispatch_job_t *)job)->cost;
}

void *dispatch_job_owner(const exec_job_t *job)
{
    return ((const dispatch_job_t *)job)->owner;
}

void dispatch_job_finish(server_t *srv, exec_job_t *base, proto_buf_t *out)
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
    if (base->rc == 0 && job->after)
        job->after(srv, job->after_vals); /* committed: publish it */
    stats_record(&srv->method_stats[job->method], stats_now_ns() - job->t0_ns, base->rc != 0);
    if (srv->methods[job->method].cls == CMD_WRITER)
        srv->write_queue_bytes -= job->cost;
    srv->mem.used -= job->cost;
    srv->mem.jobs -= job->cost;
    proto_buf_deinit(&job->result);
    free(job);
}
