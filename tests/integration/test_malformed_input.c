/* test_malformed_input.c - integration: a table of malformed and hostile
 * inputs, each sent on its own connection to one noormd-test started with
 * --max-message 4096 --max-depth 32. A request error must leave the
 * connection usable; a protocol error must send exactly one error and close.
 * After every case a fresh connection must still get "pong": no input may
 * take the server down. */
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

#define MAX_MESSAGE 4096
#define MAX_DEPTH   32

static testsrv_t srv;

typedef enum {
    EXPECT_RESULT,        /* a success response to `msgid`; the connection stays open */
    EXPECT_REQUEST_ERROR, /* error response `error` (details.field = `field`); stays open */
    EXPECT_SILENT,        /* no answer at all; the connection stays open */
    EXPECT_FATAL,         /* one protocol error `error`, addressed as `msgid` says; close */
    EXPECT_CLOSE,         /* the connection closes, after at most one server.error */
    EXPECT_NOTHING,       /* the client closes at once; only the server's survival counts */
} expect_t;

typedef struct {
    const char *name;                 /* test name shown by cmocka */
    const char *bytes;                /* literal input, when `build` is NULL */
    size_t len;                       /* its length */
    void (*build)(msgpack_sbuffer *); /* builds the input instead */
    bool half_close;                  /* shut down the client's sending side after it */
    expect_t expect;                  /* what must happen */
    long long msgid;                  /* msgid, or RPCC_AS_NOTIFY / RPCC_AS_ANY for FATAL */
    const char *error;                /* expected error NAME */
    const char *field;                /* expected details.field, or NULL */
} malformed_case_t;

#define BYTES(s) (s), sizeof(s) - 1

/* "server.ping" as a fixstr. */
#define PING_STR                                                                                   \
    "\xab"                                                                                         \
    "server.ping"

static void build_unknown_argument(msgpack_sbuffer *sb)
{
    rpcc_arg_t args[] = {RPCC_INT("bogus", 1)};
    rpcc_pack_request(sb, 20, "server.ping", args, RPCC_NARGS(args));
}

static void build_wrong_argument_type(msgpack_sbuffer *sb)
{
    rpcc_arg_t args[] = {RPCC_INT("key", 5)};
    rpcc_pack_request(sb, 21, "test.get", args, RPCC_NARGS(args));
}

static void build_missing_required_argument(msgpack_sbuffer *sb)
{
    rpcc_pack_request(sb, 22, "test.get", NULL, 0);
}

static void build_argument_given_twice(msgpack_sbuffer *sb)
{
    rpcc_arg_t args[] = {RPCC_STR("key", "a"), RPCC_STR("key", "b")};
    rpcc_pack_request(sb, 23, "test.get", args, RPCC_NARGS(args));
}

static void build_optional_argument_of_wrong_type(msgpack_sbuffer *sb)
{
    rpcc_arg_t args[] = {RPCC_STR("key", "k"), RPCC_STR("value", "v"), RPCC_STR("fail", "yes")};
    rpcc_pack_request(sb, 24, "test.write", args, RPCC_NARGS(args));
}

static void build_argument_over_its_length_limit(msgpack_sbuffer *sb)
{
    char key[258];
    memset(key, 'k', 257);
    key[257] = '\0';
    rpcc_arg_t args[] = {RPCC_STR("key", key)};
    rpcc_pack_request(sb, 25, "test.get", args, RPCC_NARGS(args));
}

static void build_sleep_of_negative_ms(msgpack_sbuffer *sb)
{
    rpcc_arg_t args[] = {RPCC_INT("ms", -1)};
    rpcc_pack_request(sb, 27, "test.sleep", args, RPCC_NARGS(args));
}

static void build_unknown_method(msgpack_sbuffer *sb)
{
    rpcc_pack_request(sb, 26, "no.such.method", NULL, 0);
}

/* A test.write whose whole encoding is exactly `size` bytes. */
static void build_write_of_size(msgpack_sbuffer *sb, size_t size, uint32_t msgid)
{
    static char value[MAX_MESSAGE];
    memset(value, 'x', sizeof value);
    /* The value's bin16 header has the same size for every length tried,
     * so the encoding grows one byte per value byte. */
    for (size_t vlen = 256; vlen < sizeof value; vlen++) {
        msgpack_sbuffer_clear(sb);
        rpcc_arg_t args[] = {RPCC_STR("key", "exact-size"), RPCC_BIN("value", value, vlen)};
        rpcc_pack_request(sb, msgid, "test.write", args, RPCC_NARGS(args));
        if (sb->size == size)
            return;
    }
    fail_msg("cannot build a test.write of exactly %zu bytes", size);
}

