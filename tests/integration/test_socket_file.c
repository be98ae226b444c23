/* test_socket_file.c - integration: the files noormd creates and guards -
 * the socket's mode, replacing a stale socket, refusing a live one or a
 * regular file, one server per database, private database files - and that
 * the production noormd binary has no test.* methods. Each test has its own
 * server(s). */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpcc.h"
#include "testsrv.h"

static testsrv_t srv;   /* the server under test */
static testsrv_t other; /* a second server, for the tests that need one */

static int clean_slate(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof srv);
    memset(&other, 0, sizeof other);
    return 0;
}

static int stop_servers(void **state)
{
    (void)state;
    int a = testsrv_finish(&other);
    int b = testsrv_finish(&srv);
    return a == 0 && b == 0 ? 0 : -1;
}

static mode_t socket_mode(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("lstat %s: %s", path, strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        fail_msg("%s is not a socket", path);
    return st.st_mode & 07777;
}

/* Runs a server that must refuse to start: returns its exit status. */
static int run_expecting_refusal(testsrv_t *s)
{
    assert_int_equal(testsrv_launch(s), 0);
    int status = testsrv_wait_exit(s, TESTSRV_EXIT_TIMEOUT_MS);
    if (status == TESTSRV_STILL_RUNNING)
        fail_msg("the server did not exit; it should have refused to start");
    return status;
}

static void test_socket_mode_is_0660_by_default(void **state)
{
    (void)state;
    assert_int_equal(testsrv_start(&srv, NOORMD_TEST_BIN, NULL), 0);
    assert_int_equal(socket_mode(srv.socket_path), 0660);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

static void test_socket_mode_flag_0600_gives_mode_0600(void **state)
{
    (void)state;
    const char *const args[] = {"--socket-mode", "0600", NULL};
    assert_int_equal(testsrv_start(&srv, NOORMD_TEST_BIN, args), 0);
    assert_int_equal(socket_mode(srv.socket_path), 0600);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

static void test_stale_socket_file_is_replaced_and_server_starts(void **state)
{
    (void)state;
    assert_int_equal(testsrv_init(&srv, NOORMD_TEST_BIN, NULL), 0);
    /* What a crashed server leaves: a bound socket file nobody listens on. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, srv.socket_path, strlen(srv.socket_path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    rpcc_t probe;
    assert_int_equal(rpcc_connect(&probe, srv.socket_path), -ECONNREFUSED);
    rpcc_close(&probe);

    assert_int_equal(testsrv_launch(&srv), 0);
    assert_int_equal(testsrv_wait_ready(&srv, TESTSRV_READY_TIMEOUT_MS), 0);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
    assert_int_equal(socket_mode(srv.socket_path), 0660);
    assert_true(testsrv_log_contains(&srv, "stale_socket_removed"));
}

static void test_second_server_on_live_socket_exits_nonzero_and_first_keeps_serving(void **state)
{
    (void)state;
    assert_int_equal(testsrv_start(&srv, NOORMD_TEST_BIN, NULL), 0);
    const char *const args[] = {"--socket", srv.socket_path, NULL};
    assert_int_equal(testsrv_init(&other, NOORMD_TEST_BIN, args), 0);
    int status = run_expecting_refusal(&other);
    assert_int_not_equal(status, 0);
    if (!testsrv_log_contains(&other, "already listening")) {
        testsrv_print_log(&other);
        fail_msg("the second server's stderr does not say another server is listening");
    }
    /* It was refused before it touched its database. */
    assert_int_not_equal(access(other.db_path, F_OK), 0);
    /* The first one's socket file is intact, and it still answers. */
    assert_int_equal(socket_mode(srv.socket_path), 0660);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

static void test_regular_file_at_socket_path_is_refused_and_kept(void **state)
{
    (void)state;
    assert_int_equal(testsrv_init(&srv, NOORMD_TEST_BIN, NULL), 0);
    static const char content[] = "not a socket; must survive\n";
    int fd = open(srv.socket_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, sizeof content - 1), (ssize_t)(sizeof content - 1));
    close(fd);

    int status = run_expecting_refusal(&srv);
    assert_int_not_equal(status, 0);
    if (!testsrv_log_contains(&srv, "not a socket")) {
        testsrv_print_log(&srv);
        fail_msg("stderr does not say the path is not a socket");
    }
    struct stat st;
    assert_int_equal(lstat(srv.socket_path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, (off_t)(sizeof content - 1));
}

static void test_socket_in_missing_directory_is_refused_with_a_hint(void **state)
{
    (void)state;
    const char *path = "/nonexistent-noormd-test-dir/noormd.sock";
    assert_int_not_equal(access("/nonexistent-noormd-test-dir", F_OK), 0);
    const char *const args[] = {"--socket", path, NULL};
    assert_int_equal(testsrv_init(&srv, NOORMD_TEST_BIN, args), 0);
    assert_int_not_equal(run_expecting_refusal(&srv), 0);
    if (!testsrv_log_contains(&srv, "directory exist")) {
        testsrv_print_log(&srv);
        fail_msg("stderr does not point at the missing directory");
    }
}

static void test_production_binary_answers_test_write_with_method_not_found(void **state)
{
    (void)state;
    assert_int_equal(testsrv_start(&srv, NOORMD_BIN, NULL), 0);
    rpcc_t c;
    assert_int_equal(rpcc_connect(&c, srv.socket_path), 0);
    rpcc_arg_t args[] = {RPCC_STR("key", "k"), RPCC_STR("value", "v")};
    assert_int_equal(
        rpcc_send_request(&c, 1, "test.write", args, RPCC_NARGS(args), RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_unpacked u;
    assert_non_null(rpcc_expect_error(&c, 1, "METHOD_NOT_FOUND", &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
    assert_int_equal(rpcc_send_request(&c, 2, "test.count", NULL, 0, RPCC_TIMEOUT_MS), RPCC_OK);
    assert_non_null(rpcc_expect_error(&c, 2, "METHOD_NOT_FOUND", &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
    assert_int_equal(rpcc_ping(&c, 3, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

static void test_second_server_on_same_database_exits_nonzero_and_first_keeps_serving(void **state)
{
    (void)state;
    assert_int_equal(testsrv_start(&srv, NOORMD_TEST_BIN, NULL), 0);
    /* Its own socket, the first one's database: two writers must never
     * share a database. */
    const char *const args[] = {"--db", srv.db_path, NULL};
    assert_int_equal(testsrv_init(&other, NOORMD_TEST_BIN, args), 0);
    assert_int_not_equal(run_expecting_refusal(&other), 0);
    if (!testsrv_log_contains(&other, "already served by another noormd")) {
        testsrv_print_log(&other);
        fail_msg("the second server's stderr does not say the database has a server");
    }
    assert_int_not_equal(access(other.socket_path, F_OK), 0);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

static void test_database_files_are_private_to_the_user(void **state)
{
    (void)state;
    assert_int_equal(testsrv_start(&srv, NOORMD_TEST_BIN, NULL), 0);
    rpcc_t c;
    assert_int_equal(rpcc_connect(&c, srv.socket_path), 0);
    rpcc_arg_t args[] = {RPCC_STR("key", "k"), RPCC_STR("value", "v")};
    msgpack_unpacked u;
    assert_non_null(rpcc_call(&c, 1, "test.write", args, RPCC_NARGS(args), &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
    static const char *const suffixes[] = {"", "-wal", "-shm", ".lock"};
    int checked = 0;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[TESTSRV_PATH_MAX + 8];
        snprintf(path, sizeof path, "%s%s", srv.db_path, suffixes[i]);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (st.st_mode & 077)
            fail_msg("%s has mode %04o; group and others must have no access", path,
                     (unsigned)(st.st_mode & 07777));
        checked++;
    }
    /* At least the database itself exists. */
    assert_true(checked >= 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, clean_slate, stop_servers)
    const struct CMUnitTest tests[] = {
        T(test_socket_mode_is_0660_by_default),
        T(test_socket_mode_flag_0600_gives_mode_0600),
        T(test_stale_socket_file_is_replaced_and_server_starts),
        T(test_second_server_on_live_socket_exits_nonzero_and_first_keeps_serving),
        T(test_regular_file_at_socket_path_is_refused_and_kept),
        T(test_socket_in_missing_directory_is_refused_with_a_hint),
        T(test_production_binary_answers_test_write_with_method_not_found),
        T(test_second_server_on_same_database_exits_nonzero_and_first_keeps_serving),
        T(test_database_files_are_private_to_the_user),
    };
#undef T
    int failed = cmocka_run_group_tests_name("socket_file", tests, NULL, NULL);
    return failed + testsrv_problems();
}
