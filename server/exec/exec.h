/* exec.h - what every executor shares: the job a worker runs, and the one
 * completion queue that hands finished jobs back to the loop thread.
 *
 * A job is run by exactly one executor (the writer or a reader-pool
 * thread) against that executor's own SQLite connection. Finished jobs of
 * every executor go to one exec_done_t; its notify callback (the loop's
 * uv_async_send) is called once per push, and the loop drains the queue
 * with exec_done_take. The loop thread never waits on a worker: submit and
 * take hold a mutex for a few pointer writes only.
 */
#ifndef NOORMME_EXEC_H
#define NOORMME_EXEC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_rpc.h"
#include "store.h"

typedef struct exec_job exec_job_t;

/* Runs one job against `conn` (the executor's connection). Returns 0, or a
 * negative code with job->err filled. On the writer, a failure rolls back
 * the job's savepoint. */
typedef int (*exec_run_fn)(exec_job_t *job, store_t *conn);

struct exec_job {
    exec_job_t *next; /* queue link; owned by whoever holds the job */
    exec_run_fn run;  /* the work */
    int rc;           /* outcome once done: 0, or a negative code */
    proto_err_t err;  /* why, when rc != 0 */
};

typedef struct exec_done exec_done_t;

/* A completion queue whose pushes call notify(arg) (from the pushing
 * thread; it must only wake the loop). NULL when out of memory. */
exec_done_t *exec_done_new(void (*notify)(void *), void *arg);

/* Appends the list head..tail (linked by next) and calls notify. Any
 * thread. */
void exec_done_push(exec_done_t *d, exec_job_t *head, exec_job_t *tail);

/* Takes every finished job, oldest first, as a list linked by `next`, or
 * NULL. The caller owns them again. */
exec_job_t *exec_done_take(exec_done_t *d);

/* Frees the queue; jobs still in it are the caller's to take first. NULL is
 * a no-op. */
void exec_done_free(exec_done_t *d);

/* Appends `job` to the list head/tail. */
void exec_list_push(exec_job_t **head, exec_job_t **tail, exec_job_t *job);

/* The queue an executor's threads take jobs from. Its mutex also guards
 * the executor's own state (counters, the writer's checkpoint flag): the
 * executor locks q->mu around its wait, its take and its bookkeeping. */
typedef struct {
    pthread_mutex_t mu;      /* guards everything here and the executor's counters */
    pthread_cond_t cv;       /* signalled on push and stop */
    exec_job_t *head, *tail; /* queued jobs, oldest first */
    uint64_t queued;         /* jobs in the list */
    bool stopping;           /* exec_queue_stop was called: drain, then end */
} exec_queue_t;

void exec_queue_init(exec_queue_t *q);
void exec_queue_deinit(exec_queue_t *q);

/* Queues `job` (loop thread) and wakes one waiter. */
void exec_queue_push(exec_queue_t *q, exec_job_t *job);

/* Sets stopping and wakes every waiter. */
void exec_queue_stop(exec_queue_t *q);

/* With q->mu held: takes up to `max` (>= 1) jobs, oldest first, as a list
 * linked by `next` ending at *last, and their number in *n; NULL when the
 * queue is empty. */
exec_job_t *exec_queue_take(exec_queue_t *q, size_t max, size_t *n, exec_job_t **last);

#endif