static void build_message_at_size_limit(msgpack_sbuffer *sb)
{
    build_write_of_size(sb, MAX_MESSAGE, 30);
}

static void build_message_one_byte_over_size_limit(msgpack_sbuffer *sb)
{
    build_write_of_size(sb, MAX_MESSAGE + 1, 31);
}

/* test.get {key: [[...[1]...]]} whose deepest array is at nesting level
 * `depth` (request array 1, params 2, argument map 3). */
static void build_nested_key(msgpack_sbuffer *sb, unsigned depth, uint32_t msgid)
{
    char nest[64];
    size_t n = 0;
    for (unsigned level = 4; level <= depth; level++)
        nest[n++] = (char)0x91; /* fixarray of one element */
    nest[n++] = 0x01;
    rpcc_arg_t args[] = {RPCC_RAW("key", nest, n)};
    rpcc_pack_request(sb, msgid, "test.get", args, RPCC_NARGS(args));
}

static void build_nesting_at_depth_limit(msgpack_sbuffer *sb)
{
    build_nested_key(sb, MAX_DEPTH, 32);
}

static void build_nesting_one_over_depth_limit(msgpack_sbuffer *sb)
{
    build_nested_key(sb, MAX_DEPTH + 1, 33);
}

static void build_zeros(msgpack_sbuffer *sb)
{
    static const char zeros[256];
    msgpack_sbuffer_write(sb, zeros, sizeof zeros);
}

