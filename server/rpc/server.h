/* server.h - the state the layers share: configuration, connections,
 * executors, the method table, counters, the memory budget. One instance,
 * owned by noormd_main(); only the loop thread reads and writes it (the
 * writer and the pool touch their own structs; handlers on them only read
 * cfg and crypto). */
#ifndef NOORMME_SERVER_H
#define NOORMME_SERVER_H

#include <stdint.h>

#include "config.h"
#include "crypto.h"
#include "exec.h"
#include "pool.h"
#include "stats.h"
#include "store.h"
#include "writer.h"

typedef struct {
    uint64_t current;  /* open now */
    uint64_t accepted; /* since start */
    uint64_t refused;  /* turned away at max_connections, or for lack of memory */
    uint64_t dropped;  /* closed by the server for a limit or a protocol error */
    uint64_t emfile;   /* turned away because no file descriptor was left */
} server_conn_stats_t;

/* The memory budget (--memory-budget): what queued jobs and connection
 * buffers really hold, charged by the loop thread. */
typedef struct {
    uint64_t used;    /* jobs + buffers */
    uint64_t jobs;    /* bytes held by pool and writer jobs not yet answered */
    uint64_t buffers; /* connection input and output buffers */
    uint64_t refused; /* requests refused with OUT_OF_MEMORY for the budget */
} server_mem_t;

struct cmd_method_s;

typedef struct {
    config_t cfg;                 /* options */
    store_t *reader;              /* read-only connection used on the loop thread */
    crypto_t *crypto;             /* the master key's subkeys */
    writer_t *writer;             /* the single writer */
    pool_t *pool;                 /* the reader pool */
    exec_done_t *done;            /* finished jobs of the writer and the pool */
    struct cmd_method_s *methods; /* the method table: built-in, then registered (owned) */
    unsigned nmethods;            /* entries in methods */
    unsigned methods_cap;         /* entries allocated */
    server_mem_t mem;             /* the memory budget's accounts */
    uint64_t started_ns;          /* monotonic start time */
    server_conn_stats_t conns;    /* connection counters (net) */
    uint64_t protocol_errors;     /* messages refused as protocol errors */
    uint64_t write_queue_bytes;   /* bytes held by write jobs not yet answered */
    stats_method_t *method_stats; /* one per entry of the method table */
    bool shutting_down;           /* SIGTERM received */
    uint64_t purged_sessions;     /* expired rows removed (counted after the commit) */
    uint64_t purged_vtokens;      /* ... verification tokens */
} server_t;

/* True when `more` bytes fit in what the memory budget leaves. */
static inline bool server_mem_fits(const server_t *srv, uint64_t more)
{
    return srv->mem.used + more <= (uint64_t)srv->cfg.memory_budget_bytes;
}

#endif
