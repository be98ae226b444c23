/* cmd.h - what a method handler sees, and the method table's shape.
 *
 * Handlers live in cmd_<group>.c. By the time one runs, dispatch has checked
 * the method exists, the params shape, every argument's name, type and size,
 * and that required arguments are present: ctx->arg[i] is the value of the
 * i-th argument of the method's spec (NULL when absent), already of an
 * allowed type. A handler packs exactly one result object with ctx->pk and
 * returns 0, or returns cmd_fail(...) and packs nothing that matters (the
 * partial result is discarded).
 */
#ifndef NOORMME_CMD_H
#define NOORMME_CMD_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto_rpc.h"
#include "server.h"

/* Argument types, combined as a bit set. */
enum {
    CMD_T_NIL = 1u << 0,
    CMD_T_BOOL = 1u << 1,
    CMD_T_INT = 1u << 2, /* signed or unsigned integer */
    CMD_T_FLOAT = 1u << 3,
    CMD_T_STR = 1u << 4,
    CMD_T_BIN = 1u << 5,
    CMD_T_ARRAY = 1u << 6,
    CMD_T_MAP = 1u << 7,
    CMD_T_TIME = 1u << 8, /* timestamp extension (-1) */
};

#define CMD_MAX_ARGS  24
#define CMD_MAX_EXTRA 64 /* extra fields kept per request (methods that take them) */

typedef struct {
    const char *name; /* argument name on the wire */
    unsigned types;   /* CMD_T_* bits allowed */
    bool required;    /* absent -> INVALID_ARGUMENT */
    uint32_t max_len; /* str/bin bytes or array/map elements; 0 = no limit of its own */
} cmd_arg_t;

/* Arguments bound by the dispatch checklist. */
typedef struct {
    const msgpack_object *arg[CMD_MAX_ARGS];       /* by spec position; NULL when absent */
    const msgpack_object_kv *extra[CMD_MAX_EXTRA]; /* unknown fields (methods that keep them) */
    unsigned nextra;                               /* entries in extra */
} cmd_args_t;

/* Runs on the loop thread once a request that set it has succeeded (for a
 * write: after its commit), with the values its handler left in
 * cmd_ctx_t.after_vals: how a handler on another thread publishes what its
 * writes did (server.purge's counters) only once they are durable. */
typedef void (*cmd_after_fn)(server_t *srv, const int64_t vals[2]);

typedef struct {
    server_t *srv;         /* shared state: handlers off the loop read cfg and crypto only */
    store_t *store;        /* the executor's connection: loop reader, pool reader or writer */
    cmd_args_t in;         /* the bound arguments */
    msgpack_packer *pk;    /* the result goes here */
    proto_err_t *err;      /* filled by cmd_fail */
    cmd_after_fn after;    /* optional: run on the loop after success */
    int64_t after_vals[2]; /* its arguments */
} cmd_ctx_t;

typedef int (*cmd_fn)(cmd_ctx_t *ctx);

/* Where a method runs (protocol/methods.def). */
typedef enum {
    CMD_LOOP = 0,   /* the loop thread, read-only connection: sub-millisecond reads */
    CMD_POOL = 1,   /* a reader-pool thread, its own read-only connection */
    CMD_WRITER = 2, /* the writer thread, in a savepoint of a group commit */
} cmd_class_t;

typedef struct cmd_method_s {
    const char *name;      /* "group.method" */
    cmd_fn fn;             /* the handler */
    cmd_class_t cls;       /* which executor runs it */
    bool extra;            /* unknown string-named fields are kept (ctx->extra), not refused */
    const cmd_arg_t *args; /* argument spec */
    unsigned nargs;        /* entries in args (<= CMD_MAX_ARGS) */
    size_t name_len;       /* strlen(name) (dispatch_register sets it again) */
} cmd_method_t;

/* The methods of protocol/methods.def with their handlers (server/methods.c). */
extern const cmd_method_t cmd_builtin_methods[];
extern const unsigned cmd_builtin_method_count;

/* Fails the request with `code` and a printf-style message; `field` (may be
 * NULL) is reported in the error details. Returns the negative code. */