static const malformed_case_t cases[] = {
    /* Streams that end or stop early. */
    {"truncated_request_then_half_close_closes",
     BYTES("\x94\x00\x01\xab"
           "serv"),
     NULL, true, EXPECT_CLOSE, 0, NULL, NULL},
    {"truncated_request_then_client_close_leaves_server_up",
     BYTES("\x94\x00\x01\xab"
           "serv"),
     NULL, false, EXPECT_NOTHING, 0, NULL, NULL},
    /* Objects that are not RPC messages. */
    {"root_map_is_invalid_message", BYTES("\x80"), NULL, false, EXPECT_FATAL, RPCC_AS_NOTIFY,
     "INVALID_MESSAGE", NULL},
    {"root_string_is_invalid_message", BYTES("\xa5hello"), NULL, false, EXPECT_FATAL,
     RPCC_AS_NOTIFY, "INVALID_MESSAGE", NULL},
    {"root_empty_array_is_invalid_message", BYTES("\x90"), NULL, false, EXPECT_FATAL,
     RPCC_AS_NOTIFY, "INVALID_MESSAGE", NULL},
    {"zeros_desync_stream_gets_one_invalid_message", NULL, 0, build_zeros, false, EXPECT_FATAL,
     RPCC_AS_NOTIFY, "INVALID_MESSAGE", NULL},
    {"type_tag_3_is_invalid_message_for_its_msgid", BYTES("\x94\x03\x01" PING_STR "\x90"), NULL,
     false, EXPECT_FATAL, 1, "INVALID_MESSAGE", NULL},
    {"response_sent_to_server_is_invalid_message_for_its_msgid", BYTES("\x94\x01\x02\xc0\xa4pong"),
     NULL, false, EXPECT_FATAL, 2, "INVALID_MESSAGE", NULL},
    {"request_of_three_elements_is_invalid_message", BYTES("\x93\x00\x03" PING_STR), NULL, false,
     EXPECT_FATAL, RPCC_AS_NOTIFY, "INVALID_MESSAGE", NULL},
    {"string_msgid_is_invalid_message", BYTES("\x94\x00\xa1x" PING_STR "\x90"), NULL, false,
     EXPECT_FATAL, RPCC_AS_NOTIFY, "INVALID_MESSAGE", NULL},
    {"negative_msgid_is_invalid_message", BYTES("\x94\x00\xff" PING_STR "\x90"), NULL, false,
     EXPECT_FATAL, RPCC_AS_NOTIFY, "INVALID_MESSAGE", NULL},
    {"msgid_above_uint32_is_invalid_message",
     BYTES("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00" PING_STR "\x90"), NULL, false,
     EXPECT_FATAL, RPCC_AS_NOTIFY, "INVALID_MESSAGE", NULL},
    {"integer_method_is_invalid_message_for_its_msgid", BYTES("\x94\x00\x04\x05\x90"), NULL, false,
     EXPECT_FATAL, 4, "INVALID_MESSAGE", NULL},
    {"notification_with_integer_method_is_invalid_message", BYTES("\x93\x02\x05\x90"), NULL, false,
     EXPECT_FATAL, RPCC_AS_NOTIFY, "INVALID_MESSAGE", NULL},
    /* Notifications are never answered. */
    {"notification_of_unknown_method_is_ignored", BYTES("\x93\x02\xa7no.such\x90"), NULL, false,
     EXPECT_SILENT, 0, NULL, NULL},
    {"notification_of_ping_gets_no_answer", BYTES("\x93\x02" PING_STR "\x90"), NULL, false,
     EXPECT_SILENT, 0, NULL, NULL},
    /* Request errors: the connection stays open. */
    {"unknown_method_is_method_not_found", NULL, 0, build_unknown_method, false,
     EXPECT_REQUEST_ERROR, 26, "METHOD_NOT_FOUND", NULL},
    {"params_string_is_invalid_params", BYTES("\x94\x00\x06" PING_STR "\xa1x"), NULL, false,
     EXPECT_REQUEST_ERROR, 6, "INVALID_PARAMS", NULL},
    {"params_nil_is_invalid_params", BYTES("\x94\x00\x07" PING_STR "\xc0"), NULL, false,
     EXPECT_REQUEST_ERROR, 7, "INVALID_PARAMS", NULL},
    {"params_bare_map_is_invalid_params", BYTES("\x94\x00\x08" PING_STR "\x80"), NULL, false,
     EXPECT_REQUEST_ERROR, 8, "INVALID_PARAMS", NULL},
    {"params_array_of_integer_is_invalid_params", BYTES("\x94\x00\x09" PING_STR "\x91\x01"), NULL,
     false, EXPECT_REQUEST_ERROR, 9, "INVALID_PARAMS", NULL},
    {"params_array_of_two_maps_is_invalid_params", BYTES("\x94\x00\x0a" PING_STR "\x92\x80\x80"),
     NULL, false, EXPECT_REQUEST_ERROR, 10, "INVALID_PARAMS", NULL},
    {"integer_argument_name_is_invalid_params",
     BYTES("\x94\x00\x0b\xa8test.get\x91\x81\x01\xa1"
           "a"),
     NULL, false, EXPECT_REQUEST_ERROR, 11, "INVALID_PARAMS", NULL},
    {"empty_params_array_is_accepted", BYTES("\x94\x00\x0c" PING_STR "\x90"), NULL, false,
     EXPECT_RESULT, 12, NULL, NULL},
    {"unknown_argument_is_unknown_field_naming_it", NULL, 0, build_unknown_argument, false,
     EXPECT_REQUEST_ERROR, 20, "UNKNOWN_FIELD", "bogus"},
    {"wrong_argument_type_is_invalid_argument_naming_it", NULL, 0, build_wrong_argument_type, false,
     EXPECT_REQUEST_ERROR, 21, "INVALID_ARGUMENT", "key"},
    {"missing_required_argument_is_invalid_argument_naming_it", NULL, 0,
     build_missing_required_argument, false, EXPECT_REQUEST_ERROR, 22, "INVALID_ARGUMENT", "key"},
    {"argument_given_twice_is_invalid_argument_naming_it", NULL, 0, build_argument_given_twice,
     false, EXPECT_REQUEST_ERROR, 23, "INVALID_ARGUMENT", "key"},
    {"optional_argument_of_wrong_type_is_invalid_argument_naming_it", NULL, 0,
     build_optional_argument_of_wrong_type, false, EXPECT_REQUEST_ERROR, 24, "INVALID_ARGUMENT",
     "fail"},
    {"argument_over_its_length_limit_is_limit_exceeded", NULL, 0,
     build_argument_over_its_length_limit, false, EXPECT_REQUEST_ERROR, 25, "LIMIT_EXCEEDED",
     "key"},
    {"handler_rejecting_a_value_on_the_writer_names_the_field", NULL, 0, build_sleep_of_negative_ms,
     false, EXPECT_REQUEST_ERROR, 27, "INVALID_ARGUMENT", "ms"},
    /* The size limit, at the limit and one byte past it. */
    {"message_of_exactly_max_message_bytes_is_accepted", NULL, 0, build_message_at_size_limit,
     false, EXPECT_RESULT, 30, NULL, NULL},
    {"message_one_byte_over_max_message_is_too_large", NULL, 0,
     build_message_one_byte_over_size_limit, false, EXPECT_FATAL, RPCC_AS_ANY, "MESSAGE_TOO_LARGE",
     NULL},
    /* The depth limit, at the limit and one level past it. */
    {"nesting_at_max_depth_is_handled_as_a_request", NULL, 0, build_nesting_at_depth_limit, false,
     EXPECT_REQUEST_ERROR, 32, "INVALID_ARGUMENT", "key"},
    {"nesting_one_over_max_depth_is_too_deep", NULL, 0, build_nesting_one_over_depth_limit, false,
     EXPECT_FATAL, RPCC_AS_ANY, "NESTING_TOO_DEEP", NULL},
    /* Bytes that are never valid. */
    {"reserved_byte_c1_alone_is_parse_error", BYTES("\xc1"), NULL, false, EXPECT_FATAL, RPCC_AS_ANY,
     "PARSE_ERROR", NULL},
    {"reserved_byte_c1_inside_request_is_parse_error", BYTES("\x94\x00\x0d" PING_STR "\x91\xc1"),
     NULL, false, EXPECT_FATAL, RPCC_AS_ANY, "PARSE_ERROR", NULL},
    /* Declared sizes far beyond the limit, rejected from the header alone
     * (nothing follows the header). */
    {"array32_of_4g_elements_is_too_large", BYTES("\xdd\xff\xff\xff\xff"), NULL, false,
     EXPECT_FATAL, RPCC_AS_ANY, "MESSAGE_TOO_LARGE", NULL},
    {"map32_of_4g_pairs_is_too_large", BYTES("\xdf\xff\xff\xff\xff"), NULL, false, EXPECT_FATAL,
     RPCC_AS_ANY, "MESSAGE_TOO_LARGE", NULL},
    {"array16_of_65535_elements_is_too_large", BYTES("\xdc\xff\xff"), NULL, false, EXPECT_FATAL,
     RPCC_AS_ANY, "MESSAGE_TOO_LARGE", NULL},
    {"str32_of_2gib_is_too_large", BYTES("\xdb\x80\x00\x00\x00"), NULL, false, EXPECT_FATAL,
     RPCC_AS_ANY, "MESSAGE_TOO_LARGE", NULL},
    {"str32_of_2gib_as_method_is_too_large", BYTES("\x94\x00\x0e\xdb\x80\x00\x00\x00"), NULL, false,
     EXPECT_FATAL, RPCC_AS_ANY, "MESSAGE_TOO_LARGE", NULL},
    {"bin32_of_2gib_is_too_large", BYTES("\xc6\x7f\xff\xff\xff"), NULL, false, EXPECT_FATAL,
     RPCC_AS_ANY, "MESSAGE_TOO_LARGE", NULL},
    {"ext32_of_4gib_is_too_large", BYTES("\xc9\xff\xff\xff\xff\x01"), NULL, false, EXPECT_FATAL,
     RPCC_AS_ANY, "MESSAGE_TOO_LARGE", NULL},
};

