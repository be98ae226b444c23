/* test_connection_limits.c - integration: the per-connection limits of
 * noormd-test - the connection cap, the partial-message deadline, the idle
 * timeout and the output cap for a client that never reads. Each test
 * starts its own server with the flags it exercises.
 *
 * Timing: nothing here asserts that something happens within a short
 * window. A deadline that must fire is waited for up to LATE_MS, far past
 * its setting (a loaded CI machine or ThreadSanitizer delays timers, never
 * advances them) but below the 10 s default partial deadline, so a server
 * that ignored the flag still fails. Only "not before the deadline" is
 * measured tightly, from a clock read before the server could start
 * counting. Where a test needs time to pass (a slow sender, a client that
 * keeps a connection alive), the sleeps are short and the deadlines they
 * must stay inside are ten times longer. */
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
#include "wait.h"

#define TIMEOUT_MS        300  /* --partial-timeout-ms and --idle-timeout-ms of setup_timeouts */
#define LATE_MS           8000 /* a deadline that fires later than this was not TIMEOUT_MS */
#define KEEPALIVE_IDLE_MS 1000 /* idle timeout of the keep-alive test */

static testsrv_t srv;

static int start_with(const char *const *args)
{
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static int setup_max_connections(void **state)
{
    (void)state;
    const char *const args[] = {"--max-connections", "4", NULL};
    return start_with(args);
}

static int setup_timeouts(void **state)
{
    (void)state;
    const char *const args[] = {"--partial-timeout-ms", "300", "--idle-timeout-ms", "300", NULL};
    return start_with(args);
}

/* A 3 s partial deadline: 25 times the 120 ms the slow sender needs. */
static int setup_slow_partial(void **state)
{
    (void)state;
    const char *const args[] = {"--partial-timeout-ms", "3000", NULL};
    return start_with(args);
}

/* An idle timeout ten times the keep-alive client's ping interval. */
static int setup_keepalive(void **state)
{
    (void)state;
    const char *const args[] = {"--idle-timeout-ms", "1000", NULL};
    return start_with(args);
}

static int setup_output_cap(void **state)
{
    (void)state;
    const char *const args[] = {"--output-cap", "65536", NULL};
    return start_with(args);
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* One counter of server.stats, asked on `c`. */
static uint64_t stats_u64(rpcc_t *c, uint32_t msgid, const char *group, const char *name)
{
    msgpack_unpacked u;
    const msgpack_object *s = rpcc_call(c, msgid, "server.stats", NULL, 0, &u, RPCC_TIMEOUT_MS);
    uint64_t v = 0;
    bool ok = rpcc_obj_u64(rpcc_dig(s, group, name, NULL), &v);
    msgpack_unpacked_destroy(&u);
    if (!ok)
        fail_msg("server.stats has no %s.%s", group, name);
    return v;
}

/* Waits (asking server.stats on `c`) until connections.current equals
 * `want`: connection closes reach the server asynchronously. */
static void wait_current_connections(rpcc_t *c, uint64_t want)
{
    assert_int_equal(wait_for_stat(c, "connections/current", WAIT_EQ, want, WAIT_DEADLINE_MS, NULL),
                     0);
}

static void test_connection_over_max_is_told_too_many_connections_and_closed(void **state)
{
    (void)state;
    rpcc_t c[4];
    rpcc_connect_or_fail(&c[0], srv.socket_path);
    /* The start-up probe may still count: wait until only c[0] does. */
    wait_current_connections(&c[0], 1);
    for (int i = 1; i < 4; i++)
        rpcc_connect_or_fail(&c[i], srv.socket_path);
    for (int i = 0; i < 4; i++)
        assert_int_equal(rpcc_ping(&c[i], (uint32_t)i + 1, RPCC_TIMEOUT_MS), 0);

    rpcc_t fifth;
    rpcc_connect_or_fail(&fifth, srv.socket_path);
    assert_int_equal(
        rpcc_expect_fatal(&fifth, RPCC_AS_NOTIFY, "TOO_MANY_CONNECTIONS", RPCC_TIMEOUT_MS), 0);
    rpcc_close(&fifth);
    assert_true(stats_u64(&c[1], 10, "connections", "refused") >= 1);

    /* The four still work; once one leaves, a newcomer is served. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(rpcc_ping(&c[i], 20 + (uint32_t)i, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c[0]);
    wait_current_connections(&c[1], 3);
    rpcc_t again;
    rpcc_connect_or_fail(&again, srv.socket_path);
    assert_int_equal(rpcc_ping(&again, 30, RPCC_TIMEOUT_MS), 0);
    assert_int_equal(stats_u64(&again, 31, "connections", "current"), 4);
    rpcc_close(&again);
    for (int i = 1; i < 4; i++)
        rpcc_close(&c[i]);
}

static void test_half_sent_request_gets_message_timeout_and_close(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_pack_request(&sb, 1, "server.ping", NULL, 0);
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    long long t0 = testsrv_now_ms();
    assert_int_equal(rpcc_send(&c, sb.data, sb.size / 2, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    /* The read's own deadline, LATE_MS, is the upper bound. */
    assert_int_equal(rpcc_expect_fatal(&c, RPCC_AS_NOTIFY, "MESSAGE_TIMEOUT", LATE_MS), 0);
    long long elapsed = testsrv_now_ms() - t0;
    /* Not before the deadline: t0 was read before the first byte left. */
    if (elapsed < TIMEOUT_MS - 100)
        fail_msg("closed after %lld ms; the partial deadline is %d ms", elapsed, TIMEOUT_MS);
    rpcc_close(&c);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

static void test_slow_request_completed_within_deadline_is_answered(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_pack_request(&sb, 2, "server.ping", NULL, 0);
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    /* Three pieces 60 ms apart, so they arrive in separate reads: slow,
     * but far inside the 3 s deadline even when the sleeps run long. */
    size_t third = sb.size / 3;
    assert_int_equal(rpcc_send(&c, sb.data, third, RPCC_TIMEOUT_MS), RPCC_OK);
    testsrv_sleep_ms(60);
    assert_int_equal(rpcc_send(&c, sb.data + third, third, RPCC_TIMEOUT_MS), RPCC_OK);
    testsrv_sleep_ms(60);
    assert_int_equal(rpcc_send(&c, sb.data + 2 * third, sb.size - 2 * third, RPCC_TIMEOUT_MS),
                     RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked u;
    const msgpack_object *res = rpcc_expect_result(&c, 2, &u, RPCC_TIMEOUT_MS);
    assert_true(rpcc_obj_str_eq(res, "pong"));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

static void test_idle_connection_gets_idle_timeout_and_close(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    /* t0 before the ping: the server's idle clock starts at its reply,
     * which is later, however late the reply is read here. */
    long long t0 = testsrv_now_ms();
    assert_int_equal(rpcc_ping(&c, 1, RPCC_TIMEOUT_MS), 0);
    /* The default idle timeout is "never": any IDLE_TIMEOUT is the flag's. */
    assert_int_equal(rpcc_expect_fatal(&c, RPCC_AS_NOTIFY, "IDLE_TIMEOUT", LATE_MS), 0);
    long long elapsed = testsrv_now_ms() - t0;
    if (elapsed < TIMEOUT_MS - 100)
        fail_msg("idle connection closed after %lld ms; the idle timeout is %d ms", elapsed,
                 TIMEOUT_MS);
    rpcc_close(&c);
}

static void test_connection_pinging_every_100ms_outlives_idle_timeout(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    /* Something that must not happen (an idle close) needs time to pass:
     * pings 100 ms apart for 2.5 idle timeouts. A gap would have to grow
     * tenfold to reach the 1 s timeout; if one did, the failure says so. */
    long long t0 = testsrv_now_ms(), prev = t0, widest = 0;
    uint32_t id = 1;
    while (prev - t0 < KEEPALIVE_IDLE_MS * 5 / 2 && id < 100) {
        if (rpcc_ping(&c, id, RPCC_TIMEOUT_MS) != 0)
            fail_msg("ping %u failed; the widest gap between pings was %lld ms (idle timeout %d "
                     "ms)",
                     (unsigned)id, widest, KEEPALIVE_IDLE_MS);
        id++;
        testsrv_sleep_ms(100);
        long long now = testsrv_now_ms();
        if (now - prev > widest)
            widest = now - prev;
        prev = now;
    }
    assert_true(prev - t0 >= 2 * KEEPALIVE_IDLE_MS);
    assert_int_equal(rpcc_ping(&c, id, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

static void test_trickled_bytes_do_not_extend_the_partial_deadline(void **state)
{
    (void)state;
    /* 400 bytes at one per 50 ms would take 20 s: every byte is progress,
     * but the deadline counts from the message's first byte. A server that
     * restarted it on every byte would never time the message out (each gap
     * is a sixth of the deadline), and the whole message would arrive. */
    static char value[400];
    memset(value, 'l', sizeof value);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_arg_t args[] = {RPCC_STR("key", "trickle"), RPCC_STRN("value", value, sizeof value)};
    rpcc_pack_request(&sb, 3, "test.write", args, RPCC_NARGS(args));
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    long long t0 = testsrv_now_ms();
    int got = RPCC_TIMEOUT;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    for (size_t i = 0; i + 1 < sb.size && got == RPCC_TIMEOUT; i++) {
        if (rpcc_send(&c, sb.data + i, 1, RPCC_TIMEOUT_MS) != RPCC_OK)
            break;
        msgpack_unpacked_destroy(&u);
        got = rpcc_read(&c, &u, 50);
    }
    msgpack_sbuffer_destroy(&sb);
    long long elapsed = testsrv_now_ms() - t0;
    /* The last byte was never sent: an answer means the deadline fired. */
    if (got != RPCC_OK)
        fail_msg("no MESSAGE_TIMEOUT while trickling for %lld ms (%s)", elapsed,
                 rpcc_status_name(got));
    const msgpack_object *err = rpcc_notify_error(&u.data);
    if (!err)
        rpcc_print("expected a server.error notification, got", &u.data);
    assert_true(err && rpcc_error_is(err, "MESSAGE_TIMEOUT"));
    msgpack_unpacked_destroy(&u);
    if (elapsed > LATE_MS)
        fail_msg("trickling kept a partial message alive for %lld ms (deadline %d ms)", elapsed,
                 TIMEOUT_MS);
    assert_int_equal(rpcc_expect_closed(&c, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

static void test_connection_waiting_on_a_slow_write_is_not_idle(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    /* The writer holds this request twice as long as the idle timeout: a
     * connection with a request in flight is not idle. */
    rpcc_arg_t args[] = {RPCC_INT("ms", 2 * TIMEOUT_MS)};
    msgpack_unpacked u;
    const msgpack_object *res =
        rpcc_call(&c, 1, "test.sleep", args, RPCC_NARGS(args), &u, RPCC_TIMEOUT_MS);
    assert_true(res && res->type == MSGPACK_OBJECT_BOOLEAN && res->via.boolean);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(rpcc_ping(&c, 2, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

static void test_client_that_never_reads_is_dropped_at_output_cap(void **state)
{
    (void)state;
    static char big[60000];
    memset(big, 'b', sizeof big);
    rpcc_t other, hog;
    rpcc_connect_or_fail(&other, srv.socket_path);
    rpcc_arg_t wargs[] = {RPCC_STR("key", "big"), RPCC_BIN("value", big, sizeof big)};
    msgpack_unpacked u;
    assert_non_null(
        rpcc_call(&other, 1, "test.write", wargs, RPCC_NARGS(wargs), &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
    uint64_t dropped0 = stats_u64(&other, 2, "connections", "dropped");

    /* Each request asks for ~60 KB back and the hog reads none of it: the
     * server must drop it once 64 KiB of replies are queued. */
    rpcc_connect_or_fail(&hog, srv.socket_path);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_arg_t gargs[] = {RPCC_STR("key", "big")};
    int r = RPCC_OK;
    size_t sent = 0;
    long long t0 = testsrv_now_ms();
    for (uint32_t i = 1; i <= 100000 && sent < (64u << 20); i++) {
        msgpack_sbuffer_clear(&sb);
        rpcc_pack_request(&sb, i, "test.get", gargs, RPCC_NARGS(gargs));
        r = rpcc_send(&hog, sb.data, sb.size, 2000);
        if (r != RPCC_OK || testsrv_now_ms() - t0 > 10000)
            break;
        sent += sb.size;
    }
    msgpack_sbuffer_destroy(&sb);
    if (r == RPCC_OK || r == RPCC_TIMEOUT) {
        /* Sending could go on (or only blocked): the connection must still
         * turn out closed, behind whatever replies reached the socket. */
        r = rpcc_drain_until_closed(&hog, 64u << 20, WAIT_DEADLINE_MS);
    }
    if (r != RPCC_CLOSED)
        fail_msg("the non-reading client was not dropped after %zu bytes of requests (%s)", sent,
                 rpcc_status_name(r));
    rpcc_close(&hog);

    assert_int_equal(rpcc_ping(&other, 3, RPCC_TIMEOUT_MS), 0);
    assert_true(stats_u64(&other, 4, "connections", "dropped") > dropped0);
    wait_current_connections(&other, 1);
    rpcc_close(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_connection_over_max_is_told_too_many_connections_and_closed, setup_max_connections,
            stop_server),
        cmocka_unit_test_setup_teardown(test_half_sent_request_gets_message_timeout_and_close,
                                        setup_timeouts, stop_server),
        cmocka_unit_test_setup_teardown(test_slow_request_completed_within_deadline_is_answered,
                                        setup_slow_partial, stop_server),
        cmocka_unit_test_setup_teardown(test_idle_connection_gets_idle_timeout_and_close,
                                        setup_timeouts, stop_server),
        cmocka_unit_test_setup_teardown(test_connection_pinging_every_100ms_outlives_idle_timeout,
                                        setup_keepalive, stop_server),
        cmocka_unit_test_setup_teardown(test_trickled_bytes_do_not_extend_the_partial_deadline,
                                        setup_timeouts, stop_server),
        cmocka_unit_test_setup_teardown(test_connection_waiting_on_a_slow_write_is_not_idle,
                                        setup_timeouts, stop_server),
        cmocka_unit_test_setup_teardown(test_client_that_never_reads_is_dropped_at_output_cap,
                                        setup_output_cap, stop_server),
    };
    int failed = cmocka_run_group_tests_name("connection_limits", tests, NULL, NULL);
    return failed + testsrv_problems();
}