int cmd_fail(cmd_ctx_t *ctx, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fails the request with OUT_OF_MEMORY (retriable: it changed nothing, or
 * its savepoint is rolled back). Returns the negative code. */
int cmd_fail_oom(cmd_ctx_t *ctx);

/* ---- helpers shared by the handlers (cmd_util.c) ---- */

/* A str argument as pointer and length (the checklist guarantees the type). */
proto_str_t cmd_str(const msgpack_object *o);

/* True when argument `i` was given (nil included). */
static inline bool cmd_has(const cmd_ctx_t *ctx, int i)
{
    return ctx->in.arg[i] != NULL;
}

/* True when argument `i` was given as nil: "clear this field". */
static inline bool cmd_is_nil(const cmd_ctx_t *ctx, int i)
{
    return ctx->in.arg[i] && ctx->in.arg[i]->type == MSGPACK_OBJECT_NIL;
}

/* Binds parameter `p` to optional str argument `i`: its text, or NULL when
 * absent or nil. */
void cmd_bind_opt_str(cmd_ctx_t *ctx, store_q_t *q, int p, int i);

/* Binds parameter `p` to optional timestamp argument `i` as Unix ms, or
 * NULL when absent or nil. */
void cmd_bind_opt_time(cmd_ctx_t *ctx, store_q_t *q, int p, int i);

/* The Unix ms of timestamp argument `i` (checked by the checklist). */
int64_t cmd_time(const cmd_ctx_t *ctx, int i);

/* Writes ctx->in.extra as a JSON object into `out`. Fails the request with
 * INVALID_ARGUMENT, naming the field, for a value with no JSON form, and
 * with LIMIT_EXCEEDED (details.limit "max-extra-bytes") when the object is
 * longer than --max-extra-bytes. */
int cmd_extra_json(cmd_ctx_t *ctx, proto_buf_t *out);

/* For an update: reads the row's current extra object with statement `id`
 * (parameters ?1..?nkeys bound to the first `nkeys` str arguments) and
 * writes into `out` the object with ctx->in.extra applied at the top level:
 * a given key replaces its value whole, a nil removes it. Leaves `out` empty
 * when the request has no extra fields (keep the column as it is). Returns
 * 0 (also when the row does not exist: the UPDATE then finds nothing), or
 * fails the request: as cmd_extra_json, and LIMIT_EXCEEDED when the merged
 * object is longer than --max-extra-bytes (checked after the merge, so an
 * update that shrinks a record already over the limit is allowed). */
int cmd_extra_merge(cmd_ctx_t *ctx, store_stmt_id_t id, int nkeys, proto_buf_t *out);

/* Packs the pair key: v (a map's next entry). */
void cmd_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v);

/* Packs column `col` as a str, or nil when NULL. */
void cmd_pack_col_text(cmd_ctx_t *ctx, store_q_t *q, int col);

/* Packs column `col` (Unix ms) as a timestamp, or nil when NULL. */
void cmd_pack_col_time(cmd_ctx_t *ctx, store_q_t *q, int col);

/* Packs a map of `known` pairs the caller packs next, followed by the
 * members of the JSON object in column `extra_col`: call with the number
 * of known pairs, pack them, then call cmd_pack_extra_end. */
int cmd_pack_extra_begin(cmd_ctx_t *ctx, store_q_t *q, int extra_col, uint32_t known,
                         proto_buf_t *members);
void cmd_pack_extra_end(cmd_ctx_t *ctx, proto_buf_t *members);

/* Packs the user whose columns (id, name, email, email_verified, image,
 * extra) start at `col`: {id, name, email, emailVerified, image, ...extra}. */
int cmd_pack_user(cmd_ctx_t *ctx, store_q_t *q, int col);

/* Packs one row of `q` whose columns start at `col`. */
typedef int (*cmd_row_fn)(cmd_ctx_t *ctx, store_q_t *q, int col);

/* Runs a statement expected to return at most one row and packs it with
 * `pack`, or packs nil when there is none. */
int cmd_pack_one(cmd_ctx_t *ctx, store_q_t *q, cmd_row_fn pack);

/* The LIMIT to bind to a list statement: --max-rows + 1, so cmd_pack_all
 * can tell a list that is whole at the limit from one that goes on. */
int64_t cmd_list_limit(const cmd_ctx_t *ctx);

/* Runs a list statement and packs its rows, each with `pack`. Up to
 * --max-rows rows, the reply is the array of them ([] when none). When
 * there are more, the reply is the map {items: [the first --max-rows
 * rows], truncated: true, limit: --max-rows} (docs/PROTOCOL.md, "Lists"). */
int cmd_pack_all(cmd_ctx_t *ctx, store_q_t *q, cmd_row_fn pack);

/* server.* handlers (cmd_admin.c); the auth.* ones are in auth.h. */
int cmd_admin_ping(cmd_ctx_t *ctx);
int cmd_admin_version(cmd_ctx_t *ctx);
int cmd_admin_stats(cmd_ctx_t *ctx);

#endif
