/* wait.c - polling helpers for the integration tests (see wait.h). */
#include "wait.h"

#include <stdio.h>
#include <string.h>

#include "testsrv.h"

#define WAIT_PATH_MAX 128

int wait_stat_u64(rpcc_t *c, const char *path, uint64_t *out)
{
    char keys[WAIT_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof keys) {
        fprintf(stderr, "wait: bad server.stats path \"%s\"\n", path);
        return -1;
    }
    memcpy(keys, path, n + 1);

    msgpack_unpacked u;
    const msgpack_object *o =
        rpcc_call(c, WAIT_MSGID, "server.stats", NULL, 0, &u, RPCC_TIMEOUT_MS);
    if (!o) {
        msgpack_unpacked_destroy(&u);
        fprintf(stderr, "wait: server.stats failed while reading %s\n", path);
        return -1;
    }
    /* Each '/' ends one key; the keys are looked up one map deeper each. */
    for (char *key = keys, *end; o && key; key = end) {
        end = strchr(key, '/');
        if (end)
            *end++ = '\0';
        o = rpcc_map_get(o, key);
    }
    int rc = rpcc_obj_u64(o, out) ? 0 : 1;
    msgpack_unpacked_destroy(&u);
    return rc;
}

static bool cmp_holds(uint64_t v, wait_cmp_t cmp, uint64_t want)
{
    switch (cmp) {
    case WAIT_EQ: return v == want;
    case WAIT_NE: return v != want;
    case WAIT_GE: return v >= want;
    case WAIT_GT: return v > want;
    case WAIT_LE: return v <= want;
    }
    return false;
}

static const char *cmp_name(wait_cmp_t cmp)
{
    switch (cmp) {
    case WAIT_EQ: return "==";
    case WAIT_NE: return "!=";
    case WAIT_GE: return ">=";
    case WAIT_GT: return ">";
    case WAIT_LE: return "<=";
    }
    return "?";
}

int wait_for_stat(rpcc_t *c, const char *path, wait_cmp_t cmp, uint64_t want, int deadline_ms,
                  uint64_t *last)
{
    long long start = testsrv_now_ms(), deadline = start + deadline_ms;
    uint64_t v = 0;
    int r;
    for (;;) {
        /* Clock first, as in wait_until: the last look is at or after the
         * deadline. */
        bool late = testsrv_now_ms() >= deadline;
        uint64_t got = 0;
        r = wait_stat_u64(c, path, &got);
        if (r < 0)
            break;
        if (r == 0) {
            v = got;
            if (cmp_holds(v, cmp, want))
                break;
        }
        if (late)
            break;
        testsrv_sleep_ms(WAIT_POLL_MS);
    }
    if (last)
        *last = v;
    if (r == 0 && cmp_holds(v, cmp, want))
        return 0;
    if (r > 0)
        fprintf(stderr, "wait: server.stats has no %s after %lld ms (want %s %llu)\n", path,
                testsrv_now_ms() - start, cmp_name(cmp), (unsigned long long)want);
    else if (r == 0)
        fprintf(stderr, "wait: %s is %llu after %lld ms, want %s %llu\n", path,
                (unsigned long long)v, testsrv_now_ms() - start, cmp_name(cmp),
                (unsigned long long)want);
    return -1;
}

int wait_until(bool (*cond)(void *arg), void *arg, int deadline_ms)
{
    long long deadline = testsrv_now_ms() + deadline_ms;
    for (;;) {
        /* The clock is read before the look, so the last look comes at or
         * after the deadline, never just before it. */
        bool late = testsrv_now_ms() >= deadline;
        if (cond(arg))
            return 0;
        if (late)
            return -1;
        testsrv_sleep_ms(WAIT_POLL_MS);
    }
}
