/* test_alloc_failure.c - issue 7 defect 1: allocation failures anywhere in
 * the server's own code are answered, never crash it, and leak nothing.
 *
 * noormd-test wraps malloc, calloc and realloc (tests/support/methods/
 * failalloc.c). For N = 1, 2, ... the N-th allocation after arming fails
 * while one connection sends a request mix that runs on all three
 * executors (loop reads, the pool, the writer with crypto and extra
 * fields). Each run ends in one of two ways only: every request answered
 * (a result, or an error such as OUT_OF_MEMORY), or the connection closed
 * by the server when its own buffers could not grow (nothing can be sent
 * then). A fresh ping must then work. The sweep goes past the mix's last
 * allocation (a run with nothing failed), and under the ASan build
 * LeakSanitizer checks at exit that no failure path leaked. */
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

#define MIX      8   /* requests per run */
#define MAX_RUNS 400 /* safety bound on the sweep */

static testsrv_t srv;
static rpcc_t ctl; /* opened before any failure is armed, so arming never needs an allocation */
static uint32_t ctl_id;

static int start_server(void **state)
{
    (void)state;
    if (testsrv_start(&srv, NOORMD_TEST_BIN, NULL) != 0)
        return -1;
    return rpcc_connect(&ctl, srv.socket_path);
}

static int stop_server(void **state)
{
    (void)state;
    rpcc_close(&ctl);
    return testsrv_finish(&srv); /* exit status 0: no leak report, no crash */
}

/* Arms (nth > 0) or disarms (nth = 0) the failure; returns the failures
 * injected so far. */
static int64_t fail_allocs(int64_t nth)
{
    rpcc_arg_t args[] = {RPCC_INT("nth", nth), RPCC_INT("count", 1)};
    msgpack_unpacked u;
    const msgpack_object *r =
        rpcc_call(&ctl, ++ctl_id, "test.failAllocs", args, RPCC_NARGS(args), &u, RPCC_TIMEOUT_MS);
    assert_non_null(r);
    int64_t failed = -1;
    assert_true(rpcc_obj_i64(r, &failed));
    msgpack_unpacked_destroy(&u);
    return failed;
}

/* Packs the mix for run `run` onto `sb`. */
static void pack_mix(msgpack_sbuffer *sb, unsigned run)
{
    char user[32], token[48], acct[32];
    snprintf(user, sizeof user, "alloc-user-%u", run);
    snprintf(token, sizeof token, "alloc-session-token-%u", run);
    snprintf(acct, sizeof acct, "alloc-acct-%u", run);
    /* A nested extra field: reading it back unpacks JSON objects and arrays
     * through the JSON reader's scratch buffers. */
    static const char prefs[] = "\x82\xa5"
                                "theme"
                                "\xa4"
                                "dark"
                                "\xa4"
                                "tags"
                                "\x92\xa1"
                                "a"
                                "\xa1"
                                "b";
    rpcc_arg_t create[] = {RPCC_STR("id", user), RPCC_STR("email", user),
                           RPCC_STR("favouriteColour", "teal"),
                           RPCC_RAW("prefs", prefs, sizeof prefs - 1)};
    rpcc_pack_request(sb, 1, "auth.createUser", create, RPCC_NARGS(create));
    rpcc_arg_t session[] = {RPCC_STR("sessionToken", token), RPCC_STR("userId", user),
                            RPCC_TIME("expires", 4102444800000LL)};
    rpcc_pack_request(sb, 2, "auth.createSession", session, RPCC_NARGS(session));
    rpcc_arg_t link[] = {RPCC_STR("provider", "github"),
                         RPCC_STR("providerAccountId", acct),
                         RPCC_STR("userId", user),
                         RPCC_STR("type", "oauth"),
                         RPCC_STR("access_token", "gho_secret"),
                         RPCC_STR("scope", "read")};
    rpcc_pack_request(sb, 3, "auth.linkAccount", link, RPCC_NARGS(link));
    rpcc_arg_t by_id[] = {RPCC_STR("id", user)};
    rpcc_pack_request(sb, 4, "auth.getUser", by_id, RPCC_NARGS(by_id));
    rpcc_arg_t tok[] = {RPCC_STR("sessionToken", token)};
    rpcc_pack_request(sb, 5, "auth.getSessionAndUser", tok, RPCC_NARGS(tok));
    rpcc_arg_t uid[] = {RPCC_STR("userId", user)};
    rpcc_pack_request(sb, 6, "auth.listSessions", uid, RPCC_NARGS(uid));
    rpcc_arg_t key[] = {RPCC_STR("provider", "github"), RPCC_STR("providerAccountId", acct)};
    rpcc_pack_request(sb, 7, "auth.getAccount", key, RPCC_NARGS(key));
    rpcc_pack_request(sb, 8, "server.ping", NULL, 0);
}

typedef struct {
    unsigned answered; /* replies read */
    unsigned errors;   /* ... of which errors */
    unsigned oom;      /* ... of which OUT_OF_MEMORY */
    bool closed;       /* the server closed before answering all */
} outcome_t;

