/* cmd.h - what a method handler sees, and the method table's shape.
 *
 * Handlers live in cmd_<group>.c. By the time one runs, dispatch has checked
 * the method exists, the params shape, every argument's name, type and size,
 * and that required arguments are present: ctx->arg[i] is the value of the
 * i-th argument of the method's spec (NULL when absent), already of an
 * allowed type. A handler packs exactly one result object with ctx->pk and
 * returns 0, or returns cmd_fail(...) and packs nothing that matters (the
 * partial result is discarded).
 */
#ifndef NOORMME_CMD_H
#define NOORMME_CMD_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto_rpc.h"
#include "server.h"

/* Argument types, combined as a bit set. */
enum {
    CMD_T_NIL = 1u << 0,
    CMD_T_BOOL = 1u << 1,
    CMD_T_INT = 1u << 2, /* signed or unsigned integer */
    CMD_T_FLOAT = 1u << 3,
    CMD_T_STR = 1u << 4,
    CMD_T_BIN = 1u << 5,
    CMD_T_ARRAY = 1u << 6,
    CMD_T_MAP = 1u << 7,
    CMD_T_TIME = 1u << 8, /* timestamp extension (-1) */
};

#define CMD_MAX_ARGS 24

typedef struct {
    const char *name;  /* argument name on the wire */
    unsigned types;    /* CMD_T_* bits allowed */
    bool required;     /* absent -> INVALID_ARGUMENT */
    uint32_t max_len;  /* str/bin bytes or array/map elements; 0 = no limit of its own */
} cmd_arg_t;

typedef struct {
    server_t *srv;                             /* shared state */
    store_t *store;                            /* reader on the loop thread, writer in the writer */
    const msgpack_object *arg[CMD_MAX_ARGS];   /* arguments by spec position */
    msgpack_packer *pk;                        /* the result goes here */
    proto_err_t *err;                          /* filled by cmd_fail */
} cmd_ctx_t;

typedef int (*cmd_fn)(cmd_ctx_t *ctx);

typedef struct {
    const char *name;     /* "group.method" */
    cmd_fn fn;            /* the handler */
    bool write;           /* runs on the writer thread inside a savepoint */
    const cmd_arg_t *args;/* argument spec */
    unsigned nargs;       /* entries in args (<= CMD_MAX_ARGS) */
} cmd_method_t;

/* The method table (dispatch.c) and its size. */
extern const cmd_method_t cmd_methods[];
extern const unsigned cmd_method_count;

/* Fails the request with `code` and a printf-style message; `field` (may be
 * NULL) is reported in the error details. Returns the negative code. */
int cmd_fail(cmd_ctx_t *ctx, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Handlers, by group. */
int cmd_admin_ping(cmd_ctx_t *ctx);
int cmd_admin_version(cmd_ctx_t *ctx);
int cmd_admin_stats(cmd_ctx_t *ctx);
#ifdef NOORMME_TEST_METHODS
int cmd_test_write(cmd_ctx_t *ctx);
int cmd_test_get(cmd_ctx_t *ctx);
int cmd_test_count(cmd_ctx_t *ctx);
int cmd_test_sleep(cmd_ctx_t *ctx);
#endif

#endif
