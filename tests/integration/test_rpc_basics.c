/* test_rpc_basics.c - integration: the server.* methods answer with the
 * documented shapes, and thousands of pipelined requests on one connection
 * are each answered exactly once with their own msgid. One noormd-test for
 * the whole file. */
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

#define PIPELINED 10000

static testsrv_t srv;

static int start_server(void **state)
{
    (void)state;
    return testsrv_start(&srv, NOORMD_TEST_BIN, NULL);
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

static uint64_t stat_u64(const msgpack_object *stats, const char *a, const char *b, const char *c)
{
    const msgpack_object *o = rpcc_dig(stats, a, b, c, NULL);
    uint64_t v = 0;
    if (!rpcc_obj_u64(o, &v)) {
        rpcc_print("stats", stats);
        fail_msg("server.stats has no unsigned integer at %s%s%s%s%s", a, b ? "." : "", b ? b : "",
                 c ? "." : "", c ? c : "");
    }
    return v;
}

static void test_ping_answers_pong_for_any_msgid(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    assert_int_equal(rpcc_ping(&c, 0, RPCC_TIMEOUT_MS), 0);
    assert_int_equal(rpcc_ping(&c, 1, RPCC_TIMEOUT_MS), 0);
    assert_int_equal(rpcc_ping(&c, UINT32_MAX, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

static void test_ping_with_empty_params_array_answers_pong(void **state)
{
    (void)state;
    /* [0, 9, "server.ping", []]: an empty params array means no arguments. */
    static const uint8_t req[] = {0x94, 0x00, 0x09, 0xab, 's', 'e', 'r', 'v',
                                  'e',  'r',  '.',  'p',  'i', 'n', 'g', 0x90};
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    assert_int_equal(rpcc_send(&c, req, sizeof req, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_unpacked u;
    const msgpack_object *res = rpcc_expect_result(&c, 9, &u, RPCC_TIMEOUT_MS);
    assert_non_null(res);
    assert_true(rpcc_obj_str_eq(res, "pong"));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

static void test_version_reports_server_protocol_and_sqlite(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_unpacked u;
    const msgpack_object *v = rpcc_call(&c, 1, "server.version", NULL, 0, &u, RPCC_TIMEOUT_MS);
    assert_non_null(v);
    assert_int_equal(v->type, MSGPACK_OBJECT_MAP);
    const msgpack_object *server = rpcc_map_get(v, "server");
    assert_non_null(server);
    assert_int_equal(server->type, MSGPACK_OBJECT_STR);
    assert_true(server->via.str.size > 0);
    uint64_t protocol = 0;
    assert_true(rpcc_obj_u64(rpcc_map_get(v, "protocol"), &protocol));
    assert_int_equal(protocol, 1);
    const msgpack_object *sqlite = rpcc_map_get(v, "sqlite");
    assert_non_null(sqlite);
    assert_int_equal(sqlite->type, MSGPACK_OBJECT_STR);
    assert_true(sqlite->via.str.size > 2 && memcmp(sqlite->via.str.ptr, "3.", 2) == 0);
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

static void test_stats_count_connections_pings_writes_and_storage(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_unpacked u0, u1;
    const msgpack_object *s0 = rpcc_call(&c, 1, "server.stats", NULL, 0, &u0, RPCC_TIMEOUT_MS);
    assert_non_null(s0);
    uint64_t pings0 = 0;
    rpcc_obj_u64(rpcc_dig(s0, "methods", "server.ping", "count", NULL), &pings0);
    uint64_t batches0 = stat_u64(s0, "writer", "batches_committed", NULL);
    uint64_t writes0 = stat_u64(s0, "writer", "writes_committed", NULL);

    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(rpcc_ping(&c, 10 + i, RPCC_TIMEOUT_MS), 0);
    for (uint32_t i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "stats-%u", (unsigned)i);
        rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_STR("value", "v")};
        msgpack_unpacked w;
        const msgpack_object *ok =
            rpcc_call(&c, 20 + i, "test.write", args, RPCC_NARGS(args), &w, RPCC_TIMEOUT_MS);
        assert_non_null(ok);
        assert_true(ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean);
        msgpack_unpacked_destroy(&w);
    }

    const msgpack_object *s1 = rpcc_call(&c, 2, "server.stats", NULL, 0, &u1, RPCC_TIMEOUT_MS);
    assert_non_null(s1);
    assert_int_equal(s1->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(stat_u64(s1, "connections", "current", NULL), 1);
    assert_true(stat_u64(s1, "connections", "accepted", NULL) >= 1);
    assert_int_equal(stat_u64(s1, "connections", "max", NULL), 1024);
    stat_u64(s1, "connections", "refused", NULL);
    stat_u64(s1, "connections", "dropped", NULL);
    stat_u64(s1, "requests", "protocol_errors", NULL);
    stat_u64(s1, "uptime_ms", NULL, NULL);
    assert_int_equal(stat_u64(s1, "methods", "server.ping", "count"), pings0 + 5);
    assert_true(stat_u64(s1, "methods", "test.write", "count") >= 3);
    assert_true(stat_u64(s1, "writer", "batches_committed", NULL) >= batches0 + 1);
    assert_true(stat_u64(s1, "writer", "writes_committed", NULL) >= writes0 + 3);
    stat_u64(s1, "writer", "queue_depth", NULL);
    assert_true(stat_u64(s1, "storage", "db_bytes", NULL) > 0);
    stat_u64(s1, "storage", "wal_bytes", NULL);
    assert_true(rpcc_obj_str_eq(rpcc_dig(s1, "storage", "synchronous", NULL), "full"));
    const msgpack_object *p99 = rpcc_dig(s1, "methods", "server.ping", "p99_us", NULL);
    assert_non_null(p99);
    assert_true(p99->type == MSGPACK_OBJECT_FLOAT64 || p99->type == MSGPACK_OBJECT_FLOAT32);
    msgpack_unpacked_destroy(&u0);
    msgpack_unpacked_destroy(&u1);
    rpcc_close(&c);
}

typedef enum { KIND_PING, KIND_GET, KIND_WRITE } req_kind_t;

/* Request i (1-based) of the pipelining tests: mostly pings, with reads and
 * writes mixed in when `mixed`, so writes (answered after their commit)
 * overtake nothing and reads overtake writes. */
static req_kind_t kind_of(uint32_t i, bool mixed)
{
    if (!mixed)
        return KIND_PING;
    if (i % 20 == 0)
        return KIND_WRITE;
    if (i % 3 == 0)
        return KIND_GET;
    return KIND_PING;
}

static void pack_nth(msgpack_sbuffer *sb, uint32_t i, bool mixed)
{
    char key[32];
    snprintf(key, sizeof key, "pipe-%u", (unsigned)(i % 50));
    switch (kind_of(i, mixed)) {
    case KIND_PING: rpcc_pack_request(sb, i, "server.ping", NULL, 0); break;
    case KIND_GET: {
        rpcc_arg_t args[] = {RPCC_STR("key", key)};
        rpcc_pack_request(sb, i, "test.get", args, RPCC_NARGS(args));
        break;
    }
    case KIND_WRITE: {
        rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_STR("value", "pipelined")};
        rpcc_pack_request(sb, i, "test.write", args, RPCC_NARGS(args));
        break;
    }
    }
}

/* Checks one answer of a pipelining test and marks its msgid answered. */
static void check_answer(const msgpack_object *msg, bool *seen, bool mixed)
{
    uint32_t id;
    const msgpack_object *err, *res;
    if (!rpcc_response_parts(msg, &id, &err, &res)) {
        rpcc_print("not a response", msg);
        fail_msg("pipelined answer is not a response");
    }
    if (id < 1 || id > PIPELINED)
        fail_msg("answer for msgid %u, which was never sent", (unsigned)id);
    if (seen[id])
        fail_msg("msgid %u answered twice", (unsigned)id);
    seen[id] = true;
    if (err->type != MSGPACK_OBJECT_NIL) {
        rpcc_print("error", err);
        fail_msg("request %u failed", (unsigned)id);
    }
    switch (kind_of(id, mixed)) {
    case KIND_PING:
        if (!rpcc_obj_str_eq(res, "pong"))
            rpcc_print("answer", msg);
        if (!rpcc_obj_str_eq(res, "pong"))
            fail_msg("ping %u not answered with pong", (unsigned)id);
        break;
    case KIND_GET:
        if (res->type != MSGPACK_OBJECT_NIL && !rpcc_obj_bytes_eq(res, "pipelined", 9))
            fail_msg("test.get %u returned neither nil nor the written value", (unsigned)id);
        break;
    case KIND_WRITE:
        if (res->type != MSGPACK_OBJECT_BOOLEAN || !res->via.boolean)
            fail_msg("test.write %u not answered with true", (unsigned)id);
        break;
    }
}

/* Reads answers until `*answered` reaches PIPELINED, then checks no answer
 * is left over: a write and then a ping are sent as a barrier, and the next
 * two messages must be their answers. The write queues behind every earlier
 * write, and the ping is answered after it, so a stray extra answer would
 * have to arrive before them - where waiting any fixed time for "nothing
 * more" could miss it on a slow machine. */
static void read_remaining(rpcc_t *c, bool *seen, int *answered, bool mixed)
{
    while (*answered < PIPELINED) {
        msgpack_unpacked u;
        int r = rpcc_read(c, &u, RPCC_TIMEOUT_MS);
        if (r != RPCC_OK)
            fail_msg("after %d answers of %d: %s", *answered, PIPELINED, rpcc_status_name(r));
        check_answer(&u.data, seen, mixed);
        msgpack_unpacked_destroy(&u);
        (*answered)++;
    }
    for (uint32_t i = 1; i <= PIPELINED; i++)
        assert_true(seen[i]);
    msgpack_unpacked u;
    rpcc_arg_t args[] = {RPCC_STR("key", "pipe-barrier"), RPCC_STR("value", "b")};
    const msgpack_object *res =
        rpcc_call(c, PIPELINED + 1, "test.write", args, RPCC_NARGS(args), &u, RPCC_TIMEOUT_MS);
    assert_true(res && res->type == MSGPACK_OBJECT_BOOLEAN && res->via.boolean);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(rpcc_ping(c, PIPELINED + 2, RPCC_TIMEOUT_MS), 0);
}

static void test_ten_thousand_pipelined_pings_sent_before_reading_answered_once_each(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t i = 1; i <= PIPELINED; i++)
        pack_nth(&sb, i, false);
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, 20000), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);

    bool *seen = calloc(PIPELINED + 1, sizeof *seen);
    assert_non_null(seen);
    int answered = 0;
    read_remaining(&c, seen, &answered, false);
    free(seen);
    rpcc_close(&c);
}

static void test_ten_thousand_mixed_requests_interleaved_with_reads_answered_once_each(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    bool *seen = calloc(PIPELINED + 1, sizeof *seen);
    assert_non_null(seen);
    int answered = 0;
    for (uint32_t first = 1; first <= PIPELINED; first += 100) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        for (uint32_t i = first; i < first + 100 && i <= PIPELINED; i++)
            pack_nth(&sb, i, true);
        assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
        msgpack_sbuffer_destroy(&sb);
        /* Take whatever has arrived, without waiting. */
        for (int k = 0; k < PIPELINED && answered < PIPELINED; k++) {
            msgpack_unpacked u;
            int r = rpcc_read(&c, &u, 0);
            if (r == RPCC_OK) {
                check_answer(&u.data, seen, true);
                answered++;
            }
            msgpack_unpacked_destroy(&u);
            if (r == RPCC_TIMEOUT)
                break;
            assert_int_equal(r, RPCC_OK);
        }
    }
    read_remaining(&c, seen, &answered, true);
    free(seen);
    rpcc_close(&c);
}

static void test_requests_before_client_half_close_are_all_answered_then_closed(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t i = 1; i <= 100; i++) {
        if (i % 10 == 0) {
            char key[32];
            snprintf(key, sizeof key, "half-close-%u", (unsigned)i);
            rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_STR("value", "v")};
            rpcc_pack_request(&sb, i, "test.write", args, RPCC_NARGS(args));
        } else {
            rpcc_pack_request(&sb, i, "server.ping", NULL, 0);
        }
    }
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    /* EOF from the client: the server answers what it was asked, then
     * closes (writes are answered after their commit). */
    assert_int_equal(rpcc_shutdown_write(&c), 0);
    bool seen[101] = {false};
    for (int n = 0; n < 100; n++) {
        msgpack_unpacked u;
        int r = rpcc_read(&c, &u, RPCC_TIMEOUT_MS);
        if (r != RPCC_OK)
            fail_msg("%d of 100 answers after the half-close, then %s", n, rpcc_status_name(r));
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        assert_true(id >= 1 && id <= 100 && !seen[id]);
        assert_int_equal(err->type, MSGPACK_OBJECT_NIL);
        seen[id] = true;
        msgpack_unpacked_destroy(&u);
    }
    assert_int_equal(rpcc_expect_closed(&c, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

static void test_write_notification_is_applied_without_an_answer(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    /* [2, "test.write", [{key, value}]] */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, 2);
    msgpack_pack_str_with_body(&pk, "test.write", 10);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "key", 3);
    msgpack_pack_str_with_body(&pk, "notified", 8);
    msgpack_pack_str_with_body(&pk, "value", 5);
    msgpack_pack_str_with_body(&pk, "by notification", 15);
    /* A write request behind it: the writer runs writes in order, so once
     * this one is answered the notification's write has committed. */
    rpcc_arg_t args[] = {RPCC_STR("key", "after-notify"), RPCC_STR("value", "v")};
    rpcc_pack_request(&sb, 1, "test.write", args, RPCC_NARGS(args));
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked u;
    /* The first message must be the request's answer: nothing for the
     * notification. */
    assert_non_null(rpcc_expect_result(&c, 1, &u, RPCC_TIMEOUT_MS));
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t get_args[] = {RPCC_STR("key", "notified")};
    const msgpack_object *v =
        rpcc_call(&c, 2, "test.get", get_args, RPCC_NARGS(get_args), &u, RPCC_TIMEOUT_MS);
    assert_true(rpcc_obj_bytes_eq(v, "by notification", 15));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

static void test_largest_value_round_trips_and_one_byte_more_is_limit_exceeded(void **state)
{
    (void)state;
    enum { VALUE_MAX = 65536, BIG_WRITES = 20 };
    static uint8_t value[VALUE_MAX + 1];
    for (size_t i = 0; i < sizeof value; i++)
        value[i] = (uint8_t)(i * 7 + 3);
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    /* Twenty messages larger than the server's 64 KiB read chunk, in one
     * burst: each spans reads and is followed by the next one's bytes. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t i = 0; i < BIG_WRITES; i++) {
        char key[32];
        snprintf(key, sizeof key, "big-%u", (unsigned)i);
        value[0] = (uint8_t)i;
        rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_BIN("value", value, VALUE_MAX)};
        rpcc_pack_request(&sb, 1 + i, "test.write", args, RPCC_NARGS(args));
        rpcc_pack_request(&sb, 101 + i, "server.ping", NULL, 0);
    }
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, 20000), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    for (int n = 0; n < 2 * BIG_WRITES; n++) {
        msgpack_unpacked u;
        int r = rpcc_read(&c, &u, RPCC_TIMEOUT_MS);
        if (r != RPCC_OK)
            fail_msg("%d of %d answers, then %s", n, 2 * BIG_WRITES, rpcc_status_name(r));
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        if (err->type != MSGPACK_OBJECT_NIL)
            rpcc_print("error", err);
        assert_int_equal(err->type, MSGPACK_OBJECT_NIL);
        msgpack_unpacked_destroy(&u);
    }
    for (uint32_t i = 0; i < BIG_WRITES; i++) {
        char key[32];
        snprintf(key, sizeof key, "big-%u", (unsigned)i);
        value[0] = (uint8_t)i;
        rpcc_arg_t args[] = {RPCC_STR("key", key)};
        msgpack_unpacked u;
        const msgpack_object *v =
            rpcc_call(&c, 200 + i, "test.get", args, RPCC_NARGS(args), &u, RPCC_TIMEOUT_MS);
        if (!rpcc_obj_bytes_eq(v, value, VALUE_MAX))
            fail_msg("%s does not read back as the %d bytes written", key, VALUE_MAX);
        msgpack_unpacked_destroy(&u);
    }
    rpcc_arg_t over[] = {RPCC_STR("key", "too-big"), RPCC_BIN("value", value, VALUE_MAX + 1)};
    assert_int_equal(
        rpcc_send_request(&c, 300, "test.write", over, RPCC_NARGS(over), RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_unpacked u;
    const msgpack_object *err = rpcc_expect_error(&c, 300, "LIMIT_EXCEEDED", &u, RPCC_TIMEOUT_MS);
    assert_non_null(err);
    assert_true(rpcc_obj_str_eq(rpcc_map_get(rpcc_error_details(err), "field"), "value"));
    msgpack_unpacked_destroy(&u);
    assert_int_equal(rpcc_ping(&c, 301, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_answers_pong_for_any_msgid),
        cmocka_unit_test(test_ping_with_empty_params_array_answers_pong),
        cmocka_unit_test(test_version_reports_server_protocol_and_sqlite),
        cmocka_unit_test(test_stats_count_connections_pings_writes_and_storage),
        cmocka_unit_test(test_ten_thousand_pipelined_pings_sent_before_reading_answered_once_each),
        cmocka_unit_test(
            test_ten_thousand_mixed_requests_interleaved_with_reads_answered_once_each),
        cmocka_unit_test(test_requests_before_client_half_close_are_all_answered_then_closed),
        cmocka_unit_test(test_write_notification_is_applied_without_an_answer),
        cmocka_unit_test(test_largest_value_round_trips_and_one_byte_more_is_limit_exceeded),
    };
    int failed = cmocka_run_group_tests_name("rpc_basics", tests, start_server, stop_server);
    return failed + testsrv_problems();
}
