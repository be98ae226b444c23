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

#include "proto_rpc.h"
#include "store.h"

typedef struct writer_job writer_job_t;

/* Runs one job's writes inside the open transaction. Returns 0, or a
 * negative code with job->err filled: the job's savepoint is rolled back. */
typedef int (*writer_run_fn)(writer_job_t *job, store_t *w);

struct writer_job {
    writer_job_t *next; /* queue link, owned by the writer while queued */
    writer_run_fn run;  /* the work */
    int rc;             /* outcome once done: 0 committed, or a negative code */
    proto_err_t err;    /* why, when rc != 0 */
};

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
 * writer_stop). `notify(arg)` is called from the writer thread whenever
 * finished jobs are ready; it must only wake the loop. Returns NULL when the
 * thread cannot start. */
writer_t *writer_start(store_t *w, const writer_options_t *o, void (*notify)(void *),
                       void *notify_arg);

/* Queues `job` (loop thread). The job belongs to the writer until it comes
 * back from writer_take_done(). */
void writer_submit(writer_t *wr, writer_job_t *job);

/* Takes every finished job, oldest first, as a list linked by `next`, or
 * NULL. The caller owns them again. */
writer_job_t *writer_take_done(writer_t *wr);

/* Snapshot of the counters. */
void writer_get_stats(writer_t *wr, writer_stats_t *out);

/* Runs the jobs still queued, checkpoints (TRUNCATE), joins the thread and
 * frees `wr`. Finished jobs not yet taken are returned (as by
 * writer_take_done) so the caller can free them. NULL is a no-op. */
writer_job_t *writer_stop(writer_t *wr);

#endif
