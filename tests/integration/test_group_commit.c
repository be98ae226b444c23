/* test_group_commit.c - integration: the single writer commits many
 * concurrent writes in few transactions, acknowledges each only once it is
 * durable, and a write that fails inside a batch is undone alone (its
 * savepoint) while its batch-mates commit. Each test has its own server, so
 * counts start from zero. */
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

#define NCONN    50
#define PER_CONN 20
#define TOTAL    (NCONN * PER_CONN)

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

typedef struct {
    uint64_t batches; /* writer.batches_committed */
    uint64_t writes;  /* writer.writes_committed */
    uint64_t failed;  /* writer.writes_failed */
    uint64_t largest; /* writer.largest_batch */
} writer_counts_t;

static writer_counts_t writer_counts(rpcc_t *c, uint32_t msgid)
{
    msgpack_unpacked u;
    const msgpack_object *s = rpcc_call(c, msgid, "server.stats", NULL, 0, &u, RPCC_TIMEOUT_MS);
    writer_counts_t w;
    bool ok = rpcc_obj_u64(rpcc_dig(s, "writer", "batches_committed", NULL), &w.batches) &&
              rpcc_obj_u64(rpcc_dig(s, "writer", "writes_committed", NULL), &w.writes) &&
              rpcc_obj_u64(rpcc_dig(s, "writer", "writes_failed", NULL), &w.failed) &&
              rpcc_obj_u64(rpcc_dig(s, "writer", "largest_batch", NULL), &w.largest);
    msgpack_unpacked_destroy(&u);
    if (!ok)
        fail_msg("server.stats lacks the writer counters");
    return w;
}

static void key_of(char *key, size_t n, int conn, unsigned i)
{
    snprintf(key, n, "gc-%02d-%02u", conn, i);
}

static void value_of(char *val, size_t n, int conn, unsigned i)
{
    snprintf(val, n, "value of write %u on connection %d", i, conn);
}

static uint64_t count_rows(rpcc_t *c, uint32_t msgid)
{
    msgpack_unpacked u;
    const msgpack_object *n = rpcc_call(c, msgid, "test.count", NULL, 0, &u, RPCC_TIMEOUT_MS);
    uint64_t v = 0;
    bool ok = rpcc_obj_u64(n, &v);
    msgpack_unpacked_destroy(&u);
    if (!ok)
        fail_msg("test.count did not answer a count");
    return v;
}

