/* rpcc.h - a small blocking MessagePack-RPC client for the integration
 * tests: connect to a Unix socket, pack requests with msgpack-c, send raw
 * bytes, read exactly one message at a time with a timeout, and check
 * answers against what a test expects.
 *
 * Incoming bytes go through proto_scan_feed (with generous limits) before
 * msgpack_unpack, the same rule the server follows. The socket is
 * non-blocking and every wait is a poll() with a deadline, so a silent or
 * hung server makes a call return RPCC_TIMEOUT instead of hanging the test.
 *
 * The expect helpers return 0 / a pointer on a match, and -1 / NULL after
 * printing to stderr what arrived instead, so a test can assert on them and
 * still show why it failed.
 */
#ifndef NOORMME_RPCC_H
#define NOORMME_RPCC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto_scan.h"

/* Default wait for one answer in tests: generous for a loaded machine and
 * sanitizer builds, short enough that a hung server fails quickly. */
#define RPCC_TIMEOUT_MS 5000

typedef enum {
    RPCC_OK = 0,       /* done: a message was read, all bytes were sent */
    RPCC_CLOSED = -1,  /* the peer closed the connection (EOF, ECONNRESET, EPIPE) */
    RPCC_TIMEOUT = -2, /* nothing (complete) arrived, or could be sent, in time */
    RPCC_EPROTO = -3,  /* the server sent bytes that are not one valid MessagePack object */
    RPCC_ESYS = -4,    /* another system error (printed to stderr) */
} rpcc_status_t;

typedef struct {
    int fd;                /* non-blocking socket, -1 when closed */
    proto_scan_t scan;     /* walks the message at the head of `in` */
    uint8_t *in;           /* received bytes not yet returned as messages */
    size_t in_len, in_cap; /* bytes held, bytes allocated */
} rpcc_t;

/* Connects to the Unix socket at `path`. Returns 0, or -errno with `c->fd`
 * set to -1 (connect errors are results some tests expect, so nothing is
 * printed). Whatever the result, rpcc_close() releases `c`. */
int rpcc_connect(rpcc_t *c, const char *path);

/* Closes the socket and frees the input buffer. Safe twice. */
void rpcc_close(rpcc_t *c);

/* rpcc_connect, failing the running cmocka test (with the reason) when the
 * connection cannot be made. */
void rpcc_connect_or_fail(rpcc_t *c, const char *path);

/* Stops sending (shutdown SHUT_WR): the server reads EOF. Returns 0 or -1. */
int rpcc_shutdown_write(rpcc_t *c);

/* Sends all `n` bytes within `timeout_ms`. Returns RPCC_OK, RPCC_CLOSED
 * (EPIPE or ECONNRESET), RPCC_TIMEOUT or RPCC_ESYS. SIGPIPE is never raised. */
int rpcc_send(rpcc_t *c, const void *p, size_t n, int timeout_ms);

/* Reads exactly one message, waiting at most `timeout_ms` (0 = only what has
 * already arrived). `out` is initialised here in every case, and the caller
 * releases it with msgpack_unpacked_destroy() in every case. Returns RPCC_OK
 * with the message in out->data, RPCC_CLOSED, RPCC_TIMEOUT, RPCC_EPROTO or
 * RPCC_ESYS. Bytes after the message stay buffered for the next read. */
int rpcc_read(rpcc_t *c, msgpack_unpacked *out, int timeout_ms);

/* Waits until the peer closes, reading and discarding at most `max_discard`
 * bytes meanwhile. Returns RPCC_CLOSED when it closed, RPCC_TIMEOUT when it
 * did not in time, RPCC_EPROTO when more than `max_discard` bytes came. */
int rpcc_drain_until_closed(rpcc_t *c, size_t max_discard, int timeout_ms);

/* --- building requests ------------------------------------------------ */

typedef enum {
    RPCC_ARG_STR,   /* ptr/len: a str */
    RPCC_ARG_BIN,   /* ptr/len: a bin */
    RPCC_ARG_INT,   /* i: an integer */
    RPCC_ARG_BOOL,  /* i: false when 0 */
    RPCC_ARG_NIL,   /* nil */
    RPCC_ARG_RAW,   /* ptr/len: bytes already encoded as one MessagePack object */
    RPCC_ARG_TIME,  /* i: Unix milliseconds, sent as the timestamp extension (-1) */
    RPCC_ARG_FLOAT, /* f: a float 64 */
} rpcc_arg_type_t;

