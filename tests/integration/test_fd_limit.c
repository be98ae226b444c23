/* test_fd_limit.c - integration: noormd and its file descriptor limit. At
 * start it raises its soft RLIMIT_NOFILE to the hard limit, and refuses a
 * --max-connections the limit cannot hold (each connection is one
 * descriptor; 128 more are kept for the database, the listener and
 * connections being refused, and three per reader-pool connection: these
 * servers run two pool threads, so 134).
 *
 * The limits are set in this process before the server is spawned, which
 * inherits them. A hard limit, once lowered, cannot be raised again without
 * privileges, so every test here uses the same hard limit. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rpcc.h"
#include "testsrv.h"

#define HARD_LIMIT 256
#define POOL       "2"           /* --pool-threads of every server here */
#define RESERVE    (128 + 3 * 2) /* descriptors noormd keeps beside its connections */
#define NCLIENTS   100           /* connections opened at once in the serving test */

static testsrv_t srv;

static int clean_slate(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof srv);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

static void set_nofile(rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {soft, hard};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fail_msg("setrlimit(RLIMIT_NOFILE, %llu, %llu): %s", (unsigned long long)soft,
                 (unsigned long long)hard, strerror(errno));
}

/* Launches the server with `max` connections under the soft limit `soft`
 * (the hard one is HARD_LIMIT); this process gets its soft limit back at
 * once. */
static void launch_with(const char *max, rlim_t soft)
{
    const char *const args[] = {"--max-connections", max, "--pool-threads", POOL, NULL};
    assert_int_equal(testsrv_init(&srv, NOORMD_TEST_BIN, args), 0);
    set_nofile(soft, HARD_LIMIT);
    int rc = testsrv_launch(&srv);
    set_nofile(HARD_LIMIT, HARD_LIMIT);
    assert_int_equal(rc, 0);
}

static int exit_status(void)
{
    int status = testsrv_wait_exit(&srv, TESTSRV_EXIT_TIMEOUT_MS);
    if (status == TESTSRV_STILL_RUNNING)
        fail_msg("the server did not exit; it should have refused to start");
    return status;
}

/* The soft "Max open files" limit of process `pid`, from /proc. */
static long long soft_nofile_of(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s: %s", path, strerror(errno));
    long long soft = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Max open files", 14) == 0) {
            soft = strtoll(line + 14, NULL, 10);
            break;
        }
    }
    fclose(f);
    return soft;
}

/* issue 7 defect 18: with RLIMIT_NOFILE below --max-connections, accept
 * failed with EMFILE and connections were closed with no message, log line
 * or counter. Now such a configuration is refused at start, saying what to
 * raise. */
static void test_max_connections_beyond_the_fd_limit_is_refused_with_a_clear_message(void **state)
{
    (void)state;
    launch_with("1024", HARD_LIMIT);
    assert_int_equal(exit_status(), 1);
    char *log = testsrv_read_log(&srv);
    bool clear = log && strstr(log, "--max-connections 1024") && strstr(log, "RLIMIT_NOFILE") &&
                 strstr(log, "1158") && strstr(log, "LimitNOFILE");
    if (!clear)
        fprintf(stderr, "---- server log ----\n%s", log ? log : "(unreadable)\n");
    free(log);
    assert_true(clear);
    assert_int_not_equal(access(srv.socket_path, F_OK), 0);
}

/* issue 7 defect 18, at the limit and one past it. */
static void test_max_connections_that_just_fits_starts_and_one_more_is_refused(void **state)
{
    (void)state;
    char max[16];
    snprintf(max, sizeof max, "%d", HARD_LIMIT - RESERVE + 1);
    launch_with(max, HARD_LIMIT);
    assert_int_equal(exit_status(), 1);
    assert_true(testsrv_log_contains(&srv, "RLIMIT_NOFILE"));
    assert_int_equal(testsrv_destroy(&srv), 0);

    snprintf(max, sizeof max, "%d", HARD_LIMIT - RESERVE);
    launch_with(max, HARD_LIMIT);
    assert_int_equal(testsrv_wait_ready(&srv, TESTSRV_READY_TIMEOUT_MS), 0);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

/* issue 7 defect 18: a soft limit below what --max-connections needs is
 * raised to the hard limit (as systemd's default soft limit of 1024 must
 * be), and then every one of the connections is served. */
static void test_soft_limit_is_raised_and_every_connection_is_served(void **state)
{
    (void)state;
    char max[16];
    /* Room for the start-up probe, which may still count for a moment. */
    snprintf(max, sizeof max, "%d", NCLIENTS + 1);
    launch_with(max, 64);
    assert_int_equal(testsrv_wait_ready(&srv, TESTSRV_READY_TIMEOUT_MS), 0);
    assert_int_equal(soft_nofile_of(srv.pid), HARD_LIMIT);

    /* More connections than the inherited soft limit of 64 descriptors. */
    static rpcc_t c[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++)
        rpcc_connect_or_fail(&c[i], srv.socket_path);
    int failed = 0;
    for (int i = 0; i < NCLIENTS; i++)
        failed += rpcc_ping(&c[i], (uint32_t)i + 1, RPCC_TIMEOUT_MS) != 0;
    if (failed)
        fail_msg("%d of %d connections were not served", failed, NCLIENTS);
    /* None was turned away for lack of descriptors, and the counter that
     * would say so is there. */
    msgpack_unpacked u;
    const msgpack_object *s = rpcc_call(&c[0], 1000, "server.stats", NULL, 0, &u, RPCC_TIMEOUT_MS);
    uint64_t emfile = 1;
    bool counted = rpcc_obj_u64(rpcc_dig(s, "connections", "emfile", NULL), &emfile);
    msgpack_unpacked_destroy(&u);
    for (int i = 0; i < NCLIENTS; i++)
        rpcc_close(&c[i]);
    assert_true(counted);
    assert_int_equal(emfile, 0);
}

int main(void)
{
    /* Every test uses the same hard limit (see the top of the file). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max < HARD_LIMIT) {
        fprintf(stderr, "test_fd_limit: needs a hard RLIMIT_NOFILE of at least %d\n", HARD_LIMIT);
        return 1;
    }
    struct rlimit low = {HARD_LIMIT, HARD_LIMIT};
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) {
        perror("test_fd_limit: setrlimit");
        return 1;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, clean_slate, stop_server)
    const struct CMUnitTest tests[] = {
        T(test_max_connections_beyond_the_fd_limit_is_refused_with_a_clear_message),
        T(test_max_connections_that_just_fits_starts_and_one_more_is_refused),
        T(test_soft_limit_is_raised_and_every_connection_is_served),
    };
#undef T
    int failed = cmocka_run_group_tests_name("fd_limit", tests, NULL, NULL);
    return failed + testsrv_problems();
}
