/* test_refusal.c - integration: how noormd-test turns a connection away.
 * A refused connection is told why (a server.error notification), is never
 * served, and its client's own writes neither fail nor run; the listener
 * keeps accepting after every kind of refusal. Each test starts its own
 * server with the flags it exercises. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpcc.h"
#include "testsrv.h"
#include "wait.h"

#define NREFUSED 10
#define NLATE    3 /* clients connecting during a shutdown */

/* More refused clients than the server holds open at once (64). */
#define NFLOOD 80

static testsrv_t srv;

static int setup_one_connection(void **state)
{
    (void)state;
    const char *const args[] = {"--max-connections", "1", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static int setup_default(void **state)
{
    (void)state;
    return testsrv_start(&srv, NOORMD_TEST_BIN, NULL);
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* How many server.ping calls the server has run (0 before the first). */
static uint64_t pings_run(rpcc_t *c)
{
    uint64_t v = 0;
    if (wait_stat_u64(c, "methods/server.ping/count", &v) < 0)
        fail_msg("server.stats failed");
    return v;
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

/* Waits (at most 5 s) until something can be read on `c`, reading nothing. */
static void wait_readable(rpcc_t *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r;
    do
        r = poll(&p, 1, RPCC_TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        fail_msg("nothing arrived on a refused connection");
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

/* issue 7 defect 5: the refusal was written and the socket closed at once,
 * so a client that had already sent a request could get EPIPE or
 * ECONNRESET instead of the notification, and could not tell whether its
 * request ran. Now the server keeps reading (and discarding) until the
 * client closes: every client's write succeeds, every client reads
 * TOO_MANY_CONNECTIONS and then the end of the stream, and none of the
 * requests runs. */
static void test_refused_client_that_writes_at_once_still_reads_too_many_connections(void **state)
{
    (void)state;
    rpcc_t held;
    connect_held(&held);
    uint64_t pings0 = pings_run(&held);

    msgpack_sbuffer ping;
    msgpack_sbuffer_init(&ping);
    rpcc_pack_request(&ping, 7, "server.ping", NULL, 0);
    int failures = 0;
    for (int i = 0; i < NREFUSED; i++) {
        rpcc_t c;
        rpcc_connect_or_fail(&c, srv.socket_path);
        /* Half the clients write at once; the other half write just after
         * the notification arrived, unread, as a client does when its
         * first request crosses the refusal: the write the old server lost
         * most often. */
        if (i % 2 == 1)
            wait_readable(&c);
        int s = rpcc_send(&c, ping.data, ping.size, RPCC_TIMEOUT_MS);
        if (s != RPCC_OK) {
            fprintf(stderr, "refused client %d: sending its request: %s\n", i, rpcc_status_name(s));
            failures++;
        }
        if (read_refusal(&c, "TOO_MANY_CONNECTIONS", RPCC_TIMEOUT_MS) != 0) {
            fprintf(stderr, "refused client %d: no TOO_MANY_CONNECTIONS\n", i);
            failures++;
        }
        /* Nothing follows the notification: the server sends no reply. */
        if (rpcc_expect_closed(&c, RPCC_TIMEOUT_MS) != 0)
            failures++;
        rpcc_close(&c);
    }
    msgpack_sbuffer_destroy(&ping);
    if (failures)
        fail_msg("%d of %d refused clients were not told TOO_MANY_CONNECTIONS cleanly", failures,
                 NREFUSED);

    assert_int_equal(
        wait_for_stat(&held, "connections/refused", WAIT_GE, NREFUSED, WAIT_DEADLINE_MS, NULL), 0);
    /* None of their pings ran: only this connection's own stats calls. */
    assert_int_equal(pings_run(&held), pings0);
    assert_int_equal(rpcc_ping(&held, 3, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&held);
}

/* issue 7 defect 5: a refused client that keeps writing after the
 * notification is read (and ignored), not reset, until the hold deadline or
 * the byte cap, whichever comes first; then the server lets go. */
static void test_refused_client_is_held_only_until_its_deadline_or_byte_cap(void **state)
{
    (void)state;
    rpcc_t held;
    connect_held(&held);

    /* A client that neither closes nor stops: after the notification it
     * reads the end of the stream, and once the hold deadline (1 s) has
     * passed its trickle of bytes meets a closed socket. */
    rpcc_t slow;
    rpcc_connect_or_fail(&slow, srv.socket_path);
    assert_int_equal(read_refusal(&slow, "TOO_MANY_CONNECTIONS", RPCC_TIMEOUT_MS), 0);
    assert_int_equal(rpcc_expect_closed(&slow, RPCC_TIMEOUT_MS), 0);
    long long until = testsrv_now_ms() + 10000;
    int s = RPCC_OK;
    while (s == RPCC_OK && testsrv_now_ms() < until) {
        s = rpcc_send(&slow, "\x90", 1, 500);
        if (s == RPCC_OK)
            testsrv_sleep_ms(50);
    }
    if (s != RPCC_CLOSED)
        fail_msg("a refused client was still held after 10 s (%s)", rpcc_status_name(s));

    /* A chatty client: the first 64 KiB are taken, then the server lets go. */
    rpcc_t chatty;
    rpcc_connect_or_fail(&chatty, srv.socket_path);
    assert_int_equal(read_refusal(&chatty, "TOO_MANY_CONNECTIONS", RPCC_TIMEOUT_MS), 0);
    static char junk[16384];
    memset(junk, 0x90, sizeof junk); /* msgpack fixarray(0)s: no request */
    int r = RPCC_OK;
    for (int i = 0; i < 4 && r == RPCC_OK; i++)
        r = rpcc_send(&chatty, junk, sizeof junk, RPCC_TIMEOUT_MS);
    assert_int_equal(r, RPCC_OK);
    /* Beyond the cap the socket closes (the exact byte depends on how the
     * reads were split), so keep sending until it does. */
    long long deadline = testsrv_now_ms() + 10000;
    while (r == RPCC_OK && testsrv_now_ms() < deadline)
        r = rpcc_send(&chatty, junk, sizeof junk, 500);
    if (r != RPCC_CLOSED && r != RPCC_TIMEOUT)
        fail_msg("a refused client sending past the cap: %s", rpcc_status_name(r));
    rpcc_close(&chatty);
    rpcc_close(&slow);

    assert_int_equal(rpcc_ping(&held, 1, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&held);
    /* The slot is free again, and a newcomer is served. */
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

/* issue 7 defect 5, the limit on held refusals (64, NET_REFUSED_MAX): the
 * first 64 refused clients are held (what they send is still taken, then
 * ignored), the 65th is told and closed at once (its send meets a closed
 * socket), so refusals cannot hold many descriptors. */
static void test_at_most_64_refused_connections_are_held_at_once(void **state)
{
    (void)state;
    enum { HELD = 64 };
    rpcc_t held;
    connect_held(&held);
    static rpcc_t r[HELD + 1];
    for (int i = 0; i <= HELD; i++) {
        rpcc_connect_or_fail(&r[i], srv.socket_path);
        assert_int_equal(read_refusal(&r[i], "TOO_MANY_CONNECTIONS", RPCC_TIMEOUT_MS), 0);
    }
    /* All 65 were told within the 1 s hold; a closed socket refuses the
     * byte at once, a held one takes it. */
    for (int i = 0; i < HELD; i++)
        assert_int_equal(rpcc_send(&r[i], "\x90", 1, RPCC_TIMEOUT_MS), RPCC_OK);
    int last = RPCC_OK;
    for (int tries = 0; tries < 3 && last == RPCC_OK; tries++)
        last = rpcc_send(&r[HELD], "\x90", 1, RPCC_TIMEOUT_MS); /* the first may be buffered */
    assert_int_equal(last, RPCC_CLOSED);
    for (int i = 0; i <= HELD; i++)
        rpcc_close(&r[i]);
    assert_int_equal(rpcc_ping(&held, 1, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&held);
}

/* issue 7 defect 6: every way a connection is turned away at accept must
 * leave the listener accepting. Here: more refused clients than the server
 * holds open at once (the rest are closed at once), none of them closing
 * their end. Afterwards a newcomer is served as soon as a slot frees. */
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
    assert_int_equal(
        wait_for_stat(&held, "connections/refused", WAIT_GE, NFLOOD, WAIT_DEADLINE_MS, NULL), 0);
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
    /* From now on every second allocation of 512 bytes or more fails, four
     * times: with a connection's state the only such allocation of a
     * connect and a ping, connections 1, 3, 5 and 7 cannot be allocated
     * (test.failAllocs, noormd-test's allocation wrapper). */
    rpcc_t ctl;
    rpcc_connect_or_fail(&ctl, srv.socket_path);
    rpcc_arg_t arm[] = {RPCC_INT("nth", 1), RPCC_INT("every", 2), RPCC_INT("count", 4),
                        RPCC_INT("minSize", 512)};
    msgpack_unpacked au;
    assert_non_null(
        rpcc_call(&ctl, 1, "test.failAllocs", arm, RPCC_NARGS(arm), &au, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&au);
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
    assert_int_equal(served, 4);
    assert_int_equal(closed, 4);
    assert_true(testsrv_log_contains(&srv, "reason=out_of_memory"));
    /* And the listener still serves once allocations succeed again. */
    rpcc_arg_t disarm[] = {RPCC_INT("nth", 0)};
    assert_non_null(rpcc_call(&ctl, 2, "test.failAllocs", disarm, 1, &au, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&au);
    rpcc_close(&ctl);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), RPCC_OK);
}

/* issue 7 defect 5, at shutdown: a client that connects while the server
 * drains and writes at once reads SHUTTING_DOWN (not a reset), and its
 * write never runs. */
static void test_client_connecting_during_shutdown_reads_shutting_down(void **state)
{
    (void)state;
    rpcc_t busy;
    rpcc_connect_or_fail(&busy, srv.socket_path);
    /* A write in flight keeps the server draining for a while. */
    rpcc_arg_t sleep_args[] = {RPCC_INT("ms", 1500)};
    assert_int_equal(rpcc_send_request(&busy, 1, "test.sleep", sleep_args, RPCC_NARGS(sleep_args),
                                       RPCC_TIMEOUT_MS),
                     RPCC_OK);
    assert_int_equal(rpcc_ping(&busy, 2, RPCC_TIMEOUT_MS), 0);
    assert_int_equal(testsrv_signal(&srv, SIGTERM), 0);

    /* Wait (bounded) until the server has handled the signal: from then on
     * every new connection is refused. */
    long long deadline = testsrv_now_ms() + 10000;
    while (!testsrv_log_contains(&srv, "event=shutdown") && testsrv_now_ms() < deadline)
        testsrv_sleep_ms(5);
    assert_true(testsrv_log_contains(&srv, "event=shutdown"));

    for (int i = 0; i < NLATE; i++) {
        char key[32];
        snprintf(key, sizeof key, "late-%d", i);
        rpcc_t late;
        rpcc_connect_or_fail(&late, srv.socket_path);
        rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_STR("value", "v")};
        int r = rpcc_send_request(&late, 3, "test.write", args, RPCC_NARGS(args), RPCC_TIMEOUT_MS);
        if (r != RPCC_OK)
            fail_msg("late client %d: sending its write: %s", i, rpcc_status_name(r));
        if (read_refusal(&late, "SHUTTING_DOWN", RPCC_TIMEOUT_MS) != 0)
            fail_msg("late client %d was not told SHUTTING_DOWN", i);
        assert_int_equal(rpcc_expect_closed(&late, RPCC_TIMEOUT_MS), 0);
        rpcc_close(&late);
    }
    msgpack_unpacked u;
    const msgpack_object *slept = rpcc_expect_result(&busy, 1, &u, RPCC_TIMEOUT_MS);
    assert_true(slept && slept->type == MSGPACK_OBJECT_BOOLEAN && slept->via.boolean);
    msgpack_unpacked_destroy(&u);
    rpcc_close(&busy);
    assert_int_equal(testsrv_wait_exit(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);

    /* None of the refused connections' writes ran. */
    assert_int_equal(testsrv_restart(&srv), 0);
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    for (int i = 0; i < NLATE; i++) {
        char key[32];
        snprintf(key, sizeof key, "late-%d", i);
        rpcc_arg_t get_args[] = {RPCC_STR("key", key)};
        const msgpack_object *v = rpcc_call(&c, 4 + (uint32_t)i, "test.get", get_args,
                                            RPCC_NARGS(get_args), &u, RPCC_TIMEOUT_MS);
        assert_non_null(v);
        assert_int_equal(v->type, MSGPACK_OBJECT_NIL);
        msgpack_unpacked_destroy(&u);
    }
    rpcc_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_refused_client_that_writes_at_once_still_reads_too_many_connections,
            setup_one_connection, stop_server),
        cmocka_unit_test_setup_teardown(
            test_refused_client_is_held_only_until_its_deadline_or_byte_cap, setup_one_connection,
            stop_server),
        cmocka_unit_test_setup_teardown(test_at_most_64_refused_connections_are_held_at_once,
                                        setup_one_connection, stop_server),
        cmocka_unit_test_setup_teardown(test_listener_keeps_accepting_after_many_refusals,
                                        setup_one_connection, stop_server),
        cmocka_unit_test_setup_teardown(
            test_failed_connection_allocation_closes_it_and_keeps_accepting, setup_default,
            stop_server),
        cmocka_unit_test_setup_teardown(test_client_connecting_during_shutdown_reads_shutting_down,
                                        setup_default, stop_server),
    };
    int failed = cmocka_run_group_tests_name("refusal", tests, NULL, NULL);
    return failed + testsrv_problems();
}
