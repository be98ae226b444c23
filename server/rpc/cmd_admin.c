/* cmd_admin.c - server.* methods: liveness, versions, statistics. */
#include <string.h>
#include <time.h>

#include "proto_errors.h"

#include "cmd.h"
#include "proto_rpc.h"
#include "version.h"

/* server.ping {} -> "pong" */
int cmd_admin_ping(cmd_ctx_t *ctx)
{
    proto_pack_str(ctx->pk, "pong", 4);
    return 0;
}

/* server.version {} -> {server, protocol, sqlite} */
int cmd_admin_version(cmd_ctx_t *ctx)
{
    msgpack_packer *pk = ctx->pk;
    msgpack_pack_map(pk, 3);
    proto_pack_cstr(pk, "server");
    proto_pack_cstr(pk, NOORMME_VERSION);
    proto_pack_cstr(pk, "protocol");
    msgpack_pack_int(pk, PROTO_VERSION);
    proto_pack_cstr(pk, "sqlite");
    proto_pack_cstr(pk, store_sqlite_version());
    return 0;
}

static void pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
    proto_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, v);
}

/* server.stats {} -> {uptime_ms, connections, requests, methods, writer, storage} */
int cmd_admin_stats(cmd_ctx_t *ctx)
{
    server_t *srv = ctx->srv;
    msgpack_packer *pk = ctx->pk;
    msgpack_pack_map(pk, 7);

    pack_kv_u64(pk, "uptime_ms", (stats_now_ns() - srv->started_ns) / 1000000);

    proto_pack_cstr(pk, "connections");
    msgpack_pack_map(pk, 6);
    pack_kv_u64(pk, "current", srv->conns.current);
    pack_kv_u64(pk, "accepted", srv->conns.accepted);
    pack_kv_u64(pk, "refused", srv->conns.refused);
    pack_kv_u64(pk, "dropped", srv->conns.dropped);
    pack_kv_u64(pk, "emfile", srv->conns.emfile);
    pack_kv_u64(pk, "max", (uint64_t)srv->cfg.max_connections);

    proto_pack_cstr(pk, "requests");
    msgpack_pack_map(pk, 1);
    pack_kv_u64(pk, "protocol_errors", srv->protocol_errors);

    /* Only methods that were called, so the reply stays small. */
    unsigned called = 0;
    for (unsigned i = 0; i < cmd_method_count; i++)
        called += srv->method_stats[i].count > 0;
    proto_pack_cstr(pk, "methods");
    msgpack_pack_map(pk, called);
    for (unsigned i = 0; i < cmd_method_count; i++) {
        /* This very call is recorded after it answers, hence the snapshot. */
        const stats_method_t *m = &srv->method_stats[i];
        if (m->count == 0)
            continue;
        proto_pack_cstr(pk, cmd_methods[i].name);
        msgpack_pack_map(pk, 4);
        pack_kv_u64(pk, "count", m->count);
        pack_kv_u64(pk, "errors", m->errors);
        proto_pack_cstr(pk, "p50_us");
        msgpack_pack_double(pk, (double)stats_quantile_ns(m, 0.50) / 1000.0);
        proto_pack_cstr(pk, "p99_us");
        msgpack_pack_double(pk, (double)stats_quantile_ns(m, 0.99) / 1000.0);
    }

    writer_stats_t ws;
    writer_get_stats(srv->writer, &ws);
    proto_pack_cstr(pk, "writer");
    msgpack_pack_map(pk, 7);
    pack_kv_u64(pk, "queue_depth", ws.queued);
    pack_kv_u64(pk, "queue_bytes", srv->write_queue_bytes);
    pack_kv_u64(pk, "batches_committed", ws.batches_committed);
    pack_kv_u64(pk, "writes_committed", ws.jobs_committed);
    pack_kv_u64(pk, "writes_failed", ws.jobs_failed);
    pack_kv_u64(pk, "largest_batch", ws.largest_batch);
    pack_kv_u64(pk, "idle_checkpoints", ws.checkpoints);

    proto_pack_cstr(pk, "purged");
    msgpack_pack_map(pk, 2);
    pack_kv_u64(pk, "sessions", __atomic_load_n(&srv->purged_sessions, __ATOMIC_RELAXED));
    pack_kv_u64(pk, "verificationTokens", __atomic_load_n(&srv->purged_vtokens, __ATOMIC_RELAXED));

    int64_t db_bytes, wal_bytes;
    store_file_sizes(srv->cfg.db_path, &db_bytes, &wal_bytes);
    proto_pack_cstr(pk, "storage");
    msgpack_pack_map(pk, 3);
    pack_kv_u64(pk, "db_bytes", (uint64_t)db_bytes);
    pack_kv_u64(pk, "wal_bytes", (uint64_t)wal_bytes);
    proto_pack_cstr(pk, "synchronous");
    proto_pack_cstr(pk, srv->cfg.synchronous);
    return 0;
}

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
    /* Counted from the writer thread; server.stats reads them on the loop. */
    __atomic_fetch_add(&ctx->srv->purged_sessions, (uint64_t)sessions, __ATOMIC_RELAXED);
    __atomic_fetch_add(&ctx->srv->purged_vtokens, (uint64_t)vtokens, __ATOMIC_RELAXED);
    msgpack_pack_map(ctx->pk, 2);
    pack_kv_u64(ctx->pk, "sessions", (uint64_t)sessions);
    pack_kv_u64(ctx->pk, "verificationTokens", (uint64_t)vtokens);
    return 0;
}
