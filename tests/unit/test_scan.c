/* test_scan.c - the sans-I/O MessagePack scanner (proto_scan_feed): every
 * type split at every byte boundary, each limit at the limit and one past it,
 * a corpus of amplification and malformed inputs, and agreement with
 * msgpack_unpack on everything the scanner accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_errors.h"
#include "proto_rpc.h"
#include "proto_scan.h"

/* Limits for the sample table: far above any sample, so only shape matters. */
#define TABLE_MAX_BYTES (1u << 20)
#define TABLE_MAX_DEPTH PROTO_SCAN_DEPTH_CAP

/* Limits like the server's, for the hostile corpus. */
#define SERVER_MAX_BYTES (16u << 20)

typedef struct {
    const char *name;     /* printed when a check fails */
    const uint8_t *bytes; /* exactly one MessagePack object */
    size_t len;           /* its length */
} sample_t;

/* A string literal as a sample. Hex escapes are kept in their own literal
 * when a hex digit follows, because "\x01a" would be one escape. */
#define LIT(name, lit)                                                                             \
    {                                                                                              \
        name, (const uint8_t *)(lit), sizeof(lit) - 1                                              \
    }

static const sample_t literal_samples[] = {
    LIT("positive fixint 0", "\x00"),
    LIT("positive fixint 127", "\x7f"),
    LIT("negative fixint -1", "\xff"),
    LIT("negative fixint -32", "\xe0"),
    LIT("nil", "\xc0"),
    LIT("false", "\xc2"),
    LIT("true", "\xc3"),
    LIT("uint8", "\xcc\xff"),
    LIT("uint16", "\xcd\x12\x34"),
    LIT("uint32", "\xce\x01\x02\x03\x04"),
    LIT("uint64", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
    LIT("int8", "\xd0\x80"),
    LIT("int16", "\xd1\xff\x00"),
    LIT("int32", "\xd2\x80\x00\x00\x00"),
    LIT("int64", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
    LIT("float32", "\xca\x3f\x80\x00\x00"),
    LIT("float64", "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"),
    LIT("empty fixstr", "\xa0"),
    LIT("fixstr", "\xa5"
                  "hello"),
    LIT("fixstr of 31", "\xbf"
                        "0123456789012345678901234567890"),
    LIT("empty str8", "\xd9\x00"),
    LIT("str8", "\xd9\x03"
                "abc"),
    LIT("str16", "\xda\x00\x03"
                 "abc"),
    LIT("str32", "\xdb\x00\x00\x00\x03"
                 "abc"),
    LIT("empty bin8", "\xc4\x00"),
    LIT("bin8", "\xc4\x02\x01\x02"),
    LIT("bin16", "\xc5\x00\x02\xaa\xbb"),
    LIT("bin32", "\xc6\x00\x00\x00\x01\x00"),
    LIT("fixext1", "\xd4\x01\xaa"),
    LIT("fixext2", "\xd5\x01\xaa\xbb"),
    LIT("fixext4 timestamp32", "\xd6\xff\x5f\x00\x00\x00"),
    LIT("fixext8 timestamp64", "\xd7\xff\x00\x00\x00\x04\x5f\x00\x00\x00"),
    LIT("fixext16", "\xd8\x05"
                    "0123456789abcdef"),
    LIT("empty ext8", "\xc7\x00\x05"),
    LIT("ext8", "\xc7\x03\x05"
                "abc"),
    LIT("ext8 timestamp96", "\xc7\x0c\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"),
    LIT("ext16", "\xc8\x00\x02\x07\x01\x02"),
    LIT("ext32", "\xc9\x00\x00\x00\x01\x07\x01"),
    LIT("empty fixarray", "\x90"),
    LIT("fixarray", "\x93\x01\x02\x03"),
    LIT("empty array16", "\xdc\x00\x00"),
    LIT("array16", "\xdc\x00\x02\xc0\xc3"),
    LIT("empty array32", "\xdd\x00\x00\x00\x00"),
    LIT("array32", "\xdd\x00\x00\x00\x01\xa1"
                   "x"),
    LIT("empty fixmap", "\x80"),
    LIT("fixmap", "\x82\xa1"
                  "a"
                  "\x01\xa1"
                  "b"
                  "\xc0"),
    LIT("empty map16", "\xde\x00\x00"),
    LIT("map16", "\xde\x00\x01\x01\x02"),
    LIT("empty map32", "\xdf\x00\x00\x00\x00"),
    LIT("map32", "\xdf\x00\x00\x00\x01\xa1"
                 "k"
                 "\x90"),
    /* [[[[]]], {"a": [{}, []]}] */
    LIT("nested arrays and maps", "\x92\x91\x91\x90\x81\xa1"
                                  "a"
                                  "\x92\x80\x90"),
    /* {[1]: {nil: nil}}: containers as map keys */
    LIT("containers as map keys", "\x81\x91\x01\x81\xc0\xc0"),
    /* [[], {}, "", [[]]] */
    LIT("empty containers side by side", "\x94\x90\x80\xa0\x91\x90"),
    /* [0, 7, "server.ping", [{}]] */
    LIT("rpc request", "\x94\x00\x07\xab"
                       "server.ping"
                       "\x91\x80"),
    /* [0, 42, "auth.getUser", [{"id": "u1"}]] */
    LIT("rpc request with args", "\x94\x00\x2a\xac"
                                 "auth.getUser"
                                 "\x91\x81\xa2"
                                 "id"
                                 "\xa2"
                                 "u1"),
    /* [2, "log", []] */
    LIT("rpc notification", "\x93\x02\xa3"
                            "log"
                            "\x90"),
};

#define NLITERAL (sizeof literal_samples / sizeof literal_samples[0])

/* Canonical encodings of the 16- and 32-bit forms need bodies or counts too
 * long to write out; they are built once, before the tests run. */
enum { BIG_STR16, BIG_BIN16, BIG_STR32, BIG_BIN32, BIG_EXT32, BIG_ARRAY16, BIG_MAP16, NBIG };
static sample_t big_samples[NBIG];
static uint8_t *big_storage[NBIG];

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A header of `type` with an n-byte length field `count`, then `body` bytes
 * produced by `fill` (byte i of the body is fill(i)). */
static void build_big(int slot, const char *name, uint8_t type, unsigned len_bytes, uint64_t count,
                      size_t extra_head, size_t body, uint8_t (*fill)(size_t i))
{
    size_t head = 1 + len_bytes + extra_head;
    uint8_t *p = malloc(head + body);
    assert_non_null(p);
    p[0] = type;
    put_be(p + 1, count, len_bytes);
    if (extra_head)
        p[1 + len_bytes] = 0x07; /* ext type */
    for (size_t i = 0; i < body; i++)
        p[head + i] = fill(i);
    big_storage[slot] = p;
    big_samples[slot] = (sample_t){name, p, head + body};
}

static uint8_t fill_letters(size_t i)
{
    return (uint8_t)('a' + i % 26);
}

static uint8_t fill_every_byte(size_t i)
{
    return (uint8_t)i; /* includes 0xc1, which is data inside a body */
}

static uint8_t fill_nil(size_t i)
{
    return 0xc0;
}

/* map16 body: 20 pairs {i: -1} with fixint keys */
static uint8_t fill_pairs(size_t i)
{
    return i % 2 == 0 ? (uint8_t)(i / 2) : 0xff;
}

static int build_big_samples(void **state)
{
    build_big(BIG_STR16, "canonical str16 of 300", 0xda, 2, 300, 0, 300, fill_letters);
    build_big(BIG_BIN16, "canonical bin16 of 256", 0xc5, 2, 256, 0, 256, fill_every_byte);
    build_big(BIG_STR32, "canonical str32 of 70000", 0xdb, 4, 70000, 0, 70000, fill_letters);
    build_big(BIG_BIN32, "canonical bin32 of 70000", 0xc6, 4, 70000, 0, 70000, fill_every_byte);
    build_big(BIG_EXT32, "canonical ext32 of 70000", 0xc9, 4, 70000, 1, 70000, fill_every_byte);
    build_big(BIG_ARRAY16, "canonical array16 of 300 nil", 0xdc, 2, 300, 0, 300, fill_nil);
    build_big(BIG_MAP16, "canonical map16 of 20 pairs", 0xde, 2, 20, 0, 40, fill_pairs);
    return 0;
}

static int free_big_samples(void **state)
{
    for (int i = 0; i < NBIG; i++) {
        free(big_storage[i]);
        big_storage[i] = NULL;
    }
    return 0;
}

static size_t sample_count(void)
{
    return NLITERAL + NBIG;
}

static const sample_t *sample_at(size_t i)
{
    return i < NLITERAL ? &literal_samples[i] : &big_samples[i - NLITERAL];
}

/* One feed on a fresh scanner. */
static int scan_once(size_t max_bytes, uint32_t max_depth, const uint8_t *buf, size_t len,
                     size_t *msg_len)
{
    proto_scan_t s;
    proto_scan_init(&s, max_bytes, max_depth);
    return proto_scan_feed(&s, buf, len, msg_len);
}

/* Feeds a growing prefix of `buf` one byte at a time into one scanner and
 * returns the first result that is not NEED_MORE (or NEED_MORE at the end). */
static int scan_bytewise(proto_scan_t *s, const uint8_t *buf, size_t len, size_t *msg_len)
{
    int r = PROTO_SCAN_NEED_MORE;
    for (size_t k = 0; k <= len && r == PROTO_SCAN_NEED_MORE; k++)
        r = proto_scan_feed(s, buf, k, msg_len);
    return r;
}

static uint8_t *concat(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    uint8_t *p = malloc(alen + blen);
    assert_non_null(p);
    memcpy(p, a, alen);
    memcpy(p + alen, b, blen);
    return p;
}

/* Sample table ------------------------------------------------------------ */

static void test_scan_needs_more_for_every_split_then_completes(void **state)
{
    for (size_t i = 0; i < sample_count(); i++) {
        const sample_t *sm = sample_at(i);
        for (size_t k = 0; k < sm->len; k++) {
            proto_scan_t s;
            size_t msg_len = 0;
            proto_scan_init(&s, TABLE_MAX_BYTES, TABLE_MAX_DEPTH);
            int r = proto_scan_feed(&s, sm->bytes, k, &msg_len);
            if (r != PROTO_SCAN_NEED_MORE)
                fail_msg("%s: prefix of %zu/%zu bytes gave %d, want NEED_MORE", sm->name, k,
                         sm->len, r);
            r = proto_scan_feed(&s, sm->bytes, sm->len, &msg_len);
            if (r != PROTO_SCAN_COMPLETE || msg_len != sm->len)
                fail_msg("%s: split at %zu gave %d with msg_len %zu, want COMPLETE %zu", sm->name,
                         k, r, msg_len, sm->len);
        }
    }
}

static void test_scan_completes_on_whole_sample_in_one_feed(void **state)
{
    for (size_t i = 0; i < sample_count(); i++) {
        const sample_t *sm = sample_at(i);
        size_t msg_len = 0;
        int r = scan_once(TABLE_MAX_BYTES, TABLE_MAX_DEPTH, sm->bytes, sm->len, &msg_len);
        if (r != PROTO_SCAN_COMPLETE || msg_len != sm->len)
            fail_msg("%s: gave %d with msg_len %zu, want COMPLETE %zu", sm->name, r, msg_len,
                     sm->len);
    }
}

static void test_scan_resumes_when_sample_grows_one_byte_at_a_time(void **state)
{
    for (size_t i = 0; i < sample_count(); i++) {
        const sample_t *sm = sample_at(i);
        proto_scan_t s;
        proto_scan_init(&s, TABLE_MAX_BYTES, TABLE_MAX_DEPTH);
        size_t msg_len = 0;
        for (size_t k = 0; k < sm->len; k++) {
            int r = proto_scan_feed(&s, sm->bytes, k, &msg_len);
            if (r != PROTO_SCAN_NEED_MORE)
                fail_msg("%s: grown to %zu bytes gave %d, want NEED_MORE", sm->name, k, r);
        }
        int r = proto_scan_feed(&s, sm->bytes, sm->len, &msg_len);
        if (r != PROTO_SCAN_COMPLETE || msg_len != sm->len)
            fail_msg("%s: grown to full gave %d with msg_len %zu", sm->name, r, msg_len);
    }
}

static void test_scan_reports_only_first_object_when_bytes_follow(void **state)
{
    /* What follows must not be examined: a reserved byte, an oversized
     * header, or another copy of the same object. */
    static const uint8_t garbage[] = {0xc1, 0xdd, 0xff, 0xff, 0xff, 0xff};
    for (size_t i = 0; i < sample_count(); i++) {
        const sample_t *sm = sample_at(i);
        uint8_t *two = concat(sm->bytes, sm->len, sm->bytes, sm->len);
        uint8_t *bad = concat(sm->bytes, sm->len, garbage, sizeof garbage);
        size_t msg_len = 0;
        int r = scan_once(TABLE_MAX_BYTES, TABLE_MAX_DEPTH, two, 2 * sm->len, &msg_len);
        if (r != PROTO_SCAN_COMPLETE || msg_len != sm->len)
            fail_msg("%s twice: gave %d with msg_len %zu", sm->name, r, msg_len);
        r = scan_once(TABLE_MAX_BYTES, TABLE_MAX_DEPTH, bad, sm->len + sizeof garbage, &msg_len);
        if (r != PROTO_SCAN_COMPLETE || msg_len != sm->len)
            fail_msg("%s + garbage: gave %d with msg_len %zu", sm->name, r, msg_len);
        proto_scan_t s;
        proto_scan_init(&s, TABLE_MAX_BYTES, TABLE_MAX_DEPTH);
        r = scan_bytewise(&s, bad, sm->len + sizeof garbage, &msg_len);
        if (r != PROTO_SCAN_COMPLETE || msg_len != sm->len)
            fail_msg("%s + garbage, bytewise: gave %d with msg_len %zu", sm->name, r, msg_len);
        free(two);
        free(bad);
    }
}

/* Property: what the scanner accepts, msgpack-c decodes, to the same length. */
static void assert_unpacks_to(const char *name, const uint8_t *buf, size_t len, size_t want)
{
    msgpack_zone zone;
    assert_true(msgpack_zone_init(&zone, 1024));
    msgpack_object obj;
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack((const char *)buf, len, &off, &zone, &obj);
    msgpack_zone_destroy(&zone);
    msgpack_unpack_return want_ur =
        len == want ? MSGPACK_UNPACK_SUCCESS : MSGPACK_UNPACK_EXTRA_BYTES;
    if (ur != want_ur || off != want)
        fail_msg("%s: msgpack_unpack gave %d at offset %zu, scanner said %zu of %zu", name, (int)ur,
                 off, want, len);
}

static void test_scan_complete_samples_unpack_to_exactly_msg_len(void **state)
{
    for (size_t i = 0; i < sample_count(); i++) {
        const sample_t *sm = sample_at(i);
        size_t msg_len = 0;
        assert_int_equal(scan_once(TABLE_MAX_BYTES, TABLE_MAX_DEPTH, sm->bytes, sm->len, &msg_len),
                         PROTO_SCAN_COMPLETE);
        assert_unpacks_to(sm->name, sm->bytes, sm->len, msg_len);

        uint8_t *two = concat(sm->bytes, sm->len, sm->bytes, sm->len);
        assert_int_equal(scan_once(TABLE_MAX_BYTES, TABLE_MAX_DEPTH, two, 2 * sm->len, &msg_len),
                         PROTO_SCAN_COMPLETE);
        assert_unpacks_to(sm->name, two, 2 * sm->len, msg_len);
        free(two);
    }
}

/* xorshift: the same pseudo-random inputs on every run. */
static uint32_t next_random(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void test_scan_complete_random_inputs_unpack_to_exactly_msg_len(void **state)
{
    /* Bytes drawn mostly from headers with small counts, so that many inputs
     * are whole objects; the size limit keeps any declared length harmless
     * for msgpack-c, which only ever sees what the scanner accepted. */
    static const uint8_t alphabet[] = {
        0x00, 0x01, 0x7f, 0xff, 0xc0, 0xc2, 0xc3, 0x90, 0x91, 0x92, 0x93, 0x80, 0x81, 0x82,
        0xa0, 0xa1, 0xa3, 0xc4, 0xc7, 0xcc, 0xcd, 0xd0, 0xd4, 0xd6, 0xd9, 0xdc, 0xde, 0x02,
    };
    uint32_t seed = 0x9e3779b9u;
    uint8_t buf[40];
    unsigned complete = 0;
    for (unsigned iter = 0; iter < 200000; iter++) {
        size_t len = 1 + next_random(&seed) % sizeof buf;
        for (size_t i = 0; i < len; i++) {
            uint32_t r = next_random(&seed);
            buf[i] = r % 4 == 0 ? (uint8_t)(r >> 8) : alphabet[(r >> 8) % sizeof alphabet];
        }
        size_t msg_len = 0;
        int r = scan_once(4096, TABLE_MAX_DEPTH, buf, len, &msg_len);
        if (r == PROTO_SCAN_COMPLETE) {
            complete++;
            assert_true(msg_len >= 1 && msg_len <= len);
            assert_unpacks_to("random input", buf, len, msg_len);
        }
    }
    /* Guard against a generator that never produces a whole object. */
    assert_true(complete > 10000);
}

/* Size limit -------------------------------------------------------------- */

/* Writes an array of zeros that is exactly `n` bytes long (n >= 1; n == 1
 * is a lone zero) into `out` and returns n. */
static size_t build_exact(uint8_t *out, size_t n)
{
    if (n == 1) {
        out[0] = 0x00;
        return 1;
    }
    size_t head = n - 1 <= 15 ? 1 : 3;
    size_t count = n - head;
    if (head == 1) {
        out[0] = (uint8_t)(0x90 | count);
    } else {
        out[0] = 0xdc;
        put_be(out + 1, count, 2);
    }
    memset(out + head, 0, count);
    return n;
}

static void test_scan_accepts_exactly_max_bytes_and_rejects_one_more(void **state)
{
    static const size_t sizes[] = {1, 2, 5, 16, 17, 18, 19, 100, 4096, 65000};
    uint8_t *buf = malloc(65001);
    assert_non_null(buf);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        size_t msg_len = 0;
        build_exact(buf, n);
        if (scan_once(n, 32, buf, n, &msg_len) != PROTO_SCAN_COMPLETE || msg_len != n)
            fail_msg("%zu bytes with max_bytes %zu not COMPLETE", n, n);
        build_exact(buf, n + 1);
        int r = scan_once(n, 32, buf, n + 1, &msg_len);
        if (r != PROTO_SCAN_E_TOO_LARGE)
            fail_msg("%zu bytes with max_bytes %zu gave %d, want TOO_LARGE", n + 1, n, r);
    }
    free(buf);
}

static void test_scan_rejects_str_whose_body_crosses_the_limit_before_the_body_arrives(void **state)
{
    /* str8 of 8: 2 header bytes + 8 = 10. */
    uint8_t buf[16];
    size_t msg_len = 0;
    buf[0] = 0xd9;
    buf[1] = 8;
    memset(buf + 2, 'x', 9);
    assert_int_equal(scan_once(10, 32, buf, 10, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(msg_len, 10);

    buf[1] = 9; /* 11 bytes: only the header has to arrive to know */
    assert_int_equal(scan_once(10, 32, buf, 1, &msg_len), PROTO_SCAN_NEED_MORE);
    assert_int_equal(scan_once(10, 32, buf, 2, &msg_len), PROTO_SCAN_E_TOO_LARGE);

    /* The same inside an array: ["xxxxxx"] is 1 + 1 + 6 = 8. */
    static const uint8_t in_array[] = {0x91, 0xa6, 'x', 'x', 'x', 'x', 'x', 'x'};
    assert_int_equal(scan_once(8, 32, in_array, sizeof in_array, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(msg_len, 8);
    assert_int_equal(scan_once(7, 32, in_array, 2, &msg_len), PROTO_SCAN_E_TOO_LARGE);
}

static void test_scan_rejects_scalar_whose_payload_crosses_the_limit(void **state)
{
    static const uint8_t u64[] = {0xcf, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t ext[] = {0xd8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    size_t msg_len = 0;
    assert_int_equal(scan_once(9, 32, u64, sizeof u64, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(scan_once(8, 32, u64, 1, &msg_len), PROTO_SCAN_E_TOO_LARGE);
    assert_int_equal(scan_once(18, 32, ext, sizeof ext, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(scan_once(17, 32, ext, 1, &msg_len), PROTO_SCAN_E_TOO_LARGE);
}

static void test_scan_rejects_array_count_beyond_input_limit(void **state)
{
    /* Each declared element needs at least one byte. */
    static const uint8_t nine[] = {0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t ten[] = {0x9a};
    size_t msg_len = 0;
    assert_int_equal(scan_once(10, 32, nine, 1, &msg_len), PROTO_SCAN_NEED_MORE);
    assert_int_equal(scan_once(10, 32, nine, sizeof nine, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(msg_len, 10);
    assert_int_equal(scan_once(10, 32, ten, 1, &msg_len), PROTO_SCAN_E_TOO_LARGE);

    /* A map owes two elements per declared pair. */
    static const uint8_t four_pairs[] = {0x84, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t five_pairs[] = {0x85};
    assert_int_equal(scan_once(9, 32, four_pairs, sizeof four_pairs, &msg_len),
                     PROTO_SCAN_COMPLETE);
    assert_int_equal(scan_once(9, 32, five_pairs, 1, &msg_len), PROTO_SCAN_E_TOO_LARGE);
}

static void test_scan_counts_what_outer_containers_still_owe(void **state)
{
    /* [[0 x7], 0] is 10 bytes; [[0 x8], 0] is 11 and must fail at the inner
     * header, because the outer array still owes one element after it. */
    static const uint8_t fits[] = {0x92, 0x97, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t over[] = {0x92, 0x98};
    size_t msg_len = 0;
    assert_int_equal(scan_once(10, 32, fits, sizeof fits, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(msg_len, 10);
    assert_int_equal(scan_once(10, 32, over, 1, &msg_len), PROTO_SCAN_NEED_MORE);
    assert_int_equal(scan_once(10, 32, over, 2, &msg_len), PROTO_SCAN_E_TOO_LARGE);

    /* Same with a string: ["xxxxxx", 0] is 9 bytes; a 7-char string is 10. */
    static const uint8_t str_fits[] = {0x92, 0xa6, 'x', 'x', 'x', 'x', 'x', 'x', 0};
    static const uint8_t str_over[] = {0x92, 0xa7};
    assert_int_equal(scan_once(9, 32, str_fits, sizeof str_fits, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(scan_once(9, 32, str_over, 2, &msg_len), PROTO_SCAN_E_TOO_LARGE);
}

static void test_scan_init_clamps_limits(void **state)
{
    proto_scan_t s;
    size_t msg_len = 0;
    static const uint8_t zero[] = {0x00};
    static const uint8_t u8[] = {0xcc, 0x01};

    proto_scan_init(&s, 0, 0);
    assert_int_equal(s.max_bytes, 1);
    assert_int_equal(s.max_depth, 1);
    assert_int_equal(proto_scan_feed(&s, zero, 1, &msg_len), PROTO_SCAN_COMPLETE);
    proto_scan_reset(&s);
    assert_int_equal(proto_scan_feed(&s, u8, 1, &msg_len), PROTO_SCAN_E_TOO_LARGE);

    proto_scan_init(&s, 100, 1000);
    assert_int_equal(s.max_depth, PROTO_SCAN_DEPTH_CAP);
}

/* Depth limit ------------------------------------------------------------- */

/* `depth` nested arrays, the innermost empty: depth bytes. */
static size_t build_nested(uint8_t *out, size_t depth)
{
    memset(out, 0x91, depth - 1);
    out[depth - 1] = 0x90;
    return depth;
}

static void test_scan_accepts_depth_32_and_rejects_33(void **state)
{
    uint8_t buf[64];
    size_t msg_len = 0;
    size_t n = build_nested(buf, 32);
    assert_int_equal(scan_once(4096, 32, buf, n, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(msg_len, 32);

    n = build_nested(buf, 33);
    assert_int_equal(scan_once(4096, 32, buf, 32, &msg_len), PROTO_SCAN_NEED_MORE);
    assert_int_equal(scan_once(4096, 32, buf, n, &msg_len), PROTO_SCAN_E_TOO_DEEP);

    /* The innermost container holding a scalar is no deeper. */
    memset(buf, 0x91, 32);
    buf[32] = 0x00;
    assert_int_equal(scan_once(4096, 32, buf, 33, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(msg_len, 33);
}

static void test_scan_depth_cap_matches_msgpack_unpack_stack(void **state)
{
    /* Why PROTO_SCAN_DEPTH_CAP is 32: msgpack-c decodes 32 levels and fails
     * 33, even when the 33rd container is empty. */
    uint8_t buf[64];
    size_t n = build_nested(buf, 32);
    assert_unpacks_to("32 deep", buf, n, n);
    memset(buf, 0x91, 32);
    buf[32] = 0x00;
    assert_unpacks_to("32 deep holding a scalar", buf, 33, 33);

    n = build_nested(buf, 33);
    msgpack_zone zone;
    assert_true(msgpack_zone_init(&zone, 1024));
    msgpack_object obj;
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack((const char *)buf, n, &off, &zone, &obj);
    msgpack_zone_destroy(&zone);
    assert_true(ur < 0);
}

static void test_scan_applies_a_small_configured_depth(void **state)
{
    uint8_t buf[8];
    size_t msg_len = 0;
    size_t n3 = build_nested(buf, 3);
    assert_int_equal(scan_once(4096, 3, buf, n3, &msg_len), PROTO_SCAN_COMPLETE);
    size_t n4 = build_nested(buf, 4);
    assert_int_equal(scan_once(4096, 3, buf, n4, &msg_len), PROTO_SCAN_E_TOO_DEEP);
    assert_int_equal(scan_once(4096, 4, buf, n4, &msg_len), PROTO_SCAN_COMPLETE);
    uint8_t five[8];
    size_t n5 = build_nested(five, 5);
    assert_int_equal(scan_once(4096, 4, five, n5, &msg_len), PROTO_SCAN_E_TOO_DEEP);
}

static void test_scan_depth_is_nesting_not_container_count(void **state)
{
    /* [[1], [2], [[3]]]: siblings do not add up; the last one is depth 3. */
    static const uint8_t buf[] = {0x93, 0x91, 0x01, 0x91, 0x02, 0x91, 0x91, 0x03};
    size_t msg_len = 0;
    assert_int_equal(scan_once(4096, 3, buf, sizeof buf, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(msg_len, sizeof buf);
    assert_int_equal(scan_once(4096, 2, buf, 5, &msg_len), PROTO_SCAN_NEED_MORE);
    assert_int_equal(scan_once(4096, 2, buf, sizeof buf, &msg_len), PROTO_SCAN_E_TOO_DEEP);

    /* Map keys and values nest too: {[[]]: 1} is depth 3. */
    static const uint8_t key[] = {0x81, 0x91, 0x90, 0x01};
    assert_int_equal(scan_once(4096, 3, key, sizeof key, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(scan_once(4096, 2, key, sizeof key, &msg_len), PROTO_SCAN_E_TOO_DEEP);
    static const uint8_t val[] = {0x81, 0x01, 0x81, 0x02, 0x90};
    assert_int_equal(scan_once(4096, 3, val, sizeof val, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(scan_once(4096, 2, val, sizeof val, &msg_len), PROTO_SCAN_E_TOO_DEEP);
}

/* Hostile corpus ---------------------------------------------------------- */

typedef struct {
    const char *name;
    const uint8_t *bytes;
    size_t len;
    int want;          /* result once all `len` bytes are in */
    size_t decided_at; /* fewest bytes after which the result is `want` */
} hostile_t;

#define HOSTILE(name, lit, want, at)                                                               \
    {                                                                                              \
        name, (const uint8_t *)(lit), sizeof(lit) - 1, want, at                                    \
    }

static const hostile_t hostile[] = {
    HOSTILE("array32 of 0xffffffff", "\xdd\xff\xff\xff\xff", PROTO_SCAN_E_TOO_LARGE, 5),
    HOSTILE("map32 of 0xffffffff", "\xdf\xff\xff\xff\xff", PROTO_SCAN_E_TOO_LARGE, 5),
    HOSTILE("array32 in array32", "\xdd\x00\x00\x00\x01\xdd\xff\xff\xff\xff",
            PROTO_SCAN_E_TOO_LARGE, 10),
    /* Each count fits alone (8 Mi < 16 MiB); together they do not. */
    HOSTILE("two 8 Mi arrays nested", "\xdd\x00\x80\x00\x00\xdd\x00\x80\x00\x00",
            PROTO_SCAN_E_TOO_LARGE, 10),
    HOSTILE("str32 of 2 GiB", "\xdb\x80\x00\x00\x00", PROTO_SCAN_E_TOO_LARGE, 5),
    HOSTILE("str32 of 4 GiB - 1", "\xdb\xff\xff\xff\xff", PROTO_SCAN_E_TOO_LARGE, 5),
    HOSTILE("bin32 of 2 GiB", "\xc6\x80\x00\x00\x00", PROTO_SCAN_E_TOO_LARGE, 5),
    HOSTILE("ext32 of 2 GiB", "\xc9\x80\x00\x00\x00", PROTO_SCAN_E_TOO_LARGE, 5),
    HOSTILE("ext32 of 4 GiB - 1", "\xc9\xff\xff\xff\xff\x01", PROTO_SCAN_E_TOO_LARGE, 5),
    HOSTILE("reserved byte at top level", "\xc1", PROTO_SCAN_E_BAD_BYTE, 1),
    HOSTILE("reserved byte in an array", "\x93\x01\xc1\x02", PROTO_SCAN_E_BAD_BYTE, 3),
    HOSTILE("reserved byte as a map key", "\x81\xc1\x00", PROTO_SCAN_E_BAD_BYTE, 2),
    HOSTILE("reserved byte deep inside",
            "\x91\x91\x81\xa1"
            "k"
            "\x92\x00\xc1",
            PROTO_SCAN_E_BAD_BYTE, 8),
    HOSTILE("reserved byte after a str8 body", "\x92\xd9\x01\xc1\xc1", PROTO_SCAN_E_BAD_BYTE, 5),
};

static void test_scan_rejects_hostile_corpus_as_soon_as_decidable(void **state)
{
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        const hostile_t *h = &hostile[i];
        /* Fresh scanner per prefix, and one scanner fed byte by byte. */
        for (size_t k = 0; k <= h->len; k++) {
            size_t msg_len = 0;
            int want = k >= h->decided_at ? h->want : PROTO_SCAN_NEED_MORE;
            int r = scan_once(SERVER_MAX_BYTES, 32, h->bytes, k, &msg_len);
            if (r != want)
                fail_msg("%s: %zu bytes gave %d, want %d", h->name, k, r, want);
        }
        proto_scan_t s;
        size_t msg_len = 0;
        proto_scan_init(&s, SERVER_MAX_BYTES, 32);
        for (size_t k = 0; k <= h->len; k++) {
            int want = k >= h->decided_at ? h->want : PROTO_SCAN_NEED_MORE;
            int r = proto_scan_feed(&s, h->bytes, k, &msg_len);
            if (r != want)
                fail_msg("%s: grown to %zu bytes gave %d, want %d", h->name, k, r, want);
        }
    }
}

static void test_scan_rejects_deep_nesting_at_the_first_byte_past_the_limit(void **state)
{
    /* 1000 bytes of 0x91: [[[[...; a depth bomb that never completes. */
    uint8_t buf[1000];
    memset(buf, 0x91, sizeof buf);
    size_t msg_len = 0;
    assert_int_equal(scan_once(SERVER_MAX_BYTES, 32, buf, 32, &msg_len), PROTO_SCAN_NEED_MORE);
    assert_int_equal(scan_once(SERVER_MAX_BYTES, 32, buf, 33, &msg_len), PROTO_SCAN_E_TOO_DEEP);
    assert_int_equal(scan_once(SERVER_MAX_BYTES, 32, buf, sizeof buf, &msg_len),
                     PROTO_SCAN_E_TOO_DEEP);
    proto_scan_t s;
    proto_scan_init(&s, SERVER_MAX_BYTES, 32);
    assert_int_equal(scan_bytewise(&s, buf, sizeof buf, &msg_len), PROTO_SCAN_E_TOO_DEEP);
    assert_int_equal(s.pos, 32);
}

static void test_scan_accepts_0xc1_inside_a_body(void **state)
{
    /* Only a type byte may not be 0xc1; payload bytes are data. */
    static const uint8_t str[] = {0xa2, 0xc1, 0xc1};
    static const uint8_t u8[] = {0xcc, 0xc1};
    static const uint8_t ext[] = {0xd4, 0xc1, 0xc1};
    size_t msg_len = 0;
    assert_int_equal(scan_once(4096, 32, str, sizeof str, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(scan_once(4096, 32, u8, sizeof u8, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(scan_once(4096, 32, ext, sizeof ext, &msg_len), PROTO_SCAN_COMPLETE);
}

static void test_scan_error_is_sticky_until_reset(void **state)
{
    static const uint8_t buf[] = {0x92, 0xc1, 0x00, 0x00, 0x00};
    static const uint8_t ok[] = {0x91, 0x00};
    proto_scan_t s;
    size_t msg_len = 0;
    proto_scan_init(&s, 4096, 32);
    assert_int_equal(proto_scan_feed(&s, buf, 2, &msg_len), PROTO_SCAN_E_BAD_BYTE);
    assert_int_equal(proto_scan_feed(&s, buf, 2, &msg_len), PROTO_SCAN_E_BAD_BYTE);
    assert_int_equal(proto_scan_feed(&s, buf, sizeof buf, &msg_len), PROTO_SCAN_E_BAD_BYTE);
    proto_scan_reset(&s);
    assert_int_equal(proto_scan_feed(&s, ok, sizeof ok, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(msg_len, 2);

    static const uint8_t big[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00};
    proto_scan_reset(&s);
    assert_int_equal(proto_scan_feed(&s, big, 5, &msg_len), PROTO_SCAN_E_TOO_LARGE);
    assert_int_equal(proto_scan_feed(&s, big, sizeof big, &msg_len), PROTO_SCAN_E_TOO_LARGE);
}

static void test_scan_resumes_without_rewalking_validated_bytes(void **state)
{
    /* Once bytes are validated the scanner continues after them: the cost of
     * a message trickling in is linear. Overwriting an already validated
     * byte proves it is not read again. */
    uint8_t buf[] = {0x94, 0x01, 0x02, 0x03, 0x04};
    proto_scan_t s;
    size_t msg_len = 0;
    proto_scan_init(&s, 4096, 32);
    assert_int_equal(proto_scan_feed(&s, buf, 3, &msg_len), PROTO_SCAN_NEED_MORE);
    assert_int_equal(s.pos, 3);
    buf[1] = 0xc1;
    assert_int_equal(proto_scan_feed(&s, buf, sizeof buf, &msg_len), PROTO_SCAN_COMPLETE);
    assert_int_equal(msg_len, sizeof buf);
}

static void test_scan_finds_garbage_after_a_valid_message_after_reset(void **state)
{
    static const uint8_t req[] = {0x94, 0x00, 0x07, 0xab, 's', 'e', 'r',  'v', 'e',
                                  'r',  '.',  'p',  'i',  'n', 'g', 0x91, 0x80};
    static const struct {
        const char *name;
        uint8_t tail[6];
        size_t tail_len;
        int want;
    } tails[] = {
        {"reserved byte", {0xc1, 0x00}, 2, PROTO_SCAN_E_BAD_BYTE},
        {"truncated array16", {0xdc, 0x00}, 2, PROTO_SCAN_NEED_MORE},
        {"array32 bomb", {0xdd, 0xff, 0xff, 0xff, 0xff}, 5, PROTO_SCAN_E_TOO_LARGE},
        {"another whole object", {0x92, 0xc3, 0xc2}, 3, PROTO_SCAN_COMPLETE},
    };
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        uint8_t *buf = concat(req, sizeof req, tails[i].tail, tails[i].tail_len);
        size_t total = sizeof req + tails[i].tail_len;
        proto_scan_t s;
        size_t msg_len = 0;
        proto_scan_init(&s, SERVER_MAX_BYTES, 32);
        assert_int_equal(proto_scan_feed(&s, buf, total, &msg_len), PROTO_SCAN_COMPLETE);
        assert_int_equal(msg_len, sizeof req);
        proto_scan_reset(&s);
        int r = proto_scan_feed(&s, buf + msg_len, total - msg_len, &msg_len);
        if (r != tails[i].want)
            fail_msg("%s: gave %d, want %d", tails[i].name, r, tails[i].want);
        free(buf);
    }
}

static void test_scan_reads_a_stream_of_zeros_as_one_byte_objects(void **state)
{
    /* A zero byte is a whole object (positive fixint 0). The scanner accepts
     * each one; the RPC layer then refuses it as not a request. */
    uint8_t zeros[64] = {0};
    proto_scan_t s;
    proto_scan_init(&s, SERVER_MAX_BYTES, 32);
    size_t off = 0;
    unsigned objects = 0;
    while (off < sizeof zeros) {
        size_t msg_len = 0;
        assert_int_equal(proto_scan_feed(&s, zeros + off, sizeof zeros - off, &msg_len),
                         PROTO_SCAN_COMPLETE);
        assert_int_equal(msg_len, 1);
        off += msg_len;
        objects++;
        proto_scan_reset(&s);
    }
    assert_int_equal(objects, sizeof zeros);

    msgpack_zone zone;
    assert_true(msgpack_zone_init(&zone, 256));
    proto_msg_t msg;
    assert_int_equal(proto_msg_decode(zeros, 1, &zone, &msg), -PROTO_E_INVALID_MESSAGE);
    assert_false(msg.has_msgid);
    msgpack_zone_destroy(&zone);
}

static void test_scan_strerror_describes_each_result(void **state)
{
    static const int results[] = {PROTO_SCAN_NEED_MORE, PROTO_SCAN_COMPLETE, PROTO_SCAN_E_TOO_LARGE,
                                  PROTO_SCAN_E_TOO_DEEP, PROTO_SCAN_E_BAD_BYTE};
    const size_t n = sizeof results / sizeof results[0];
    const char *unknown = proto_scan_strerror(-99);
    assert_string_equal(unknown, "unknown scan result");
    for (size_t i = 0; i < n; i++) {
        const char *a = proto_scan_strerror(results[i]);
        assert_non_null(a);
        assert_string_not_equal(a, unknown);
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(a, proto_scan_strerror(results[j]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_needs_more_for_every_split_then_completes),
        cmocka_unit_test(test_scan_completes_on_whole_sample_in_one_feed),
        cmocka_unit_test(test_scan_resumes_when_sample_grows_one_byte_at_a_time),
        cmocka_unit_test(test_scan_reports_only_first_object_when_bytes_follow),
        cmocka_unit_test(test_scan_complete_samples_unpack_to_exactly_msg_len),
        cmocka_unit_test(test_scan_complete_random_inputs_unpack_to_exactly_msg_len),
        cmocka_unit_test(test_scan_accepts_exactly_max_bytes_and_rejects_one_more),
        cmocka_unit_test(
            test_scan_rejects_str_whose_body_crosses_the_limit_before_the_body_arrives),
        cmocka_unit_test(test_scan_rejects_scalar_whose_payload_crosses_the_limit),
        cmocka_unit_test(test_scan_rejects_array_count_beyond_input_limit),
        cmocka_unit_test(test_scan_counts_what_outer_containers_still_owe),
        cmocka_unit_test(test_scan_init_clamps_limits),
        cmocka_unit_test(test_scan_accepts_depth_32_and_rejects_33),
        cmocka_unit_test(test_scan_depth_cap_matches_msgpack_unpack_stack),
        cmocka_unit_test(test_scan_applies_a_small_configured_depth),
        cmocka_unit_test(test_scan_depth_is_nesting_not_container_count),
        cmocka_unit_test(test_scan_rejects_hostile_corpus_as_soon_as_decidable),
        cmocka_unit_test(test_scan_rejects_deep_nesting_at_the_first_byte_past_the_limit),
        cmocka_unit_test(test_scan_accepts_0xc1_inside_a_body),
        cmocka_unit_test(test_scan_error_is_sticky_until_reset),
        cmocka_unit_test(test_scan_resumes_without_rewalking_validated_bytes),
        cmocka_unit_test(test_scan_finds_garbage_after_a_valid_message_after_reset),
        cmocka_unit_test(test_scan_reads_a_stream_of_zeros_as_one_byte_objects),
        cmocka_unit_test(test_scan_strerror_describes_each_result),
    };
    return cmocka_run_group_tests(tests, build_big_samples, free_big_samples);
}
