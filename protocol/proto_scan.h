/* proto_scan.h - sans-I/O validator for one incoming MessagePack object.
 *
 * msgpack-c's unpacker reserves memory for an array or map as soon as it
 * reads the declared count, before any element arrives, and has no limits of
 * its own: five bytes (0xdd ff ff ff ff) can make it reserve gigabytes. So no
 * byte from a socket reaches msgpack_unpack before this scanner has walked
 * the whole object and found that:
 *   - every declared array/map count and str/bin/ext length fits in what the
 *     size limit leaves (each element needs at least one byte);
 *   - nesting is no deeper than the depth limit;
 *   - the object is no larger than the size limit;
 *   - no reserved byte (0xc1) appears.
 *
 * The scanner never allocates and never touches a socket. It is resumable:
 * feed it the bytes of the current message as they accumulate (always from
 * the message's first byte) and it continues where it stopped, so a message
 * trickling in one byte at a time costs O(n) in total, not O(n^2).
 */
#ifndef NOORMME_PROTO_SCAN_H
#define NOORMME_PROTO_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* Ceiling for the configurable depth limit: msgpack-c's C unpacker is built
 * with a fixed 32-level stack (MSGPACK_EMBED_STACK_SIZE) and fails deeper
 * objects, so nothing deeper may pass the scanner. */
#define PROTO_SCAN_DEPTH_CAP 32

typedef enum {
    PROTO_SCAN_NEED_MORE = 0,    /* the object is not complete yet */
    PROTO_SCAN_COMPLETE = 1,     /* one whole object; its length is in *msg_len */
    PROTO_SCAN_E_TOO_LARGE = -1, /* object, or a declared count/length, exceeds max_bytes */
    PROTO_SCAN_E_TOO_DEEP = -2,  /* nesting deeper than max_depth */
    PROTO_SCAN_E_BAD_BYTE = -3,  /* reserved type byte 0xc1 */
} proto_scan_result_t;

typedef struct {
    size_t max_bytes;   /* largest object accepted, in bytes (>= 1) */
    uint32_t max_depth; /* deepest nesting accepted; the outer container is depth 1 (1..CAP) */
    size_t pos;         /* bytes of the current object already validated */
    uint64_t owed;      /* elements still owed by all open containers (>= 1 byte each) */
    uint32_t depth;     /* containers currently open */
    uint64_t left[PROTO_SCAN_DEPTH_CAP]; /* elements still owed by each open container */
} proto_scan_t;

/* Prepares a scanner in caller storage for a new stream. `max_depth` is
 * clamped to 1..PROTO_SCAN_DEPTH_CAP, `max_bytes` to at least 1. */
void proto_scan_init(proto_scan_t *s, size_t max_bytes, uint32_t max_depth);

/* Forgets the current object; the next call starts a new one. Call after
 * COMPLETE (the caller then passes the bytes after the object) or to reuse a
 * scanner after an error. */
void proto_scan_reset(proto_scan_t *s);

/* Walks `buf[0..len)`, the bytes received so far of the current object
 * (`len` never shrinks between calls for one object). Returns COMPLETE with
 * the object's size in *msg_len, NEED_MORE, or a negative
 * proto_scan_result_t. Errors are sticky until proto_scan_reset(). Bytes past
 * the object are not examined. */
int proto_scan_feed(proto_scan_t *s, const uint8_t *buf, size_t len, size_t *msg_len);

/* Short description of a scan result, for logs and error replies. */
const char *proto_scan_strerror(int result);

#endif
