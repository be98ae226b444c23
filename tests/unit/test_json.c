/* test_json.c - protocol/proto_json.c: MessagePack values written as JSON
 * for the extra-fields columns and packed back, for every supported type
 * (nested, unicode, 64-bit extremes, floats that must stay floats,
 * timestamps as {"$date": ms}); what has no JSON form is refused on the
 * way in; text that is not valid JSON (or nests too deep) is refused on
 * the way out; members mode hands back an object's members headless. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_buf.h"
#include "proto_json.h"

/* ---- helpers ------------------------------------------------------------ */

/* A MessagePack value built by a test: pack with v->pk, then call
 * value_done to get the object. */
typedef struct {
    msgpack_sbuffer sb; /* packed bytes */
    msgpack_packer pk;  /* packs into sb */
    msgpack_unpacked u; /* the unpacked object, after value_done */
} value_t;

static msgpack_packer *value_begin(value_t *v)
{
    msgpack_sbuffer_init(&v->sb);
    msgpack_packer_init(&v->pk, &v->sb, msgpack_sbuffer_write);
    msgpack_unpacked_init(&v->u);
    return &v->pk;
}

static const msgpack_object *value_done(value_t *v)
{
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&v->u, v->sb.data, v->sb.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, v->sb.size);
    return &v->u.data;
}

static void value_free(value_t *v)
{
    msgpack_unpacked_destroy(&v->u);
    msgpack_sbuffer_destroy(&v->sb);
}

/* Writes `o` as JSON into a NUL-terminated malloc'd string; NULL when
 * proto_json_write refuses it. */
static char *to_json(const msgpack_object *o)
{
    proto_buf_t b;
    proto_buf_init(&b);
    int rc = proto_json_write(o, &b);
    char *s = NULL;
    if (rc == 0) {
        assert_false(b.failed);
        s = malloc(b.len + 1);
        assert_non_null(s);
        memcpy(s, b.data, b.len);
        s[b.len] = '\0';
    }
    proto_buf_deinit(&b);
    return s;
}

/* Packs JSON text; returns 0 with the value in *out (free with
 * value_free), or -1 when the parser refuses it. */
static int from_json(const char *json, size_t len, value_t *out)
{
    value_begin(out);
    int rc = proto_json_pack(&out->pk, json, len, NULL);
    if (rc == 0)
        value_done(out);
    return rc;
}

static bool is_time(const msgpack_object *o, int64_t *ms)
{
    msgpack_timestamp ts;
    if (o->type != MSGPACK_OBJECT_EXT || o->via.ext.type != -1 ||
        !msgpack_object_to_timestamp(o, &ts) || ts.tv_nsec % 1000000 != 0)
        return false;
    *ms = ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000);
    return true;
}

/* Structural equality: map order matters not, floats compare bit for bit
 * (1.0 is not 1, -0.0 is not 0.0), timestamps by their instant. */
static bool same(const msgpack_object *a, const msgpack_object *b)
{
    if (a->type == MSGPACK_OBJECT_EXT || b->type == MSGPACK_OBJECT_EXT) {
        int64_t x, y;
        return is_time(a, &x) && is_time(b, &y) && x == y;
    }
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case MSGPACK_OBJECT_NIL: return true;
    case MSGPACK_OBJECT_BOOLEAN: return a->via.boolean == b->via.boolean;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return a->via.u64 == b->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return a->via.i64 == b->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return memcmp(&a->via.f64, &b->via.f64, sizeof(double)) == 0;
    case MSGPACK_OBJECT_STR:
        /* An empty str may have a NULL pointer: memcmp must not see it. */
        return a->via.str.size == b->via.str.size &&
               (a->via.str.size == 0 ||
                memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0);
    case MSGPACK_OBJECT_ARRAY:
        if (a->via.array.size != b->via.array.size)
            return false;
        for (uint32_t i = 0; i < a->via.array.size; i++) {
            if (!same(&a->via.array.ptr[i], &b->via.array.ptr[i]))
                return false;
        }
        return true;
    case MSGPACK_OBJECT_MAP:
        if (a->via.map.size != b->via.map.size)
            return false;
        for (uint32_t i = 0; i < a->via.map.size; i++) {
            bool found = false;
            for (uint32_t j = 0; j < b->via.map.size && !found; j++)
                found = same(&a->via.map.ptr[i].key, &b->via.map.ptr[j].key) &&
                        same(&a->via.map.ptr[i].val, &b->via.map.ptr[j].val);
            if (!found)
                return false;
        }
        return true;
    default: return false;
    }
}

