/* test_rpc.c - MessagePack-RPC shapes (proto_rpc.c): request and
 * notification decoding, refused shapes, error replies, timestamps, plus the
 * reply buffer (proto_buf.c) and the error table lookups (proto_errors.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_buf.h"
#include "proto_errors.h"
#include "proto_rpc.h"

/* Each test gets a zone for decoded objects and a buffer to pack into. */
typedef struct {
    msgpack_zone zone;
    proto_buf_t buf;
    msgpack_packer pk;
} fixture_t;

static int fixture_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (!f || !msgpack_zone_init(&f->zone, 1024)) {
        free(f);
        return -1;
    }
    proto_buf_init(&f->buf);
    msgpack_packer_init(&f->pk, &f->buf, proto_buf_msgpack_write);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    fixture_t *f = *state;
    msgpack_zone_destroy(&f->zone);
    proto_buf_deinit(&f->buf);
    free(f);
    return 0;
}

/* Decodes raw bytes given as a string literal. */
#define DECODE_LIT(f, lit, msg)                                                                    \
    proto_msg_decode((const uint8_t *)(lit), sizeof(lit) - 1, &(f)->zone, (msg))

/* Decodes what has been packed into the fixture's buffer. */
static int decode_packed(fixture_t *f, proto_msg_t *msg)
{
    assert_int_equal(f->buf.failed, 0);
    return proto_msg_decode(f->buf.data, f->buf.len, &f->zone, msg);
}

/* Unpacks the fixture's buffer as one whole object. */
static msgpack_object unpack_packed(fixture_t *f)
{
    msgpack_object obj;
    size_t off = 0;
    assert_int_equal(f->buf.failed, 0);
    assert_int_equal(msgpack_unpack((const char *)f->buf.data, f->buf.len, &off, &f->zone, &obj),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, f->buf.len);
    return obj;
}

static void assert_str_obj(const msgpack_object *o, const char *want)
{
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, strlen(want));
    assert_memory_equal(o->via.str.ptr, want, strlen(want));
}

static void assert_method(const proto_msg_t *m, const char *want)
{
    assert_int_equal(m->method.len, strlen(want));
    assert_memory_equal(m->method.ptr, want, strlen(want));
}

/* Packs [0, msgid, method, params] where the params are packed by the
 * caller afterwards. */
static void pack_request_head(fixture_t *f, uint32_t msgid, const char *method)
{
    msgpack_pack_array(&f->pk, 4);
    msgpack_pack_uint8(&f->pk, PROTO_MSG_REQUEST);
    msgpack_pack_uint32(&f->pk, msgid);
    proto_pack_cstr(&f->pk, method);
}

/* Decoding ----------------------------------------------------------------- */

static void test_decode_accepts_request_with_named_args(void **state)
{
    fixture_t *f = *state;
    pack_request_head(f, 42, "auth.getUser");
    msgpack_pack_array(&f->pk, 1);
    msgpack_pack_map(&f->pk, 1);
    proto_pack_cstr(&f->pk, "id");
    proto_pack_cstr(&f->pk, "u1");

    proto_msg_t m;
    assert_int_equal(decode_packed(f, &m), 0);
    assert_int_equal(m.type, PROTO_MSG_REQUEST);
    assert_true(m.has_msgid);
    assert_int_equal(m.msgid, 42);
    assert_method(&m, "auth.getUser");
    /* The method is not copied: it points into the message bytes. */
    assert_true((const uint8_t *)m.method.ptr > f->buf.data);
    assert_true((const uint8_t *)m.method.ptr < f->buf.data + f->buf.len);
    assert_true(m.params_ok);
    assert_non_null(m.args);
    assert_int_equal(m.args->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m.args->via.map.size, 1);
    assert_str_obj(&m.args->via.map.ptr[0].key, "id");
    assert_str_obj(&m.args->via.map.ptr[0].val, "u1");
}

static void test_decode_accepts_notification(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    /* [2, "log", [{"a": 1}]] */
    assert_int_equal(DECODE_LIT(f,
                                "\x93\x02\xa3"
                                "log"
                                "\x91\x81\xa1"
                                "a"
                                "\x01",
                                &m),
                     0);
    assert_int_equal(m.type, PROTO_MSG_NOTIFY);
    assert_false(m.has_msgid);
    assert_method(&m, "log");
    assert_true(m.params_ok);
    assert_non_null(m.args);
    assert_int_equal(m.args->via.map.size, 1);
}

static void test_decode_treats_empty_params_as_no_arguments(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    /* [0, 1, "server.ping", []] */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x00\x01\xab"
                                "server.ping"
                                "\x90",
                                &m),
                     0);
    assert_true(m.params_ok);
    assert_null(m.args);
    assert_method(&m, "server.ping");
}

static void test_decode_accepts_params_holding_an_empty_map(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    /* [0, 7, "server.ping", [{}]] */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x00\x07\xab"
                                "server.ping"
                                "\x91\x80",
                                &m),
                     0);
    assert_int_equal(m.msgid, 7);
    assert_true(m.params_ok);
    assert_non_null(m.args);
    assert_int_equal(m.args->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m.args->via.map.size, 0);
}

