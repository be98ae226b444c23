/* proto_rpc.h - MessagePack-RPC message shapes: decode a validated message,
 * encode responses, errors and notifications.
 *
 *   request       [0, msgid, method, params]
 *   response      [1, msgid, error, result]
 *   notification  [2, method, params]
 *   params        [ {name: value, ...} ]   (an empty array counts as no arguments)
 *   error         [code, NAME, message, details]
 *
 * Only bytes that proto_scan_feed() reported COMPLETE may be decoded here.
 */
#ifndef NOORMME_PROTO_RPC_H
#define NOORMME_PROTO_RPC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_buf.h"

#define PROTO_VERSION 1

typedef enum {
    PROTO_MSG_REQUEST = 0,
    PROTO_MSG_RESPONSE = 1,
    PROTO_MSG_NOTIFY = 2,
} proto_msg_type_t;

/* A wire string: never NUL-terminated. Print with "%.*s". */
typedef struct {
    const char *ptr;
    size_t len;
} proto_str_t;

typedef struct {
    proto_msg_type_t type;      /* REQUEST or NOTIFY (responses are refused) */
    bool has_msgid;             /* msgid was readable (errors can be addressed) */
    uint32_t msgid;             /* request id, echoed in the response */
    proto_str_t method;         /* method name, pointing into the message bytes */
    const msgpack_object *args; /* the named-argument map, or NULL for none */
    bool params_ok;             /* params had the [ {map} ] or [] shape */
} proto_msg_t;

/* Decodes the validated message `buf[0..len)` into `zone`. Strings in `out`
 * point into `buf`, objects into `zone`: both must outlive `out`. Returns 0,
 * -PROTO_E_PARSE_ERROR when msgpack-c rejects the bytes, or
 * -PROTO_E_INVALID_MESSAGE when the shape is not a request or notification
 * (out->has_msgid then says whether an error reply can be addressed). A bad
 * params shape is not a decode error: it is reported in out->params_ok so the
 * request can get a request error. */
int proto_msg_decode(const uint8_t *buf, size_t len, msgpack_zone *zone, proto_msg_t *out);

/* Packs the head of a success response, [1, msgid, nil, ...]; the caller
 * packs exactly one result object next. */
void proto_pack_result_head(msgpack_packer *pk, uint32_t msgid);

/* Details attached to an error: up to PROTO_ERR_DETAILS string pairs. */
#define PROTO_ERR_DETAILS 4
#define PROTO_ERR_MSG_MAX 256
typedef struct {
    int code;                                  /* positive proto_error_t */
    char message[PROTO_ERR_MSG_MAX];           /* human sentence; empty = the table's default */
    unsigned ndetails;                         /* pairs used */
    const char *detail_key[PROTO_ERR_DETAILS]; /* static strings */
    char detail_val[PROTO_ERR_DETAILS][96];    /* copied, control bytes removed */
} proto_err_t;

/* Sets `e` to error `code` (positive or negative) with a printf-style
 * message (NULL keeps the table's default). Returns -code. */
int proto_err_set(proto_err_t *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies a wire string for echoing in an error or a log: printable ASCII is
 * kept, every other byte becomes '?', so the copy is always valid UTF-8 and
 * never carries control bytes; longer than `outsz` - 1 is cut with "...".
 * Returns `out`. */
char *proto_str_printable(char *out, size_t outsz, const char *s, size_t len);

/* Adds a detail pair; `val` is copied through proto_str_printable. */
void proto_err_detail(proto_err_t *e, const char *key, const char *val, size_t val_len);

/* Packs the error object [code, NAME, message, details]. */
void proto_pack_error_obj(msgpack_packer *pk, const proto_err_t *e);

/* Packs a whole error response [1, msgid, [code, NAME, message, details], nil]. */
void proto_pack_error_response(msgpack_packer *pk, uint32_t msgid, const proto_err_t *e);

/* Packs the notification [2, "server.error", [[code, NAME, message, details]]]:
 * how a protocol error is reported when no msgid can address it. */
void proto_pack_error_notify(msgpack_packer *pk, const proto_err_t *e);

/* Packs a string given as pointer and length. */
void proto_pack_str(msgpack_packer *pk, const char *s, size_t len);

/* Packs a NUL-terminated string. */
void proto_pack_cstr(msgpack_packer *pk, const char *s);

/* Packs a Date as the MessagePack timestamp extension (type -1), from
 * integer Unix milliseconds. */
void proto_pack_time_ms(msgpack_packer *pk, int64_t unix_ms);

/* The widest date accepted, in ms either side of the epoch: JavaScript's
 * Date range, so every stored date can be given back to a JS client. */
#define PROTO_TIME_MAX_MS 8640000000000000LL

/* Reads a timestamp extension (type -1) as Unix milliseconds (nanoseconds
 * truncated toward negative infinity). Returns 0, or -1 when `o` is not a
 * valid timestamp or lies outside +-PROTO_TIME_MAX_MS. */
int proto_obj_time_ms(const msgpack_object *o, int64_t *unix_ms);

/* Reads the msgid of a request [0, msgid, ...] straight off its bytes, for
 * answering a request that could not be decoded. False when the bytes do
 * not start like a request. */
bool proto_peek_msgid(const uint8_t *buf, size_t len, uint32_t *msgid);

/* Copying a decoded object out of a short-lived zone: the arrays and maps
 * under `src` take proto_obj_clone_size(src) bytes; proto_obj_clone writes
 * them into `arena` (suitably aligned, that size) and points the copy's
 * strings, binaries and extensions into `to`, a copy of the message bytes
 * `from` they were decoded from. No allocation. */
size_t proto_obj_clone_size(const msgpack_object *src);
void proto_obj_clone(msgpack_object *dst, const msgpack_object *src, const uint8_t *from,
                     uint8_t *to, void *arena);

#endif