/* Writes `o`, checks the text is `want_json` (when not NULL), packs it back
 * and checks the value is the same, type for type. */
static void round_trip(const msgpack_object *o, const char *want_json)
{
    char *json = to_json(o);
    if (!json)
        fail_msg("proto_json_write refused a value with a JSON form");
    if (want_json && strcmp(json, want_json) != 0)
        fail_msg("wrote %s, want %s", json, want_json);
    value_t back;
    if (from_json(json, strlen(json), &back) != 0)
        fail_msg("proto_json_pack refused its own output %s", json);
    if (!same(o, &back.u.data)) {
        char a[512], b[512];
        msgpack_object_print_buffer(a, sizeof a, *o);
        msgpack_object_print_buffer(b, sizeof b, back.u.data);
        fail_msg("%s came back as %s (via %s)", a, b, json);
    }
    value_free(&back);
    free(json);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void pack_time(msgpack_packer *pk, int64_t ms)
{
    int64_t sec = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec--;
    }
    msgpack_timestamp ts = {.tv_sec = sec, .tv_nsec = (uint32_t)rem * 1000000u};
    msgpack_pack_timestamp(pk, &ts);
}

/* ---- writing and reading back --------------------------------------------- */

static void test_json_scalars_round_trip_with_exact_text(void **state)
{
    (void)state;
    static const struct {
        int kind;
        int64_t i;
        const char *json;
    } cases[] = {
        {0, 0, "null"}, {1, 1, "true"}, {1, 0, "false"},
        {2, 0, "0"},    {2, 42, "42"},  {2, -17, "-17"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        value_t v;
        msgpack_packer *pk = value_begin(&v);
        if (cases[i].kind == 0)
            msgpack_pack_nil(pk);
        else if (cases[i].kind == 1)
            cases[i].i ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        else
            msgpack_pack_int64(pk, cases[i].i);
        round_trip(value_done(&v), cases[i].json);
        value_free(&v);
    }
}

static void test_json_64_bit_integer_extremes_round_trip_exactly(void **state)
{
    (void)state;
    value_t v;
    msgpack_pack_uint64(value_begin(&v), UINT64_MAX);
    round_trip(value_done(&v), "18446744073709551615");
    value_free(&v);
    msgpack_pack_int64(value_begin(&v), INT64_MIN);
    round_trip(value_done(&v), "-9223372036854775808");
    value_free(&v);
    msgpack_pack_int64(value_begin(&v), INT64_MAX);
    round_trip(value_done(&v), "9223372036854775807");
    value_free(&v);

    /* One past either end no longer fits: it is read as a float, as
     * JavaScript would. */
    value_t back;
    assert_int_equal(from_json("18446744073709551616", 20, &back), 0);
    assert_int_equal(back.u.data.type, MSGPACK_OBJECT_FLOAT64);
    assert_true(back.u.data.via.f64 == 18446744073709551616.0);
    value_free(&back);
    assert_int_equal(from_json("-9223372036854775809", 20, &back), 0);
    assert_int_equal(back.u.data.type, MSGPACK_OBJECT_FLOAT64);
    value_free(&back);
}

static void test_json_floats_stay_floats_and_keep_every_bit(void **state)
{
    (void)state;
    static const double values[] = {1.0,
                                    -1.0,
                                    0.0,
                                    -0.0,
                                    2.5,
                                    0.1,
                                    1e300,
                                    -1e-300,
                                    5e-324,
                                    1e21,
                                    123456789.0,
                                    3.141592653589793,
                                    9007199254740993.0,
                                    DBL_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        value_t v;
        msgpack_pack_double(value_begin(&v), values[i]);
        const msgpack_object *o = value_done(&v);
        char *json = to_json(o);
        assert_non_null(json);
        /* A float never looks like an integer on the way out. */
        if (!strpbrk(json, ".eE"))
            fail_msg("%.17g was written as %s, which reads back as an integer", values[i], json);
        free(json);
        round_trip(o, NULL);
        value_free(&v);
    }
    value_t v;
    msgpack_pack_double(value_begin(&v), 1.0);
    round_trip(value_done(&v), "1.0");
    value_free(&v);
    msgpack_pack_double(value_begin(&v), 2.5);
    round_trip(value_done(&v), "2.5");
    value_free(&v);

    /* A float32 is read back as the same number, as a float. */
    msgpack_pack_float(value_begin(&v), 0.5f);
    char *json = to_json(value_done(&v));
    value_t back;
    assert_int_equal(from_json(json, strlen(json), &back), 0);
    assert_int_equal(back.u.data.type, MSGPACK_OBJECT_FLOAT64);
    assert_true(back.u.data.via.f64 == 0.5);
    value_free(&back);
    free(json);
    value_free(&v);
}

static void test_json_strings_escape_quotes_backslashes_and_control_bytes(void **state)
{
    (void)state;
    value_t v;
    static const char s[] = "q\"b\\n\nr\rt\tnul\0x\x01\x1f\x7f/";
    msgpack_pack_str_with_body(value_begin(&v), s, sizeof s - 1);
    round_trip(value_done(&v), "\"q\\\"b\\\\n\\nr\\rt\\tnul\\u0000x\\u0001\\u001f\x7f/\"");
    value_free(&v);

    /* Every control byte is written so that a JSON parser accepts it. */
    char all[32];
    for (int c = 0; c < 32; c++)
        all[c] = (char)c;
    msgpack_pack_str_with_body(value_begin(&v), all, sizeof all);
    char *json = to_json(value_done(&v));
    for (const char *p = json; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
    free(json);
    round_trip(&v.u.data, NULL);
    value_free(&v);
}

static void test_json_unicode_passes_through_and_escapes_decode_to_utf8(void **state)
{
    (void)state;
    value_t v;
    const char *u8 = "Gr\xc3\xbc\xc3\x9f"
                     "e \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89";
    pack_cstr(value_begin(&v), u8);
    char want[64];
    snprintf(want, sizeof want, "\"%s\"", u8);
    round_trip(value_done(&v), want);
    value_free(&v);

    /* \u escapes in input, including a surrogate pair, become UTF-8. */
    static const struct {
        const char *json, *utf8;
    } esc[] = {
        {"\"\\u00e9\"", "\xc3\xa9"},
        {"\"\\u00E9\"", "\xc3\xa9"},
        {"\"\\u65e5\"", "\xe6\x97\xa5"},
        {"\"\\ud83c\\udf89\"", "\xf0\x9f\x8e\x89"},
        {"\"\\uD83C\\uDF89\"", "\xf0\x9f\x8e\x89"},
        {"\"a\\/b\\b\\f\"", "a/b\b\f"},
        {"\"\\u0000\"", ""}, /* length checked below */
    };
    for (size_t i = 0; i < sizeof esc / sizeof esc[0]; i++) {
        value_t back;
        if (from_json(esc[i].json, strlen(esc[i].json), &back) != 0)
            fail_msg("refused %s", esc[i].json);
        const msgpack_object *o = &back.u.data;
        assert_int_equal(o->type, MSGPACK_OBJECT_STR);
        size_t n = i == 6 ? 1 : strlen(esc[i].utf8);
        if (o->via.str.size != n || memcmp(o->via.str.ptr, i == 6 ? "\0" : esc[i].utf8, n) != 0)
            fail_msg("%s decoded wrongly", esc[i].json);
        value_free(&back);
    }
}

static void test_json_timestamps_are_written_as_dollar_date_and_read_back(void **state)
{
    (void)state;
    static const int64_t ms[] = {0,          1700000000123LL,    -1,
                                 -123456789, 8640000000000000LL, -8640000000000000LL};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        value_t v;
        pack_time(value_begin(&v), ms[i]);
        char want[64];
        snprintf(want, sizeof want, "{\"$date\":%lld}", (long long)ms[i]);
        round_trip(value_done(&v), want);
        value_free(&v);
    }
    /* Only the exact form is a date; anything else stays a map. */
    static const char *const maps[] = {
        "{\"$date\":1.5}",       "{\"$date\":\"2024-01-01\"}",
        "{\"$date\":1,\"x\":2}", "{\"$date\":8640000000000001}",
        "{\"$dat\":1}",
    };
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        value_t back;
        if (from_json(maps[i], strlen(maps[i]), &back) != 0)
            fail_msg("refused %s", maps[i]);
        if (back.u.data.type != MSGPACK_OBJECT_MAP)
            fail_msg("%s must stay a map", maps[i]);
        value_free(&back);
    }
}