static void test_decode_accepts_params_holding_one_pair(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    /* [0, 3, "m", [{"a": 1}]] */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x00\x03\xa1"
                                "m"
                                "\x91\x81\xa1"
                                "a"
                                "\x01",
                                &m),
                     0);
    assert_true(m.params_ok);
    assert_non_null(m.args);
    assert_str_obj(&m.args->via.map.ptr[0].key, "a");
    assert_int_equal(m.args->via.map.ptr[0].val.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(m.args->via.map.ptr[0].val.via.u64, 1);
}

static void test_decode_reports_bad_params_shape_without_failing(void **state)
{
    fixture_t *f = *state;
    /* The request is still addressable, so it gets a request error
     * (INVALID_PARAMS) rather than a protocol error. */
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
    } cases[] = {
#define PARAMS(name, lit) {name, lit, sizeof(lit) - 1}
        PARAMS("integer", "\x94\x00\x05\xa1"
                          "m"
                          "\x01"),
        PARAMS("map instead of array", "\x94\x00\x05\xa1"
                                       "m"
                                       "\x80"),
        PARAMS("nil", "\x94\x00\x05\xa1"
                      "m"
                      "\xc0"),
        PARAMS("[1]", "\x94\x00\x05\xa1"
                      "m"
                      "\x91\x01"),
        PARAMS("[[]]", "\x94\x00\x05\xa1"
                       "m"
                       "\x91\x90"),
        PARAMS("[{}, {}]", "\x94\x00\x05\xa1"
                           "m"
                           "\x92\x80\x80"),
#undef PARAMS
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_msg_t m;
        int rc = proto_msg_decode((const uint8_t *)cases[i].bytes, cases[i].len, &f->zone, &m);
        if (rc != 0 || m.params_ok || m.args != NULL)
            fail_msg("params %s: rc %d params_ok %d args %p", cases[i].name, rc, m.params_ok,
                     (const void *)m.args);
        assert_true(m.has_msgid);
        assert_int_equal(m.msgid, 5);
        assert_method(&m, "m");
    }

    proto_msg_t m;
    /* A notification with params [1]: decoded, params refused. */
    assert_int_equal(DECODE_LIT(f,
                                "\x93\x02\xa1"
                                "n"
                                "\x91\x01",
                                &m),
                     0);
    assert_int_equal(m.type, PROTO_MSG_NOTIFY);
    assert_false(m.params_ok);
}

static void test_decode_refuses_response_but_keeps_msgid(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    /* [1, 9, nil, nil] */
    assert_int_equal(DECODE_LIT(f, "\x94\x01\x09\xc0\xc0", &m), -PROTO_E_INVALID_MESSAGE);
    assert_true(m.has_msgid);
    assert_int_equal(m.msgid, 9);
}

static void test_decode_refuses_unknown_message_type(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    /* [3, 4, "m", []] */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x03\x04\xa1"
                                "m"
                                "\x90",
                                &m),
                     -PROTO_E_INVALID_MESSAGE);
    assert_true(m.has_msgid);
    assert_int_equal(m.msgid, 4);
    /* [-1, 4, "m", []] and ["0", 4, "m", []] */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\xff\x04\xa1"
                                "m"
                                "\x90",
                                &m),
                     -PROTO_E_INVALID_MESSAGE);
    assert_int_equal(DECODE_LIT(f,
                                "\x94\xa1"
                                "0"
                                "\x04\xa1"
                                "m"
                                "\x90",
                                &m),
                     -PROTO_E_INVALID_MESSAGE);
}

static void test_decode_refuses_wrong_arity(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
    } cases[] = {
#define ARITY(name, lit) {name, lit, sizeof(lit) - 1}
        ARITY("[]", "\x90"),
        ARITY("[0, 1]", "\x92\x00\x01"),
        ARITY("request of 3", "\x93\x00\x01\xa1"
                              "m"),
        ARITY("request of 5", "\x95\x00\x01\xa1"
                              "m"
                              "\x90\x00"),
        ARITY("notification of 2", "\x92\x02\xa1"
                                   "m"),
        ARITY("notification of 4", "\x94\x02\xa1"
                                   "m"
                                   "\x90\x00"),
#undef ARITY
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_msg_t m;
        int rc = proto_msg_decode((const uint8_t *)cases[i].bytes, cases[i].len, &f->zone, &m);
        if (rc != -PROTO_E_INVALID_MESSAGE)
            fail_msg("%s: rc %d", cases[i].name, rc);
        /* Only a 4-element array has a msgid slot to answer. */
        assert_false(m.has_msgid);
    }
}

