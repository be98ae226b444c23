/* done.c - the completion queue shared by the writer and the reader pool. */
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