static outcome_t run_mix(unsigned run)
{
    outcome_t o = {0};
    rpcc_t c;
    if (rpcc_connect(&c, srv.socket_path) != RPCC_OK) {
        o.closed = true;
        return o;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_mix(&sb, run);
    int s = rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS);
    msgpack_sbuffer_destroy(&sb);
    bool seen[MIX + 1] = {false};
    while (s == RPCC_OK && o.answered < MIX) {
        msgpack_unpacked u;
        int r = rpcc_read(&c, &u, RPCC_TIMEOUT_MS);
        if (r == RPCC_CLOSED) {
            msgpack_unpacked_destroy(&u);
            o.closed = true;
            break;
        }
        assert_int_equal(r, RPCC_OK); /* a timeout would be a request left unanswered */
        uint32_t id;
        const msgpack_object *err, *res;
        if (rpcc_notify_error(&u.data)) {
            /* A protocol-level refusal (e.g. a message that could not be
             * buffered): the connection closes next. */
            msgpack_unpacked_destroy(&u);
            continue;
        }
        assert_true(rpcc_response_parts(&u.data, &id, &err, &res));
        assert_true(id >= 1 && id <= MIX);
        assert_false(seen[id]);
        seen[id] = true;
        o.answered++;
        if (err->type != MSGPACK_OBJECT_NIL) {
            /* Only two errors are right here: the failure itself, and a
             * foreign key missing because an earlier request of the mix
             * failed. Never CORRUPT, DECRYPT_FAILED, INTERNAL: an
             * allocation failure says nothing about the data or the key. */
            assert_true(rpcc_error_is(err, NULL));
            const msgpack_object *name = &err->via.array.ptr[1];
            bool oom = rpcc_obj_str_eq(name, "OUT_OF_MEMORY");
            if (!oom && !rpcc_obj_str_eq(name, "CONSTRAINT"))
                rpcc_print("an allocation failure answered as", err);
            assert_true(oom || rpcc_obj_str_eq(name, "CONSTRAINT"));
            o.errors++;
            o.oom += oom;
        }
        msgpack_unpacked_destroy(&u);
    }
    if (s != RPCC_OK)
        o.closed = true;
    rpcc_close(&c);
    return o;
}

static void test_every_allocation_failure_is_answered_and_survived(void **state)
{
    (void)state;
    unsigned runs = 0, with_oom = 0, closed = 0, clean = 0;
    int64_t before = fail_allocs(0);
    for (unsigned nth = 1; nth <= MAX_RUNS; nth++) {
        int64_t failed_before = fail_allocs((int64_t)nth);
        outcome_t o = run_mix(nth);
        int64_t failed_after = fail_allocs(0);
        runs++;
        /* The server is alive and serves a new connection. */
        assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), RPCC_OK);
        with_oom += o.oom > 0;
        closed += o.closed;
        if (!o.closed)
            assert_int_equal(o.answered, MIX);
        if (failed_after == failed_before) {
            /* The mix made fewer than nth allocations: nothing failed, so
             * everything succeeded and the sweep has covered them all. */
            assert_false(o.closed);
            assert_int_equal(o.errors, 0);
            clean++;
            break;
        }
    }
    fprintf(stderr,
            "alloc sweep: %u runs, %u with OUT_OF_MEMORY replies, %u closed by the server, "
            "%lld failures injected\n",
            runs, with_oom, closed, (long long)(fail_allocs(0) - before));
    assert_int_equal(clean, 1); /* the sweep reached the end of the mix */
    assert_true(runs > 10);     /* the mix allocates: the sweep did something */
    assert_true(with_oom > 0);  /* some failures were answered as OUT_OF_MEMORY */
}

/* issue 7 defect 4: msgpack-c running out of memory while it decodes a
 * request was answered PARSE_ERROR and the connection closed, blaming the
 * client. With msgpack-c's large allocations failing (msgpack_failalloc,
 * preloaded; plain builds only), a request whose arguments decode to about
 * 48 KB is answered OUT_OF_MEMORY (retriable) under its own msgid, and the
 * same connection then serves a small request. */
static void test_decode_out_of_memory_is_a_retriable_answer_not_a_close(void **state)
{
    (void)state;
#ifndef MSGPACK_FAILALLOC_SO
    skip(); /* a sanitizer owns malloc: no preloading */
#else
    testsrv_t s;
    assert_int_equal(testsrv_init(&s, NOORMD_TEST_BIN, NULL), 0);
    assert_int_equal(testsrv_set_env(&s, "LD_PRELOAD", MSGPACK_FAILALLOC_SO), 0);
    assert_int_equal(testsrv_set_env(&s, "NOORMME_TEST_FAIL_MSGPACK_MIN", "16384"), 0);
    assert_int_equal(testsrv_launch(&s), 0);
    assert_int_equal(testsrv_wait_ready(&s, TESTSRV_READY_TIMEOUT_MS), 0);
    rpcc_t c;
    rpcc_connect_or_fail(&c, s.socket_path);
    msgpack_sbuffer arr;
    msgpack_sbuffer_init(&arr);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &arr, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2000);
    for (int i = 0; i < 2000; i++)
        msgpack_pack_int(&pk, i);
    rpcc_arg_t args[] = {RPCC_STR("id", "wide-decode"), RPCC_RAW("numbers", arr.data, arr.size)};
    msgpack_unpacked u;
    const msgpack_object *err = rpcc_call_error(&c, 41, "auth.createUser", args, RPCC_NARGS(args),
                                                "OUT_OF_MEMORY", &u, RPCC_TIMEOUT_MS);
    assert_non_null(err);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&arr);
    assert_int_equal(rpcc_ping(&c, 42, RPCC_TIMEOUT_MS), RPCC_OK); /* still open */
    rpcc_close(&c);
    assert_int_equal(testsrv_finish(&s), 0);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_allocation_failure_is_answered_and_survived,
                                        start_server, stop_server),
        cmocka_unit_test(test_decode_out_of_memory_is_a_retriable_answer_not_a_close),
    };
    int failed = cmocka_run_group_tests_name("alloc_failure", tests, NULL, NULL);
    return failed + testsrv_problems();
}
