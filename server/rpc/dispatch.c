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
/* A method: name, handler, where it runs, whether it keeps extra fields. */
#define READ(name, fn, args)                                                                       \
    {                                                                                              \
        name, fn, false, false, args                                                               \
    }
#define WRITE(name, fn, args)                                                                      \
    {                                                                                              \
        name, fn, true, false, args                                                                \
    }
#define WRITE_EXTRA(name, fn, args)                                                                \
    {                                                                                              \
        name, fn, true, true, args                                                                 \
    }

/* Argument limits. Generous for real Auth.js data, small enough that one
 * request cannot hold much memory. */
#define L_ID    255 /* ids, providers, account ids, credential ids */
#define L_EMAIL 320
#define L_TEXT  2048  /* names, scopes, token types, device types */
#define L_URL   8192  /* images */
#define L_TOKEN 16384 /* OAuth tokens (an id_token JWT can be long), session tokens */
#define L_KEY   8192  /* WebAuthn public keys */

#define T_OPT_STR  (CMD_T_STR | CMD_T_NIL)
#define T_OPT_TIME (CMD_T_TIME | CMD_T_NIL)
#define T_OPT_INT  (CMD_T_INT | CMD_T_NIL)

/* The argument specs, named <group>_<method>_args. Positions are the
 * indices handlers read from ctx->in.arg[]. */
static const cmd_arg_t user_create_args[] = {
    {"id", CMD_T_STR, false, L_ID},       {"name", T_OPT_STR, false, L_TEXT},
    {"email", T_OPT_STR, false, L_EMAIL}, {"emailVerified", T_OPT_TIME, false, 0},
    {"image", T_OPT_STR, false, L_URL},
};
static const cmd_arg_t user_update_args[] = {
    {"id", CMD_T_STR, true, L_ID},        {"name", T_OPT_STR, false, L_TEXT},
    {"email", T_OPT_STR, false, L_EMAIL}, {"emailVerified", T_OPT_TIME, false, 0},
    {"image", T_OPT_STR, false, L_URL},
};
static const cmd_arg_t user_id_args[] = {{"id", CMD_T_STR, true, L_ID}};
static const cmd_arg_t user_email_args[] = {{"email", CMD_T_STR, true, L_EMAIL}};
static const cmd_arg_t user_userid_args[] = {{"userId", CMD_T_STR, true, L_ID}};
static const cmd_arg_t account_key_args[] = {
    {"provider", CMD_T_STR, true, L_ID},
    {"providerAccountId", CMD_T_STR, true, L_ID},
};
/* linkAccount and updateAccount share one layout: the key, then the rest. */
static const cmd_arg_t account_link_args[] = {
    {"provider", CMD_T_STR, true, L_ID},         {"providerAccountId", CMD_T_STR, true, L_ID},
    {"userId", CMD_T_STR, true, L_ID},           {"type", CMD_T_STR, true, L_ID},
    {"access_token", T_OPT_STR, false, L_TOKEN}, {"refresh_token", T_OPT_STR, false, L_TOKEN},
    {"id_token", T_OPT_STR, false, L_TOKEN},     {"expires_at", T_OPT_INT, false, 0},
    {"token_type", T_OPT_STR, false, L_TEXT},    {"scope", T_OPT_STR, false, L_TEXT},
    {"session_state", T_OPT_STR, false, L_TEXT},
};
static const cmd_arg_t account_update_args[] = {
    {"provider", CMD_T_STR, true, L_ID},         {"providerAccountId", CMD_T_STR, true, L_ID},
    {"userId", CMD_T_STR, false, L_ID},          {"type", CMD_T_STR, false, L_ID},
    {"access_token", T_OPT_STR, false, L_TOKEN}, {"refresh_token", T_OPT_STR, false, L_TOKEN},
    {"id_token", T_OPT_STR, false, L_TOKEN},     {"expires_at", T_OPT_INT, false, 0},
    {"token_type", T_OPT_STR, false, L_TEXT},    {"scope", T_OPT_STR, false, L_TEXT},
    {"session_state", T_OPT_STR, false, L_TEXT},
};
static const cmd_arg_t session_create_args[] = {
    {"sessionToken", CMD_T_STR, false, L_TOKEN},
    {"userId", CMD_T_STR, true, L_ID},
    {"expires", CMD_T_TIME, true, 0},
};
static const cmd_arg_t session_token_args[] = {{"sessionToken", CMD_T_STR, true, L_TOKEN}};
static const cmd_arg_t session_update_args[] = {
    {"sessionToken", CMD_T_STR, true, L_TOKEN},
    {"userId", CMD_T_STR, false, L_ID},
    {"expires", CMD_T_TIME, false, 0},
};
static const cmd_arg_t vtoken_create_args[] = {
    {"identifier", CMD_T_STR, true, L_EMAIL},
    {"token", CMD_T_STR, true, L_TOKEN},
    {"expires", CMD_T_TIME, true, 0},
};
static const cmd_arg_t vtoken_use_args[] = {
    {"identifier", CMD_T_STR, true, L_EMAIL},
    {"token", CMD_T_STR, true, L_TOKEN},
};
static const cmd_arg_t authenticator_create_args[] = {
    {"credentialID", CMD_T_STR, true, L_KEY},
    {"userId", CMD_T_STR, true, L_ID},
    {"providerAccountId", CMD_T_STR, true, L_ID},
    {"credentialPublicKey", CMD_T_STR, true, L_KEY},
    {"counter", CMD_T_INT, true, 0},
    {"credentialDeviceType", CMD_T_STR, true, L_TEXT},
    {"credentialBackedUp", CMD_T_BOOL, true, 0},
    {"transports", T_OPT_STR, false, L_TEXT},
};
static const cmd_arg_t authenticator_id_args[] = {{"credentialID", CMD_T_STR, true, L_KEY}};
static const cmd_arg_t authenticator_counter_args[] = {
    {"credentialID", CMD_T_STR, true, L_KEY},
    {"newCounter", CMD_T_INT, true, 0},
};

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
 * a group-commit transaction and is answered after the commit. Names and
 * argument names mirror Auth.js's Adapter. */
