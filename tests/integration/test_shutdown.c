/* test_shutdown.c - integration: SIGTERM stops noormd-test cleanly. Requests
 * already received are all answered (writes after their commit), the process
 * exits 0 once it has drained - not by running into its shutdown deadline -
 * the socket file is removed, and the writes are in the database when the
 * server starts again on it. Each test has its own server.
 *
 * Timing: "it drained" is told from the log (no shutdown_deadline event)
 * with a shutdown deadline far longer than any drain, not from how fast the
 * process exited; exits are awaited for WAIT_DEADLINE_MS. Only the test of
 * the deadline itself measures time, and only that the server did not give
 * up before it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpcc.h"
#include "testsrv.h"
#include "wait.h"

#define NCONN           4
#define WRITES_PER_CONN 50
#define BARRIER_ID      999
#define FIRST_WRITE_ID  100
#define SLEEP_ID        1

static testsrv_t srv;

static int start_server(void **state)
{
    (void)state;
    return testsrv_start(&srv, NOORMD_TEST_BIN, NULL);
}

/* A shutdown deadline no drain in these tests comes near, so that an exit
 * without the shutdown_deadline event means the server drained. */
static int start_server_long_deadline(void **state)
{
    (void)state;
    const char *const args[] = {"--shutdown-timeout-ms", "20000", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

/* After the exit: the server stopped because it had drained, not because
 * its shutdown deadline ran out. */
static void expect_drained_not_cut_off(void)
{
    if (testsrv_log_contains(&srv, "shutdown_deadline")) {
        testsrv_print_log(&srv);
        fail_msg("the server hit its shutdown deadline instead of draining");
    }
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* Checks one answer on connection `k` and marks it; returns its msgid. */
static uint32_t take_answer(const msgpack_object *msg, int k, bool *seen)
{
    uint32_t id;
    const msgpack_object *err, *res;
    if (!rpcc_response_parts(msg, &id, &err, &res) || err->type != MSGPACK_OBJECT_NIL) {
        rpcc_print("unexpected answer", msg);
        fail_msg("connection %d: expected a success response", k);
    }
    if (id == BARRIER_ID) {
        if (!rpcc_obj_str_eq(res, "pong"))
            fail_msg("connection %d: the barrier ping was not answered with pong", k);
        return id;
    }
    bool is_write = id >= FIRST_WRITE_ID && id < FIRST_WRITE_ID + WRITES_PER_CONN;
    bool is_sleep = k == 0 && id == SLEEP_ID;
    if (!is_write && !is_sleep)
        fail_msg("connection %d: answer for msgid %u, which it never sent", k, (unsigned)id);
    if (seen[id])
        fail_msg("connection %d: msgid %u answered twice", k, (unsigned)id);
    seen[id] = true;
    if (res->type != MSGPACK_OBJECT_BOOLEAN || !res->via.boolean) {
        rpcc_print("result", res);
        fail_msg("connection %d: request %u not answered with true", k, (unsigned)id);
    }
    return id;
}

static void test_sigterm_answers_every_request_in_flight_and_keeps_the_writes(void **state)
{
    (void)state;
    rpcc_t c[NCONN];
    for (int k = 0; k < NCONN; k++)
        rpcc_connect_or_fail(&c[k], srv.socket_path);

    /* Hold the writer so every write below is still queued at SIGTERM. */
    rpcc_arg_t sleep_args[] = {RPCC_INT("ms", 300)};
    assert_int_equal(rpcc_send_request(&c[0], SLEEP_ID, "test.sleep", sleep_args,
                                       RPCC_NARGS(sleep_args), RPCC_TIMEOUT_MS),
                     RPCC_OK);
    for (int k = 0; k < NCONN; k++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        for (uint32_t i = 0; i < WRITES_PER_CONN; i++) {
            char key[32], val[32];
            snprintf(key, sizeof key, "sd-%d-%u", k, (unsigned)i);
            snprintf(val, sizeof val, "value-%d-%u", k, (unsigned)i);
            rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_STR("value", val)};
            rpcc_pack_request(&sb, FIRST_WRITE_ID + i, "test.write", args, RPCC_NARGS(args));
        }
        /* A read answered on the loop thread: once its answer arrives, the
         * server has read every request before it on this connection. */
        rpcc_pack_request(&sb, BARRIER_ID, "server.ping", NULL, 0);
        assert_int_equal(rpcc_send(&c[k], sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
        msgpack_sbuffer_destroy(&sb);
    }

    bool seen[NCONN][FIRST_WRITE_ID + WRITES_PER_CONN];
    memset(seen, 0, sizeof seen);
    int answered[NCONN] = {0};
    for (int k = 0; k < NCONN; k++) {
        for (int n = 0; n <= WRITES_PER_CONN + 1; n++) {
            msgpack_unpacked u;
            int r = rpcc_read(&c[k], &u, RPCC_TIMEOUT_MS);
            if (r != RPCC_OK)
                fail_msg("connection %d: waiting for the barrier ping: %s", k, rpcc_status_name(r));
            uint32_t id = take_answer(&u.data, k, seen[k]);
            msgpack_unpacked_destroy(&u);
            if (id == BARRIER_ID)
                break;
            answered[k]++;
        }
    }

    assert_int_equal(testsrv_signal(&srv, SIGTERM), 0);

    for (int k = 0; k < NCONN; k++) {
        int want = WRITES_PER_CONN + (k == 0 ? 1 : 0);
        while (answered[k] < want) {
            msgpack_unpacked u;
            int r = rpcc_read(&c[k], &u, RPCC_TIMEOUT_MS);
            if (r != RPCC_OK)
                fail_msg("connection %d: %d of %d answers, then %s", k, answered[k], want,
                         rpcc_status_name(r));
            take_answer(&u.data, k, seen[k]);
            msgpack_unpacked_destroy(&u);
            answered[k]++;
        }
        /* All answered: the server closes the connection. */
        assert_int_equal(rpcc_expect_closed(&c[k], RPCC_TIMEOUT_MS), 0);
        rpcc_close(&c[k]);
    }

    int status = testsrv_wait_exit(&srv, WAIT_DEADLINE_MS);
    if (status != 0)
        fail_msg("after SIGTERM: exit status %d (want 0; -1 = still running)", status);
    expect_drained_not_cut_off();
    struct stat st;
    assert_int_equal(lstat(srv.socket_path, &st), -1);
    assert_int_equal(errno, ENOENT);
    /* The shutdown checkpoint folded the WAL into the database. */
    char wal[TESTSRV_PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", srv.db_path);
    assert_true(stat(wal, &st) != 0 || st.st_size == 0);

    /* The same database, a new process: every acknowledged write is there. */
    assert_int_equal(testsrv_restart(&srv), 0);
    rpcc_t again;
    rpcc_connect_or_fail(&again, srv.socket_path);
    msgpack_unpacked u;
    const msgpack_object *count = rpcc_call(&again, 1, "test.count", NULL, 0, &u, RPCC_TIMEOUT_MS);
    uint64_t n = 0;
    assert_true(rpcc_obj_u64(count, &n));
    assert_int_equal(n, NCONN * WRITES_PER_CONN);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t get_args[] = {RPCC_STR("key", "sd-3-49")};
    const msgpack_object *v =
        rpcc_call(&again, 2, "test.get", get_args, RPCC_NARGS(get_args), &u, RPCC_TIMEOUT_MS);
    assert_true(rpcc_obj_bytes_eq(v, "value-3-49", 10));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&again);
}

/* One late connection: true when the server answered it with a
 * SHUTTING_DOWN notification and closed it, or the socket is already gone. */
static bool late_connection_refused(void *arg)
{
    (void)arg;
    rpcc_t late;
    int r = rpcc_connect(&late, srv.socket_path);
    if (r == -ENOENT || r == -ECONNREFUSED) {
        rpcc_close(&late);
        return true;
    }
    assert_int_equal(r, 0);
    /* Before the signal is handled the server sends nothing on a new
     * connection: after 200 ms this one is given up and another tried. A
     * notification slower than that is no failure, only one more try. */
    int f = rpcc_expect_fatal(&late, RPCC_AS_NOTIFY, "SHUTTING_DOWN", 200);
    rpcc_close(&late);
    return f == 0;
}

/* Connects during the drain until a connection is refused, retrying while
 * the signal may not have been handled yet (a connection then still works). */
static void expect_refused_while_stopping(void)
{
    if (wait_until(late_connection_refused, NULL, WAIT_DEADLINE_MS) != 0)
        fail_msg("connections were still served %d ms after SIGTERM", WAIT_DEADLINE_MS);
}

static void test_sigterm_closes_idle_connections_stops_accepting_and_exits_0(void **state)
{
    (void)state;
    rpcc_t idle;
    rpcc_connect_or_fail(&idle, srv.socket_path);
    assert_int_equal(rpcc_ping(&idle, 1, RPCC_TIMEOUT_MS), 0);
    assert_int_equal(testsrv_signal(&srv, SIGTERM), 0);
    assert_int_equal(rpcc_expect_closed(&idle, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&idle);

    /* No new connection is served once shutdown has begun: one that gets
     * in is told SHUTTING_DOWN and closed (or finds the socket gone). */
    expect_refused_while_stopping();

    assert_int_equal(testsrv_wait_exit(&srv, WAIT_DEADLINE_MS), 0);
    expect_drained_not_cut_off();
    assert_true(access(srv.socket_path, F_OK) != 0);
    assert_true(testsrv_log_contains(&srv, "event=shutdown"));
}

/* Regression: noormd listened (and the start-up probe connected) before it
 * installed its SIGTERM handler, so a SIGTERM right after start killed it by
 * default action (status 143) and left the socket file behind. */
static void test_sigterm_right_after_socket_accepts_exits_0(void **state)
{
    (void)state;
    assert_int_equal(testsrv_signal(&srv, SIGTERM), 0);
    int status = testsrv_wait_exit(&srv, WAIT_DEADLINE_MS);
    if (status != 0)
        fail_msg("SIGTERM just after start: exit status %d (want 0; 143 = killed by it)", status);
    assert_true(access(srv.socket_path, F_OK) != 0);
}

static int start_server_short_deadline(void **state)
{
    (void)state;
    const char *const args[] = {"--shutdown-timeout-ms", "500", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static void test_sigterm_with_a_client_that_never_reads_exits_0_at_the_deadline(void **state)
{
    (void)state;
    static char big[60000];
    memset(big, 'r', sizeof big);
    rpcc_t hog, other;
    rpcc_connect_or_fail(&other, srv.socket_path);
    rpcc_arg_t wargs[] = {RPCC_STR("key", "big"), RPCC_BIN("value", big, sizeof big)};
    msgpack_unpacked u;
    assert_non_null(
        rpcc_call(&other, 1, "test.write", wargs, RPCC_NARGS(wargs), &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);

    /* ~1.2 MB of replies the hog never reads: far more than the socket
     * buffers hold, so its answers can never all be delivered. */
    rpcc_connect_or_fail(&hog, srv.socket_path);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_arg_t gargs[] = {RPCC_STR("key", "big")};
    for (uint32_t i = 1; i <= 20; i++)
        rpcc_pack_request(&sb, i, "test.get", gargs, RPCC_NARGS(gargs));
    assert_int_equal(rpcc_send(&hog, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    /* Wait until the server has answered more than the socket buffers can
     * take (it then stops reading the hog's requests: output back-pressure),
     * so undelivered replies are stuck in the server. */
    uint64_t gets = 0;
    assert_int_equal(
        wait_for_stat(&other, "methods/test.get/count", WAIT_GE, 5, WAIT_DEADLINE_MS, &gets), 0);
    rpcc_close(&other);

    long long t0 = testsrv_now_ms();
    assert_int_equal(testsrv_signal(&srv, SIGTERM), 0);
    int status = testsrv_wait_exit(&srv, WAIT_DEADLINE_MS);
    long long elapsed = testsrv_now_ms() - t0;
    if (status != 0)
        fail_msg("exit status %d after SIGTERM with a stuck client (want 0; -1 = running)", status);
    /* It waited for the 500 ms shutdown deadline, then gave up on the hog:
     * not before (t0 was read before the signal was sent; a busy machine
     * only makes the exit later), and the log says why it stopped. */
    assert_true(elapsed >= 400);
    assert_true(testsrv_log_contains(&srv, "shutdown_deadline"));
    rpcc_close(&hog);
}

static void test_sigint_stops_like_sigterm(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    assert_int_equal(rpcc_ping(&c, 1, RPCC_TIMEOUT_MS), 0);
    assert_int_equal(testsrv_signal(&srv, SIGINT), 0);
    assert_int_equal(rpcc_expect_closed(&c, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
    assert_int_equal(testsrv_wait_exit(&srv, WAIT_DEADLINE_MS), 0);
    assert_true(access(srv.socket_path, F_OK) != 0);
    assert_true(testsrv_log_contains(&srv, "signal=SIGINT"));
}

/* A burst of 3,000 pings is served in slices of 64 per loop turn; a
 * SIGTERM in the middle must not close the connection on the requests
 * still waiting for their slice: every one is answered (pong before the
 * signal, SHUTTING_DOWN after), then the connection ends. */
static void test_sigterm_answers_the_requests_waiting_for_their_slice(void **state)
{
    (void)state;
    enum { BURST = 3000 };
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t i = 0; i < BURST; i++)
        rpcc_pack_request(&sb, i, "server.ping", NULL, 0);
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    /* The first answer means the server has read the burst (one read) and
     * serves it slice by slice: signal now. (A connection the server has
     * read nothing from yet is closed at SIGTERM as an idle one.) */
    msgpack_unpacked first;
    assert_int_equal(rpcc_read(&c, &first, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_unpacked_destroy(&first);
    assert_int_equal(testsrv_signal(&srv, SIGTERM), 0);
    unsigned pongs = 1, refused = 0;
    for (int n = 1; n < BURST; n++) {
        msgpack_unpacked u;
        int r = rpcc_read(&c, &u, RPCC_TIMEOUT_MS);
        if (r != RPCC_OK)
            fail_msg("after %u pongs and %u refusals: %s", pongs, refused, rpcc_status_name(r));
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        if (err->type == MSGPACK_OBJECT_NIL)
            pongs++;
        else if (rpcc_error_is(err, "SHUTTING_DOWN"))
            refused++;
        else
            fail_msg("unexpected error for ping %u", id);
        msgpack_unpacked_destroy(&u);
    }
    fprintf(stderr, "burst at SIGTERM: %u pongs, %u SHUTTING_DOWN\n", pongs, refused);
    assert_int_equal(rpcc_expect_closed(&c, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
    assert_int_equal(testsrv_wait_exit(&srv, WAIT_DEADLINE_MS), 0);
}

static void test_request_sent_during_the_drain_gets_shutting_down(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    /* The hold keeps a write in flight until the checks below are done.
     * Nothing can end it early, so it is generous: it only has to cover a
     * ping, the server handling the signal (a late connection attempt may
     * add 200 ms) and two round trips. */
    rpcc_arg_t sleep_args[] = {RPCC_INT("ms", 2000)};
    assert_int_equal(
        rpcc_send_request(&c, 1, "test.sleep", sleep_args, RPCC_NARGS(sleep_args), RPCC_TIMEOUT_MS),
        RPCC_OK);
    assert_int_equal(rpcc_ping(&c, 2, RPCC_TIMEOUT_MS), 0);
    assert_int_equal(testsrv_signal(&srv, SIGTERM), 0);
    /* Once the server has handled the signal, new connections are refused
     * with SHUTTING_DOWN while this one drains. */
    expect_refused_while_stopping();

    /* The connection still has a write in flight, so it stays open; new
     * requests on it are refused, not run. */
    rpcc_arg_t write_args[] = {RPCC_STR("key", "during-drain"), RPCC_STR("value", "v")};
    assert_int_equal(
        rpcc_send_request(&c, 3, "test.write", write_args, RPCC_NARGS(write_args), RPCC_TIMEOUT_MS),
        RPCC_OK);
    msgpack_unpacked u;
    assert_non_null(rpcc_expect_error(&c, 3, "SHUTTING_DOWN", &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
    assert_int_equal(rpcc_send_request(&c, 4, "server.ping", NULL, 0, RPCC_TIMEOUT_MS), RPCC_OK);
    assert_non_null(rpcc_expect_error(&c, 4, "SHUTTING_DOWN", &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
    const msgpack_object *slept = rpcc_expect_result(&c, 1, &u, RPCC_TIMEOUT_MS);
    assert_true(slept && slept->type == MSGPACK_OBJECT_BOOLEAN && slept->via.boolean);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(rpcc_expect_closed(&c, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
    assert_int_equal(testsrv_wait_exit(&srv, WAIT_DEADLINE_MS), 0);

    /* The refused write never ran. */
    assert_int_equal(testsrv_restart(&srv), 0);
    rpcc_connect_or_fail(&c, srv.socket_path);
    rpcc_arg_t get_args[] = {RPCC_STR("key", "during-drain")};
    const msgpack_object *v =
        rpcc_call(&c, 5, "test.get", get_args, RPCC_NARGS(get_args), &u, RPCC_TIMEOUT_MS);
    assert_non_null(v);
    assert_int_equal(v->type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_sigterm_answers_every_request_in_flight_and_keeps_the_writes,
            start_server_long_deadline, stop_server),
        cmocka_unit_test_setup_teardown(
            test_sigterm_closes_idle_connections_stops_accepting_and_exits_0,
            start_server_long_deadline, stop_server),
        cmocka_unit_test_setup_teardown(test_sigterm_right_after_socket_accepts_exits_0,
                                        start_server, stop_server),
        cmocka_unit_test_setup_teardown(
            test_sigterm_with_a_client_that_never_reads_exits_0_at_the_deadline,
            start_server_short_deadline, stop_server),
        cmocka_unit_test_setup_teardown(test_sigint_stops_like_sigterm, start_server, stop_server),
        cmocka_unit_test_setup_teardown(test_sigterm_answers_the_requests_waiting_for_their_slice,
                                        start_server_long_deadline, stop_server),
        cmocka_unit_test_setup_teardown(test_request_sent_during_the_drain_gets_shutting_down,
                                        start_server, stop_server),
    };
    int failed = cmocka_run_group_tests_name("shutdown", tests, NULL, NULL);
    return failed + testsrv_problems();
}
