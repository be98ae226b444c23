/* proto_scan.c - resumable, allocation-free MessagePack validator. */
#include "proto_scan.h"

#include <stdbool.h>

void proto_scan_init(proto_scan_t *s, size_t max_bytes, uint32_t max_depth)
{
    s->max_bytes = max_bytes ? max_bytes : 1;
    if (max_depth < 1)
        max_depth = 1;
    if (max_depth > PROTO_SCAN_DEPTH_CAP)
        max_depth = PROTO_SCAN_DEPTH_CAP;
    s->max_depth = max_depth;
    proto_scan_reset(s);
}

void proto_scan_reset(proto_scan_t *s)
{
    s->pos = 0;
    s->owed = 0;
    s->depth = 0;
}

static uint64_t be_read(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* What the byte at the head of an element says about the element:
 * `head` bytes of header (including any length field), then either a payload
 * of `len_bytes`-encoded length plus `fixed` bytes (scalars, str, bin, ext),
 * or, for containers, `count` elements per declared item (1 array, 2 map). */
typedef struct {
    unsigned head;      /* header bytes, type byte included */
    unsigned len_bytes; /* size of the big-endian length/count field that ends the header */
    uint64_t fixed;     /* payload bytes known from the type byte alone */
    unsigned per_item;  /* 0 for a non-container, 1 array, 2 map */
    bool bad;           /* reserved byte */
} proto_head_t;

static proto_head_t head_of(uint8_t b)
{
    proto_head_t h = {1, 0, 0, 0, false};
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return h;
    if (b <= 0x8f) { /* fixmap */
        h.fixed = b & 0x0f;
        h.per_item = 2;
        return h;
    }
    if (b <= 0x9f) { /* fixarray */
        h.fixed = b & 0x0f;
        h.per_item = 1;
        return h;
    }
    if (b <= 0xbf) { /* fixstr */
        h.fixed = b & 0x1f;
        return h;
    }
    switch (b) {
    case 0xc1: h.bad = true; return h;
    case 0xc4:
    case 0xc5:
    case 0xc6: /* bin 8/16/32 */ h.len_bytes = 1u << (b - 0xc4); break;
    case 0xc7:
    case 0xc8:
    case 0xc9: /* ext 8/16/32: length, then a type byte */
        h.len_bytes = 1u << (b - 0xc7);
        h.fixed = 1;
        break;
    case 0xca: h.fixed = 4; break;
    case 0xcb: h.fixed = 8; break;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: h.fixed = 1u << (b - 0xcc); break;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: h.fixed = 1u << (b - 0xd0); break;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: /* fixext: type byte + 2^k */ h.fixed = 1 + (1u << (b - 0xd4)); break;
    case 0xd9:
    case 0xda:
    case 0xdb: /* str 8/16/32 */ h.len_bytes = 1u << (b - 0xd9); break;
    case 0xdc:
    case 0xdd: /* array 16/32 */
        h.len_bytes = b == 0xdc ? 2 : 4;
        h.per_item = 1;
        break;
    case 0xde:
    case 0xdf: /* map 16/32 */
        h.len_bytes = b == 0xde ? 2 : 4;
        h.per_item = 2;
        break;
    default:
        h.bad = true; /* unreachable: every byte value is covered above */
        break;
    }
    h.head += h.len_bytes;
    return h;
}

/* Closes every container whose last element was just consumed. */
static void close_finished(proto_scan_t *s)
{
    while (s->depth > 0 && s->left[s->depth - 1] == 0)
        s->depth--;
}

int proto_scan_feed(proto_scan_t *s, const uint8_t *buf, size_t len, size_t *msg_len)
{
    for (;;) {
        if (s->pos >= len)
            return PROTO_SCAN_NEED_MORE;

        proto_head_t h = head_of(buf[s->pos]);
        if (h.bad)
            return PROTO_SCAN_E_BAD_BYTE;

        /* The element about to be read fills one slot its parent owed, so
         * what must still fit after it is everything else that is owed. */
        uint64_t owed_after = s->owed ? s->owed - 1 : 0;
        uint64_t room = s->max_bytes - s->pos; /* pos <= max_bytes always holds */
        if (h.head + owed_after > room)
            return PROTO_SCAN_E_TOO_LARGE;
        if (len - s->pos < h.head)
            return PROTO_SCAN_NEED_MORE;

        uint64_t declared = h.fixed;
        if (h.len_bytes)
            declared = be_read(buf + s->pos + 1, h.len_bytes) + h.fixed;

        if (h.per_item) {
            uint64_t items = declared * h.per_item; /* <= 2 * (2^32 - 1): no overflow */
            if (s->depth + 1 > s->max_depth)
                return PROTO_SCAN_E_TOO_DEEP;
            if (items > room - h.head - owed_after)
                return PROTO_SCAN_E_TOO_LARGE;
            if (s->depth > 0)
                s->left[s->depth - 1]--;
            s->left[s->depth++] = items;
            s->owed = owed_after + items;
            s->pos += h.head;
        } else {
            if (declared > room - h.head - owed_after)
                return PROTO_SCAN_E_TOO_LARGE;
            if (len - s->pos - h.head < declared)
                return PROTO_SCAN_NEED_MORE;
            if (s->depth > 0)
                s->left[s->depth - 1]--;
            s->owed = owed_after;
            s->pos += h.head + (size_t)declared;
        }

        close_finished(s);
        if (s->depth == 0) {
            *msg_len = s->pos;
            return PROTO_SCAN_COMPLETE;
        }
    }
}

const char *proto_scan_strerror(int result)
{
    switch (result) {
    case PROTO_SCAN_NEED_MORE: return "incomplete";
    case PROTO_SCAN_COMPLETE: return "complete";
    case PROTO_SCAN_E_TOO_LARGE: return "object or declared length exceeds the size limit";
    case PROTO_SCAN_E_TOO_DEEP: return "nesting exceeds the depth limit";
    case PROTO_SCAN_E_BAD_BYTE: return "reserved type byte 0xc1";
    default: return "unknown scan result";
    }
}
