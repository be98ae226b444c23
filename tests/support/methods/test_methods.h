/* test_methods.h - the test.* methods, for noormd-test and the unit tests. */
#ifndef NOORMME_TEST_METHODS_H
#define NOORMME_TEST_METHODS_H

#include "noormd.h"

/* A noormd_hook_fn: creates the test table on `w` and registers test.write,
 * test.get, test.count, test.sleep (writer), test.poolSleep and
 * test.poolGet (pool). */
int test_methods_hook(server_t *srv, store_t *w, proto_err_t *err);

/* test_methods_hook plus test.failAllocs (failalloc.c, linked into
 * noormd-test only, with malloc, calloc and realloc wrapped). */
int test_failalloc_hook(server_t *srv, store_t *w, proto_err_t *err);

/* The test table (test_kv.c): create it, put a key (insert or replace),
 * get it (appended to *out; *found false when absent), count the rows.
 * Each returns 0 or a negative code with `err` set. */
int store_test_init(store_t *w, proto_err_t *err);
int store_test_put(store_t *w, const char *key, size_t klen, const void *val, size_t vlen,
                   proto_err_t *err);
int store_test_get(store_t *s, const char *key, size_t klen, proto_buf_t *out, bool *found,
                   proto_err_t *err);
int store_test_count(store_t *s, int64_t *n, proto_err_t *err);

#endif
