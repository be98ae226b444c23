/* fuzz_scan.c - libFuzzer target for the wire format: the scanner must give
 * the same answer fed in one piece or in several, must never pass anything
 * msgpack-c cannot decode, and whatever it passes goes on through the RPC
 * decoder and the error encoders the server would use. Any broken property
 * calls abort() so libFuzzer records the input. */
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_buf.h"
#include "proto_errors.h"
#include "proto_rpc.h"
#include "proto_scan.h"

#define FUZZ_MAX_BYTES 4096
#define FUZZ_MAX_DEPTH 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(bool ok)
{
    if (!ok)
        abort();
}

/* A split point in 0..len taken from the input itself, so libFuzzer can
 * steer it. */
static size_t pick_split(const uint8_t *buf, size_t len, uint32_t salt)
{
    if (len == 0)
        return 0;
    uint32_t h = salt * 2654435761u;
    h ^= buf[len - 1] | (uint32_t)buf[len / 2] << 8 | (uint32_t)len << 16;
    h *= 2246822519u;
    return (h ^ (h >> 15)) % (len + 1);
}

/* Scans `buf[0..len)` fed as three growing prefixes; returns the first
 * result that is not NEED_MORE, as the server would see it. */
static int scan_in_pieces(const uint8_t *buf, size_t len, size_t *msg_len)
{
    proto_scan_t s;
    proto_scan_init(&s, FUZZ_MAX_BYTES, FUZZ_MAX_DEPTH);
    size_t a = pick_split(buf, len, 1);
    size_t b = a + pick_split(buf + a, len - a, 2);
    int r = proto_scan_feed(&s, buf, a, msg_len);
    if (r == PROTO_SCAN_NEED_MORE)
        r = proto_scan_feed(&s, buf, b, msg_len);
    if (r == PROTO_SCAN_NEED_MORE)
        r = proto_scan_feed(&s, buf, len, msg_len);
    if (r < 0) {
        /* Errors are sticky: the same bytes again give the same error. */
        size_t ignored = 0;
        require(proto_scan_feed(&s, buf, len, &ignored) == r);
    }
    return r;
}

/* Timestamps that read back must survive a pack and a second read. */
static void check_timestamps(const msgpack_object *args, msgpack_zone *zone)
{
    if (!args || args->type != MSGPACK_OBJECT_MAP)
        return;
    for (uint32_t i = 0; i < args->via.map.size; i++) {
        int64_t ms = 0;
        if (proto_obj_time_ms(&args->via.map.ptr[i].val, &ms) != 0)
            continue;
        proto_buf_t b;
        proto_buf_init(&b);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &b, proto_buf_msgpack_write);
        proto_pack_time_ms(&pk, ms);
        require(!b.failed);
        msgpack_object o;
        size_t off = 0;
        require(msgpack_unpack((const char *)b.data, b.len, &off, zone, &o) ==
                MSGPACK_UNPACK_SUCCESS);
        int64_t back = 0;
        require(proto_obj_time_ms(&o, &back) == 0 && back == ms);
        proto_buf_deinit(&b);
    }
}

/* The reply the server would send must itself be one valid object. */
static void check_reply(const proto_buf_t *b, msgpack_zone *zone)
{
    require(!b->failed && b->len > 0);
    proto_scan_t s;
    proto_scan_init(&s, b->len, FUZZ_MAX_DEPTH);
    size_t msg_len = 0;
    require(proto_scan_feed(&s, b->data, b->len, &msg_len) == PROTO_SCAN_COMPLETE);
    require(msg_len == b->len);
    msgpack_object o;
    size_t off = 0;
    require(msgpack_unpack((const char *)b->data, b->len, &off, zone, &o) ==
            MSGPACK_UNPACK_SUCCESS);
    require(o.type == MSGPACK_OBJECT_ARRAY);
}

/* An echoed wire string is printable ASCII and fits its buffer, for every
 * buffer size up to a little past the string. */
static void check_printable(const char *s, size_t len)
{
    char out[40];
    size_t most = len + 2 < sizeof out ? len + 2 : sizeof out;
    for (size_t outsz = 1; outsz <= most; outsz++) {
        proto_str_printable(out, outsz, s, len);
        size_t n = strlen(out);
        require(n < outsz && n <= len);
        for (size_t i = 0; i < n; i++)
            require(out[i] >= 0x20 && out[i] < 0x7f);
    }
}

/* One zone and one reply buffer for the whole run, cleared per message as
 * the server does; allocating them per message made the target several
 * times slower on inputs holding many small objects. */
static msgpack_zone fuzz_zone;
static proto_buf_t fuzz_reply;

/* Decodes one accepted message and packs the error reply it could get. */
static void handle_message(const uint8_t *msg, size_t len)
{
    msgpack_zone *zone = &fuzz_zone;
    msgpack_zone_clear(zone);
    proto_msg_t m;
    int rc = proto_msg_decode(msg, len, zone, &m);
    /* The scanner passed it, so msgpack-c must read exactly these bytes. */
    require(rc != -PROTO_E_PARSE_ERROR);
    require(rc == 0 || rc == -PROTO_E_INVALID_MESSAGE);

    proto_buf_t *b = &fuzz_reply;
    b->len = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, proto_buf_msgpack_write);
    proto_err_t e;
    if (rc == 0) {
        require(m.method.ptr != NULL || m.method.len == 0);
        require(m.params_ok || m.args == NULL);
        check_timestamps(m.args, zone);
        const char *name = m.method.ptr ? m.method.ptr : "";
        proto_err_set(&e, PROTO_E_METHOD_NOT_FOUND, "no method %.*s", (int)m.method.len, name);
        proto_err_detail(&e, "method", name, m.method.len);
        check_printable(name, m.method.len);
        if (m.type == PROTO_MSG_REQUEST)
            proto_pack_error_response(&pk, m.msgid, &e);
        else
            proto_pack_error_notify(&pk, &e);
    } else {
        proto_err_set(&e, rc, NULL);
        if (m.has_msgid)
            proto_pack_error_response(&pk, m.msgid, &e);
        else
            proto_pack_error_notify(&pk, &e);
    }
    check_reply(b, zone);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The input is a stream: scan object after object, as a connection's
     * input buffer is consumed. */
    static bool ready;
    if (!ready) {
        require(msgpack_zone_init(&fuzz_zone, 2048));
        proto_buf_init(&fuzz_reply);
        ready = true;
    }
    proto_scan_t s;
    proto_scan_init(&s, FUZZ_MAX_BYTES, FUZZ_MAX_DEPTH);
    size_t off = 0;
    while (off < size) {
        const uint8_t *buf = data + off;
        size_t len = size - off;
        size_t whole_len = 0, piece_len = 0;
        int whole = proto_scan_feed(&s, buf, len, &whole_len);
        int pieces = scan_in_pieces(buf, len, &piece_len);
        require(whole == pieces);
        if (whole != PROTO_SCAN_COMPLETE)
            break;
        require(whole_len == piece_len);
        require(whole_len >= 1 && whole_len <= len && whole_len <= FUZZ_MAX_BYTES);
        handle_message(buf, whole_len);
        off += whole_len;
        proto_scan_reset(&s);
    }
    return 0;
}
