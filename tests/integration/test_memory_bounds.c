/* test_memory_bounds.c - issue 7 defects 2 and 15: what clients make the
 * server hold stays under its memory budget, measured in the server's own
 * books (server.stats memory.*) and in its resident memory (VmRSS).
 *
 * - A client that stops reading its replies is paused: the server stops
 *   reading its requests (they wait in the kernel) instead of buffering
 *   every reply, and answers them all once it reads again.
 * - One whose replies make no progress for --output-timeout-ms is dropped.
 * - Half-sent messages are buffered only within the budget; past it the
 *   sender is told OUT_OF_MEMORY and closed, and other clients are served.
 * - A queued request is charged what its decoded form holds (an array of
 *   small integers decodes to 24 bytes an element), so a few such requests
 *   cannot hold many times the budget as they once did (123 MiB resident
 *   measured against a 4 MiB cap). */
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

#define MIB (1024 * 1024)

/* The server is built like this test: under a sanitizer its resident
 * memory holds shadow memory and a quarantine of freed blocks, so only the
 * budget's books are compared there, RSS only in a plain build. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RSS_MEANINGFUL 0
#endif
#endif
#ifndef RSS_MEANINGFUL
#define RSS_MEANINGFUL 1
#endif

static testsrv_t srv;

static int start_default(void **state)
{
    (void)state;
    return testsrv_start(&srv, NOORMD_TEST_BIN, NULL);
}

static int start_output_timeout(void **state)
{
    (void)state;
    static const char *const args[] = {"--output-timeout-ms", "300", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static int start_small_budget(void **state)
{
    (void)state;
    static const char *const args[] = {
        "--memory-budget", "16m", "--max-message", "1m", "--max-connections", "200", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* The server's resident memory in bytes, from /proc. */
static uint64_t server_rss(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)srv.pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
            break;
    fclose(f);
    assert_true(kb > 0);
    return kb * 1024;
}

/* Stores a 60,000-byte value under "big" and returns the control
 * connection used. */
