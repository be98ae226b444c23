/* cmd_test.c - the test.* methods of the test binary noormd-test,
 * registered by a call (never compiled into server/), with no product
 * semantics. They give the integration tests a write path, a read path and
 * a slow write to exercise group commit, savepoints, the pool and shutdown.
 * The table they use lives only in test databases. */
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "dispatch.h"
#include "noormd.h"
#include "test_methods.h"
#include "proto_errors.h"

/* test.write {key, value, fail?} -> true. With fail, the row is written and
 * then the request fails: the savepoint must undo the write alone. */
static int cmd_test_write(cmd_ctx_t *ctx)
{
    const msgpack_object *k = ctx->in.arg[0], *v = ctx->in.arg[1], *fail = ctx->in.arg[2];
    const char *val = v->type == MSGPACK_OBJECT_STR ? v->via.str.ptr : v->via.bin.ptr;
    uint32_t vlen = v->type == MSGPACK_OBJECT_STR ? v->via.str.size : v->via.bin.size;
    int rc = store_test_put(ctx->store, k->via.str.ptr, k->via.str.size, val, vlen, ctx->err);
    if (rc != 0)
        return rc;
    if (fail && fail->via.boolean)
        return cmd_fail(ctx, PROTO_E_CONFLICT, "fail", "failure requested by the caller");
    msgpack_pack_true(ctx->pk);
    return 0;
}

/* test.get {key} -> bin value, or nil */
static int cmd_test_get(cmd_ctx_t *ctx)
{
    const msgpack_object *k = ctx->in.arg[0];
    proto_buf_t val;
    proto_buf_init(&val);
    bool found = false;
    int rc = store_test_get(ctx->store, k->via.str.ptr, k->via.str.size, &val, &found, ctx->err);
    if (rc == 0 && found) {
        msgpack_pack_bin(ctx->pk, val.len);
        msgpack_pack_bin_body(ctx->pk, val.data, val.len);
    } else if (rc == 0) {
        msgpack_pack_nil(ctx->pk);
    }
    proto_buf_deinit(&val);
    return rc;
}

/* test.count {} -> number of rows */
static int cmd_test_count(cmd_ctx_t *ctx)
{
    int64_t n = 0;
    int rc = store_test_count(ctx->store, &n, ctx->err);
    if (rc == 0)
        msgpack_pack_int64(ctx->pk, n);
    return rc;
}

/* test.sleep {ms} -> true, after holding its executor for `ms` (0..10000):
 * keeps a request in flight on purpose. */
static int cmd_test_sleep(cmd_ctx_t *ctx)
{
    const msgpack_object *ms = ctx->in.arg[0];
    if (ms->type != MSGPACK_OBJECT_POSITIVE_INTEGER || ms->via.u64 > 10000)
        return cmd_fail(ctx, PROTO_E_INVALID_ARGUMENT, "ms", "ms must be 0..10000");
    struct timespec ts = {(time_t)(ms->via.u64 / 1000), (long)(ms->via.u64 % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    msgpack_pack_true(ctx->pk);
    return 0;
}

static const cmd_arg_t test_write_args[] = {
    {"key", CMD_T_STR, true, 256},
    {"value", CMD_T_STR | CMD_T_BIN, true, 65536},
    {"fail", CMD_T_BOOL, false, 0}, /* write, then fail: the savepoint must undo it */
};
static const cmd_arg_t test_key_args[] = {{"key", CMD_T_STR, true, 256}};
static const cmd_arg_t test_sleep_args[] = {{"ms", CMD_T_INT, true, 0}};

#define ARGS(a) a, (unsigned)(sizeof a / sizeof a[0])

static const cmd_method_t test_methods[] = {
    {"test.write", cmd_test_write, CMD_WRITER, false, ARGS(test_write_args),
     sizeof "test.write" - 1},
    {"test.get", cmd_test_get, CMD_LOOP, false, ARGS(test_key_args), sizeof "test.get" - 1},
    {"test.count", cmd_test_count, CMD_LOOP, false, NULL, 0, sizeof "test.count" - 1},
    {"test.sleep", cmd_test_sleep, CMD_WRITER, false, ARGS(test_sleep_args),
     sizeof "test.sleep" - 1},
    /* The same slow call on a reader-pool thread. */
    {"test.poolSleep", cmd_test_sleep, CMD_POOL, false, ARGS(test_sleep_args),
     sizeof "test.poolSleep" - 1},
    {"test.poolGet", cmd_test_get, CMD_POOL, false, ARGS(test_key_args), sizeof "test.poolGet" - 1},
};

int test_methods_hook(server_t *srv, store_t *w, proto_err_t *err)
{
    int rc = store_test_init(w, err);
    if (rc != 0)
        return rc;
    if (dispatch_register(srv, test_methods, sizeof test_methods / sizeof test_methods[0]) != 0)
        return proto_err_set(err, PROTO_E_INTERNAL, "cannot register the test methods");
    return 0;
}
