/* test_refusal.c - integration: how noormd-test turns a connection away.
 * A refused connection is told why (a server.error notification) and is
 * never served; the listener keeps accepting after every kind of refusal.
 * Each test starts its own server with the flags it exercises. */
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

/* Many refused clients at once. */
#define NFLOOD 80

static testsrv_t srv;

static int setup_one_connection(void **state)
{
    (void)state;
    const char *const args[] = {"--max-connections", "1", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

/* Every second connection's allocation fails (a test-build hook in net.c). */
static int setup_failing_allocation(void **state)
{
    (void)state;
    if (testsrv_init(&srv, NOORMD_TEST_BIN, NULL) != 0 ||
        testsrv_set_env(&srv, "NOORMME_TEST_FAIL_CONN_ALLOC", "2") != 0 ||
        testsrv_launch(&srv) != 0 || testsrv_wait_ready(&srv, TESTSRV_READY_TIMEOUT_MS) != 0) {
        testsrv_destroy(&srv);
        return -1;
    }
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* server.stats on `c`; the caller destroys `u`. Fails the test on error. */
static const msgpack_object *stats(rpcc_t *c, uint32_t msgid, msgpack_unpacked *u)
{
    const msgpack_object *s = rpcc_call(c, msgid, "server.stats", NULL, 0, u, RPCC_TIMEOUT_MS);
    if (!s)
        fail_msg("server.stats failed");
    return s;
}

static uint64_t stats_u64(rpcc_t *c, uint32_t msgid, const char *group, const char *name)
{
    msgpack_unpacked u;
    const msgpack_object *s = stats(c, msgid, &u);
    uint64_t v = 0;
    bool ok = rpcc_obj_u64(rpcc_dig(s, group, name, NULL), &v);
    msgpack_unpacked_destroy(&u);
    if (!ok)
        fail_msg("server.stats has no %s.%s", group, name);
    return v;
}

/* Asks server.stats on `c` until connections.<name> reaches `want`, for at
 * most 10 s: closes and accepts reach the server asynchronously. */
static void wait_counter_at_least(rpcc_t *c, const char *name, uint64_t want)
{
    uint64_t cur = 0;
    long long deadline = testsrv_now_ms() + 10000;
    for (uint32_t i = 0; testsrv_now_ms() < deadline; i++) {
        cur = stats_u64(c, 5000 + i, "connections", name);
        if (cur >= want)
            return;
        testsrv_sleep_ms(10);
    }
    fail_msg("connections.%s stayed %llu, want %llu", name, (unsigned long long)cur,
             (unsigned long long)want);
}

/* Connects `c` as the one connection a --max-connections 1 server serves:
 * the start-up probe (or the previous test's client) may hold the slot for
 * a moment after it closed, so retry while the answer is a refusal. */
static void connect_held(rpcc_t *c)
{
    long long deadline = testsrv_now_ms() + 10000;
    while (testsrv_now_ms() < deadline) {
        rpcc_connect_or_fail(c, srv.socket_path);
        msgpack_unpacked u;
        int r = rpcc_send_request(c, 1, "server.ping", NULL, 0, RPCC_TIMEOUT_MS);
        if (r == RPCC_OK)
            r = rpcc_read(c, &u, RPCC_TIMEOUT_MS);
        else
            msgpack_unpacked_init(&u);
        uint32_t id;
        const msgpack_object *err, *res;
        bool served = r == RPCC_OK && rpcc_response_parts(&u.data, &id, &err, &res) && id == 1 &&
                      rpcc_obj_str_eq(res, "pong");
        msgpack_unpacked_destroy(&u);
        if (served)
            return;
        rpcc_close(c);
        testsrv_sleep_ms(10);
    }
    fail_msg("no connection was served within 10 s");
}

/* Reads one message on `c` and checks it is the server.error notification
 * `name`. Returns 0, or -1 after printing what came instead. */
static int read_refusal(rpcc_t *c, const char *name, int timeout_ms)
{
    msgpack_unpacked u;
    int r = rpcc_read(c, &u, timeout_ms);
    int rc = -1;
    if (r != RPCC_OK) {
        fprintf(stderr, "expected the %s notification, got %s\n", name, rpcc_status_name(r));
    } else {
        const msgpack_object *err = rpcc_notify_error(&u.data);
        if (!err)
            rpcc_print("expected a server.error notification, got", &u.data);
        else if (rpcc_error_is(err, name))
            rc = 0;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* issue 7 defect 6: every way a connection is turned away at accept must
 * leave the listener accepting. Here: many refused clients at once, none of
 * them closing their end. Afterwards a newcomer is served as soon as a slot
 * frees. */
static void test_listener_keeps_accepting_after_many_refusals(void **state)
{
    (void)state;
    rpcc_t held;
    connect_held(&held);
    static rpcc_t refused[NFLOOD];
    for (int i = 0; i < NFLOOD; i++)
        rpcc_connect_or_fail(&refused[i], srv.socket_path);
    for (int i = 0; i < NFLOOD; i++) {
        if (read_refusal(&refused[i], "TOO_MANY_CONNECTIONS", RPCC_TIMEOUT_MS) != 0)
            fail_msg("refused client %d was not told TOO_MANY_CONNECTIONS", i);
    }
    wait_counter_at_least(&held, "refused", NFLOOD);
    assert_int_equal(rpcc_ping(&held, 1, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&held);
    for (int i = 0; i < NFLOOD; i++)
        rpcc_close(&refused[i]);
    /* The listener still accepts: a newcomer is served once the refused
     * clients' closes have been seen. */
    rpcc_t again;
    connect_held(&again);
    rpcc_close(&again);
}

/* issue 7 defect 6: when the memory for a connection cannot be allocated,
 * on_connection returned without accepting it, and libuv never called it
 * again: the listener stopped for good. Now the connection is accepted
 * and closed, and the next one is served. */
static void test_failed_connection_allocation_closes_it_and_keeps_accepting(void **state)
{
    (void)state;
    int served = 0, closed = 0;
    for (uint32_t i = 0; i < 8; i++) {
        rpcc_t c;
        rpcc_connect_or_fail(&c, srv.socket_path);
        int s = rpcc_send_request(&c, i + 1, "server.ping", NULL, 0, RPCC_TIMEOUT_MS);
        msgpack_unpacked u;
        int r = s == RPCC_OK ? rpcc_read(&c, &u, RPCC_TIMEOUT_MS) : s;
        if (r == RPCC_OK) {
            uint32_t id;
            const msgpack_object *err, *res;
            if (rpcc_response_parts(&u.data, &id, &err, &res) && id == i + 1 &&
                rpcc_obj_str_eq(res, "pong"))
                served++;
            else
                rpcc_print("unexpected answer", &u.data);
        } else if (r == RPCC_CLOSED) {
            closed++;
        } else {
            fail_msg("connection %u: %s (the listener stopped accepting?)", (unsigned)i,
                     rpcc_status_name(r));
        }
        if (s == RPCC_OK)
            msgpack_unpacked_destroy(&u);
        rpcc_close(&c);
    }
    /* Every second allocation fails, counting the start-up probe. */
    assert_int_equal(served, 4);
    assert_int_equal(closed, 4);
    assert_true(testsrv_log_contains(&srv, "reason=out_of_memory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_listener_keeps_accepting_after_many_refusals,
                                        setup_one_connection, stop_server),
        cmocka_unit_test_setup_teardown(
            test_failed_connection_allocation_closes_it_and_keeps_accepting,
            setup_failing_allocation, stop_server),
    };
    int failed = cmocka_run_group_tests_name("refusal", tests, NULL, NULL);
    return failed + testsrv_problems();
}