static void put_big(rpcc_t *ctl)
{
    static char big[60000];
    memset(big, 'b', sizeof big);
    rpcc_arg_t args[] = {RPCC_STR("key", "big"), RPCC_BIN("value", big, sizeof big)};
    msgpack_unpacked u;
    assert_non_null(rpcc_call(ctl, 1, "test.write", args, RPCC_NARGS(args), &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
}

/* Sends `n` test.get "big" requests (msgids 1..n) on `c` in one write. */
static void send_gets(rpcc_t *c, unsigned n)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_arg_t args[] = {RPCC_STR("key", "big")};
    for (uint32_t i = 1; i <= n; i++)
        rpcc_pack_request(&sb, i, "test.get", args, RPCC_NARGS(args));
    assert_int_equal(rpcc_send(c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
}

/* 200 requests of 60 KB replies (12 MB, under the 16 MiB output cap) from
 * a client that does not read: the server answers until its unsent
 * replies pass 256 KiB, then waits. Its buffers stay near that, not 12 MB;
 * once the client reads, every request is answered exactly once. */
static void test_a_client_that_stops_reading_is_paused_not_buffered(void **state)
{
    (void)state;
    enum { N = 200 };
    rpcc_t ctl, hog;
    rpcc_connect_or_fail(&ctl, srv.socket_path);
    put_big(&ctl);
    rpcc_connect_or_fail(&hog, srv.socket_path);
    send_gets(&hog, N);
    uint64_t gets = 0;
    assert_int_equal(
        wait_for_stat(&ctl, "methods/test.get/count", WAIT_GE, 4, WAIT_DEADLINE_MS, &gets), 0);
    /* Paused: the count stops well short of N while nothing is read. */
    uint64_t most = 0, buffers = 0;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(wait_stat_u64(&ctl, "memory/buffers", &buffers), 0);
        most = buffers > most ? buffers : most;
        testsrv_sleep_ms(10);
    }
    assert_int_equal(wait_stat_u64(&ctl, "methods/test.get/count", &gets), 0);
    assert_true(gets < N / 2);
    assert_true(most < 2 * MIB); /* 256 KiB of replies + a read buffer + one reply */
    /* Reading resumes it: all N arrive, each once. */
    bool seen[N + 1] = {false};
    for (unsigned n = 0; n < N; n++) {
        msgpack_unpacked u;
        assert_int_equal(rpcc_read(&hog, &u, RPCC_TIMEOUT_MS), RPCC_OK);
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        assert_true(id >= 1 && id <= N && !seen[id]);
        seen[id] = true;
        assert_int_equal(res->via.bin.size, 60000);
        msgpack_unpacked_destroy(&u);
    }
    rpcc_close(&hog);
    rpcc_close(&ctl);
}

/* With --output-timeout-ms 300: a client sends `gets` requests for 60 KB
 * values, half-closes when `half_close`, and reads nothing. It is dropped
 * (connections.dropped, reason=output_timeout) and its memory given back. */
static void expect_dropped_for_stalled_replies(unsigned gets, bool half_close)
{
    rpcc_t ctl, hog;
    rpcc_connect_or_fail(&ctl, srv.socket_path);
    put_big(&ctl);
    uint64_t dropped = 0;
    assert_int_equal(wait_stat_u64(&ctl, "connections/dropped", &dropped), 0);
    rpcc_connect_or_fail(&hog, srv.socket_path);
    send_gets(&hog, gets);
    if (half_close)
        assert_int_equal(rpcc_shutdown_write(&hog), 0);
    assert_int_equal(
        wait_for_stat(&ctl, "connections/dropped", WAIT_GE, dropped + 1, WAIT_DEADLINE_MS, NULL),
        0);
    assert_int_equal(wait_for_stat(&ctl, "connections/current", WAIT_EQ, 1, WAIT_DEADLINE_MS, NULL),
                     0);
    assert_int_equal(
        wait_for_stat(&ctl, "memory/buffers", WAIT_LE, 64 * 1024, WAIT_DEADLINE_MS, NULL), 0);
    assert_true(testsrv_log_contains(&srv, "reason=output_timeout"));
    rpcc_close(&hog);
    rpcc_close(&ctl);
}

static void test_a_client_whose_replies_make_no_progress_is_dropped(void **state)
{
    (void)state;
    expect_dropped_for_stalled_replies(50, false);
}

/* The same for a client that sent EOF after its requests: 240 KB of
 * replies stay under the 256 KiB pause (so the server reads on and sees the
 * EOF) and over what the socket buffers take. It is dropped at the deadline
 * too, not kept until the server stops. */
static void test_a_half_closed_client_whose_replies_stall_is_dropped_too(void **state)
{
    (void)state;
    expect_dropped_for_stalled_replies(4, true);
}

/* 60 clients each send 900 KB of a 1 MB message and stop: about 16 MiB of
 * budget holds only some of them. The others are told OUT_OF_MEMORY and
 * closed; the books never pass the budget, resident memory stays within
 * it (plus what the server holds anyway), and a new client is served. */
static void test_half_sent_messages_are_held_only_within_the_budget(void **state)
{
    (void)state;
    enum { CLIENTS = 60, BODY = 1000000, SENT = 900000 };
    rpcc_t ctl;
    rpcc_connect_or_fail(&ctl, srv.socket_path);
    uint64_t rss0 = server_rss();
    /* [0, 1, "test.write", [{"key": "k", "value": <bin32 of BODY>}]], cut. */
    static uint8_t msg[SENT];
    size_t h = 0;
    const uint8_t head[] = {0x94,
                            0x00,
                            0x01,
                            0xaa,
                            't',
                            'e',
                            's',
                            't',
                            '.',
                            'w',
                            'r',
                            'i',
                            't',
                            'e',
                            0x91,
                            0x82,
                            0xa3,
                            'k',
                            'e',
                            'y',
                            0xa1,
                            'k',
                            0xa5,
                            'v',
                            'a',
                            'l',
                            'u',
                            'e',
                            0xc6,
                            (BODY >> 24) & 0xff,
                            (BODY >> 16) & 0xff,
                            (BODY >> 8) & 0xff,
                            BODY & 0xff};
    memcpy(msg, head, sizeof head);
    h = sizeof head;
    memset(msg + h, 'x', sizeof msg - h);
    static rpcc_t c[CLIENTS];
    unsigned told = 0, closed = 0;
    for (int i = 0; i < CLIENTS; i++) {
        rpcc_connect_or_fail(&c[i], srv.socket_path);
        /* A refused client may be closed while it still sends. */
        rpcc_send(&c[i], msg, sizeof msg, RPCC_TIMEOUT_MS);
    }
    uint64_t used = 0, budget = 0, most = 0;
    assert_int_equal(wait_stat_u64(&ctl, "memory/budget", &budget), 0);
    for (int i = 0; i < CLIENTS; i++) {
        msgpack_unpacked u;
        int r = rpcc_read(&c[i], &u, 300);
        if (r == RPCC_OK) {
            const msgpack_object *e = rpcc_notify_error(&u.data);
            assert_non_null(e);
            assert_true(rpcc_error_is(e, "OUT_OF_MEMORY"));
            told++;
            msgpack_unpacked_destroy(&u);
            assert_int_equal(rpcc_expect_closed(&c[i], RPCC_TIMEOUT_MS), RPCC_OK);
        } else if (r == RPCC_CLOSED) {
            closed++;
            msgpack_unpacked_destroy(&u);
        } else {
            msgpack_unpacked_destroy(&u); /* held: still waiting for the rest */
        }
        assert_int_equal(wait_stat_u64(&ctl, "memory/used", &used), 0);
        most = used > most ? used : most;
    }
    uint64_t rss = server_rss();
    fprintf(stderr,
            "half-sent: %u told OUT_OF_MEMORY, %u closed, books at most %lu of %lu, "
            "RSS %lu -> %lu\n",
            told, closed, (unsigned long)most, (unsigned long)budget, (unsigned long)rss0,
            (unsigned long)rss);
    assert_true(told >= CLIENTS - 20); /* at most ~16 fit in 16 MiB */
    assert_true(most <= budget);
    if (RSS_MEANINGFUL)
        assert_true(rss < rss0 + budget + 8 * MIB);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), RPCC_OK);
    for (int i = 0; i < CLIENTS; i++)
        rpcc_close(&c[i]);
    rpcc_close(&ctl);
}

