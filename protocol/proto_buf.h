/* proto_buf.h - a growable byte buffer that msgpack-c can pack into.
 *
 * Used for reply buffers (one per connection, one per write job) so replies
 * are built in place and reused without a copy per message.
 */
#ifndef NOORMME_PROTO_BUF_H
#define NOORMME_PROTO_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data; /* heap storage, NULL until the first append */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
    int failed;    /* an append ran out of memory: the contents are incomplete */
} proto_buf_t;

/* Empty buffer in caller storage; allocates nothing. */
void proto_buf_init(proto_buf_t *b);

/* Frees the storage; the buffer is empty, not failed, and reusable. */
void proto_buf_deinit(proto_buf_t *b);

/* Makes room for `extra` more bytes. Returns 0, or -1 when out of memory. */
int proto_buf_reserve(proto_buf_t *b, size_t extra);

/* Appends `n` bytes. Returns 0, or -1 when out of memory (nothing appended,
 * `failed` set: the caller must drop what the buffer was building). */
int proto_buf_append(proto_buf_t *b, const void *p, size_t n);

/* msgpack_packer write callback: `data` is a proto_buf_t *. */
int proto_buf_msgpack_write(void *data, const char *p, size_t n);

#endif
