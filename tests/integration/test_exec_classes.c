/* test_exec_classes.c - the three execution classes and the memory budget
 * (issue 7): a slow read on the reader pool or a slow write on the writer
 * never holds a loop-thread read; one client's burst of pipelined requests
 * is served in slices between another client's; the memory budget refuses
 * requests with OUT_OF_MEMORY (retriable) rather than growing, and one
 * connection cannot take all of it. Every wait is on a reply or a counter,
 * with generous deadlines. */
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

static testsrv_t srv;

static int start_server(void **state)
{
    (void)state;
    static const char *const args[] = {"--pool-threads", "2", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static int start_server_small_budget(void **state)
{
    (void)state;
    static const char *const args[] = {"--memory-budget", "16m", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* Reads server.stats and returns the unsigned counter at `a`.`b`. */
static uint64_t stat_u64(const char *a, const char *b)
{
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_unpacked u;
    const msgpack_object *st = rpcc_call(&c, 1, "server.stats", NULL, 0, &u, RPCC_TIMEOUT_MS);
    assert_non_null(st);
    uint64_t v = 0;
    assert_true(rpcc_obj_u64(rpcc_dig(st, a, b, NULL), &v));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
    return v;
}

/* Sends test.<method> {ms} on `c` as msgid `id`. */
static void send_sleep(rpcc_t *c, uint32_t id, const char *method, int ms)
{
    rpcc_arg_t args[] = {RPCC_INT("ms", ms)};
    assert_int_equal(rpcc_send_request(c, id, method, args, RPCC_NARGS(args), RPCC_TIMEOUT_MS),
                     RPCC_OK);
}

static void test_pool_runs_with_the_configured_threads(void **state)
{
    (void)state;
    assert_int_equal(stat_u64("pool", "threads"), 2);
}

/* While both pool threads and the writer are each held for 5 s, a ping on
 * another connection is answered: it is the loop's, and waits for nobody. */
static void test_slow_pool_and_writer_jobs_do_not_hold_a_loop_read(void **state)
{
    (void)state;
    rpcc_t slow, fast;
    rpcc_connect_or_fail(&slow, srv.socket_path);
    rpcc_connect_or_fail(&fast, srv.socket_path);
    send_sleep(&slow, 1, "test.poolSleep", 5000);
    send_sleep(&slow, 2, "test.poolSleep", 5000);
    send_sleep(&slow, 3, "test.sleep", 5000);
    /* Wait until both pool threads are busy (a counter, not a sleep). */
    long long until = testsrv_now_ms() + 10000;
    while (stat_u64("pool", "running") < 2 && testsrv_now_ms() < until)
        testsrv_sleep_ms(5);
    assert_int_equal(stat_u64("pool", "running"), 2);
    assert_int_equal(rpcc_ping(&fast, 9, RPCC_TIMEOUT_MS), RPCC_OK);
    /* Answered while the slow jobs still run: it did not queue behind them
     * (a counter, not a clock). */
    assert_int_equal(stat_u64("pool", "running"), 2);
    assert_int_equal(stat_u64("writer", "queue_depth"), 1);
    /* Replies come in any order (each executor answers when it is done). */
    unsigned seen = 0;
    for (int n = 0; n < 3; n++) {
        msgpack_unpacked u;
        assert_int_equal(rpcc_read(&slow, &u, 15000), RPCC_OK);
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        assert_int_equal(err->type, MSGPACK_OBJECT_NIL);
        seen |= 1u << id;
        msgpack_unpacked_destroy(&u);
    }
    assert_int_equal(seen, 0xeu);
    rpcc_close(&slow);
    rpcc_close(&fast);
}

/* Replies of a POOL method come back through the completion queue to the
 * right msgid, interleaved with LOOP replies on the same connection. */
static void test_pool_and_loop_replies_share_a_connection(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    rpcc_arg_t put[] = {RPCC_STR("key", "k1"), RPCC_STR("value", "v1")};
    msgpack_unpacked u;
    assert_non_null(rpcc_call(&c, 1, "test.write", put, RPCC_NARGS(put), &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_arg_t get[] = {RPCC_STR("key", "k1")};
    for (uint32_t i = 0; i < 200; i++)
        rpcc_pack_request(&sb, 100 + i, i % 2 ? "test.poolGet" : "test.get", get, 1);
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    bool seen[200] = {false};
    for (int n = 0; n < 200; n++) {
        assert_int_equal(rpcc_read(&c, &u, RPCC_TIMEOUT_MS), RPCC_OK);
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        assert_true(id >= 100 && id < 300);
        assert_false(seen[id - 100]);
        seen[id - 100] = true;
        assert_true(rpcc_obj_bytes_eq(res, "v1", 2));
        msgpack_unpacked_destroy(&u);
    }
    rpcc_close(&c);
}

/* Issue 7 defect 19: one client's burst of pipelined requests is served
 * in slices of 64 between other clients' requests. A burst of 3,000 pings
 * (51 KB: one read) is written, then another client asks server.stats: the
 * ping count its reply reports is how many of the burst ran before it.
 * Without slices the whole read ran first (3,000); with them, a slice or
 * two. Then every ping of the burst is answered, each once. */
static void test_a_pipelined_burst_is_served_in_slices_between_other_clients(void **state)
{
    (void)state;
    enum { BURST = 3000 };
    rpcc_t burst, ctl;
    rpcc_connect_or_fail(&burst, srv.socket_path);
    rpcc_connect_or_fail(&ctl, srv.socket_path);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t i = 0; i < BURST; i++)
        rpcc_pack_request(&sb, i, "server.ping", NULL, 0);
    assert_true(sb.size < 60000); /* one read of the server's 64 KiB buffer */
    assert_int_equal(rpcc_send(&burst, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    /* The first count above 0: a request handled before the burst was read
     * sees 0 and asks again. */
    msgpack_unpacked u;
    uint64_t before_ctl = 0;
    long long until = testsrv_now_ms() + 10000;
    for (uint32_t id = 1; before_ctl == 0 && testsrv_now_ms() < until; id++) {
        const msgpack_object *st =
            rpcc_call(&ctl, id, "server.stats", NULL, 0, &u, RPCC_TIMEOUT_MS);
        assert_non_null(st);
        rpcc_obj_u64(rpcc_dig(st, "methods", "server.ping", "count", NULL), &before_ctl);
        msgpack_unpacked_destroy(&u);
    }
    assert_true(before_ctl > 0);
    fprintf(stderr, "burst: %llu of %d pings ran before the other client's request\n",
            (unsigned long long)before_ctl, BURST);
    assert_true(before_ctl < BURST / 2);
    static bool seen[BURST];
    for (int n = 0; n < BURST; n++) {
        assert_int_equal(rpcc_read(&burst, &u, RPCC_TIMEOUT_MS), RPCC_OK);
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        assert_true(id < BURST && !seen[id]);
        seen[id] = true;
        msgpack_unpacked_destroy(&u);
    }
    rpcc_close(&burst);
    rpcc_close(&ctl);
}

/* Issue 7 defect 2: queued jobs are charged what they hold. With a 16 MiB
 * budget one connection may hold 4 MiB: of 100 writes of 64 KiB queued
 * behind a slow write, the first ones are queued and the rest refused with
 * OUT_OF_MEMORY (retriable, nothing written), in that order; once answered
 * the budget's books return to zero. */
static void test_memory_budget_refuses_past_a_connection_share(void **state)
{
    (void)state;
    enum { N = 100, VALUE = 65536 };
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    send_sleep(&c, 1, "test.sleep", 1000);
    static uint8_t value[VALUE];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t i = 0; i < N; i++) {
        char key[16];
        snprintf(key, sizeof key, "big-%u", i);
        rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_BIN("value", value, sizeof value)};
        rpcc_pack_request(&sb, 100 + i, "test.write", args, RPCC_NARGS(args));
    }
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    unsigned ok = 0, refused = 0;
    uint32_t last_ok = 0, first_refused = UINT32_MAX;
    msgpack_unpacked u;
    for (int n = 0; n < N + 1; n++) {
        assert_int_equal(rpcc_read(&c, &u, 15000), RPCC_OK);
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        if (id >= 100) {
            if (err->type == MSGPACK_OBJECT_NIL) {
                ok++;
                last_ok = id > last_ok ? id : last_ok;
            } else {
                assert_true(rpcc_error_is(err, "OUT_OF_MEMORY"));
                refused++;
                first_refused = id < first_refused ? id : first_refused;
            }
        }
        msgpack_unpacked_destroy(&u);
    }
    rpcc_close(&c);
    /* 4 MiB / (64 KiB + overhead): about 60 fit. */
    assert_true(ok >= 40 && ok <= 64);
    assert_int_equal(ok + refused, N);
    assert_true(last_ok < first_refused); /* queued up to the share, refused after */
    assert_true(stat_u64("memory", "refused") >= refused);
    long long until = testsrv_now_ms() + 10000;
    while (stat_u64("memory", "jobs") != 0 && testsrv_now_ms() < until)
        testsrv_sleep_ms(5);
    assert_int_equal(stat_u64("memory", "jobs"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pool_runs_with_the_configured_threads, start_server,
                                        stop_server),
        cmocka_unit_test_setup_teardown(test_slow_pool_and_writer_jobs_do_not_hold_a_loop_read,
                                        start_server, stop_server),
        cmocka_unit_test_setup_teardown(test_pool_and_loop_replies_share_a_connection, start_server,
                                        stop_server),
        cmocka_unit_test_setup_teardown(
            test_a_pipelined_burst_is_served_in_slices_between_other_clients, start_server,
            stop_server),
        cmocka_unit_test_setup_teardown(test_memory_budget_refuses_past_a_connection_share,
                                        start_server_small_budget, stop_server),
    };
    int failed = cmocka_run_group_tests_name("exec_classes", tests, NULL, NULL);
    return failed + testsrv_problems();
}
