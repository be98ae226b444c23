/* dispatch.h - from a validated message to a reply: the method table's
 * checklist, then the handler on this thread (reads) or on the writer
 * (writes).
 *
 * Independent of the event loop: the caller hands in the message bytes and a
 * reply buffer, and an opaque `owner` (the connection) that comes back with
 * a finished write job.
 */
#ifndef NOORMME_DISPATCH_H
#define NOORMME_DISPATCH_H

#include <msgpack.h>

#include "proto_buf.h"
#include "server.h"
#include "writer.h"

typedef enum {
    DISPATCH_DONE = 0,   /* answered (reply appended) or a notification run */
    DISPATCH_QUEUED = 1, /* a write job went to the writer; it comes back to `owner` */
    DISPATCH_CLOSE = 2,  /* a protocol error was appended; close after flushing */
} dispatch_result_t;

/* Allocates the per-method stats. Returns 0, or -1 when out of memory. */
int dispatch_init(server_t *srv);
void dispatch_deinit(server_t *srv);

/* Handles one complete message that passed proto_scan_feed(). `zone` is
 * cleared and reused for the decode (its objects die before this returns);
 * the reply, if any, is appended to `out`. `t0_ns` (stats_now_ns) is when
 * the bytes arrived: latency is measured from it. */
dispatch_result_t dispatch_message(server_t *srv, const uint8_t *msg, size_t len,
                                   msgpack_zone *zone, proto_buf_t *out, void *owner,
                                   uint64_t t0_ns);

/* Memory a queued write of an `len`-byte message holds until answered: the
 * message copy, the job and its decode arena. Counted against
 * --write-queue. */
size_t dispatch_job_cost(size_t len);

/* The owner given when `job` was queued. */
void *dispatch_job_owner(const writer_job_t *job);

/* Frames a finished job's reply into `out` (NULL when the owner is gone:
 * the reply is dropped), records its stats and frees the job. */
void dispatch_job_finish(server_t *srv, writer_job_t *job, proto_buf_t *out);

/* Queues an internal call of the write method `method` with no arguments
 * and no reply (e.g. the purge timer's server.purge). */
void dispatch_internal(server_t *srv, const char *method);

/* Appends a protocol-error notification [2, "server.error", [error]]. */
void dispatch_pack_fatal(proto_buf_t *out, int code, const char *message);

#endif