const cmd_method_t cmd_methods[] = {
    READ("server.ping", cmd_admin_ping, NO_ARGS),
    READ("server.version", cmd_admin_version, NO_ARGS),
    READ("server.stats", cmd_admin_stats, NO_ARGS),
    WRITE("server.purge", cmd_admin_purge, NO_ARGS),

    WRITE_EXTRA("auth.createUser", cmd_user_create, ARGS(user_create_args)),
    READ("auth.getUser", cmd_user_get, ARGS(user_id_args)),
    READ("auth.getUserByEmail", cmd_user_get_by_email, ARGS(user_email_args)),
    READ("auth.getUserByAccount", cmd_user_get_by_account, ARGS(account_key_args)),
    WRITE_EXTRA("auth.updateUser", cmd_user_update, ARGS(user_update_args)),
    WRITE("auth.deleteUser", cmd_user_delete, ARGS(user_userid_args)),

    WRITE_EXTRA("auth.linkAccount", cmd_account_link, ARGS(account_link_args)),
    WRITE("auth.unlinkAccount", cmd_account_unlink, ARGS(account_key_args)),
    READ("auth.getAccount", cmd_account_get, ARGS(account_key_args)),
    WRITE_EXTRA("auth.updateAccount", cmd_account_update, ARGS(account_update_args)),

    WRITE("auth.createSession", cmd_session_create, ARGS(session_create_args)),
    READ("auth.getSessionAndUser", cmd_session_get_and_user, ARGS(session_token_args)),
    WRITE("auth.updateSession", cmd_session_update, ARGS(session_update_args)),
    WRITE("auth.deleteSession", cmd_session_delete, ARGS(session_token_args)),
    READ("auth.listSessions", cmd_session_list, ARGS(user_userid_args)),
    WRITE("auth.deleteSessions", cmd_session_delete_all, ARGS(user_userid_args)),

    WRITE("auth.createVerificationToken", cmd_vtoken_create, ARGS(vtoken_create_args)),
    WRITE("auth.useVerificationToken", cmd_vtoken_use, ARGS(vtoken_use_args)),

    WRITE("auth.createAuthenticator", cmd_authenticator_create, ARGS(authenticator_create_args)),
    READ("auth.getAuthenticator", cmd_authenticator_get, ARGS(authenticator_id_args)),
    READ("auth.listAuthenticatorsByUserId", cmd_authenticator_list, ARGS(user_userid_args)),
    WRITE("auth.updateAuthenticatorCounter", cmd_authenticator_update_counter,
          ARGS(authenticator_counter_args)),
#ifdef NOORMME_TEST_METHODS
    WRITE("test.write", cmd_test_write, ARGS(test_write_args)),
    READ("test.get", cmd_test_get, ARGS(test_get_args)),
    READ("test.count", cmd_test_count, NO_ARGS),
    WRITE("test.sleep", cmd_test_sleep, ARGS(test_sleep_args)),
#endif
};
const unsigned cmd_method_count = sizeof cmd_methods / sizeof cmd_methods[0];