static void test_json_a_map_that_only_looks_like_a_date_comes_back_as_a_map(void **state)
{
    (void)state;
    /* A provider's {"$date": 5} (MongoDB extended JSON, say) is data, not a
     * Date: it must not change type on the way through. */
    value_t v;
    msgpack_packer *pk = value_begin(&v);
    msgpack_pack_map(pk, 1);
    pack_cstr(pk, "$date");
    msgpack_pack_int64(pk, 5);
    round_trip(value_done(&v), NULL);
    value_free(&v);
}

static void test_json_nested_arrays_and_maps_round_trip(void **state)
{
    (void)state;
    value_t v;
    msgpack_packer *pk = value_begin(&v);
    msgpack_pack_map(pk, 5);
    pack_cstr(pk, "list");
    msgpack_pack_array(pk, 6);
    msgpack_pack_int64(pk, 1);
    pack_cstr(pk, "two");
    msgpack_pack_double(pk, 3.0);
    msgpack_pack_nil(pk);
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 0);
    pack_time(pk, 1600000000000LL);
    pack_cstr(pk, "map");
    msgpack_pack_map(pk, 2);
    pack_cstr(pk, "inner");
    msgpack_pack_map(pk, 0);
    pack_cstr(pk, "k\xc3\xa9y \"q\"");
    msgpack_pack_true(pk);
    pack_cstr(pk, "");
    pack_cstr(pk, "empty key");
    pack_cstr(pk, "emptyList");
    msgpack_pack_array(pk, 0);
    pack_cstr(pk, "emptyMap");
    msgpack_pack_map(pk, 0);
    round_trip(value_done(&v), NULL);
    value_free(&v);

    msgpack_pack_array(value_begin(&v), 0);
    round_trip(value_done(&v), "[]");
    value_free(&v);
    msgpack_pack_map(value_begin(&v), 0);
    round_trip(value_done(&v), "{}");
    value_free(&v);
    pk = value_begin(&v);
    msgpack_pack_map(pk, 1);
    pack_cstr(pk, "a");
    msgpack_pack_array(pk, 2);
    msgpack_pack_int64(pk, 1);
    msgpack_pack_false(pk);
    round_trip(value_done(&v), "{\"a\":[1,false]}");
    value_free(&v);
}

