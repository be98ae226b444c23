/* proto_buf.c - growable byte buffer. */
#include "proto_buf.h"

#include <stdlib.h>
#include <string.h>

void proto_buf_init(proto_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

void proto_buf_deinit(proto_buf_t *b)
{
    free(b->data);
    proto_buf_init(b);
}

int proto_buf_reserve(proto_buf_t *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -1;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int proto_buf_append(proto_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (proto_buf_reserve(b, n) != 0) {
        b->failed = 1;
        return -1;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int proto_buf_msgpack_write(void *data, const char *p, size_t n)
{
    return proto_buf_append(data, p, n);
}
