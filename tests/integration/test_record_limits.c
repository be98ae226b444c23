/* test_record_limits.c - integration: what one record may grow to. The
 * extra fields of a user or account are capped in stored JSON bytes
 * (--max-extra-bytes): a create or update whose result would pass it is
 * refused with LIMIT_EXCEEDED and stores nothing. One server, started with
 * the limit set small. */
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

#define MAX_EXTRA 1024 /* --max-extra-bytes 1k */

static testsrv_t srv;
static rpcc_t c;
static uint32_t next_id = 1;

static int start_server(void **state)
{
    (void)state;
    const char *const args[] = {"--max-extra-bytes", "1k", NULL};
    if (testsrv_start(&srv, NOORMD_TEST_BIN, args) != 0)
        return -1;
    if (rpcc_connect(&c, srv.socket_path) != 0) {
        testsrv_destroy(&srv);
        return -1;
    }
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    rpcc_close(&c);
    return testsrv_finish(&srv);
}

/* Calls `method`, which must succeed; the caller destroys `u`. */
static const msgpack_object *ok(const char *method, const rpcc_arg_t *args, size_t nargs,
                                msgpack_unpacked *u)
{
    const msgpack_object *r = rpcc_call(&c, next_id++, method, args, nargs, u, RPCC_TIMEOUT_MS);
    if (!r)
        fail_msg("%s did not answer with a result", method);
    return r;
}
#define OK(method, args, u) ok((method), (args), RPCC_NARGS(args), (u))