static void test_json_write_member_builds_an_object_piecewise(void **state)
{
    (void)state;
    value_t one, two;
    msgpack_pack_int64(value_begin(&one), 1);
    pack_cstr(value_begin(&two), "x");
    proto_buf_t b;
    proto_buf_init(&b);
    uint32_t count = 0;
    proto_buf_append(&b, "{", 1);
    assert_int_equal(proto_json_write_member("a", 1, value_done(&one), &b, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(proto_json_write_member("b\"", 2, value_done(&two), &b, &count), 0);
    assert_int_equal(count, 2);
    proto_buf_append(&b, "}", 1);
    assert_int_equal(b.len, strlen("{\"a\":1,\"b\\\"\":\"x\"}"));
    assert_memory_equal(b.data, "{\"a\":1,\"b\\\"\":\"x\"}", b.len);
    proto_buf_deinit(&b);
    value_free(&one);
    value_free(&two);
}

/* ---- refusals on the way in -------------------------------------------- */

static void expect_write_refused(const msgpack_object *o, const char *what)
{
    proto_buf_t b;
    proto_buf_init(&b);
    if (proto_json_write(o, &b) == 0)
        fail_msg("%s was written as JSON: %.*s", what, (int)b.len, (const char *)b.data);
    proto_buf_deinit(&b);
    uint32_t count = 0;
    proto_buf_init(&b);
    if (proto_json_write_member("k", 1, o, &b, &count) == 0)
        fail_msg("%s was written as a member", what);
    assert_int_equal(count, 0);
    proto_buf_deinit(&b);
}

static void test_json_write_refuses_values_with_no_json_form(void **state)
{
    (void)state;
    value_t v;
    msgpack_pack_bin_with_body(value_begin(&v), "\x00\x01", 2);
    expect_write_refused(value_done(&v), "bin");
    value_free(&v);
    static const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        msgpack_pack_double(value_begin(&v), bad[i]);
        expect_write_refused(value_done(&v), "NaN or an infinity");
        value_free(&v);
    }
    msgpack_pack_float(value_begin(&v), NAN);
    expect_write_refused(value_done(&v), "float32 NaN");
    value_free(&v);
    msgpack_pack_ext_with_body(value_begin(&v), "abcd", 4, 5);
    expect_write_refused(value_done(&v), "an extension other than the timestamp");
    value_free(&v);

    msgpack_packer *pk = value_begin(&v);
    msgpack_pack_map(pk, 1);
    msgpack_pack_int64(pk, 1);
    pack_cstr(pk, "integer key");
    expect_write_refused(value_done(&v), "a map with an integer key");
    value_free(&v);
    pk = value_begin(&v);
    msgpack_pack_map(pk, 1);
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
    expect_write_refused(value_done(&v), "a map with a nil key");
    value_free(&v);

    /* Deep inside a value, too. */
    pk = value_begin(&v);
    msgpack_pack_array(pk, 2);
    msgpack_pack_int64(pk, 1);
    msgpack_pack_map(pk, 1);
    pack_cstr(pk, "deep");
    msgpack_pack_array(pk, 1);
    msgpack_pack_bin_with_body(pk, "x", 1);
    expect_write_refused(value_done(&v), "bin nested in an array in a map");
    value_free(&v);
    pk = value_begin(&v);
    msgpack_pack_map(pk, 2);
    pack_cstr(pk, "ok");
    msgpack_pack_int64(pk, 1);
    pack_cstr(pk, "nan");
    msgpack_pack_double(pk, NAN);
    expect_write_refused(value_done(&v), "NaN as a map's second value");
    value_free(&v);
}

/* ---- refusals on the way out -------------------------------------------- */

static void expect_parse_refused(const char *json, size_t len)
{
    value_t v;
    value_begin(&v);
    if (proto_json_pack(&v.pk, json, len, NULL) == 0)
        fail_msg("accepted invalid JSON: %.*s", (int)len, json);
    msgpack_sbuffer_destroy(&v.sb);
}

static void test_json_parser_refuses_text_that_is_not_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "[1,]",
        "[,1]",
        "[1,,2]",
        "{\"a\":1,}",
        "{,}",
        "{\"a\"}",
        "{\"a\" 1}",
        "{\"a\":}",
        "{a:1}",
        "{1:1}",
        "\"bad escape \\x\"",
        "\"bad escape \\u12G4\"",
        "\"short escape \\u12\"",
        "\"lone high \\ud83c\"",
        "\"lone high then text \\ud83cx\"",
        "\"high then high \\ud83c\\ud83c\"",
        "\"lone low \\udf89\"",
        "\"unterminated",
        "\"ends in a backslash\\",
        "\"raw control \x01 byte\"",
        "\"raw newline \n\"",
        "[1",
        "[1,2",
        "{\"a\":1",
        "{\"a\":[1}",
        "[1}",
        "tru",
        "nul",
        "falsy",
        "NaN",
        "Infinity",
        "-Infinity",
        "-",
        "1.5.5",
        "1 2",
        "{} x",
        "[] []",
        "nulll",
        "\"a\"\"b\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_parse_refused(bad[i], strlen(bad[i]));
    /* A NUL byte in the middle is not whitespace. */
    expect_parse_refused("[1]\0", 4);
    expect_parse_refused("\"a\0b\"", 5);
}