static void test_thousand_concurrent_writes_all_acknowledged_in_few_batches(void **state)
{
    (void)state;
    static rpcc_t c[NCONN];
    for (int k = 0; k < NCONN; k++)
        rpcc_connect_or_fail(&c[k], srv.socket_path);
    writer_counts_t before = writer_counts(&c[0], 1);

    /* Every connection puts all its writes in flight before any answer is
     * read: 1,000 writes queue at the writer at once. */
    for (int k = 0; k < NCONN; k++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        for (unsigned i = 0; i < PER_CONN; i++) {
            char key[32], val[64];
            key_of(key, sizeof key, k, i);
            value_of(val, sizeof val, k, i);
            rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_STR("value", val)};
            rpcc_pack_request(&sb, 100 + i, "test.write", args, RPCC_NARGS(args));
        }
        assert_int_equal(rpcc_send(&c[k], sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
        msgpack_sbuffer_destroy(&sb);
    }
    for (int k = 0; k < NCONN; k++) {
        bool seen[PER_CONN] = {false};
        for (int n = 0; n < PER_CONN; n++) {
            msgpack_unpacked u;
            int r = rpcc_read(&c[k], &u, 10000);
            if (r != RPCC_OK)
                fail_msg("connection %d: %d of %d acknowledgements, then %s", k, n, PER_CONN,
                         rpcc_status_name(r));
            uint32_t id;
            const msgpack_object *err, *res;
            if (!rpcc_response_parts(&u.data, &id, &err, &res) || id < 100 ||
                id >= 100 + PER_CONN || seen[id - 100] || err->type != MSGPACK_OBJECT_NIL ||
                res->type != MSGPACK_OBJECT_BOOLEAN || !res->via.boolean) {
                rpcc_print("answer", &u.data);
                fail_msg("connection %d: not a fresh true acknowledgement", k);
            }
            seen[id - 100] = true;
            msgpack_unpacked_destroy(&u);
        }
    }

    writer_counts_t after = writer_counts(&c[0], 2);
    assert_int_equal(count_rows(&c[0], 3), TOTAL);
    assert_true(after.writes - before.writes >= TOTAL);
    /* Group commit: far fewer transactions than writes. */
    uint64_t batches = after.batches - before.batches;
    if (batches >= TOTAL)
        fail_msg("%llu batches for %d writes: no group commit", (unsigned long long)batches, TOTAL);
    assert_true(batches >= 1);
    assert_true(after.largest > 1);

    /* Every value reads back, pipelined on one connection. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int k = 0; k < NCONN; k++) {
        for (unsigned i = 0; i < PER_CONN; i++) {
            char key[32];
            key_of(key, sizeof key, k, i);
            rpcc_arg_t args[] = {RPCC_STR("key", key)};
            rpcc_pack_request(&sb, (uint32_t)(k * PER_CONN + i), "test.get", args,
                              RPCC_NARGS(args));
        }
    }
    assert_int_equal(rpcc_send(&c[1], sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    for (uint32_t want = 0; want < TOTAL; want++) {
        msgpack_unpacked u;
        const msgpack_object *v = rpcc_expect_result(&c[1], want, &u, RPCC_TIMEOUT_MS);
        char val[64];
        value_of(val, sizeof val, (int)(want / PER_CONN), want % PER_CONN);
        if (!rpcc_obj_bytes_eq(v, val, strlen(val))) {
            rpcc_print("test.get answered", v);
            fail_msg("value of write %u on connection %u is wrong", want % PER_CONN,
                     want / PER_CONN);
        }
        msgpack_unpacked_destroy(&u);
    }
    for (int k = 0; k < NCONN; k++)
        rpcc_close(&c[k]);
}

static void test_failing_write_is_undone_alone_and_its_batch_mates_commit(void **state)
{
    (void)state;
    enum { N = 20, HOLD_MS = 1000 };
    rpcc_t c, watch;
    rpcc_connect_or_fail(&c, srv.socket_path);
    rpcc_connect_or_fail(&watch, srv.socket_path);
    writer_counts_t before = writer_counts(&c, 1);

    /* Hold the writer, then queue N writes behind it: they are taken as one
     * batch when the sleep ends. Every third one asks to fail. The writes
     * are sent once the sleep is in the writer's queue (asked on another
     * connection, so no answer interleaves with c's). The hold only has to
     * outlast that round trip and one send. */
    rpcc_arg_t sleep_args[] = {RPCC_INT("ms", HOLD_MS)};
    assert_int_equal(
        rpcc_send_request(&c, 2, "test.sleep", sleep_args, RPCC_NARGS(sleep_args), RPCC_TIMEOUT_MS),
        RPCC_OK);
    assert_int_equal(
        wait_for_stat(&watch, "writer/queue_depth", WAIT_GE, 1, WAIT_DEADLINE_MS, NULL), 0);
    rpcc_close(&watch);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (unsigned i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "mix-%02u", i);
        rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_STR("value", key),
                             RPCC_BOOL("fail", i % 3 == 0)};
        rpcc_pack_request(&sb, 100 + i, "test.write", args, RPCC_NARGS(args));
    }
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);

    msgpack_unpacked u;
    const msgpack_object *slept = rpcc_expect_result(&c, 2, &u, RPCC_TIMEOUT_MS);
    assert_true(slept && slept->type == MSGPACK_OBJECT_BOOLEAN && slept->via.boolean);
    msgpack_unpacked_destroy(&u);
    bool seen[N] = {false};
    for (int n = 0; n < N; n++) {
        int r = rpcc_read(&c, &u, RPCC_TIMEOUT_MS);
        if (r != RPCC_OK)
            fail_msg("%d of %d answers, then %s", n, N, rpcc_status_name(r));
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        assert_true(id >= 100 && id < 100 + N && !seen[id - 100]);
        seen[id - 100] = true;
        if ((id - 100) % 3 == 0) {
            assert_true(rpcc_error_is(err, "CONFLICT"));
            assert_int_equal(res->type, MSGPACK_OBJECT_NIL);
        } else {
            if (err->type != MSGPACK_OBJECT_NIL)
                rpcc_print("error", err);
            assert_int_equal(err->type, MSGPACK_OBJECT_NIL);
            assert_true(res->type == MSGPACK_OBJECT_BOOLEAN && res->via.boolean);
        }
        msgpack_unpacked_destroy(&u);
    }

    /* The failed writes are absent, the others present. */
    for (unsigned i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "mix-%02u", i);
        rpcc_arg_t args[] = {RPCC_STR("key", key)};
        const msgpack_object *v =
            rpcc_call(&c, 200 + i, "test.get", args, RPCC_NARGS(args), &u, RPCC_TIMEOUT_MS);
        assert_non_null(v);
        if (i % 3 == 0) {
            if (v->type != MSGPACK_OBJECT_NIL)
                fail_msg("%s failed with CONFLICT but its row is present", key);
        } else if (!rpcc_obj_bytes_eq(v, key, strlen(key))) {
            fail_msg("%s committed but does not read back", key);
        }
        msgpack_unpacked_destroy(&u);
    }
    unsigned failing = (N + 2) / 3;
    assert_int_equal(count_rows(&c, 300), N - failing);

    /* Failures and successes shared a transaction: the N + 1 jobs (the
     * sleep and the writes) went into at most two batches, so one of them
     * held at least N / 2 consecutive writes, every third one failing.
     * Usually the batches are the sleep alone, then all N writes; but the
     * writer thread, when slow to wake (a busy machine), finds the sleep
     * and the first writes queued together and takes them as one batch.
     * Both are group commit. A third batch would mean the hold ended
     * before every write was queued. */
    writer_counts_t after = writer_counts(&c, 301);
    uint64_t batches = after.batches - before.batches;
    if (batches > 2)
        fail_msg("%llu batches (largest %llu) for the sleep and %d writes: did the %d ms hold end "
                 "before they were all queued?",
                 (unsigned long long)batches, (unsigned long long)after.largest, N, HOLD_MS);
    assert_true(after.largest >= (N + 2) / 2);
    assert_int_equal(after.failed - before.failed, failing);
    rpcc_close(&c);
}

