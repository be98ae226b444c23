/* server.h - the state the modules share: configuration, stores, writer,
 * counters. One instance, owned by main(); the loop thread reads and writes
 * it, the writer thread touches only its own writer_t. */
#ifndef NOORMME_SERVER_H
#define NOORMME_SERVER_H

#include <stdint.h>

#include "config.h"
#include "crypto.h"
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

typedef struct {
    config_t cfg;                 /* options */
    store_t *reader;              /* read-only connection used on the loop thread */
    crypto_t *crypto;             /* the master key's subkeys */
    writer_t *writer;             /* the single writer */
    uint64_t started_ns;          /* monotonic start time */
    server_conn_stats_t conns;    /* connection counters (net) */
    uint64_t protocol_errors;     /* messages refused as protocol errors */
    uint64_t write_queue_bytes;   /* message bytes of write jobs not yet answered */
    stats_method_t *method_stats; /* one per entry of the method table */
    bool shutting_down;           /* SIGTERM received */
    uint64_t purged_sessions;     /* expired rows removed; updated by the writer (atomic) */
    uint64_t purged_vtokens;      /* ... verification tokens */
} server_t;

#endif