/* `n` nested arrays around `inner` (which may be empty). */
static char *nested(int n, const char *inner)
{
    size_t len = 2 * (size_t)n + strlen(inner);
    char *s = malloc(len + 1);
    assert_non_null(s);
    memset(s, '[', (size_t)n);
    memcpy(s + n, inner, strlen(inner));
    memset(s + n + strlen(inner), ']', (size_t)n);
    s[len] = '\0';
    return s;
}

static void test_json_parser_accepts_depth_limit_and_refuses_one_more(void **state)
{
    (void)state;
    /* The top-level value is at depth 1. */
    char *at = nested(PROTO_JSON_MAX_DEPTH - 1, "0"); /* the 0 at the limit */
    value_t v;
    assert_int_equal(from_json(at, strlen(at), &v), 0);
    value_free(&v);
    free(at);
    char *over = nested(PROTO_JSON_MAX_DEPTH, "0");
    expect_parse_refused(over, strlen(over));
    free(over);
    char *empty_at = nested(PROTO_JSON_MAX_DEPTH, "");
    assert_int_equal(from_json(empty_at, strlen(empty_at), &v), 0);
    value_free(&v);
    free(empty_at);
    char *empty_over = nested(PROTO_JSON_MAX_DEPTH + 1, "");
    expect_parse_refused(empty_over, strlen(empty_over));
    free(empty_over);

    /* Objects count the same way. */
    char obj[8 * (PROTO_JSON_MAX_DEPTH + 2) + 8];
    for (int depth = PROTO_JSON_MAX_DEPTH; depth <= PROTO_JSON_MAX_DEPTH + 1; depth++) {
        size_t n = 0;
        for (int i = 1; i < depth; i++)
            n += (size_t)sprintf(obj + n, "{\"a\":");
        obj[n++] = '1';
        for (int i = 1; i < depth; i++)
            obj[n++] = '}';
        obj[n] = '\0';
        if (depth == PROTO_JSON_MAX_DEPTH) {
            assert_int_equal(from_json(obj, n, &v), 0);
            value_free(&v);
        } else {
            expect_parse_refused(obj, n);
        }
    }

    /* Far deeper text is refused without trouble. */
    char *deep = nested(100000, "");
    expect_parse_refused(deep, strlen(deep));
    free(deep);
}