/* One named argument of a request. */
typedef struct {
    const char *key;      /* argument name */
    rpcc_arg_type_t type; /* how the value is packed */
    const void *ptr;      /* STR, BIN, RAW: the bytes */
    size_t len;           /* STR, BIN, RAW: their length */
    int64_t i;            /* INT, BOOL: the value; TIME: Unix ms */
    double f;             /* FLOAT: the value */
} rpcc_arg_t;

#define RPCC_STR(k, s)                                                                             \
    {                                                                                              \
        (k), RPCC_ARG_STR, (s), strlen(s), 0, 0                                                    \
    }
#define RPCC_STRN(k, s, n)                                                                         \
    {                                                                                              \
        (k), RPCC_ARG_STR, (s), (n), 0, 0                                                          \
    }
#define RPCC_BIN(k, p, n)                                                                          \
    {                                                                                              \
        (k), RPCC_ARG_BIN, (p), (n), 0, 0                                                          \
    }
#define RPCC_INT(k, v)                                                                             \
    {                                                                                              \
        (k), RPCC_ARG_INT, NULL, 0, (v), 0                                                         \
    }
#define RPCC_BOOL(k, v)                                                                            \
    {                                                                                              \
        (k), RPCC_ARG_BOOL, NULL, 0, (v), 0                                                        \
    }
#define RPCC_NIL(k)                                                                                \
    {                                                                                              \
        (k), RPCC_ARG_NIL, NULL, 0, 0, 0                                                           \
    }
#define RPCC_RAW(k, p, n)                                                                          \
    {                                                                                              \
        (k), RPCC_ARG_RAW, (p), (n), 0, 0                                                          \
    }
#define RPCC_TIME(k, ms)                                                                           \
    {                                                                                              \
        (k), RPCC_ARG_TIME, NULL, 0, (ms), 0                                                       \
    }
#define RPCC_FLOAT(k, v)                                                                           \
    {                                                                                              \
        (k), RPCC_ARG_FLOAT, NULL, 0, 0, (v)                                                       \
    }
#define RPCC_NARGS(a) (sizeof(a) / sizeof((a)[0]))

/* Packs Unix milliseconds as the timestamp extension (type -1) in the
 * smallest of its three forms, seconds floored so nanoseconds stay in
 * 0..999999999 (a date before 1970 has a negative tv_sec). Written here
 * rather than borrowed from protocol/, so the tests do not share the
 * server's encoder. */
void rpcc_pack_time_ms(msgpack_packer *pk, int64_t unix_ms);

/* Appends the request [0, msgid, method, [ {args} ]] to `sb` (an empty map
 * when nargs is 0). `sb` is the caller's, initialised with
 * msgpack_sbuffer_init and released with msgpack_sbuffer_destroy. */
void rpcc_pack_request(msgpack_sbuffer *sb, uint32_t msgid, const char *method,
                       const rpcc_arg_t *args, size_t nargs);

/* Packs one request and sends it. Returns as rpcc_send. */
int rpcc_send_request(rpcc_t *c, uint32_t msgid, const char *method, const rpcc_arg_t *args,
                      size_t nargs, int timeout_ms);

/* --- reading answers -------------------------------------------------- */

/* When `msg` is a response [1, msgid, error, result], stores its parts
 * (pointers into msg) and returns true; otherwise returns false. */
bool rpcc_response_parts(const msgpack_object *msg, uint32_t *msgid, const msgpack_object **error,
                         const msgpack_object **result);

/* When `msg` is the notification [2, "server.error", [err]], returns err
 * (inside msg, not checked further); otherwise returns NULL. */
const msgpack_object *rpcc_notify_error(const msgpack_object *msg);

/* When `err` is a well-formed error object [code, NAME, message, details]
 * whose NAME is `name` (any name when NULL), returns true; otherwise prints
 * why and returns false. */
bool rpcc_error_is(const msgpack_object *err, const char *name);

/* The details map of an error object, or NULL. */
const msgpack_object *rpcc_error_details(const msgpack_object *err);

/* Reads one message and checks it is the success response to `msgid`.
 * Returns the result object (inside `out`), or NULL after printing what came
 * instead. `out` is as for rpcc_read: always destroyed by the caller. */
const msgpack_object *rpcc_expect_result(rpcc_t *c, uint32_t msgid, msgpack_unpacked *out,
                                         int timeout_ms);

