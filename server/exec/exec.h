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

#endif