static void test_json_parser_allows_whitespace_between_tokens(void **state)
{
    (void)state;
    static const char text[] = " \t\r\n{ \"a\" : [ 1 , \"x\" , { } ] , \"b\" :null } \n";
    value_t v;
    assert_int_equal(from_json(text, sizeof text - 1, &v), 0);
    assert_int_equal(v.u.data.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(v.u.data.via.map.size, 2);
    value_free(&v);
}

/* ---- members mode ----------------------------------------------------- */

static void test_json_members_mode_packs_members_without_a_header(void **state)
{
    (void)state;
    static const char text[] = "{\"a\":1,\"b\":[true,{\"$date\":1000}],\"c\":{\"d\":null}}";
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint32_t n = 99;
    assert_int_equal(proto_json_pack(&pk, text, sizeof text - 1, &n), 0);
    assert_int_equal(n, 3);
    /* Exactly 2n objects follow, key then value: a map header would make
     * the first object a map. */
    size_t off = 0;
    static const char *const keys[] = {"a", "b", "c"};
    for (uint32_t i = 0; i < 2 * n; i++) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
        if (i % 2 == 0) {
            assert_int_equal(u.data.type, MSGPACK_OBJECT_STR);
            assert_int_equal(u.data.via.str.size, 1);
            assert_memory_equal(u.data.via.str.ptr, keys[i / 2], 1);
        } else if (i == 3) {
            int64_t ms;
            assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
            assert_true(is_time(&u.data.via.array.ptr[1], &ms) && ms == 1000);
        }
        msgpack_unpacked_destroy(&u);
    }
    assert_int_equal(off, sb.size);
    msgpack_sbuffer_destroy(&sb);

    /* An empty object: no members, no bytes. */
    msgpack_sbuffer_init(&sb);
    n = 99;
    assert_int_equal(proto_json_pack(&pk, " { } ", 5, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
}

static void test_json_members_mode_refuses_anything_but_one_object(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[1]", "1", "\"s\"", "null", "true", "", "{\"a\":1} x", "{\"a\":1", "{\"a\":1,}", "{}{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        uint32_t n = 0;
        if (proto_json_pack(&pk, bad[i], strlen(bad[i]), &n) == 0)
            fail_msg("members mode accepted %s", bad[i]);
        msgpack_sbuffer_destroy(&sb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_scalars_round_trip_with_exact_text),
        cmocka_unit_test(test_json_64_bit_integer_extremes_round_trip_exactly),
        cmocka_unit_test(test_json_floats_stay_floats_and_keep_every_bit),
        cmocka_unit_test(test_json_strings_escape_quotes_backslashes_and_control_bytes),
        cmocka_unit_test(test_json_unicode_passes_through_and_escapes_decode_to_utf8),
        cmocka_unit_test(test_json_timestamps_are_written_as_dollar_date_and_read_back),
        cmocka_unit_test(test_json_a_map_that_only_looks_like_a_date_comes_back_as_a_map),
        cmocka_unit_test(test_json_nested_arrays_and_maps_round_trip),
        cmocka_unit_test(test_json_write_member_builds_an_object_piecewise),
        cmocka_unit_test(test_json_write_refuses_values_with_no_json_form),
        cmocka_unit_test(test_json_parser_refuses_text_that_is_not_json),
        cmocka_unit_test(test_json_parser_accepts_depth_limit_and_refuses_one_more),
        cmocka_unit_test(test_json_parser_allows_whitespace_between_tokens),
        cmocka_unit_test(test_json_members_mode_packs_members_without_a_header),
        cmocka_unit_test(test_json_members_mode_refuses_anything_but_one_object),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