/* Reads one message and checks it is an error response to `msgid` whose
 * NAME is `name`. Returns the error object (inside `out`) or NULL as above. */
const msgpack_object *rpcc_expect_error(rpcc_t *c, uint32_t msgid, const char *name,
                                        msgpack_unpacked *out, int timeout_ms);

/* How a protocol error is addressed, for rpcc_expect_fatal. */
#define RPCC_AS_NOTIFY (-1) /* only as the notification [2, "server.error", [[...]]] */
#define RPCC_AS_ANY    (-2) /* as a notification, or as an error response to any msgid */

/* A protocol error: reads one message that reports error `name` - an error
 * response to `msgid` when msgid >= 0, else as RPCC_AS_* says - then checks
 * the server closes the connection with nothing more. Returns 0 or -1. */
int rpcc_expect_fatal(rpcc_t *c, long long msgid, const char *name, int timeout_ms);

/* Checks the peer closes the connection without sending another message
 * within `timeout_ms`. Returns 0, or -1 after printing what happened. */
int rpcc_expect_closed(rpcc_t *c, int timeout_ms);

/* Sends server.ping with `msgid` and checks the answer is "pong". Returns 0
 * or -1. */
int rpcc_ping(rpcc_t *c, uint32_t msgid, int timeout_ms);

/* Connects to `path`, pings, closes. Returns 0 when the server answered
 * "pong", -1 otherwise (printed). */
int rpcc_ping_fresh(const char *path, int timeout_ms);

/* Calls a method (send + rpcc_expect_result) and returns its result, or
 * NULL (printed). `out` is as for rpcc_read. */
const msgpack_object *rpcc_call(rpcc_t *c, uint32_t msgid, const char *method,
                                const rpcc_arg_t *args, size_t nargs, msgpack_unpacked *out,
                                int timeout_ms);

/* Calls a method that must fail: send + rpcc_expect_error. Returns the
 * error object (inside `out`), or NULL (printed). `out` is as for
 * rpcc_read. */
const msgpack_object *rpcc_call_error(rpcc_t *c, uint32_t msgid, const char *method,
                                      const rpcc_arg_t *args, size_t nargs, const char *name,
                                      msgpack_unpacked *out, int timeout_ms);

/* The string under "field" in an error's details, compared with `field`:
 * true when equal, else prints the error and returns false. */
bool rpcc_error_field_is(const msgpack_object *err, const char *field);

/* --- inspecting values ------------------------------------------------ */

/* The value under the string key `key` of map `map`, or NULL when `map` is
 * not a map or has no such key. */
const msgpack_object *rpcc_map_get(const msgpack_object *map, const char *key);

/* Follows a NULL-terminated list of string keys through nested maps:
 * rpcc_dig(stats, "writer", "batches_committed", NULL). Returns NULL when a
 * step is missing. */
const msgpack_object *rpcc_dig(const msgpack_object *obj, ...) __attribute__((sentinel));

/* True when `o` is a non-negative integer; stores it in *v. */
bool rpcc_obj_u64(const msgpack_object *o, uint64_t *v);

/* True when `o` is an integer (either sign); stores it in *v. */
bool rpcc_obj_i64(const msgpack_object *o, int64_t *v);

/* True when `o` is a timestamp extension (type -1) holding a whole number of
 * milliseconds; stores them in *unix_ms. False (nothing stored) for any
 * other value, including a timestamp with sub-millisecond nanoseconds. */
bool rpcc_obj_time_ms(const msgpack_object *o, int64_t *unix_ms);

/* True when `map` is a map whose keys are exactly the NULL-terminated list
 * of strings (any order, none missing, none extra, no duplicates); otherwise
 * prints the map and what differs, and returns false. */
bool rpcc_map_keys_are(const msgpack_object *map, ...) __attribute__((sentinel));

/* True when `o` is a str equal to the NUL-terminated `s`. */
bool rpcc_obj_str_eq(const msgpack_object *o, const char *s);

/* True when `o` is a str or bin holding exactly bytes p[0..n). */
bool rpcc_obj_bytes_eq(const msgpack_object *o, const void *p, size_t n);

/* Prints `o` to stderr with a label, for diagnostics. */
void rpcc_print(const char *label, const msgpack_object *o);

/* Name of an rpcc_status_t, for messages. */
const char *rpcc_status_name(int status);

#endif
