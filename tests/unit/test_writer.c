/* test_writer.c - the writer thread: group commit, one savepoint per job,
 * batch size cap, and draining on stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto_errors.h"
#include "store.h"
#include "test_methods.h"
#include "writer.h"

typedef struct {
    exec_job_t base; /* must be first */
    char key[32];    /* row written */
    int sleep_ms;    /* hold the writer this long first */
    bool fail;       /* write, then fail */
} job_t;

typedef struct {
    char dir[64];
    char path[128];
    store_t *w;
    writer_t *wr;
    exec_done_t *dq; /* the completion queue */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;    /* jobs collected back */
    job_t *jobs; /* all jobs of the test */
} fixture_t;

static int run_job(exec_job_t *base, store_t *w)
{
    job_t *j = (job_t *)base;
    if (j->sleep_ms) {
        struct timespec ts = {0, j->sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    int rc = store_test_put(w, j->key, strlen(j->key), "v", 1, &base->err);
    if (rc == 0 && j->fail)
        rc = proto_err_set(&base->err, PROTO_E_CONFLICT, "requested");
    return rc;
}

/* The notify callback: collect finished jobs like the loop would. */
static void on_done(void *arg)
{
    fixture_t *f = arg;
    pthread_mutex_lock(&f->mu);
    for (exec_job_t *j = exec_done_take(f->dq); j; j = j->next)
        f->done++;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void wait_done(fixture_t *f, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&f->mu);
    while (f->done < n)
        assert_int_equal(pthread_cond_timedwait(&f->cv, &f->mu, &until), 0);
    pthread_mutex_unlock(&f->mu);
}

static fixture_t *start(int batch_max, int njobs)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/noormme-writer-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    store_options_t o = {.path = f->path,
                         .synchronous_full = true,
                         .busy_timeout_ms = 1000,
                         .wal_limit_bytes = 1 << 20};
    proto_err_t err;
    assert_int_equal(store_open_writer(&o, &f->w, &err), 0);
    assert_int_equal(store_test_init(f->w, &err), 0);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->jobs = calloc((size_t)njobs, sizeof *f->jobs);
    for (int i = 0; i < njobs; i++) {
        f->jobs[i].base.run = run_job;
        snprintf(f->jobs[i].key, sizeof f->jobs[i].key, "key-%d", i);
    }
    writer_options_t wo = {.batch_max = batch_max, .checkpoint_idle_ms = 50};
    pthread_mutex_lock(&f->mu); /* on_done must not run before f->wr is set */
    f->dq = exec_done_new(on_done, f);
    f->wr = writer_start(f->w, &wo, f->dq);
    pthread_mutex_unlock(&f->mu);
    assert_non_null(f->wr);
    return f;
}

static void finish(fixture_t *f)
{
    if (f->wr)
        writer_stop(f->wr);
    exec_done_take(f->dq); /* the jobs are the fixture's own storage */
    exec_done_free(f->dq);
    store_close(f->w);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f->jobs);
    free(f);
}

static bool row_exists(fixture_t *f, const char *key)
{
    proto_buf_t b;
    proto_buf_init(&b);
    bool found = false;
    proto_err_t err;
    assert_int_equal(store_test_get(f->w, key, strlen(key), &b, &found, &err), 0);
    proto_buf_deinit(&b);
    return found;
}

static void test_writer_commits_queued_jobs_in_shared_transactions(void **state)
{
    enum { N = 200 };
    fixture_t *f = start(256, N);
    f->jobs[0].sleep_ms = 100; /* the others queue up behind it */
    for (int i = 0; i < N; i++)
        writer_submit(f->wr, &f->jobs[i].base);
    wait_done(f, N);
    writer_stats_t st;
    writer_get_stats(f->wr, &st);
    assert_int_equal(st.jobs_committed, N);
    assert_int_equal(st.jobs_failed, 0);
    assert_true(st.batches_committed < N / 10);
    assert_true(st.largest_batch > 1);
    assert_int_equal(st.queued, 0);
    writer_stop(f->wr);
    f->wr = NULL;
    for (int i = 0; i < N; i++) {
        assert_int_equal(f->jobs[i].base.rc, 0);
        assert_true(row_exists(f, f->jobs[i].key));
    }
    finish(f);
}

static void test_writer_undoes_a_failing_job_alone(void **state)
{
    enum { N = 30 };
    fixture_t *f = start(256, N);
    f->jobs[0].sleep_ms = 50;
    for (int i = 0; i < N; i += 3)
        f->jobs[i].fail = true;
    for (int i = 0; i < N; i++)
        writer_submit(f->wr, &f->jobs[i].base);
    wait_done(f, N);
    writer_stop(f->wr);
    f->wr = NULL;
    for (int i = 0; i < N; i++) {
        if (f->jobs[i].fail) {
            assert_int_equal(f->jobs[i].base.rc, -PROTO_E_CONFLICT);
            assert_false(row_exists(f, f->jobs[i].key));
        } else {
            assert_int_equal(f->jobs[i].base.rc, 0);
            assert_true(row_exists(f, f->jobs[i].key));
        }
    }
    finish(f);
}

static void test_writer_never_exceeds_batch_max(void **state)
{
    enum { N = 100 };
    fixture_t *f = start(10, N);
    f->jobs[0].sleep_ms = 50;
    for (int i = 0; i < N; i++)
        writer_submit(f->wr, &f->jobs[i].base);
    wait_done(f, N);
    writer_stats_t st;
    writer_get_stats(f->wr, &st);
    assert_int_equal(st.largest_batch, 10);
    assert_true(st.batches_committed >= N / 10);
    finish(f);
}

static void test_writer_stop_runs_what_is_still_queued(void **state)
{
    enum { N = 20 };
    fixture_t *f = start(256, N);
    f->jobs[0].sleep_ms = 100;
    for (int i = 0; i < N; i++)
        writer_submit(f->wr, &f->jobs[i].base);
    writer_stop(f->wr); /* before any has finished */
    f->wr = NULL;
    for (int i = 0; i < N; i++)
        assert_true(row_exists(f, f->jobs[i].key));
    finish(f);
}

static void test_writer_checkpoints_when_idle(void **state)
{
    fixture_t *f = start(256, 1);
    writer_submit(f->wr, &f->jobs[0].base);
    wait_done(f, 1);
    writer_stats_t st = {0};
    for (int i = 0; i < 100 && st.checkpoints == 0; i++) {
        usleep(10000);
        writer_get_stats(f->wr, &st);
    }
    assert_int_equal(st.checkpoints, 1);
    finish(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_commits_queued_jobs_in_shared_transactions),
        cmocka_unit_test(test_writer_undoes_a_failing_job_alone),
        cmocka_unit_test(test_writer_never_exceeds_batch_max),
        cmocka_unit_test(test_writer_stop_runs_what_is_still_queued),
        cmocka_unit_test(test_writer_checkpoints_when_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