static void test_decode_refuses_msgid_outside_uint32(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    /* [0, 4294967295, "m", []] is the largest msgid. */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x00\xce\xff\xff\xff\xff\xa1"
                                "m"
                                "\x90",
                                &m),
                     0);
    assert_true(m.has_msgid);
    assert_int_equal(m.msgid, UINT32_MAX);

    /* [0, 4294967296, "m", []] */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa1"
                                "m"
                                "\x90",
                                &m),
                     -PROTO_E_INVALID_MESSAGE);
    assert_false(m.has_msgid);

    /* [0, -1, "m", []] */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x00\xff\xa1"
                                "m"
                                "\x90",
                                &m),
                     -PROTO_E_INVALID_MESSAGE);
    assert_false(m.has_msgid);

    /* [0, 1.0, "m", []] */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x00\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00\xa1"
                                "m"
                                "\x90",
                                &m),
                     -PROTO_E_INVALID_MESSAGE);
    assert_false(m.has_msgid);
}

static void test_decode_refuses_method_that_is_not_a_string(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    /* [0, 8, 5, []]: the msgid is readable, so the error can be addressed. */
    assert_int_equal(DECODE_LIT(f, "\x94\x00\x08\x05\x90", &m), -PROTO_E_INVALID_MESSAGE);
    assert_true(m.has_msgid);
    assert_int_equal(m.msgid, 8);
    /* [0, 8, bin "m", []] */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x00\x08\xc4\x01"
                                "m"
                                "\x90",
                                &m),
                     -PROTO_E_INVALID_MESSAGE);
    assert_true(m.has_msgid);
    /* [2, nil, []] */
    assert_int_equal(DECODE_LIT(f, "\x93\x02\xc0\x90", &m), -PROTO_E_INVALID_MESSAGE);
    assert_false(m.has_msgid);
}

static void test_decode_refuses_non_array_root(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    assert_int_equal(DECODE_LIT(f, "\x00", &m), -PROTO_E_INVALID_MESSAGE);
    assert_int_equal(DECODE_LIT(f, "\xc0", &m), -PROTO_E_INVALID_MESSAGE);
    assert_int_equal(DECODE_LIT(f,
                                "\xa4"
                                "ping",
                                &m),
                     -PROTO_E_INVALID_MESSAGE);
    /* {0: 0, 1: 1, 2: "m", 3: []} looks like a request only by its keys. */
    assert_int_equal(DECODE_LIT(f,
                                "\x84\x00\x00\x01\x01\x02\xa1"
                                "m"
                                "\x03\x90",
                                &m),
                     -PROTO_E_INVALID_MESSAGE);
    assert_false(m.has_msgid);
}

static void test_decode_reports_parse_error_for_bytes_msgpack_rejects(void **state)
{
    fixture_t *f = *state;
    proto_msg_t m;
    assert_int_equal(DECODE_LIT(f, "\xc1", &m), -PROTO_E_PARSE_ERROR);
    /* truncated [0, 1, ...] */
    assert_int_equal(DECODE_LIT(f, "\x94\x00\x01", &m), -PROTO_E_PARSE_ERROR);
    assert_int_equal(proto_msg_decode((const uint8_t *)"", 0, &f->zone, &m), -PROTO_E_PARSE_ERROR);
    /* a whole request followed by one more byte */
    assert_int_equal(DECODE_LIT(f,
                                "\x94\x00\x01\xa1"
                                "m"
                                "\x90\x00",
                                &m),
                     -PROTO_E_PARSE_ERROR);
    assert_false(m.has_msgid);

    /* 33 levels: more than msgpack-c's fixed stack (the scanner stops this
     * before it gets here; the decoder must not crash either way). */
    uint8_t deep[33];
    memset(deep, 0x91, sizeof deep - 1);
    deep[sizeof deep - 1] = 0x90;
    assert_int_equal(proto_msg_decode(deep, sizeof deep, &f->zone, &m), -PROTO_E_PARSE_ERROR);
}

/* A request msgpack-c could not decode for lack of memory is still
 * answered: its msgid is read off the raw bytes, in every integer encoding
 * of a value 0..UINT32_MAX the decoder accepts, and refused otherwise. */
