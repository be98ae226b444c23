/* test_socket_mode.c - integration: who may reach noormd's socket. The file
 * is created with exactly --socket-mode (by the umask at bind, never by a
 * chmod afterwards); a mode that lets other users in needs
 * --socket-mode-unsafe yes; a directory anyone can write to without the
 * sticky bit is refused. Each test has its own server. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpcc.h"
#include "testsrv.h"

static testsrv_t srv;
static char base[64];   /* a private directory made by the test, or "" */
static char subdir[96]; /* base/pub, the socket's directory */

static int clean_slate(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof srv);
    base[0] = subdir[0] = '\0';
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    int rc = 0;
    if (srv.pid > 0)
        rc = testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS) == 0 ? 0 : -1;
    /* testsrv_destroy removes its own directory only. */
    if (base[0]) {
        char sock[sizeof subdir + 16];
        snprintf(sock, sizeof sock, "%s/noormd.sock", subdir);
        unlink(sock);
        rmdir(subdir);
        rmdir(base);
    }
    return testsrv_destroy(&srv) == 0 ? rc : -1;
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

/* Runs a server that must refuse to start; returns its exit status. */
static int run_expecting_refusal(testsrv_t *s)
{
    assert_int_equal(testsrv_launch(s), 0);
    int status = testsrv_wait_exit(s, TESTSRV_EXIT_TIMEOUT_MS);
    if (status == TESTSRV_STILL_RUNNING)
        fail_msg("the server did not exit; it should have refused to start");
    return status;
}

static void expect_log(const char *needle)
{
    if (!testsrv_log_contains(&srv, needle)) {
        testsrv_print_log(&srv);
        fail_msg("the server's output does not say \"%s\"", needle);
    }
}

/* Makes `subdir` with `mode` inside a new private directory `base`, and
 * returns the path of a socket in it. */
static const char *socket_in_subdir(mode_t mode)
{
    static char path[sizeof subdir + 16];
    snprintf(base, sizeof base, "/tmp/noormd-dir-XXXXXX");
    if (!mkdtemp(base))
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(subdir, sizeof subdir, "%s/pub", base);
    assert_int_equal(mkdir(subdir, 0700), 0);
    /* chmod, not mkdir's mode: the umask would clear the bits under test. */
    assert_int_equal(chmod(subdir, mode), 0);
    snprintf(path, sizeof path, "%s/noormd.sock", subdir);
    return path;
}

/* issue 7 defect 9: --socket-mode 0666 was applied silently, giving every
 * local user the socket (and so every method, including the decrypted
 * OAuth tokens). It is now refused, naming the flag that allows it. */
static void test_socket_mode_open_to_others_is_refused_with_a_clear_message(void **state)
{
    (void)state;
    const char *const args[] = {"--socket-mode", "0666", NULL};
    assert_int_equal(testsrv_init(&srv, NOORMD_TEST_BIN, args), 0);
    assert_int_equal(run_expecting_refusal(&srv), 2);
    expect_log("0666");
    expect_log("--socket-mode-unsafe yes");
    assert_int_not_equal(access(srv.socket_path, F_OK), 0);
}

/* issue 7 defect 9: any of the other-bits counts, set from the environment
 * too: 0602 (others may connect) is refused like 0666. */
static void test_socket_mode_with_one_other_bit_from_the_environment_is_refused(void **state)
{
    (void)state;
    assert_int_equal(testsrv_init(&srv, NOORMD_TEST_BIN, NULL), 0);
    assert_int_equal(testsrv_set_env(&srv, "NOORMME_SOCKET_MODE", "0602"), 0);
    assert_int_equal(run_expecting_refusal(&srv), 2);
    expect_log("0602");
    expect_log("--socket-mode-unsafe yes");
}

/* issue 7 defect 9: with --socket-mode-unsafe yes the wide mode is the
 * operator's explicit choice, and the socket gets exactly that mode. */
