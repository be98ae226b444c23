/* test_lock_file.c - integration: the lock file <db>.lock that makes noormd
 * the only server of its database. Whoever can write the database
 * directory can put something at that path before noormd starts; noormd
 * (often root) must then refuse to start rather than truncate and write
 * its pid into whatever the path leads to. A plain lock file left by an
 * earlier run is used again. Each test has its own server directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpcc.h"
#include "testsrv.h"

/* What the file an attacker points the lock path at holds. */
#define VICTIM_TEXT "root:precious contents that must survive\n"

static testsrv_t srv;
static char lock_path[TESTSRV_PATH_MAX + 8];   /* <db>.lock */
static char victim_path[TESTSRV_PATH_MAX + 8]; /* a file outside noormd's business */

static int init_server(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof srv);
    if (testsrv_init(&srv, NOORMD_TEST_BIN, NULL) != 0) {
        testsrv_destroy(&srv);
        return -1;
    }
    snprintf(lock_path, sizeof lock_path, "%s.lock", srv.db_path);
    snprintf(victim_path, sizeof victim_path, "%s/victim", srv.dir);
    FILE *f = fopen(victim_path, "w");
    if (!f || fputs(VICTIM_TEXT, f) < 0 || fclose(f) != 0)
        return -1;
    return 0;
}

static int destroy_server(void **state)
{
    (void)state;
    return testsrv_destroy(&srv);
}

static int finish_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* The victim still holds exactly VICTIM_TEXT. */
static void expect_victim_unchanged(void)
{
    char buf[256] = "";
    FILE *f = fopen(victim_path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (strcmp(buf, VICTIM_TEXT) != 0)
        fail_msg("the file behind the lock path was changed to \"%s\"", buf);
}

/* Launches the prepared server and checks it refuses to start, saying why
 * (`why` in the log), without creating the database. */
static void expect_refused_start(const char *why)
{
    assert_int_equal(testsrv_launch(&srv), 0);
    int st = testsrv_wait_exit(&srv, TESTSRV_EXIT_TIMEOUT_MS);
    if (st == TESTSRV_STILL_RUNNING || st == 0) {
        testsrv_print_log(&srv);
        fail_msg("the server %s; it must refuse to start", st == 0 ? "exited 0" : "kept running");
    }
    if (!testsrv_log_contains(&srv, "db_locked") || !testsrv_log_contains(&srv, why)) {
        testsrv_print_log(&srv);
        fail_msg("the log does not explain the refusal with \"%s\"", why);
    }
    struct stat sb;
    assert_int_equal(stat(srv.db_path, &sb), -1);
}

/* issue 7 defect 17: the lock file was opened following symlinks and its
 * target truncated and overwritten with the pid. */
static void test_symlink_at_the_lock_path_is_refused_and_its_target_left_alone(void **state)
{
    (void)state;
    assert_int_equal(symlink(victim_path, lock_path), 0);
    expect_refused_start("lock file");
    expect_victim_unchanged();
    /* The symlink is left for the operator to look at, not replaced. */
    struct stat sb;
    assert_int_equal(lstat(lock_path, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
}

/* issue 7 defect 17: a dangling symlink must not make noormd create the
 * file it points to. */
static void test_dangling_symlink_at_the_lock_path_creates_nothing(void **state)
{
    (void)state;
    char target[TESTSRV_PATH_MAX + 32];
    snprintf(target, sizeof target, "%s/created-by-noormd", srv.dir);
    assert_int_equal(symlink(target, lock_path), 0);
    expect_refused_start("lock file");
    struct stat sb;
    assert_int_equal(stat(target, &sb), -1);
}

/* issue 7 defect 17: a hard link is a regular file owned by the victim's
 * owner; its link count gives it away. */
static void test_hard_link_at_the_lock_path_is_refused_and_its_target_left_alone(void **state)
{
    (void)state;
    assert_int_equal(link(victim_path, lock_path), 0);
    expect_refused_start("lock file");
    expect_victim_unchanged();
}

/* issue 7 defect 17: a lock file that another user made is refused. Needs
 * root to give the file away; skipped otherwise. */
static void test_lock_file_owned_by_another_user_is_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    int fd = open(lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "1\n", 2), 2);
    assert_int_equal(fchown(fd, 65534, 65534), 0);
    close(fd);
    expect_refused_start("owned by uid 65534");
}

static void test_lock_file_left_by_an_earlier_run_is_used_again(void **state)
{
    (void)state;
    assert_int_equal(testsrv_launch(&srv), 0);
    assert_int_equal(testsrv_wait_ready(&srv, TESTSRV_READY_TIMEOUT_MS), 0);
    assert_int_equal(testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);
    struct stat sb;
    assert_int_equal(lstat(lock_path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(testsrv_restart(&srv), 0);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
    /* The file holds the running server's pid, and only that. */
    char buf[64] = "", want[32];
    FILE *f = fopen(lock_path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    snprintf(want, sizeof want, "%ld\n", (long)srv.pid);
    assert_string_equal(buf, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_symlink_at_the_lock_path_is_refused_and_its_target_left_alone, init_server,
            destroy_server),
        cmocka_unit_test_setup_teardown(test_dangling_symlink_at_the_lock_path_creates_nothing,
                                        init_server, destroy_server),
        cmocka_unit_test_setup_teardown(
            test_hard_link_at_the_lock_path_is_refused_and_its_target_left_alone, init_server,
            destroy_server),
        cmocka_unit_test_setup_teardown(test_lock_file_owned_by_another_user_is_refused,
                                        init_server, destroy_server),
        cmocka_unit_test_setup_teardown(test_lock_file_left_by_an_earlier_run_is_used_again,
                                        init_server, finish_server),
    };
    int failed = cmocka_run_group_tests_name("lock_file", tests, NULL, NULL);
    return failed + testsrv_problems();
}
