/* pool.h - the reader pool: threads that run POOL-class requests, each on
 * its own read-only SQLite connection, so a long read never holds the loop
 * thread (and with it every auth call) or the writer.
 *
 * Jobs are taken first in, first out by whichever thread is free; finished
 * jobs go to the shared completion queue. In WAL mode readers never wait
 * for the writer, and each connection's read transaction ends when its
 * statement is reset.
 */
#ifndef NOORMME_POOL_H
#define NOORMME_POOL_H

#include <stdint.h>

#include "exec.h"
#include "store.h"

typedef struct pool pool_t;

typedef struct {
    uint64_t threads; /* reader threads */
    uint64_t queued;  /* jobs waiting for a thread */
    uint64_t running; /* jobs being run now */
    uint64_t done;    /* jobs finished since start */
    uint64_t failed;  /* ... of which with an error */
} pool_stats_t;

/* Opens `threads` read-only connections with `o` and starts one thread on
 * each; finished jobs are pushed to `done`. Returns 0, or a negative code
 * with `err` set (nothing is left running). */
int pool_start(const store_options_t *o, int threads, exec_done_t *done, pool_t **out,
               proto_err_t *err);

/* Queues `job` (loop thread); it belongs to the pool until it comes back
 * through the completion queue. */
void pool_submit(pool_t *p, exec_job_t *job);

/* Snapshot of the counters. */
void pool_get_stats(pool_t *p, pool_stats_t *out);

/* Runs the jobs still queued, joins the threads, closes their connections
 * and frees `p`. NULL is a no-op. */
void pool_stop(pool_t *p);

#endif