/* Ten auth.createUser requests, each with an extra field holding 150,000
 * small integers (a 150 KB message that decodes to 3.6 MB), queued behind
 * a slow write: each is charged its decoded size, so the connection's share
 * (a quarter of 16 MiB) takes at most one and refuses the rest with
 * OUT_OF_MEMORY, and resident memory grows by far less than the 36 MB the
 * ten would decode to. */
static void test_queued_requests_are_charged_their_decoded_size(void **state)
{
    (void)state;
    enum { N = 10, ELEMS = 150000 };
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    uint64_t rss0 = server_rss();
    msgpack_sbuffer arr;
    msgpack_sbuffer_init(&arr);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &arr, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, ELEMS);
    for (int i = 0; i < ELEMS; i++)
        msgpack_pack_int(&pk, 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_arg_t sleep_args[] = {RPCC_INT("ms", 1000)};
    rpcc_pack_request(&sb, 1, "test.sleep", sleep_args, RPCC_NARGS(sleep_args));
    for (uint32_t i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof id, "wide-%u", i);
        rpcc_arg_t args[] = {RPCC_STR("id", id), RPCC_RAW("numbers", arr.data, arr.size)};
        rpcc_pack_request(&sb, 10 + i, "auth.createUser", args, RPCC_NARGS(args));
    }
    msgpack_sbuffer_destroy(&arr);
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    unsigned refused = 0;
    uint64_t rss_most = 0;
    for (unsigned n = 0; n < N + 1; n++) {
        msgpack_unpacked u;
        assert_int_equal(rpcc_read(&c, &u, 30000), RPCC_OK);
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        if (err->type != MSGPACK_OBJECT_NIL) {
            /* Queued ones run and are refused by --max-extra-bytes. */
            assert_true(rpcc_error_is(err, NULL));
            refused += rpcc_obj_str_eq(&err->via.array.ptr[1], "OUT_OF_MEMORY");
        }
        msgpack_unpacked_destroy(&u);
        uint64_t rss = server_rss();
        rss_most = rss > rss_most ? rss : rss_most;
    }
    fprintf(stderr, "decoded-size charge: %u of %u refused, RSS %lu -> at most %lu\n", refused, N,
            (unsigned long)rss0, (unsigned long)rss_most);
    assert_true(refused >= N - 1);
    if (RSS_MEANINGFUL)
        assert_true(rss_most < rss0 + 16 * MIB);
    rpcc_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_client_that_stops_reading_is_paused_not_buffered,
                                        start_default, stop_server),
        cmocka_unit_test_setup_teardown(test_a_client_whose_replies_make_no_progress_is_dropped,
                                        start_output_timeout, stop_server),
        cmocka_unit_test_setup_teardown(
            test_a_half_closed_client_whose_replies_stall_is_dropped_too, start_output_timeout,
            stop_server),
        cmocka_unit_test_setup_teardown(test_half_sent_messages_are_held_only_within_the_budget,
                                        start_small_budget, stop_server),
        cmocka_unit_test_setup_teardown(test_queued_requests_are_charged_their_decoded_size,
                                        start_small_budget, stop_server),
    };
    int failed = cmocka_run_group_tests_name("memory_bounds", tests, NULL, NULL);
    return failed + testsrv_problems();
}
