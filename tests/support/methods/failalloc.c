/* failalloc.c - allocation failure on demand, for noormd-test only.
 *
 * noormd-test is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,
 * so every allocation the server's own code makes (not SQLite's or
 * msgpack-c's, which live in shared libraries) comes through here. The
 * method test.failAllocs arms a rule: counting only allocations of at least
 * `minSize` bytes, the `nth` from now fails, then every `every`-th after it
 * (0: only that one), for at most `count` failures. test.failAllocs {nth: 0}
 * disarms. The integration tests sweep `nth` across a request mix: no
 * crash, no leak (LeakSanitizer at exit), every request answered. */
#include <stdatomic.h>
#include <stddef.h>

#include "cmd.h"
#include "dispatch.h"
#include "proto_errors.h"
#include "test_methods.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);

static atomic_long fa_nth;      /* allocations (of min_size or more) until the first failure */
static atomic_long fa_every;    /* then one failure per this many; 0 = none */
static atomic_long fa_left;     /* failures still allowed */
static atomic_long fa_min_size; /* smaller allocations are not counted */
static atomic_long fa_seen;     /* counted allocations since arming */
static atomic_long fa_failed;   /* failures injected since start */

static int fa_should_fail(size_t n)
{
    long nth = atomic_load_explicit(&fa_nth, memory_order_relaxed);
    if (nth <= 0 || (long)n < atomic_load_explicit(&fa_min_size, memory_order_relaxed))
        return 0;
    long seen = atomic_fetch_add(&fa_seen, 1) + 1;
    long every = atomic_load_explicit(&fa_every, memory_order_relaxed);
    if (seen < nth || (seen > nth && (every <= 0 || (seen - nth) % every != 0)))
        return 0;
    if (atomic_fetch_sub(&fa_left, 1) <= 0)
        return 0;
    atomic_fetch_add(&fa_failed, 1);
    return 1;
}

void *__wrap_malloc(size_t n)
{
    return fa_should_fail(n) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
    return fa_should_fail(k * n) ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fa_should_fail(n) ? NULL : __real_realloc(p, n);
}

/* test.failAllocs {nth, every?, count?, minSize?} -> failures injected so
 * far (before this call's rule). */
static int cmd_test_fail_allocs(cmd_ctx_t *ctx)
{
    int64_t v[4] = {0, 0, 1, 0};
    for (int i = 0; i < 4; i++) {
        const msgpack_object *o = ctx->in.arg[i];
        if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            v[i] = (int64_t)o->via.u64;
        else if (o)
            return cmd_fail(ctx, PROTO_E_INVALID_ARGUMENT, NULL, "arguments must be >= 0");
    }
    long failed = atomic_load(&fa_failed);
    atomic_store(&fa_nth, 0); /* disarmed while the rule changes */
    atomic_store(&fa_seen, 0);
    atomic_store(&fa_every, (long)v[1]);
    atomic_store(&fa_left, (long)v[2]);
    atomic_store(&fa_min_size, (long)v[3]);
    atomic_store(&fa_nth, (long)v[0]);
    msgpack_pack_int64(ctx->pk, failed);
    return 0;
}

static const cmd_arg_t fail_allocs_args[] = {
    {"nth", CMD_T_INT, true, 0},
    {"every", CMD_T_INT, false, 0},
    {"count", CMD_T_INT, false, 0},
    {"minSize", CMD_T_INT, false, 0},
};

static const cmd_method_t fail_methods[] = {
    {"test.failAllocs", cmd_test_fail_allocs, CMD_LOOP, false, fail_allocs_args,
     sizeof fail_allocs_args / sizeof fail_allocs_args[0], sizeof "test.failAllocs" - 1},
};

int test_failalloc_hook(server_t *srv, store_t *w, proto_err_t *err)
{
    int rc = test_methods_hook(srv, w, err);
    if (rc == 0 && dispatch_register(srv, fail_methods, 1) != 0)
        rc = proto_err_set(err, PROTO_E_INTERNAL, "cannot register test.failAllocs");
    return rc;
}
