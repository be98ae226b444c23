/* writer.c - the writer thread: group commit with a savepoint per job. */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "proto_errors.h"

struct writer {
    store_t *store;       /* the only read-write connection */
    writer_options_t opt; /* limits */
    exec_done_t *done;    /* finished jobs go here */
    pthread_t thread;     /* the writer thread */
    exec_queue_t q;       /* queued jobs; q.mu also guards what follows */
    size_t running;       /* jobs of the batch being run */
    bool dirty;           /* commits since the last checkpoint */
    writer_stats_t stats; /* counters (stats.queued is derived) */
};

/* Marks every job of the batch that had succeeded as failed with `err`: the
 * transaction that held their writes is gone. */
static void fail_batch(exec_job_t *batch, const proto_err_t *err)
{
    for (exec_job_t *j = batch; j; j = j->next) {
        if (j->rc == 0) {
            j->rc = -err->code;
            j->err = *err;
        }
    }
}

/* Runs `batch` in transactions; fills each job's rc. Returns true when a
 * transaction was committed. */
static bool run_batch(writer_t *wr, exec_job_t *batch, size_t n)
{
    proto_err_t err;
    exec_job_t *txn_first = batch; /* first job of the open transaction */
    int rc = store_begin(wr->store, &err);
    if (rc != 0) {
        fail_batch(batch, &err);
        return false;
    }
    for (exec_job_t *j = batch; j; j = j->next) {
        j->rc = store_savepoint(wr->store, &j->err);
        if (j->rc == 0) {
            j->rc = j->run(j, wr->store);
            if (j->rc != 0)
                store_rollback_to(wr->store);
            int rel = store_release(wr->store, &err);
            if (rel != 0 && j->rc == 0) {
                j->rc = rel;
                j->err = err;
            }
        }
        if (!store_in_transaction(wr->store)) {
            /* SQLite rolled the whole transaction back (I/O error, full
             * disk, out of memory): the jobs before this one lost their
             * writes too. Fail them and go on in a new transaction. */
            proto_err_t lost = j->err;
            if (j->rc == 0)
                proto_err_set(&lost, PROTO_E_OUTCOME_UNKNOWN,
                              "the transaction was rolled back by the storage engine");
            for (exec_job_t *k = txn_first; k != j->next; k = k->next) {
                if (k->rc == 0) {
                    k->rc = -lost.code;
                    k->err = lost;
                }
            }
            txn_first = j->next;
            if (txn_first && store_begin(wr->store, &err) != 0) {
                fail_batch(txn_first, &err);
                return false;
            }
        }
    }
    if (txn_first) {
        rc = store_commit(wr->store, &err);
        if (rc != 0) {
            /* An I/O error at commit is OUTCOME_UNKNOWN (store_error). */
            log_event(LOG_ERROR, "commit_failed", " jobs=%zu code=%s", n,
                      proto_error_name(err.code));
            fail_batch(txn_first, &err);
            return false;
        }
        wr->dirty = true;
        return true;
    }
    return false;
}

static void *writer_main(void *arg)
{
    writer_t *wr = arg;
    exec_queue_t *q = &wr->q;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (!q->head) {
            if (q->stopping)
                break;
            if (wr->dirty) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += wr->opt.checkpoint_idle_ms / 1000;
                until.tv_nsec += (long)(wr->opt.checkpoint_idle_ms % 1000) * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                    until.tv_sec++;
                    until.tv_nsec -= 1000000000L;
                }
                int w = pthread_cond_timedwait(&q->cv, &q->mu, &until);
                if (w == ETIMEDOUT && !q->head && !q->stopping) {
                    pthread_mutex_unlock(&q->mu);
                    proto_err_t err;
                    bool done = store_checkpoint(wr->store, false, &err) == 0;
                    if (!done)
                        log_event(LOG_WARN, "checkpoint_failed", " code=%s",
                                  proto_error_name(err.code));
                    pthread_mutex_lock(&q->mu);
                    if (done) { /* a failed one is tried again after the next idle wait */
                        wr->dirty = false;
                        wr->stats.checkpoints++;
                    }
                }
            } else {
                pthread_cond_wait(&q->cv, &q->mu);
            }
            continue;
        }
        /* Take up to batch_max jobs; the rest wait for the next batch. */
        size_t n;
        exec_job_t *last, *batch = exec_queue_take(q, (size_t)wr->opt.batch_max, &n, &last);
        wr->running = n;
        pthread_mutex_unlock(&q->mu);

        bool committed = run_batch(wr, batch, n);

        pthread_mutex_lock(&q->mu);
        wr->running = 0;
        if (committed)
            wr->stats.batches_committed++;
        if (n > wr->stats.largest_batch)
            wr->stats.largest_batch = n;
        for (exec_job_t *j = batch; j; j = j->next) {
            if (j->rc == 0)
                wr->stats.jobs_committed++;
            else
                wr->stats.jobs_failed++;
        }
        pthread_mutex_unlock(&q->mu);
        exec_done_push(wr->done, batch, last);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);

    proto_err_t err;
    if (store_checkpoint(wr->store, true, &err) != 0)
        log_event(LOG_WARN, "checkpoint_failed", " code=%s at=shutdown",
                  proto_error_name(err.code));
    return NULL;
}

writer_t *writer_start(store_t *w, const writer_options_t *o, exec_done_t *done)
{
    writer_t *wr = calloc(1, sizeof *wr);
    if (!wr)
        return NULL;
    wr->store = w;
    wr->opt = *o;
    wr->done = done;
    exec_queue_init(&wr->q);
    if (pthread_create(&wr->thread, NULL, writer_main, wr) != 0) {
        exec_queue_deinit(&wr->q);
        free(wr);
        return NULL;
    }
    return wr;
}

void writer_submit(writer_t *wr, exec_job_t *job)
{
    exec_queue_push(&wr->q, job);
}

void writer_get_stats(writer_t *wr, writer_stats_t *out)
{
    pthread_mutex_lock(&wr->q.mu);
    *out = wr->stats;
    out->queued = wr->q.queued + wr->running;
    pthread_mutex_unlock(&wr->q.mu);
}

void writer_stop(writer_t *wr)
{
    if (!wr)
        return;
    exec_queue_stop(&wr->q);
    pthread_join(wr->thread, NULL);
    exec_queue_deinit(&wr->q);
    free(wr);
}