/* Name lengths of cmd_methods (dispatch_init), so a lookup compares lengths
 * before bytes. */
static size_t method_name_len[sizeof cmd_methods / sizeof cmd_methods[0]];

/* A queued write: owns a copy of the message (the decoded arguments point
 * into it), the zone they were decoded into, and the result bytes. */
typedef struct {
    writer_job_t base;  /* must be first */
    server_t *srv;      /* shared state */
    unsigned method;    /* index into cmd_methods */
    void *owner;        /* connection to answer */
    bool notify;        /* notification: no reply */
    uint32_t msgid;     /* request id */
    uint64_t t0_ns;     /* when the request was dispatched */
    msgpack_zone zone;  /* decoded arguments */
    cmd_args_t in;      /* bound arguments */
    proto_buf_t result; /* packed result object */
    size_t len;         /* message bytes */
    uint8_t msg[];      /* message copy */
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
    for (unsigned i = 0; i < cmd_method_count; i++)
        method_name_len[i] = strlen(cmd_methods[i].name);
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
        if (method_name_len[i] == name.len && memcmp(cmd_methods[i].name, name.ptr, name.len) == 0)
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

static int run_write(writer_job_t *base, store_t *w);

/* A handler that succeeded without packing its result is a bug: answer
 * INTERNAL rather than send a reply with a missing element. */
static int no_result(const cmd_method_t *m, proto_err_t *err)
{
    log_event(LOG_ERROR, "handler_without_result", " method=%s", m->name);
    return proto_err_set(err, PROTO_E_INTERNAL, "%s produced no result", m->name);
}

#define DISPATCH_ZONE_CHUNK 2048

size_t dispatch_job_cost(size_t len)
{
    return sizeof(dispatch_job_t) + len + DISPATCH_ZONE_CHUNK;
}

/* Queues a write: copies the message, decodes it again into the job's own
 * zone (the loop's zone is reused for the next message) and submits it. */
static dispatch_result_t queue_write(server_t *srv, unsigned mi, const proto_msg_t *msg,
                                     const uint8_t *bytes, size_t len, void *owner, uint64_t t0,
                                     proto_buf_t *out)
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
    bind_args(&cmd_methods[mi], again.args, &job->in, &err);
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
    cmd_ctx_t ctx = {.srv = job->srv, .store = w, .pk = &pk, .err = &base->err, .in = job->in};
    int rc = cmd_methods[job->method].fn(&ctx);
    if (rc == 0 && job->result.failed)
        rc = proto_err_set(&base->err, PROTO_E_UNAVAILABLE, "out of memory building the reply");
    else if (rc == 0 && job->result.len == 0)
        rc = no_result(&cmd_methods[job->method], &base->err);
    return rc;
}

dispatch_result_t dispatch_message(server_t *srv, const uint8_t *bytes, size_t len,
                                   msgpack_zone *zone, proto_buf_t *out, void *owner, uint64_t t0)
{
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
    if (m->write)
        return queue_write(srv, (unsigned)mi, &msg, bytes, len, owner, t0, out);

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
