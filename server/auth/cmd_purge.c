/* cmd_purge.c - server.purge: deletes expired sessions and verification
 * tokens (Auth.js leaves expired rows behind). Run by the purge timer. */
#include <time.h>

#include "auth.h"

/* Deletes up to `limit` rows of statement `id` expired before `now_ms`. */
static int purge_one(cmd_ctx_t *ctx, store_stmt_id_t id, int64_t now_ms, int64_t limit, int64_t *n)
{
    store_q_t *q = store_q(ctx->store, id, ctx->err);
    if (!q)
        return -ctx->err->code;
    store_q_int(q, 1, now_ms);
    store_q_int(q, 2, limit);
    int rc = store_q_step(ctx->store, q, ctx->err);
    store_q_done(q);
    *n = rc < 0 ? 0 : store_changes(ctx->store);
    return rc < 0 ? rc : 0;
}

static void count_purged(server_t *srv, const int64_t vals[2])
{
    srv->purged_sessions += (uint64_t)vals[0];
    srv->purged_vtokens += (uint64_t)vals[1];
}

#define PURGE_LIMIT 10000 /* rows per table per call: keeps one batch short */

/* server.purge {} -> {sessions, verificationTokens}: deletes expired
 * sessions and verification tokens, at most PURGE_LIMIT of each per call.
 * Run by the purge timer; callable for operators and tests. */
int cmd_admin_purge(cmd_ctx_t *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t sessions = 0, vtokens = 0;
    int rc = purge_one(ctx, STORE_STMT_SESSION_PURGE, now_ms, PURGE_LIMIT, &sessions);
    if (rc == 0)
        rc = purge_one(ctx, STORE_STMT_VTOKEN_PURGE, now_ms, PURGE_LIMIT, &vtokens);
    if (rc != 0)
        return rc;
    /* Counted once committed, on the loop thread (a rolled-back purge
     * deleted nothing). */
    ctx->after = count_purged;
    ctx->after_vals[0] = sessions;
    ctx->after_vals[1] = vtokens;
    msgpack_pack_map(ctx->pk, 2);
    cmd_pack_kv_u64(ctx->pk, "sessions", (uint64_t)sessions);
    cmd_pack_kv_u64(ctx->pk, "verificationTokens", (uint64_t)vtokens);
    return 0;
}