#define NCASES (sizeof cases / sizeof cases[0])

static int start_server(void **state)
{
    (void)state;
    const char *const args[] = {"--max-message", "4096", "--max-depth", "32", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* EXPECT_CLOSE: an optional server.error notification, then the close. */
static void expect_close_maybe_after_error(rpcc_t *c)
{
    msgpack_unpacked u;
    int r = rpcc_read(c, &u, RPCC_TIMEOUT_MS);
    if (r == RPCC_OK) {
        const msgpack_object *err = rpcc_notify_error(&u.data);
        if (!err)
            rpcc_print("expected a close or one server.error, got", &u.data);
        assert_true(err && rpcc_error_is(err, NULL));
        msgpack_unpacked_destroy(&u);
        assert_int_equal(rpcc_expect_closed(c, RPCC_TIMEOUT_MS), 0);
        return;
    }
    msgpack_unpacked_destroy(&u);
    assert_int_equal(r, RPCC_CLOSED);
}

static void run_case(void **state)
{
    const malformed_case_t *t = *state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (t->build)
        t->build(&sb);
    else
        msgpack_sbuffer_write(&sb, t->bytes, t->len);

    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    if (t->half_close)
        assert_int_equal(rpcc_shutdown_write(&c), 0);

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    switch (t->expect) {
    case EXPECT_RESULT:
        assert_non_null(rpcc_expect_result(&c, (uint32_t)t->msgid, &u, RPCC_TIMEOUT_MS));
        assert_int_equal(rpcc_ping(&c, 1000, RPCC_TIMEOUT_MS), 0);
        break;
    case EXPECT_REQUEST_ERROR: {
        const msgpack_object *err =
            rpcc_expect_error(&c, (uint32_t)t->msgid, t->error, &u, RPCC_TIMEOUT_MS);
        assert_non_null(err);
        if (t->field) {
            const msgpack_object *field = rpcc_map_get(rpcc_error_details(err), "field");
            if (!rpcc_obj_str_eq(field, t->field))
                rpcc_print("error without the expected details.field", err);
            assert_true(rpcc_obj_str_eq(field, t->field));
        }
        /* The same connection still works. */
        assert_int_equal(rpcc_ping(&c, 1000, RPCC_TIMEOUT_MS), 0);
        break;
    }
    case EXPECT_SILENT:
        /* The ping's answer must be the very next message. */
        assert_int_equal(rpcc_ping(&c, 1000, RPCC_TIMEOUT_MS), 0);
        break;
    case EXPECT_FATAL:
        assert_int_equal(rpcc_expect_fatal(&c, t->msgid, t->error, RPCC_TIMEOUT_MS), 0);
        break;
    case EXPECT_CLOSE: expect_close_maybe_after_error(&c); break;
    case EXPECT_NOTHING: break;
    }
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);

    /* Whatever happened, the server still serves new connections. */
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

static void test_request_before_bad_byte_is_answered_then_connection_closes(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_pack_request(&sb, 40, "server.ping", NULL, 0);
    msgpack_sbuffer_write(&sb, "\xc1", 1);
    assert_int_equal(rpcc_send(&c, sb.data, sb.size, RPCC_TIMEOUT_MS), RPCC_OK);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked u;
    const msgpack_object *res = rpcc_expect_result(&c, 40, &u, RPCC_TIMEOUT_MS);
    assert_true(rpcc_obj_str_eq(res, "pong"));
    msgpack_unpacked_destroy(&u);
    assert_int_equal(rpcc_expect_fatal(&c, RPCC_AS_ANY, "PARSE_ERROR", RPCC_TIMEOUT_MS), 0);
    rpcc_close(&c);
    assert_int_equal(rpcc_ping_fresh(srv.socket_path, RPCC_TIMEOUT_MS), 0);
}

static void test_request_sent_one_byte_at_a_time_is_answered(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    rpcc_pack_request(&sb, 41, "server.ping", NULL, 0);
    /* The pause spaces the bytes so that they tend to arrive in separate
     * reads; it waits for nothing and nothing is asserted about it. The
     * whole message takes well under a second, against the 10 s default
     * partial deadline. */
    for (size_t i = 0; i < sb.size; i++) {
        assert_int_equal(rpcc_send(&c, sb.data + i, 1, RPCC_TIMEOUT_MS), RPCC_OK);
        testsrv_sleep_ms(2);
    }
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked u;
    const msgpack_object *res = rpcc_expect_result(&c, 41, &u, RPCC_TIMEOUT_MS);
    assert_true(rpcc_obj_str_eq(res, "pong"));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

static void test_protocol_errors_are_counted_in_stats(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    msgpack_unpacked u;
    const msgpack_object *stats = rpcc_call(&c, 1, "server.stats", NULL, 0, &u, RPCC_TIMEOUT_MS);
    uint64_t errors = 0, dropped = 0;
    assert_true(rpcc_obj_u64(rpcc_dig(stats, "requests", "protocol_errors", NULL), &errors));
    assert_true(rpcc_obj_u64(rpcc_dig(stats, "connections", "dropped", NULL), &dropped));
    /* Every EXPECT_FATAL case ran before this test, on this server. */
    size_t fatal = 0;
    for (size_t i = 0; i < NCASES; i++)
        fatal += cases[i].expect == EXPECT_FATAL;
    assert_true(errors >= fatal);
    assert_true(dropped >= fatal);
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

int main(void)
{
    struct CMUnitTest tests[NCASES + 3];
    for (size_t i = 0; i < NCASES; i++) {
        tests[i] = (struct CMUnitTest){
            .name = cases[i].name, .test_func = run_case, .initial_state = (void *)&cases[i]};
    }
    tests[NCASES] = (struct CMUnitTest)cmocka_unit_test(
        test_request_before_bad_byte_is_answered_then_connection_closes);
    tests[NCASES + 1] =
        (struct CMUnitTest)cmocka_unit_test(test_request_sent_one_byte_at_a_time_is_answered);
    tests[NCASES + 2] =
        (struct CMUnitTest)cmocka_unit_test(test_protocol_errors_are_counted_in_stats);
    int failed = cmocka_run_group_tests_name("malformed_input", tests, start_server, stop_server);
    return failed + testsrv_problems();
}
