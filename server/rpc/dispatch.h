/* dispatch.h - from a validated message to a reply: the method table's
 * checklist, then the handler by execution class: LOOP on this thread,
 * POOL on the reader pool, WRITER on the writer.
 *
 * Independent of the event loop: the caller hands in the message bytes and a
 * reply buffer, and an opaque `owner` (the connection) that comes back with
 * a finished job through srv->done.
 */
#ifndef NOORMME_DISPATCH_H
#define NOORMME_DISPATCH_H

#include <msgpack.h>

#include "proto_buf.h"
#include "server.h"
#include "cmd.h"
#include "exec.h"
#include "writer.h"

typedef enum {
    DISPATCH_DONE = 0,   /* answered (reply appended) or a notification run */
    DISPATCH_QUEUED = 1, /* a job went to the pool or the writer; it comes back to `owner` */
    DISPATCH_CLOSE = 2,  /* a protocol error was appended; close after flushing */
} dispatch_result_t;

/* The connection a message came from: who to answer, and how much of the
 * memory budget it holds now (its buffers and queued jobs). */
typedef struct {
    void *owner;   /* comes back with the job */
    uint64_t held; /* bytes */
    uint64_t cost; /* out, on DISPATCH_QUEUED: bytes the job holds (dispatch_job_held) */
} dispatch_conn_t;

/* Adds `n` methods to the table (copied; names and specs must outlive the
 * server). Called before dispatch_init: the built-in methods first, then
 * any a test binary registers. Returns 0, or -1 for a repeated name, too
 * many arguments, no memory, or a table already fixed by dispatch_init. */
int dispatch_register(server_t *srv, const cmd_method_t *ms, unsigned n);

/* Allocates the per-method stats once every method is registered.
 * Returns 0, or -1 when out of memory. dispatch_deinit frees the stats and
 * the table. */
int dispatch_init(server_t *srv);
void dispatch_deinit(server_t *srv);

/* Handles one complete message that passed proto_scan_feed(). `zone` is
 * cleared and reused for the decode (its objects die before this returns);
 * the reply, if any, is appended to `out`. `t0_ns` (stats_now_ns) is when
 * the bytes arrived: latency is measured from it. */
dispatch_result_t dispatch_message(server_t *srv, const uint8_t *msg, size_t len,
                                   msgpack_zone *zone, proto_buf_t *out, dispatch_conn_t *conn,
                                   uint64_t t0_ns);

/* Memory a queued job of an `len`-byte message with the decoded argument
 * map `args` (may be NULL) holds until answered: the job, the message copy
 * and the arrays and maps of its arguments, in one allocation (no copy
 * without arguments). Charged to
 * the memory budget (and, for writes, to --write-queue). */
size_t dispatch_job_cost(size_t len, const msgpack_object *args);

/* Bytes `job` holds (charged when it was queued). */
uint64_t dispatch_job_held(const exec_job_t *job);

/* The owner given when `job` was queued. */
void *dispatch_job_owner(const exec_job_t *job);

/* Frames a finished job's reply into `out` (NULL when the owner is gone:
 * the reply is dropped), records its stats and frees the job. */
void dispatch_job_finish(server_t *srv, exec_job_t *job, proto_buf_t *out);

/* Queues an internal call of the method `method` with no arguments and no
 * reply (e.g. the purge timer's server.purge). */
void dispatch_internal(server_t *srv, const char *method);

/* Appends a protocol-error notification [2, "server.error", [error]]. */
void dispatch_pack_fatal(proto_buf_t *out, int code, const char *message);

#endif
