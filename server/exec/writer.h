/* writer.h - the single writer thread and its group commit.
 *
 * The writer owns the only read-write SQLite connection. The loop thread
 * submits jobs (never blocking beyond a short mutex); the writer takes every
 * queued job (up to batch_max), runs them in one BEGIN IMMEDIATE transaction,
 * each inside its own SAVEPOINT so a failing job is undone alone, commits
 * once, and only then hands the jobs back as done. While it waits for fsync,
 * new jobs pile up and form the next batch, so the commit cost is shared.
 * When idle for checkpoint_idle_ms it checkpoints the WAL.
 */
#ifndef NOORMME_WRITER_H
#define NOORMME_WRITER_H

#include <stdint.h>

#include "exec.h"
#include "proto_rpc.h"
#include "store.h"

typedef struct writer writer_t;

typedef struct {
    int batch_max;          /* most jobs per transaction */
    int checkpoint_idle_ms; /* idle time before a passive checkpoint */
} writer_options_t;

typedef struct {
    uint64_t queued;            /* jobs waiting or running now */
    uint64_t batches_committed; /* transactions committed */
    uint64_t jobs_committed;    /* jobs whose writes landed */
    uint64_t jobs_failed;       /* jobs answered with an error */
    uint64_t largest_batch;     /* most jobs seen in one transaction */
    uint64_t checkpoints;       /* idle checkpoints run */
} writer_stats_t;

/* Starts the writer thread on `w` (which it uses exclusively until
 * writer_stop). Finished jobs, each batch after its commit, are pushed to
 * `done`. Returns NULL when the thread cannot start. */
writer_t *writer_start(store_t *w, const writer_options_t *o, exec_done_t *done);

/* Queues `job` (loop thread). The job belongs to the writer until it comes
 * back through the completion queue. */
void writer_submit(writer_t *wr, exec_job_t *job);

/* Snapshot of the counters. */
void writer_get_stats(writer_t *wr, writer_stats_t *out);

/* Runs the jobs still queued (they go to `done` as usual), checkpoints
 * (TRUNCATE), joins the thread and frees `wr`. NULL is a no-op. */
void writer_stop(writer_t *wr);

#endif
