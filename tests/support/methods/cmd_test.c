/* cmd_test.c - test.* methods, compiled only into test builds (noormd-test):
 * a write path and read path with no product semantics, used by the
 * integration tests to exercise group commit, savepoints and shutdown. */
#include <time.h>

#include "cmd.h"
#include "proto_errors.h"

/* test.write {key, value, fail?} -> true. With fail, the row is written and
 * then the request fails: the savepoint must undo the write alone. */
int cmd_test_write(cmd_ctx_t *ctx)
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
int cmd_test_get(cmd_ctx_t *ctx)
{
    const msgpack_object *k = ctx->in.arg[0];
    proto_buf_t val;
    proto_buf_init(&val);
    bool found = false;
    int rc = store_test_get(ctx->store, k->via.str.ptr, k->via.str.size, &val, &found, ctx->err);
    if (rc == 0) {
        if (found) {
            msgpack_pack_bin(ctx->pk, val.len);
            msgpack_pack_bin_body(ctx->pk, val.data, val.len);
        } else {
            msgpack_pack_nil(ctx->pk);
        }
    }
    proto_buf_deinit(&val);
    return rc;
}

/* test.count {} -> number of rows */
int cmd_test_count(cmd_ctx_t *ctx)
{
    int64_t n = 0;
    int rc = store_test_count(ctx->store, &n, ctx->err);
    if (rc == 0)
        msgpack_pack_int64(ctx->pk, n);
    return rc;
}

/* test.sleep {ms} -> true, after holding the writer for `ms` (0..10000):
 * keeps a write in flight on purpose. */
int cmd_test_sleep(cmd_ctx_t *ctx)
{
    const msgpack_object *ms = ctx->in.arg[0];
    if (ms->type != MSGPACK_OBJECT_POSITIVE_INTEGER || ms->via.u64 > 10000)
        return cmd_fail(ctx, PROTO_E_INVALID_ARGUMENT, "ms", "ms must be 0..10000");
    struct timespec ts = {(time_t)(ms->via.u64 / 1000), (long)(ms->via.u64 % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    msgpack_pack_true(ctx->pk);
    return 0;
}