/* Calls `method`, which must fail with LIMIT_EXCEEDED naming the option. */
static void limit_exceeded(const char *method, const rpcc_arg_t *args, size_t nargs)
{
    msgpack_unpacked u;
    const msgpack_object *err =
        rpcc_call_error(&c, next_id++, method, args, nargs, "LIMIT_EXCEEDED", &u, RPCC_TIMEOUT_MS);
    if (!err)
        fail_msg("%s: want LIMIT_EXCEEDED", method);
    char buf[1024];
    int n = msgpack_object_print_buffer(buf, sizeof buf, *err);
    buf[n > 0 && (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1] = '\0';
    if (!strstr(buf, "--max-extra-bytes") || !strstr(buf, "1024"))
        fail_msg("%s: the error does not name the limit: %s", method, buf);
    msgpack_unpacked_destroy(&u);
}
#define LIMIT_EXCEEDED(method, args) limit_exceeded((method), (args), RPCC_NARGS(args))

/* A string of `n` copies of `ch` (static storage, one per slot). */
static const char *filler(int slot, char ch, size_t n)
{
    static char buf[4][MAX_EXTRA + 64];
    assert_true(n < sizeof buf[0]);
    memset(buf[slot], ch, n);
    buf[slot][n] = '\0';
    return buf[slot];
}

/* The length of extra field `key` of the user `id`, or -1 when the user or
 * the field is missing. */
static long user_field_len(const char *id, const char *key)
{
    msgpack_unpacked u;
    rpcc_arg_t args[] = {RPCC_STR("id", id)};
    const msgpack_object *user = OK("auth.getUser", args, &u);
    const msgpack_object *v = rpcc_map_get(user, key);
    long len = v && v->type == MSGPACK_OBJECT_STR ? (long)v->via.str.size : -1;
    msgpack_unpacked_destroy(&u);
    return len;
}

/* {"x":"<n chars>"} is 8 + n bytes of JSON; {"x":"<a>","y":"<b>"} is
 * 15 + a + b. */

/* issue 7 defect 16: records could grow without bound (repeated merges made
 * one user's extra JSON 19.2 MB, and every reply for that user then passed
 * the output cap). A create at the limit is stored; one byte more is
 * refused and nothing is stored. */
static void test_create_at_the_extra_limit_is_stored_and_one_past_is_refused(void **state)
{
    (void)state;
    msgpack_unpacked u;
    rpcc_arg_t at[] = {RPCC_STR("id", "u-at"), RPCC_STR("x", filler(0, 'a', MAX_EXTRA - 8))};
    OK("auth.createUser", at, &u);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(user_field_len("u-at", "x"), MAX_EXTRA - 8);

    rpcc_arg_t past[] = {RPCC_STR("id", "u-past"), RPCC_STR("x", filler(0, 'a', MAX_EXTRA - 7))};
    LIMIT_EXCEEDED("auth.createUser", past);
    rpcc_arg_t get[] = {RPCC_STR("id", "u-past")};
    const msgpack_object *r = OK("auth.getUser", get, &u);
    assert_int_equal(r->type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&u);

    /* linkAccount keeps extra fields the same way. */
    rpcc_arg_t acct_past[] = {RPCC_STR("userId", "u-at"), RPCC_STR("type", "oauth"),
                              RPCC_STR("provider", "lim"), RPCC_STR("providerAccountId", "p1"),
                              RPCC_STR("x", filler(0, 'a', MAX_EXTRA - 7))};
    LIMIT_EXCEEDED("auth.linkAccount", acct_past);
    rpcc_arg_t acct_key[] = {RPCC_STR("provider", "lim"), RPCC_STR("providerAccountId", "p1")};
    r = OK("auth.getAccount", acct_key, &u);
    assert_int_equal(r->type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t acct_at[] = {RPCC_STR("userId", "u-at"), RPCC_STR("type", "oauth"),
                            RPCC_STR("provider", "lim"), RPCC_STR("providerAccountId", "p1"),
                            RPCC_STR("x", filler(0, 'a', MAX_EXTRA - 8))};
    OK("auth.linkAccount", acct_at, &u);
    msgpack_unpacked_destroy(&u);
}

/* issue 7 defect 16: the limit applies to the merged result of an update,
 * so repeated updates cannot grow a record past it. */
static void test_update_merging_to_the_extra_limit_is_stored_and_one_past_is_refused(void **state)
{
    (void)state;
    msgpack_unpacked u;
    rpcc_arg_t create[] = {RPCC_STR("id", "u-grow"), RPCC_STR("x", filler(0, 'a', 500))};
    OK("auth.createUser", create, &u);
    msgpack_unpacked_destroy(&u);

    /* 15 + 500 + 509 = 1024: at the limit. */
    rpcc_arg_t at[] = {RPCC_STR("id", "u-grow"), RPCC_STR("y", filler(1, 'b', 509))};
    OK("auth.updateUser", at, &u);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(user_field_len("u-grow", "y"), 509);

    /* One byte more, in a new value of y or in a new field: refused, and
     * the stored fields stay as they were. */
    rpcc_arg_t past[] = {RPCC_STR("id", "u-grow"), RPCC_STR("y", filler(1, 'b', 510))};
    LIMIT_EXCEEDED("auth.updateUser", past);
    rpcc_arg_t more[] = {RPCC_STR("id", "u-grow"), RPCC_STR("name", "Grown"),
                         RPCC_STR("z", "")}; /* ,"z":"" is 7 bytes */
    LIMIT_EXCEEDED("auth.updateUser", more);
    assert_int_equal(user_field_len("u-grow", "x"), 500);
    assert_int_equal(user_field_len("u-grow", "y"), 509);
    assert_int_equal(user_field_len("u-grow", "z"), -1);
    rpcc_arg_t get[] = {RPCC_STR("id", "u-grow")};
    const msgpack_object *user = OK("auth.getUser", get, &u);
    assert_int_equal(rpcc_map_get(user, "name")->type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&u);

    /* Updates that leave the extra fields alone, or shrink them, work. */
    rpcc_arg_t rename[] = {RPCC_STR("id", "u-grow"), RPCC_STR("name", "Grown")};
    OK("auth.updateUser", rename, &u);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t shrink[] = {RPCC_STR("id", "u-grow"), RPCC_NIL("x"), RPCC_STR("z", "")};
    OK("auth.updateUser", shrink, &u);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(user_field_len("u-grow", "x"), -1);
    assert_int_equal(user_field_len("u-grow", "z"), 0);

    /* updateAccount merges under the same limit. */
    rpcc_arg_t acct[] = {RPCC_STR("userId", "u-grow"), RPCC_STR("type", "oauth"),
                         RPCC_STR("provider", "lim"), RPCC_STR("providerAccountId", "p2"),
                         RPCC_STR("x", filler(0, 'a', 500))};
    OK("auth.linkAccount", acct, &u);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t acct_at[] = {RPCC_STR("provider", "lim"), RPCC_STR("providerAccountId", "p2"),
                            RPCC_STR("y", filler(1, 'b', 509))};
    OK("auth.updateAccount", acct_at, &u);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t acct_past[] = {RPCC_STR("provider", "lim"), RPCC_STR("providerAccountId", "p2"),
                              RPCC_STR("y", filler(1, 'b', 510))};
    LIMIT_EXCEEDED("auth.updateAccount", acct_past);
    rpcc_arg_t key[] = {RPCC_STR("provider", "lim"), RPCC_STR("providerAccountId", "p2")};
    const msgpack_object *a = OK("auth.getAccount", key, &u);
    const msgpack_object *y = rpcc_map_get(a, "y");
    assert_non_null(y);
    assert_int_equal(y->via.str.size, 509);
    msgpack_unpacked_destroy(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_at_the_extra_limit_is_stored_and_one_past_is_refused),
        cmocka_unit_test(test_update_merging_to_the_extra_limit_is_stored_and_one_past_is_refused),
    };
    int failed = cmocka_run_group_tests_name("record_limits", tests, start_server, stop_server);
    return failed + testsrv_problems();
}
