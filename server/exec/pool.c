/* pool.c - reader threads over one FIFO queue. */
#include "pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "proto_errors.h"

struct pool {
    pthread_mutex_t mu;      /* guards the queue, stopping and stats */
    pthread_cond_t cv;       /* signalled on submit and stop */
    exec_job_t *head, *tail; /* queued jobs */
    bool stopping;           /* pool_stop was called */
    exec_done_t *done;       /* finished jobs go here */
    int nthreads;            /* threads started */
    pthread_t *threads;      /* [nthreads] */
    store_t **conns;         /* [nthreads] read-only connections, one per thread */
    pool_stats_t stats;      /* counters */
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
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->head)
            break; /* stopping, and the queue is drained */
        exec_job_t *job = p->head;
        p->head = job->next;
        if (!p->head)
            p->tail = NULL;
        p->stats.queued--;
        p->stats.running++;
        pthread_mutex_unlock(&p->mu);

        job->rc = job->run(job, conn);

        pthread_mutex_lock(&p->mu);
        p->stats.running--;
        p->stats.done++;
        if (job->rc != 0)
            p->stats.failed++;
        pthread_mutex_unlock(&p->mu);
        exec_done_push(p->done, job, job);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Joins the first `started` threads and frees everything. */
static void pool_free(pool_t *p, int started)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < started; i++)
        pthread_join(p->threads[i], NULL);
    for (int i = 0; i < p->nthreads; i++)
        store_close(p->conns[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
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
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
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
    job->rc = 0;
    pthread_mutex_lock(&p->mu);
    exec_list_push(&p->head, &p->tail, job);
    p->stats.queued++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void pool_get_stats(pool_t *p, pool_stats_t *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    pthread_mutex_unlock(&p->mu);
}

void pool_stop(pool_t *p)
{
    if (p)
        pool_free(p, p->nthreads);
}
