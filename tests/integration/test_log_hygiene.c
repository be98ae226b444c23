/* test_log_hygiene.c - integration: request payloads never reach the
 * server's log. A distinctive string travels in keys, values, method names,
 * argument names, malformed and oversized messages, at the most verbose log
 * level; afterwards the log (which must show the events happened) does not
 * contain it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpcc.h"
#include "testsrv.h"

#define SECRET "SECRET-PAYLOAD-123"

static testsrv_t srv;

static int start_server(void **state)
{
    (void)state;
    const char *const args[] = {
        "--log-level", "debug", "--max-message", "4096", "--partial-timeout-ms", "200", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* Sends `bytes` on a fresh connection and waits for the server to close it
 * after its protocol error. */
static void send_fatal(const void *bytes, size_t len, const char *error)
{
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    assert_int_equal(rpcc_send(&c, bytes, len, RPCC_TIMEOUT_MS), RPCC_OK);
    assert_int_equal(rpcc_expect_fatal(&c, RPCC_AS_ANY, error, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

static void test_log_never_contains_request_payloads(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_unpacked u;

    rpcc_arg_t write_args[] = {RPCC_STR("key", SECRET), RPCC_STR("value", SECRET)};
    assert_non_null(
        rpcc_call(&c, 1, "test.write", write_args, RPCC_NARGS(write_args), &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);

    rpcc_arg_t get_args[] = {RPCC_STR("key", SECRET)};
    assert_non_null(
        rpcc_call(&c, 2, "test.get", get_args, RPCC_NARGS(get_args), &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);

    rpcc_arg_t fail_args[] = {RPCC_STR("key", SECRET "-f"), RPCC_STR("value", SECRET),
                              RPCC_BOOL("fail", 1)};
    assert_int_equal(
        rpcc_send_request(&c, 3, "test.write", fail_args, RPCC_NARGS(fail_args), RPCC_TIMEOUT_MS),
        RPCC_OK);
    assert_non_null(rpcc_expect_error(&c, 3, "CONFLICT", &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);

    assert_int_equal(rpcc_send_request(&c, 4, SECRET, NULL, 0, RPCC_TIMEOUT_MS), RPCC_OK);
    assert_non_null(rpcc_expect_error(&c, 4, "METHOD_NOT_FOUND", &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);

    rpcc_arg_t unknown_args[] = {RPCC_STR(SECRET, SECRET)};
    assert_int_equal(rpcc_send_request(&c, 5, "server.ping", unknown_args, RPCC_NARGS(unknown_args),
                                       RPCC_TIMEOUT_MS),
                     RPCC_OK);
    assert_non_null(rpcc_expect_error(&c, 5, "UNKNOWN_FIELD", &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);

    rpcc_arg_t type_args[] = {RPCC_INT("key", 1), RPCC_STR("value", SECRET)};
    assert_int_equal(
        rpcc_send_request(&c, 6, "test.write", type_args, RPCC_NARGS(type_args), RPCC_TIMEOUT_MS),
        RPCC_OK);
    assert_non_null(rpcc_expect_error(&c, 6, "INVALID_ARGUMENT", &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);

    /* Protocol errors, whose bytes the server cannot trust. */
    static const char bad_type[] = "\x94\x03\x01\xb2" SECRET "\x90";
    send_fatal(bad_type, sizeof bad_type - 1, "INVALID_MESSAGE");
    static const char bare_str[] = "\xb2" SECRET;
    send_fatal(bare_str, sizeof bare_str - 1, "INVALID_MESSAGE");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    static char big[5000];
    for (size_t i = 0; i + sizeof SECRET <= sizeof big; i += sizeof SECRET - 1)
        memcpy(big + i, SECRET, sizeof SECRET - 1);
    rpcc_arg_t big_args[] = {RPCC_STR("key", SECRET), RPCC_STRN("value", big, sizeof big)};
    rpcc_pack_request(&sb, 7, "test.write", big_args, RPCC_NARGS(big_args));
    send_fatal(sb.data, sb.size, "MESSAGE_TOO_LARGE");
    msgpack_sbuffer_destroy(&sb);

    /* A request that never completes, cut off by the partial deadline. */
    msgpack_sbuffer_init(&sb);
    rpcc_pack_request(&sb, 8, "test.write", write_args, RPCC_NARGS(write_args));
    rpcc_connect_or_fail(&c, srv.socket_path);
    assert_int_equal(rpcc_send(&c, sb.data, sb.size - 3, RPCC_TIMEOUT_MS), RPCC_OK);
    assert_int_equal(rpcc_expect_fatal(&c, RPCC_AS_NOTIFY, "MESSAGE_TIMEOUT", RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
    msgpack_sbuffer_destroy(&sb);

    /* Stop the server so every line it will write is in the file. */
    assert_int_equal(testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);
    char *log = testsrv_read_log(&srv);
    assert_non_null(log);
    /* The log is the right one and recorded the events... */
    assert_non_null(strstr(log, "event=listening"));
    assert_non_null(strstr(log, "event=connection_dropped"));
    assert_non_null(strstr(log, "event=stopped"));
    /* ...without any payload, whole or in part. */
    if (strstr(log, SECRET) || strstr(log, "PAYLOAD-123") || strstr(log, "SECRET-PAY")) {
        testsrv_print_log(&srv);
        fail_msg("the server log contains the request payload " SECRET);
    }
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_never_contains_request_payloads, start_server,
                                        stop_server),
    };
    int failed = cmocka_run_group_tests_name("log_hygiene", tests, NULL, NULL);
    return failed + testsrv_problems();
}
