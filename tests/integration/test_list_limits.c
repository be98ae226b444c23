/* test_list_limits.c - integration: how many rows one list reply holds.
 * auth.listSessions and auth.listAuthenticatorsByUserId send at most
 * --max-rows rows: a complete list is an array, as before; a longer one is
 * cut to the limit and sent as {items, truncated: true, limit}. One server,
 * started with the limit set small. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rpcc.h"
#include "testsrv.h"

#define MAX_ROWS 3 /* --max-rows */

static testsrv_t srv;
static rpcc_t c;
static uint32_t next_id = 1;

static int start_server(void **state)
{
    (void)state;
    const char *const args[] = {"--max-rows", "3", NULL};
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* Checks a list reply holding `rows` rows: an array when the list is
 * complete; when `cut`, the map {items, truncated: true, limit}. Returns
 * the array of rows (inside `r`). */
static const msgpack_object *expect_list(const msgpack_object *r, uint32_t rows, bool cut)
{
    const msgpack_object *items = r;
    if (cut) {
        if (!rpcc_map_keys_are(r, "items", "truncated", "limit", NULL))
            fail_msg("a cut list must be {items, truncated, limit}");
        const msgpack_object *t = rpcc_map_get(r, "truncated");
        assert_true(t->type == MSGPACK_OBJECT_BOOLEAN && t->via.boolean);
        uint64_t limit = 0;
        assert_true(rpcc_obj_u64(rpcc_map_get(r, "limit"), &limit));
        assert_int_equal(limit, MAX_ROWS);
        items = rpcc_map_get(r, "items");
    }
    if (items->type != MSGPACK_OBJECT_ARRAY) {
        rpcc_print("list", r);
        fail_msg("want an array of %u rows", rows);
    }
    assert_int_equal(items->via.array.size, rows);
    return items;
}

/* issue 7 defect 10: list methods had no LIMIT, so one user's rows could
 * make a reply of any size. At --max-rows the list is whole (an array);
 * one row more and the reply is cut to --max-rows and says so. */
static void test_list_sessions_at_the_row_limit_is_an_array_and_one_past_is_cut(void **state)
{
    (void)state;
    msgpack_unpacked u;
    rpcc_arg_t user[] = {RPCC_STR("id", "u-rows")};
    OK("auth.createUser", user, &u);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t who[] = {RPCC_STR("userId", "u-rows")};
    expect_list(OK("auth.listSessions", who, &u), 0, false);
    msgpack_unpacked_destroy(&u);
    int64_t now = now_ms();
    for (int i = 0; i < MAX_ROWS + 1; i++) {
        char token[32];
        snprintf(token, sizeof token, "rows-session-%d", i);
        /* Session i expires i hours from now: the list is latest first. */
        rpcc_arg_t sess[] = {RPCC_STR("sessionToken", token), RPCC_STR("userId", "u-rows"),
                             RPCC_TIME("expires", now + (i + 1) * 3600000LL)};
        OK("auth.createSession", sess, &u);
        msgpack_unpacked_destroy(&u);
        if (i + 1 == MAX_ROWS) {
            expect_list(OK("auth.listSessions", who, &u), MAX_ROWS, false);
            msgpack_unpacked_destroy(&u);
        }
    }
    const msgpack_object *items = expect_list(OK("auth.listSessions", who, &u), MAX_ROWS, true);
    /* The rows kept are the first ones in the list's order. */
    int64_t first = 0;
    assert_true(rpcc_obj_time_ms(rpcc_map_get(&items->via.array.ptr[0], "expires"), &first));
    assert_int_equal(first, now + (MAX_ROWS + 1) * 3600000LL);
    msgpack_unpacked_destroy(&u);
}

static void add_authenticator(const char *cred)
{
    msgpack_unpacked u;
    rpcc_arg_t args[] = {RPCC_STR("credentialID", cred),
                         RPCC_STR("userId", "u-keys"),
                         RPCC_STR("providerAccountId", "pa-keys"),
                         RPCC_STR("credentialPublicKey", "pk"),
                         RPCC_INT("counter", 0),
                         RPCC_STR("credentialDeviceType", "singleDevice"),
                         RPCC_BOOL("credentialBackedUp", 0)};
    OK("auth.createAuthenticator", args, &u);
    msgpack_unpacked_destroy(&u);
}

/* issue 7 defect 10: the same for listAuthenticatorsByUserId. */
static void test_list_authenticators_at_the_row_limit_is_an_array_and_one_past_is_cut(void **state)
{
    (void)state;
    msgpack_unpacked u;
    rpcc_arg_t user[] = {RPCC_STR("id", "u-keys")};
    OK("auth.createUser", user, &u);
    msgpack_unpacked_destroy(&u);
    static const char *const creds[] = {"cred-a", "cred-b", "cred-c", "cred-d"};
    rpcc_arg_t who[] = {RPCC_STR("userId", "u-keys")};
    for (int i = 0; i < MAX_ROWS; i++)
        add_authenticator(creds[i]);
    expect_list(OK("auth.listAuthenticatorsByUserId", who, &u), MAX_ROWS, false);
    msgpack_unpacked_destroy(&u);
    add_authenticator(creds[MAX_ROWS]);
    const msgpack_object *items =
        expect_list(OK("auth.listAuthenticatorsByUserId", who, &u), MAX_ROWS, true);
    for (int i = 0; i < MAX_ROWS; i++)
        assert_true(
            rpcc_obj_str_eq(rpcc_map_get(&items->via.array.ptr[i], "credentialID"), creds[i]));
    msgpack_unpacked_destroy(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_sessions_at_the_row_limit_is_an_array_and_one_past_is_cut),
        cmocka_unit_test(test_list_authenticators_at_the_row_limit_is_an_array_and_one_past_is_cut),
    };
    int failed = cmocka_run_group_tests_name("list_limits", tests, start_server, stop_server);
    return failed + testsrv_problems();
}