static void test_peek_msgid_reads_every_encoding_of_a_uint32(void **state)
{
    (void)state;
    uint32_t id = 0;
    struct {
        const char *bytes;
        size_t len;
        bool ok;
        uint32_t want;
    } cases[] = {
        {"\x94\x00\x07", 3, true, 7},                          /* fixint */
        {"\x94\x00\xcc\xff", 4, true, 255},                    /* uint 8 */
        {"\x94\x00\xcd\x01\x00", 5, true, 256},                /* uint 16 */
        {"\x94\x00\xce\xff\xff\xff\xff", 7, true, UINT32_MAX}, /* uint 32 */
        {"\x94\x00\xcf\x00\x00\x00\x00\xff\xff\xff\xff", 11, true, UINT32_MAX},
        {"\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 11, false, 0}, /* 2^32 */
        {"\x94\x00\xd0\x05", 4, true, 5},                               /* int 8 */
        {"\x94\x00\xd0\xff", 4, false, 0},                              /* -1 */
        {"\x94\x00\xd3\x00\x00\x00\x00\x00\x00\x00\x2a", 11, true, 42},
        {"\x94\x00\xce\xff\xff", 5, false, 0}, /* cut short */
        {"\x94\x01\x07", 3, false, 0},         /* a response */
        {"\x93\x02\xa1", 3, false, 0},         /* a notification */
        {"\xdc\x00\x04\x00\x09", 5, true, 9},  /* array 16 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        id = 12345;
        bool ok = proto_peek_msgid((const uint8_t *)cases[i].bytes, cases[i].len, &id);
        if (ok != cases[i].ok || (ok && id != cases[i].want))
            fail_msg("case %zu: got %d/%u", i, ok, id);
    }
}

/* Error replies ------------------------------------------------------------ */

static void test_err_set_returns_negated_code_and_formats_message(void **state)
{
    proto_err_t e;
    assert_int_equal(proto_err_set(&e, PROTO_E_NOT_FOUND, "user %s not found", "u1"),
                     -PROTO_E_NOT_FOUND);
    assert_int_equal(e.code, PROTO_E_NOT_FOUND);
    assert_string_equal(e.message, "user u1 not found");
    /* A negative code is accepted too, as functions return them. */
    assert_int_equal(proto_err_set(&e, -PROTO_E_CONFLICT, NULL), -PROTO_E_CONFLICT);
    assert_int_equal(e.code, PROTO_E_CONFLICT);
    assert_string_equal(e.message, "");
}

static void test_err_set_truncates_long_message_and_clears_details(void **state)
{
    proto_err_t e;
    char longer[PROTO_ERR_MSG_MAX * 2];
    memset(longer, 'm', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    proto_err_set(&e, PROTO_E_INTERNAL, "%s", longer);
    assert_int_equal(strlen(e.message), PROTO_ERR_MSG_MAX - 1);

    proto_err_detail(&e, "k", "v", 1);
    assert_int_equal(e.ndetails, 1);
    proto_err_set(&e, PROTO_E_INTERNAL, NULL);
    assert_int_equal(e.ndetails, 0);
}

static void test_error_response_round_trips(void **state)
{
    fixture_t *f = *state;
    proto_err_t e;
    proto_err_set(&e, -PROTO_E_NOT_FOUND, "user %s not found", "u1");
    proto_err_detail(&e, "id", "u1", 2);
    proto_err_detail(&e, "model", "user", 4);
    proto_pack_error_response(&f->pk, 77, &e);

    msgpack_object root = unpack_packed(f);
    assert_int_equal(root.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(root.via.array.size, 4);
    const msgpack_object *el = root.via.array.ptr;
    assert_int_equal(el[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(el[0].via.u64, PROTO_MSG_RESPONSE);
    assert_int_equal(el[1].via.u64, 77);
    assert_int_equal(el[3].type, MSGPACK_OBJECT_NIL);

    assert_int_equal(el[2].type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(el[2].via.array.size, 4);
    const msgpack_object *err = el[2].via.array.ptr;
    assert_int_equal(err[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(err[0].via.u64, 200);
    assert_str_obj(&err[1], "NOT_FOUND");
    assert_str_obj(&err[2], "user u1 not found");
    assert_int_equal(err[3].type, MSGPACK_OBJECT_MAP);
    assert_int_equal(err[3].via.map.size, 2);
    assert_str_obj(&err[3].via.map.ptr[0].key, "id");
    assert_str_obj(&err[3].via.map.ptr[0].val, "u1");
    assert_str_obj(&err[3].via.map.ptr[1].key, "model");
    assert_str_obj(&err[3].via.map.ptr[1].val, "user");
}

static void test_error_response_uses_table_message_when_none_given(void **state)
{
    fixture_t *f = *state;
    proto_err_t e;
    proto_err_set(&e, PROTO_E_INTERNAL, NULL);
    proto_pack_error_response(&f->pk, UINT32_MAX, &e);

    msgpack_object root = unpack_packed(f);
    const msgpack_object *el = root.via.array.ptr;
    assert_int_equal(el[1].via.u64, UINT32_MAX);
    const msgpack_object *err = el[2].via.array.ptr;
    assert_str_obj(&err[1], "INTERNAL");
    assert_str_obj(&err[2], "internal server error");
    assert_int_equal(err[3].type, MSGPACK_OBJECT_MAP);
    assert_int_equal(err[3].via.map.size, 0);
}

static void test_error_notify_carries_the_error_in_params(void **state)
{
    fixture_t *f = *state;
    proto_err_t e;
    proto_err_set(&e, PROTO_E_MESSAGE_TOO_LARGE, NULL);
    proto_pack_error_notify(&f->pk, &e);

    /* It is itself a well-formed notification. */
    proto_msg_t m;
    assert_int_equal(decode_packed(f, &m), 0);
    assert_int_equal(m.type, PROTO_MSG_NOTIFY);
    assert_method(&m, "server.error");
    assert_false(m.params_ok); /* [[...]] is not the named-argument shape */

    msgpack_object root = unpack_packed(f);
    const msgpack_object *params = &root.via.array.ptr[2];
    assert_int_equal(params->via.array.size, 1);
    const msgpack_object *err = params->via.array.ptr[0].via.array.ptr;
    assert_int_equal(err[0].via.u64, PROTO_E_MESSAGE_TOO_LARGE);
    assert_str_obj(&err[1], "MESSAGE_TOO_LARGE");
}

static void test_result_head_and_one_result_make_a_response(void **state)
{
    fixture_t *f = *state;
    proto_pack_result_head(&f->pk, 5);
    proto_pack_cstr(&f->pk, "pong");

    msgpack_object root = unpack_packed(f);
    assert_int_equal(root.via.array.size, 4);
    assert_int_equal(root.via.array.ptr[0].via.u64, PROTO_MSG_RESPONSE);
    assert_int_equal(root.via.array.ptr[1].via.u64, 5);
    assert_int_equal(root.via.array.ptr[2].type, MSGPACK_OBJECT_NIL);
    assert_str_obj(&root.via.array.ptr[3], "pong");
}

static void test_err_detail_replaces_control_and_non_ascii_bytes(void **state)
{
    proto_err_t e;
    proto_err_set(&e, PROTO_E_INVALID_ARGUMENT, NULL);
    /* NUL, newline, ESC, DEL and every byte >= 0x80 become '?': the echo is
     * always valid UTF-8 even when the input was cut mid-character or was
     * not UTF-8 at all; the NUL does not end the value. */
    static const char val[] = "a\0b\nc\x1b[31md\x7f"
                              "e\xc3\xa9";
    proto_err_detail(&e, "field", val, sizeof val - 1);
    assert_int_equal(e.ndetails, 1);
    assert_string_equal(e.detail_key[0], "field");
    assert_string_equal(e.detail_val[0], "a?b?c?[31md?e??");
}

static void test_err_detail_truncates_long_values(void **state)
{
    proto_err_t e;
    proto_err_set(&e, PROTO_E_INVALID_ARGUMENT, NULL);
    char val[300];
    memset(val, 'v', sizeof val);
    proto_err_detail(&e, "v", val, sizeof val);
    assert_int_equal(strlen(e.detail_val[0]), sizeof e.detail_val[0] - 1);
    assert_string_equal(e.detail_val[0] + sizeof e.detail_val[0] - 4, "..."); /* cut is marked */

    /* A value that fits exactly is kept whole. */
    proto_err_detail(&e, "w", val, sizeof e.detail_val[0] - 1);
    assert_int_equal(strlen(e.detail_val[1]), sizeof e.detail_val[0] - 1);
}

static void test_err_detail_ignores_pairs_beyond_the_limit(void **state)
{
    proto_err_t e;
    proto_err_set(&e, PROTO_E_INVALID_ARGUMENT, NULL);
    static const char digits[] = "0123456789";
    for (unsigned i = 0; i < PROTO_ERR_DETAILS + 2; i++)
        proto_err_detail(&e, "k", &digits[i], 1);
    assert_int_equal(e.ndetails, PROTO_ERR_DETAILS);
    assert_string_equal(e.detail_val[PROTO_ERR_DETAILS - 1], "3");
}

static void test_str_printable_marks_a_cut_with_an_ellipsis_when_it_fits(void **state)
{
    char out[8];
    /* 7 bytes of room: 4 kept, then "...". */
    assert_ptr_equal(proto_str_printable(out, sizeof out, "abcdefghij", 10), out);
    assert_string_equal(out, "abcd...");
    /* Exactly the room: nothing is cut. */
    proto_str_printable(out, sizeof out, "abcdefg", 7);
    assert_string_equal(out, "abcdefg");
    /* Room for only the marker: the marker alone. */
    proto_str_printable(out, 4, "abcdefg", 7);
    assert_string_equal(out, "...");
    /* Less room than the marker: a plain cut. */
    proto_str_printable(out, 3, "abcdefg", 7);
    assert_string_equal(out, "ab");
}

static void test_str_printable_handles_empty_and_zero_sized_output(void **state)
{
    char out[4] = {'x', 'x', 'x', 'x'};
    /* No room at all: nothing is written, not even the terminator. */
    proto_str_printable(out, 0, "abc", 3);
    assert_int_equal(out[0], 'x');
    proto_str_printable(out, 1, "abc", 3);
    assert_string_equal(out, "");
    proto_str_printable(out, sizeof out, NULL, 0);
    assert_string_equal(out, "");
    /* Non-ASCII bytes become '?' one for one. */
    proto_str_printable(out, sizeof out, "\xc3\xa9", 2);
    assert_string_equal(out, "??");
}

/* Timestamps --------------------------------------------------------------- */

static int64_t time_round_trip(fixture_t *f, int64_t ms)
{
    f->buf.len = 0;
    proto_pack_time_ms(&f->pk, ms);
    msgpack_object o = unpack_packed(f);
    int64_t back = 0;
    assert_int_equal(proto_obj_time_ms(&o, &back), 0);
    return back;
}

static void test_time_ms_round_trips(void **state)
{
    fixture_t *f = *state;
    static const int64_t values[] = {
        0,
        1,
        999,
        1000,
        1700000000123LL,
        -1,
        -999,
        -1000,
        -1001,
        -1700000000123LL,
        4294967295000LL,    /* last second of the 32-bit form */
        4294967296000LL,    /* first of the 64-bit form */
        17179869183999LL,   /* last millisecond of the 64-bit form */
        17179869184000LL,   /* first of the 96-bit form */
        8640000000000000LL, /* largest JavaScript Date */
        -8640000000000000LL,
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        int64_t back = time_round_trip(f, values[i]);
        if (back != values[i])
            fail_msg("%lld came back as %lld", (long long)values[i], (long long)back);
    }
}

static void test_time_negative_ms_floors_to_whole_seconds(void **state)
{
    fixture_t *f = *state;
    static const struct {
        int64_t ms;
        int64_t sec;
        uint32_t nsec;
    } cases[] = {
        {-1, -1, 999000000},    {-999, -1, 1000000},  {-1000, -1, 0},
        {-1500, -2, 500000000}, {1500, 1, 500000000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f->buf.len = 0;
        proto_pack_time_ms(&f->pk, cases[i].ms);
        msgpack_object o = unpack_packed(f);
        msgpack_timestamp ts;
        assert_true(msgpack_object_to_timestamp(&o, &ts));
        if (ts.tv_sec != cases[i].sec || ts.tv_nsec != cases[i].nsec)
            fail_msg("%lld ms packed as %lld s %u ns", (long long)cases[i].ms, (long long)ts.tv_sec,
                     ts.tv_nsec);
    }
}

/* Unpacks hand-written bytes as one object into the fixture's zone. */
static msgpack_object unpack_bytes(fixture_t *f, const char *p, size_t len)
{
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(p, len, &off, &f->zone, &o), MSGPACK_UNPACK_SUCCESS);
    return o;
}

#define UNPACK_LIT(f, lit) unpack_bytes((f), (lit), sizeof(lit) - 1)

static void test_time_rejects_what_is_not_a_timestamp(void **state)
{
    fixture_t *f = *state;
    int64_t ms = 12345;
    /* ext type 5 of the 32-bit timestamp's size */
    msgpack_object o = UNPACK_LIT(f, "\xd6\x05\x00\x00\x00\x01");
    assert_int_equal(proto_obj_time_ms(&o, &ms), -1);
    /* type -1 but 2 bytes long: no timestamp has that size */
    o = UNPACK_LIT(f, "\xd5\xff\x00\x01");
    assert_int_equal(proto_obj_time_ms(&o, &ms), -1);
    /* a plain integer of milliseconds */
    o = UNPACK_LIT(f, "\xcd\x01\x00");
    assert_int_equal(proto_obj_time_ms(&o, &ms), -1);
    /* nothing was written on failure */
    assert_int_equal(ms, 12345);
}

static void test_time_rejects_nanoseconds_above_999999999(void **state)
{
    fixture_t *f = *state;
    int64_t ms = 0;
    /* 96-bit form: nsec 999999999 (0x3b9ac9ff), sec 0 is the last valid. */
    msgpack_object o = UNPACK_LIT(f, "\xc7\x0c\xff\x3b\x9a\xc9\xff"
                                     "\x00\x00\x00\x00\x00\x00\x00\x00");
    assert_int_equal(proto_obj_time_ms(&o, &ms), 0);
    assert_int_equal(ms, 999);
    /* nsec 1000000000 (0x3b9aca00) */
    o = UNPACK_LIT(f, "\xc7\x0c\xff\x3b\x9a\xca\x00"
                      "\x00\x00\x00\x00\x00\x00\x00\x00");
    assert_int_equal(proto_obj_time_ms(&o, &ms), -1);
    /* 64-bit form: 30 bits of nsec can hold 1000000000 too
     * (1000000000 << 34 = 0xee6b280000000000). */
    o = UNPACK_LIT(f, "\xd7\xff\xee\x6b\x28\x00\x00\x00\x00\x00");
    assert_int_equal(proto_obj_time_ms(&o, &ms), -1);
}

static void test_time_accepts_the_js_date_range_and_refuses_one_ms_past(void **state)
{
    fixture_t *f = *state;
    int64_t ms = 0;
    /* 96-bit form, sec 8640000000000, nsec 0: the last JS Date */
    msgpack_object o = UNPACK_LIT(f, "\xc7\x0c\xff\x00\x00\x00\x00"
                                     "\x00\x00\x07\xdb\xa8\x21\x80\x00");
    assert_int_equal(proto_obj_time_ms(&o, &ms), 0);
    assert_int_equal(ms, 8640000000000000LL);
    /* the same second + 1 ms */
    o = UNPACK_LIT(f, "\xc7\x0c\xff\x00\x0f\x42\x40"
                      "\x00\x00\x07\xdb\xa8\x21\x80\x00");
    assert_int_equal(proto_obj_time_ms(&o, &ms), -1);
    /* sec -8640000000000: the first JS Date */
    o = UNPACK_LIT(f, "\xc7\x0c\xff\x00\x00\x00\x00"
                      "\xff\xff\xf8\x24\x57\xde\x80\x00");
    assert_int_equal(proto_obj_time_ms(&o, &ms), 0);
    assert_int_equal(ms, -8640000000000000LL);
    /* sec -8640000000001 + 999 ms = 1 ms before it */
    o = UNPACK_LIT(f, "\xc7\x0c\xff\x3b\x8b\x87\xc0"
                      "\xff\xff\xf8\x24\x57\xde\x7f\xff");
    assert_int_equal(proto_obj_time_ms(&o, &ms), -1);
    /* INT64_MIN seconds: refused, not overflowed */
    o = UNPACK_LIT(f, "\xc7\x0c\xff\x00\x00\x00\x00"
                      "\x80\x00\x00\x00\x00\x00\x00\x00");
    assert_int_equal(proto_obj_time_ms(&o, &ms), -1);
}

/* proto_buf ---------------------------------------------------------------- */

static void test_buf_init_allocates_nothing(void **state)
{
    proto_buf_t b;
    memset(&b, 0xa5, sizeof b);
    proto_buf_init(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.failed, 0);
    proto_buf_deinit(&b);
}

static void test_buf_append_grows_and_keeps_bytes(void **state)
{
    proto_buf_t b;
    proto_buf_init(&b);
    uint8_t chunk[37];
    for (unsigned i = 0; i < 100; i++) {
        memset(chunk, (int)i, sizeof chunk);
        assert_int_equal(proto_buf_append(&b, chunk, sizeof chunk), 0);
        assert_true(b.cap >= b.len);
    }
    assert_int_equal(b.len, 100 * sizeof chunk);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(b.data[i], (uint8_t)(i / sizeof chunk));
    assert_int_equal(b.failed, 0);
    proto_buf_deinit(&b);
}

static void test_buf_append_of_nothing_allocates_nothing(void **state)
{
    proto_buf_t b;
    proto_buf_init(&b);
    assert_int_equal(proto_buf_append(&b, NULL, 0), 0);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    proto_buf_deinit(&b);
}

static void test_buf_reserve_makes_room_without_moving_len(void **state)
{
    proto_buf_t b;
    proto_buf_init(&b);
    assert_int_equal(proto_buf_reserve(&b, 1000), 0);
    assert_true(b.cap >= 1000);
    assert_int_equal(b.len, 0);
    /* Filling the reserved room does not move the storage. */
    uint8_t *before = b.data;
    uint8_t bytes[1000] = {0};
    assert_int_equal(proto_buf_append(&b, bytes, sizeof bytes), 0);
    assert_ptr_equal(b.data, before);
    /* Reserving what is already there is free. */
    size_t cap = b.cap;
    assert_int_equal(proto_buf_reserve(&b, cap - b.len), 0);
    assert_int_equal(b.cap, cap);
    proto_buf_deinit(&b);
}

static void test_buf_reserve_refuses_impossible_size_without_failing_buffer(void **state)
{
    proto_buf_t b;
    proto_buf_init(&b);
    assert_int_equal(proto_buf_append(&b, "abc", 3), 0);
    size_t cap = b.cap;
    assert_int_equal(proto_buf_reserve(&b, SIZE_MAX), -1);
    assert_int_equal(proto_buf_reserve(&b, SIZE_MAX / 2), -1);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.failed, 0);
    proto_buf_deinit(&b);
}

static void test_buf_failed_append_appends_nothing_and_sticks(void **state)
{
    proto_buf_t b;
    proto_buf_init(&b);
    assert_int_equal(proto_buf_append(&b, "abc", 3), 0);
    /* The size is refused before any byte is read. */
    assert_int_equal(proto_buf_append(&b, "x", SIZE_MAX - 1), -1);
    assert_int_equal(b.failed, 1);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "abc", 3);
    /* A later append that fits does not clear the flag: the contents are
     * still missing a piece. */
    assert_int_equal(proto_buf_append(&b, "d", 1), 0);
    assert_int_equal(b.failed, 1);
    /* deinit makes it reusable. */
    proto_buf_deinit(&b);
    assert_int_equal(b.failed, 0);
    assert_null(b.data);
    assert_int_equal(proto_buf_append(&b, "e", 1), 0);
    assert_int_equal(b.len, 1);
    proto_buf_deinit(&b);
}

static void test_buf_msgpack_write_reports_failure_to_packer(void **state)
{
    proto_buf_t b;
    proto_buf_init(&b);
    assert_int_equal(proto_buf_msgpack_write(&b, "xy", 2), 0);
    assert_int_equal(b.len, 2);
    assert_int_equal(proto_buf_msgpack_write(&b, "z", SIZE_MAX - 1), -1);
    assert_int_equal(b.failed, 1);
    proto_buf_deinit(&b);
}

/* Error table -------------------------------------------------------------- */

static void test_error_lookup_of_a_protocol_error(void **state)
{
    assert_string_equal(proto_error_name(PROTO_E_PARSE_ERROR), "PARSE_ERROR");
    assert_string_equal(proto_error_message(PROTO_E_PARSE_ERROR),
                        "message is not valid MessagePack");
    assert_true(proto_error_is_fatal(PROTO_E_PARSE_ERROR));
    /* Functions return negated codes; lookups take either sign. */
    assert_string_equal(proto_error_name(-PROTO_E_NESTING_TOO_DEEP), "NESTING_TOO_DEEP");
    assert_true(proto_error_is_fatal(-PROTO_E_NESTING_TOO_DEEP));
}

static void test_error_lookup_of_a_request_error(void **state)
{
    assert_string_equal(proto_error_name(PROTO_E_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(proto_error_message(PROTO_E_NOT_FOUND), "no such record");
    assert_false(proto_error_is_fatal(PROTO_E_NOT_FOUND));
    assert_false(proto_error_is_fatal(-PROTO_E_OUTCOME_UNKNOWN));
}

static void test_error_lookup_of_an_unknown_code(void **state)
{
    static const int unknown[] = {0, 8, 99, 106, 9999, -9999};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_string_equal(proto_error_name(unknown[i]), "UNKNOWN_ERROR");
        assert_string_equal(proto_error_message(unknown[i]), "unknown error");
        assert_false(proto_error_is_fatal(unknown[i]));
    }
}

static void test_error_table_is_fatal_exactly_in_protocol_range(void **state)
{
    /* errors.def: 1-99 are protocol errors (close), the rest request errors;
     * names are unique. */
    const char *seen[400] = {0};
    unsigned known = 0;
    for (int code = 1; code < 400; code++) {
        const char *name = proto_error_name(code);
        if (strcmp(name, "UNKNOWN_ERROR") == 0)
            continue;
        known++;
        if (proto_error_is_fatal(code) != (code < 100))
            fail_msg("%s (%d) has the wrong severity for its range", name, code);
        for (int other = 1; other < code; other++) {
            if (seen[other] && strcmp(seen[other], name) == 0)
                fail_msg("%s is used by %d and %d", name, other, code);
        }
        seen[code] = name;
        assert_string_not_equal(proto_error_message(code), "unknown error");
    }
    assert_true(known >= 20);
}

#define FIXTURE_TEST(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_decode_accepts_request_with_named_args),
        FIXTURE_TEST(test_decode_accepts_notification),
        FIXTURE_TEST(test_decode_treats_empty_params_as_no_arguments),
        FIXTURE_TEST(test_decode_accepts_params_holding_an_empty_map),
        FIXTURE_TEST(test_decode_accepts_params_holding_one_pair),
        FIXTURE_TEST(test_decode_reports_bad_params_shape_without_failing),
        FIXTURE_TEST(test_decode_refuses_response_but_keeps_msgid),
        FIXTURE_TEST(test_decode_refuses_unknown_message_type),
        FIXTURE_TEST(test_decode_refuses_wrong_arity),
        FIXTURE_TEST(test_decode_refuses_msgid_outside_uint32),
        FIXTURE_TEST(test_decode_refuses_method_that_is_not_a_string),
        FIXTURE_TEST(test_decode_refuses_non_array_root),
        FIXTURE_TEST(test_decode_reports_parse_error_for_bytes_msgpack_rejects),
        cmocka_unit_test(test_peek_msgid_reads_every_encoding_of_a_uint32),
        cmocka_unit_test(test_err_set_returns_negated_code_and_formats_message),
        cmocka_unit_test(test_err_set_truncates_long_message_and_clears_details),
        FIXTURE_TEST(test_error_response_round_trips),
        FIXTURE_TEST(test_error_response_uses_table_message_when_none_given),
        FIXTURE_TEST(test_error_notify_carries_the_error_in_params),
        FIXTURE_TEST(test_result_head_and_one_result_make_a_response),
        cmocka_unit_test(test_err_detail_replaces_control_and_non_ascii_bytes),
        cmocka_unit_test(test_err_detail_truncates_long_values),
        cmocka_unit_test(test_err_detail_ignores_pairs_beyond_the_limit),
        cmocka_unit_test(test_str_printable_marks_a_cut_with_an_ellipsis_when_it_fits),
        cmocka_unit_test(test_str_printable_handles_empty_and_zero_sized_output),
        FIXTURE_TEST(test_time_ms_round_trips),
        FIXTURE_TEST(test_time_negative_ms_floors_to_whole_seconds),
        FIXTURE_TEST(test_time_rejects_what_is_not_a_timestamp),
        FIXTURE_TEST(test_time_rejects_nanoseconds_above_999999999),
        FIXTURE_TEST(test_time_accepts_the_js_date_range_and_refuses_one_ms_past),
        cmocka_unit_test(test_buf_init_allocates_nothing),
        cmocka_unit_test(test_buf_append_grows_and_keeps_bytes),
        cmocka_unit_test(test_buf_append_of_nothing_allocates_nothing),
        cmocka_unit_test(test_buf_reserve_makes_room_without_moving_len),
        cmocka_unit_test(test_buf_reserve_refuses_impossible_size_without_failing_buffer),
        cmocka_unit_test(test_buf_failed_append_appends_nothing_and_sticks),
        cmocka_unit_test(test_buf_msgpack_write_reports_failure_to_packer),
        cmocka_unit_test(test_error_lookup_of_a_protocol_error),
        cmocka_unit_test(test_error_lookup_of_a_request_error),
        cmocka_unit_test(test_error_lookup_of_an_unknown_code),
        cmocka_unit_test(test_error_table_is_fatal_exactly_in_protocol_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