static void test_socket_mode_open_to_others_is_accepted_with_the_unsafe_flag(void **state)
{
    (void)state;
    const char *const args[] = {"--socket-mode", "0666", "--socket-mode-unsafe", "yes", NULL};
    assert_int_equal(testsrv_start(&srv, NOORMD_TEST_BIN, args), 0);
    assert_int_equal(socket_mode(srv.socket_path), 0666);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

/* issue 7 defect 9: the unsafe flag takes yes or no, nothing else. */
static void test_socket_mode_unsafe_takes_only_yes_or_no(void **state)
{
    (void)state;
    const char *const args[] = {"--socket-mode-unsafe", "1", NULL};
    assert_int_equal(testsrv_init(&srv, NOORMD_TEST_BIN, args), 0);
    assert_int_equal(run_expecting_refusal(&srv), 2);
    expect_log("--socket-mode-unsafe must be one of no|yes");
}

/* issue 7 defect 9: the socket file's mode is the requested one, for modes
 * narrower and wider than the umask noormd runs with (077). */
static void test_socket_file_mode_equals_the_requested_mode(void **state)
{
    (void)state;
    static const char *const modes[] = {"0600", "0640", "0660", "0700", "0750", "0770"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        const char *const args[] = {"--socket-mode", modes[i], NULL};
        assert_int_equal(testsrv_start(&srv, NOORMD_TEST_BIN, args), 0);
        mode_t got = socket_mode(srv.socket_path);
        if (got != (mode_t)strtol(modes[i], NULL, 8))
            fail_msg("--socket-mode %s gave a socket with mode %04o", modes[i], (unsigned)got);
        assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
        assert_int_equal(testsrv_finish(&srv), 0);
    }
}

/* issue 7 defect 9: in a directory that anyone may write to and that has no
 * sticky bit, any local user could rename the socket away and put their own
 * in its place. noormd refuses to start there, naming the directory. */
static void test_world_writable_directory_without_sticky_bit_is_refused(void **state)
{
    (void)state;
    const char *path = socket_in_subdir(0777);
    const char *const args[] = {"--socket", path, NULL};
    assert_int_equal(testsrv_init(&srv, NOORMD_TEST_BIN, args), 0);
    assert_int_equal(run_expecting_refusal(&srv), 1);
    expect_log(subdir);
    expect_log("world-writable");
    assert_int_not_equal(access(path, F_OK), 0);
}

/* issue 7 defect 9: a world-writable directory with the sticky bit, like
 * /tmp, is fine: only the socket's owner may remove or rename it there. */
static void test_sticky_world_writable_directory_is_accepted(void **state)
{
    (void)state;
    const char *path = socket_in_subdir(01777);
    const char *const args[] = {"--socket", path, NULL};
    assert_int_equal(testsrv_init(&srv, NOORMD_TEST_BIN, args), 0);
    /* testsrv waits for the socket at socket_path: point it at this one. */
    snprintf(srv.socket_path, sizeof srv.socket_path, "%s", path);
    assert_int_equal(testsrv_launch(&srv), 0);
    assert_int_equal(testsrv_wait_ready(&srv, TESTSRV_READY_TIMEOUT_MS), 0);
    assert_int_equal(socket_mode(path), 0660);
    assert_int_equal(rpcc_ping_fresh(path, RPCC_TIMEOUT_MS), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, clean_slate, stop_server)
    const struct CMUnitTest tests[] = {
        T(test_socket_mode_open_to_others_is_refused_with_a_clear_message),
        T(test_socket_mode_with_one_other_bit_from_the_environment_is_refused),
        T(test_socket_mode_open_to_others_is_accepted_with_the_unsafe_flag),
        T(test_socket_mode_unsafe_takes_only_yes_or_no),
        T(test_socket_file_mode_equals_the_requested_mode),
        T(test_world_writable_directory_without_sticky_bit_is_refused),
        T(test_sticky_world_writable_directory_is_accepted),
    };
#undef T
    int failed = cmocka_run_group_tests_name("socket_mode", tests, NULL, NULL);
    return failed + testsrv_problems();
}
