/* cmd_admin.c - server.* methods: liveness, versions, statistics. */
#include <string.h>
#include <time.h>

#include "proto_errors.h"

#include "cmd.h"
#include "pool.h"
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

void cmd_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
    proto_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, v);
}

/* server.stats {} -> {uptime_ms, connections, requests, methods, writer, pool,
 * memory, purged, storage} (docs/PROTOCOL.md lists every key) */
int cmd_admin_stats(cmd_ctx_t *ctx)
{
    server_t *srv = ctx->srv;
    msgpack_packer *pk = ctx->pk;
    msgpack_pack_map(pk, 9);

    cmd_pack_kv_u64(pk, "uptime_ms", (stats_now_ns() - srv->started_ns) / 1000000);

    proto_pack_cstr(pk, "connections");
    msgpack_pack_map(pk, 6);
    cmd_pack_kv_u64(pk, "current", srv->conns.current);
    cmd_pack_kv_u64(pk, "accepted", srv->conns.accepted);
    cmd_pack_kv_u64(pk, "refused", srv->conns.refused);
    cmd_pack_kv_u64(pk, "dropped", srv->conns.dropped);
    cmd_pack_kv_u64(pk, "emfile", srv->conns.emfile);
    cmd_pack_kv_u64(pk, "max", (uint64_t)srv->cfg.max_connections);

    proto_pack_cstr(pk, "requests");
    msgpack_pack_map(pk, 1);
    cmd_pack_kv_u64(pk, "protocol_errors", srv->protocol_errors);

    /* Only methods that were called, so the reply stays small. */
    unsigned called = 0;
    for (unsigned i = 0; i < srv->nmethods; i++)
        called += srv->method_stats[i].count > 0;
    proto_pack_cstr(pk, "methods");
    msgpack_pack_map(pk, called);
    for (unsigned i = 0; i < srv->nmethods; i++) {
        /* This very call is recorded after it answers, hence the snapshot. */
        const stats_method_t *m = &srv->method_stats[i];
        if (m->count == 0)
            continue;
        proto_pack_cstr(pk, srv->methods[i].name);
        msgpack_pack_map(pk, 4);
        cmd_pack_kv_u64(pk, "count", m->count);
        cmd_pack_kv_u64(pk, "errors", m->errors);
        proto_pack_cstr(pk, "p50_us");
        msgpack_pack_double(pk, (double)stats_quantile_ns(m, 0.50) / 1000.0);
        proto_pack_cstr(pk, "p99_us");
        msgpack_pack_double(pk, (double)stats_quantile_ns(m, 0.99) / 1000.0);
    }

    writer_stats_t ws;
    writer_get_stats(srv->writer, &ws);
    proto_pack_cstr(pk, "writer");
    msgpack_pack_map(pk, 7);
    cmd_pack_kv_u64(pk, "queue_depth", ws.queued);
    cmd_pack_kv_u64(pk, "queue_bytes", srv->write_queue_bytes);
    cmd_pack_kv_u64(pk, "batches_committed", ws.batches_committed);
    cmd_pack_kv_u64(pk, "writes_committed", ws.jobs_committed);
    cmd_pack_kv_u64(pk, "writes_failed", ws.jobs_failed);
    cmd_pack_kv_u64(pk, "largest_batch", ws.largest_batch);
    cmd_pack_kv_u64(pk, "idle_checkpoints", ws.checkpoints);

    pool_stats_t ps;
    pool_get_stats(srv->pool, &ps);
    proto_pack_cstr(pk, "pool");
    msgpack_pack_map(pk, 5);
    cmd_pack_kv_u64(pk, "threads", ps.threads);
    cmd_pack_kv_u64(pk, "queue_depth", ps.queued);
    cmd_pack_kv_u64(pk, "running", ps.running);
    cmd_pack_kv_u64(pk, "done", ps.done);
    cmd_pack_kv_u64(pk, "failed", ps.failed);

    proto_pack_cstr(pk, "memory");
    msgpack_pack_map(pk, 5);
    cmd_pack_kv_u64(pk, "budget", (uint64_t)srv->cfg.memory_budget_bytes);
    cmd_pack_kv_u64(pk, "used", srv->mem.used);
    cmd_pack_kv_u64(pk, "jobs", srv->mem.jobs);
    cmd_pack_kv_u64(pk, "buffers", srv->mem.buffers);
    cmd_pack_kv_u64(pk, "refused", srv->mem.refused);

    proto_pack_cstr(pk, "purged");
    msgpack_pack_map(pk, 2);
    cmd_pack_kv_u64(pk, "sessions", srv->purged_sessions);
    cmd_pack_kv_u64(pk, "verificationTokens", srv->purged_vtokens);

    int64_t db_bytes, wal_bytes;
    store_file_sizes(srv->cfg.db_path, &db_bytes, &wal_bytes);
    proto_pack_cstr(pk, "storage");
    msgpack_pack_map(pk, 3);
    cmd_pack_kv_u64(pk, "db_bytes", (uint64_t)db_bytes);
    cmd_pack_kv_u64(pk, "wal_bytes", (uint64_t)wal_bytes);
    proto_pack_cstr(pk, "synchronous");
    proto_pack_cstr(pk, srv->cfg.synchronous);
    return 0;
}