static void test_writes_of_a_client_that_hangs_up_still_commit(void **state)
{
    (void)state;
    enum { N = 30 };
    rpcc_t gone, watcher;
    rpcc_connect_or_fail(&gone, srv.socket_path);
    rpcc_connect_or_fail(&watcher, srv.socket_path);
    /* The writer is held while the client queues writes and hangs up: the
     * answers have nowhere to go, but the writes were accepted. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_arg_t sleep_args[] = {RPCC_INT("ms", 200)};
    rpcc_pack_request(&sb, 1, "test.sleep", sleep_args, RPCC_NARGS(sleep_args));
    for (unsigned i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "hangup-%02u", i);
        rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_STR("value", key)};
        rpcc_pack_request(&sb, 2 + i, "test.write", args, RPCC_NARGS(args));
    }
    /* A read, answered at once: the server has read everything before it. */
    rpcc_pack_request(&sb, 999, "server.ping", NULL, 0);
    assert_int_equal(rpcc_send(&gone, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked u;
    const msgpack_object *pong = rpcc_expect_result(&gone, 999, &u, RPCC_TIMEOUT_MS);
    assert_true(rpcc_obj_str_eq(pong, "pong"));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&gone);

    /* A write from the watcher queues behind them all (the writer keeps
     * order): once it is answered, theirs are done. */
    rpcc_arg_t args[] = {RPCC_STR("key", "watcher"), RPCC_STR("value", "w")};
    assert_non_null(rpcc_call(&watcher, 1, "test.write", args, RPCC_NARGS(args), &u, 10000));
    msgpack_unpacked_destroy(&u);
    assert_int_equal(count_rows(&watcher, 2), N + 1);
    assert_int_equal(rpcc_ping(&watcher, 3, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&watcher);
}

static void test_write_before_a_protocol_error_is_committed_and_answered(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_arg_t args[] = {RPCC_STR("key", "before-error"), RPCC_STR("value", "kept")};
    rpcc_pack_request(&sb, 7, "test.write", args, RPCC_NARGS(args));
    msgpack_sbuffer_write(&sb, "\xc1", 1);
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);

    /* Two messages, in either order: the protocol error for the bad byte,
     * and the write's acknowledgement once it commits. Then the close. */
    bool acked = false, failed = false;
    for (int n = 0; n < 2; n++) {
        msgpack_unpacked u;
        int r = rpcc_read(&c, &u, RPCC_TIMEOUT_MS);
        if (r != RPCC_OK)
            fail_msg("message %d of 2: %s", n + 1, rpcc_status_name(r));
        uint32_t id;
        const msgpack_object *err, *res;
        const msgpack_object *fatal = rpcc_notify_error(&u.data);
        if (fatal && !failed && rpcc_error_is(fatal, "PARSE_ERROR")) {
            failed = true;
        } else if (rpcc_response_parts(&u.data, &id, &err, &res) && id == 7 && !acked &&
                   err->type == MSGPACK_OBJECT_NIL && res->type == MSGPACK_OBJECT_BOOLEAN &&
                   res->via.boolean) {
            acked = true;
        } else {
            rpcc_print("unexpected", &u.data);
            fail_msg("expected PARSE_ERROR and the acknowledgement of write 7");
        }
        msgpack_unpacked_destroy(&u);
    }
    assert_int_equal(rpcc_expect_closed(&c, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);

    rpcc_connect_or_fail(&c, srv.socket_path);
    rpcc_arg_t get_args[] = {RPCC_STR("key", "before-error")};
    msgpack_unpacked u;
    const msgpack_object *v =
        rpcc_call(&c, 1, "test.get", get_args, RPCC_NARGS(get_args), &u, RPCC_TIMEOUT_MS);
    assert_true(rpcc_obj_bytes_eq(v, "kept", 4));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

static int start_server_small_write_queue(void **state)
{
    (void)state;
    const char *const args[] = {"--write-queue", "1m", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static void test_writes_past_the_write_queue_cap_get_unavailable_and_nothing_else(void **state)
{
    (void)state;
    enum { N = 30, HOLD_MS = 2000 };
    static char value[60000];
    memset(value, 'q', sizeof value);
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    /* The writer is held, so 30 writes of ~60 KB (1.8 MB) pile up against
     * a 1 MiB queue: the first ones queue, the rest are refused at once.
     * The hold has to outlast reading the 1.8 MB; nothing can end it
     * early, so it is long rather than tight, and the answers show whether
     * it was long enough (every refusal comes before the sleep's answer). */
    rpcc_arg_t sleep_args[] = {RPCC_INT("ms", HOLD_MS)};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_pack_request(&sb, 1, "test.sleep", sleep_args, RPCC_NARGS(sleep_args));
    for (unsigned i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "queued-%02u", i);
        rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_BIN("value", value, sizeof value)};
        rpcc_pack_request(&sb, 100 + i, "test.write", args, RPCC_NARGS(args));
    }
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, 10000), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);

    unsigned accepted = 0, refused = 0, last_accepted = 0, first_refused = N;
    bool slept = false, refused_after_sleep = false;
    for (int n = 0; n < N + 1; n++) {
        msgpack_unpacked u;
        int r = rpcc_read(&c, &u, 10000);
        if (r != RPCC_OK)
            fail_msg("%d of %d answers, then %s", n, N + 1, rpcc_status_name(r));
        uint32_t id;
        const msgpack_object *err, *res;
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        if (id == 1) {
            slept = err->type == MSGPACK_OBJECT_NIL;
        } else if (err->type == MSGPACK_OBJECT_NIL) {
            assert_true(res->type == MSGPACK_OBJECT_BOOLEAN && res->via.boolean);
            accepted++;
            if (id - 100 > last_accepted)
                last_accepted = id - 100;
        } else {
            assert_true(rpcc_error_is(err, "UNAVAILABLE"));
            refused++;
            refused_after_sleep = refused_after_sleep || slept;
            if (id - 100 < first_refused)
                first_refused = id - 100;
        }
        msgpack_unpacked_destroy(&u);
    }
    assert_true(slept);
    assert_int_equal(accepted + refused, N);
    if (refused_after_sleep)
        fail_msg("a refusal came after the writer's %d ms hold ended: the server had not read "
                 "every write by then, so the queue was drained while they arrived",
                 HOLD_MS);
    if (accepted < 10 || refused < 10)
        fail_msg("%u writes queued and %u refused; a 1 MiB queue holds about 17 of 60 KB", accepted,
                 refused);
    /* Refusals start where the queue filled: no write after it slipped in. */
    assert_true(last_accepted < first_refused);
    assert_int_equal(count_rows(&c, 2), accepted);

    msgpack_unpacked u;
    const msgpack_object *stats = rpcc_call(&c, 3, "server.stats", NULL, 0, &u, RPCC_TIMEOUT_MS);
    uint64_t queued = 1;
    assert_true(rpcc_obj_u64(rpcc_dig(stats, "writer", "queue_bytes", NULL), &queued));
    assert_int_equal(queued, 0);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(rpcc_ping(&c, 4, RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
}

static int start_server_small_wal(void **state)
{
    (void)state;
    const char *const args[] = {"--wal-limit", "1m", "--checkpoint-idle-ms", "50", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static uint64_t wal_bytes(rpcc_t *c, uint32_t msgid)
{
    msgpack_unpacked u;
    const msgpack_object *stats = rpcc_call(c, msgid, "server.stats", NULL, 0, &u, RPCC_TIMEOUT_MS);
    uint64_t n = 0;
    assert_true(stats && rpcc_obj_u64(rpcc_dig(stats, "storage", "wal_bytes", NULL), &n));
    msgpack_unpacked_destroy(&u);
    return n;
}

static void test_wal_is_cut_back_to_the_limit_after_an_idle_checkpoint(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    /* About 3 MiB of writes: the WAL grows well past the 1 MiB limit. */
    static char value[60000];
    memset(value, 'w', sizeof value);
    enum { N = 52 };
    for (uint32_t i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "wal-%u", i);
        rpcc_arg_t args[] = {RPCC_STR("key", key), RPCC_STRN("value", value, sizeof value)};
        assert_int_equal(
            rpcc_send_request(&c, i + 1, "test.write", args, RPCC_NARGS(args), RPCC_TIMEOUT_MS),
            RPCC_OK);
    }
    for (uint32_t i = 0; i < N; i++) {
        msgpack_unpacked u;
        assert_non_null(rpcc_expect_result(&c, i + 1, &u, RPCC_TIMEOUT_MS));
        msgpack_unpacked_destroy(&u);
    }
    uint64_t grown = wal_bytes(&c, 100);
    assert_true(grown > (1u << 20));
    /* Idle for 50 ms after a commit, the writer checkpoints; the next write
     * restarts the WAL and SQLite truncates it to journal_size_limit. The
     * counter cannot say whether the checkpoint after the last big write
     * has run yet (it may have before the counter is read), but every
     * commit is followed by one: so write, look, and while the WAL is
     * still big, wait for the checkpoint this small write brings and write
     * again. The second round always follows a checkpoint after the big
     * writes. */
    uint64_t after = grown;
    for (uint32_t round = 0; round < 3 && after > (1u << 20); round++) {
        uint64_t checkpoints = 0;
        assert_int_equal(wait_stat_u64(&c, "writer/idle_checkpoints", &checkpoints), 0);
        /* A new key each round: rewriting a row with the same bytes
         * leaves its page clean, no WAL frame is written, and only a
         * frame restarts the WAL. */
        char key[32];
        snprintf(key, sizeof key, "wal-after-%u", (unsigned)round);
        rpcc_arg_t small[] = {RPCC_STR("key", key), RPCC_STR("value", "v")};
        msgpack_unpacked u;
        assert_non_null(rpcc_call(&c, 101 + 2 * round, "test.write", small, RPCC_NARGS(small), &u,
                                  RPCC_TIMEOUT_MS));
        msgpack_unpacked_destroy(&u);
        after = wal_bytes(&c, 102 + 2 * round);
        if (after > (1u << 20))
            assert_int_equal(wait_for_stat(&c, "writer/idle_checkpoints", WAIT_GT, checkpoints,
                                           WAIT_DEADLINE_MS, NULL),
                             0);
    }
    if (after > (1u << 20))
        fail_msg("WAL is %llu bytes after idle checkpoints (was %llu); limit 1 MiB",
                 (unsigned long long)after, (unsigned long long)grown);
    rpcc_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_thousand_concurrent_writes_all_acknowledged_in_few_batches, start_server,
            stop_server),
        cmocka_unit_test_setup_teardown(
            test_failing_write_is_undone_alone_and_its_batch_mates_commit, start_server,
            stop_server),
        cmocka_unit_test_setup_teardown(test_writes_of_a_client_that_hangs_up_still_commit,
                                        start_server, stop_server),
        cmocka_unit_test_setup_teardown(
            test_write_before_a_protocol_error_is_committed_and_answered, start_server,
            stop_server),
        cmocka_unit_test_setup_teardown(
            test_writes_past_the_write_queue_cap_get_unavailable_and_nothing_else,
            start_server_small_write_queue, stop_server),
        cmocka_unit_test_setup_teardown(test_wal_is_cut_back_to_the_limit_after_an_idle_checkpoint,
                                        start_server_small_wal, stop_server),
    };
    int failed = cmocka_run_group_tests_name("group_commit", tests, NULL, NULL);
    return failed + testsrv_problems();
}
