/* pool.c - reader threads over one FIFO queue. */
#include "pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "proto_errors.h"

struct pool {
    exec_queue_t q;     /* queued jobs; q.mu also guards stats */
    exec_done_t *done;  /* finished jobs go here */
    int nthreads;       /* threads started */
    pthread_t *threads; /* [nthreads] */
    store_t **conns;    /* [nthreads] read-only connections, one per thread */
    pool_stats_t stats; /* counters */
};

typedef struct {
    pool_t *pool; /* owner */
    int index;    /* which connection */
} pool_arg_t;

static void *pool_main(void *argp)
{
    pool_arg_t *a = argp;
    pool_t *p = a->pool;
    store_t *conn = p->conns[a->index];
    free(a);
    exec_queue_t *q = &p->q;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->cv, &q->mu);
        size_t n;
        exec_job_t *job, *last;
        if (!(job = exec_queue_take(q, 1, &n, &last)))
            break; /* stopping, and the queue is drained */
        p->stats.running++;
        pthread_mutex_unlock(&q->mu);

        job->rc = job->run(job, conn);

        pthread_mutex_lock(&q->mu);
        p->stats.running--;
        p->stats.done++;
        if (job->rc != 0)
            p->stats.failed++;
        pthread_mutex_unlock(&q->mu);
        exec_done_push(p->done, job, job);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Joins the first `started` threads and frees everything. */
static void pool_free(pool_t *p, int started)
{
    exec_queue_stop(&p->q);
    for (int i = 0; i < started; i++)
        pthread_join(p->threads[i], NULL);
    for (int i = 0; i < p->nthreads; i++)
        store_close(p->conns[i]);
    exec_queue_deinit(&p->q);
    free(p->threads);
    free(p->conns);
    free(p);
}

int pool_start(const store_options_t *o, int threads, exec_done_t *done, pool_t **out,
               proto_err_t *err)
{
    *out = NULL;
    pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return proto_err_set(err, PROTO_E_INTERNAL, "out of memory starting the reader pool");
    exec_queue_init(&p->q);
    p->done = done;
    p->nthreads = threads;
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    p->conns = calloc((size_t)threads, sizeof *p->conns);
    int started = 0, rc = 0;
    if (!p->threads || !p->conns) {
        rc = proto_err_set(err, PROTO_E_INTERNAL, "out of memory starting the reader pool");
        goto fail;
    }
    for (int i = 0; i < threads; i++) {
        rc = store_open_reader(o, &p->conns[i], err);
        if (rc != 0)
            goto fail;
    }
    for (; started < threads; started++) {
        pool_arg_t *a = malloc(sizeof *a);
        if (!a) {
            rc = proto_err_set(err, PROTO_E_INTERNAL, "out of memory starting the reader pool");
            goto fail;
        }
        a->pool = p;
        a->index = started;
        if (pthread_create(&p->threads[started], NULL, pool_main, a) != 0) {
            free(a);
            rc = proto_err_set(err, PROTO_E_INTERNAL, "cannot start reader thread %d", started);
            goto fail;
        }
    }
    p->stats.threads = (uint64_t)threads;
    *out = p;
    return 0;
fail:
    pool_free(p, started);
    return rc;
}

void pool_submit(pool_t *p, exec_job_t *job)
{
    exec_queue_push(&p->q, job);
}

void pool_get_stats(pool_t *p, pool_stats_t *out)
{
    pthread_mutex_lock(&p->q.mu);
    *out = p->stats;
    out->queued = p->q.queued;
    pthread_mutex_unlock(&p->q.mu);
}

void pool_stop(pool_t *p)
{
    if (p)
        pool_free(p, p->nthreads);
}
