/* done.c - the job queues: each executor's input queue, and the completion
 * queue shared by the writer and the reader pool. */
#include <pthread.h>
#include <stdlib.h>

#include "exec.h"

struct exec_done {
    pthread_mutex_t mu;      /* guards head and tail */
    exec_job_t *head, *tail; /* finished jobs, oldest first */
    void (*notify)(void *);  /* wakes the loop */
    void *arg;               /* its argument */
};

void exec_list_push(exec_job_t **head, exec_job_t **tail, exec_job_t *job)
{
    job->next = NULL;
    if (*tail)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
}

exec_done_t *exec_done_new(void (*notify)(void *), void *arg)
{
    exec_done_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    pthread_mutex_init(&d->mu, NULL);
    d->notify = notify;
    d->arg = arg;
    return d;
}

void exec_done_push(exec_done_t *d, exec_job_t *head, exec_job_t *tail)
{
    if (!head)
        return;
    pthread_mutex_lock(&d->mu);
    if (d->tail)
        d->tail->next = head;
    else
        d->head = head;
    d->tail = tail;
    tail->next = NULL;
    pthread_mutex_unlock(&d->mu);
    if (d->notify)
        d->notify(d->arg);
}

exec_job_t *exec_done_take(exec_done_t *d)
{
    pthread_mutex_lock(&d->mu);
    exec_job_t *all = d->head;
    d->head = d->tail = NULL;
    pthread_mutex_unlock(&d->mu);
    return all;
}

void exec_done_free(exec_done_t *d)
{
    if (!d)
        return;
    pthread_mutex_destroy(&d->mu);
    free(d);
}

void exec_queue_init(exec_queue_t *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->head = q->tail = NULL;
    q->queued = 0;
    q->stopping = false;
}

void exec_queue_deinit(exec_queue_t *q)
{
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

void exec_queue_push(exec_queue_t *q, exec_job_t *job)
{
    job->rc = 0;
    pthread_mutex_lock(&q->mu);
    exec_list_push(&q->head, &q->tail, job);
    q->queued++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void exec_queue_stop(exec_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

exec_job_t *exec_queue_take(exec_queue_t *q, size_t max, size_t *n, exec_job_t **last)
{
    exec_job_t *first = q->head;
    if (!first)
        return NULL;
    exec_job_t *end = first;
    size_t k = 1;
    while (end->next && k < max) {
        end = end->next;
        k++;
    }
    q->head = end->next;
    if (!q->head)
        q->tail = NULL;
    end->next = NULL;
    q->queued -= k;
    *n = k;
    *last = end;
    return first;
}
