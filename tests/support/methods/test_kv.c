/* test_kv.c - the key/value table behind the test.* methods and the unit
 * tests of the writer and the store, through the store's public API only
 * (dynamic statements): no SQLite header outside server/store. */
#include <string.h>

#include "proto_errors.h"
#include "test_methods.h"

#define KV_PUT                                                                                     \
    "INSERT INTO _noormme_test_kv(k, v) VALUES (?1, ?2) "                                          \
    "ON CONFLICT(k) DO UPDATE SET v = excluded.v"
#define KV_GET   "SELECT v FROM _noormme_test_kv WHERE k = ?1"
#define KV_COUNT "SELECT count(*) FROM _noormme_test_kv"

int store_test_init(store_t *w, proto_err_t *err)
{
    return store_exec(w,
                      "CREATE TABLE IF NOT EXISTS _noormme_test_kv("
                      "k TEXT PRIMARY KEY NOT NULL, v BLOB NOT NULL) STRICT",
                      err);
}

int store_test_put(store_t *w, const char *key, size_t klen, const void *val, size_t vlen,
                   proto_err_t *err)
{
    store_q_t *q = store_q_sql(w, KV_PUT, strlen(KV_PUT), err);
    if (!q)
        return -err->code;
    store_q_text(q, 1, key, klen);
    store_q_blob(q, 2, val, vlen);
    int rc = store_q_step(w, q, err);
    store_q_done(q);
    return rc < 0 ? rc : 0;
}

int store_test_get(store_t *s, const char *key, size_t klen, proto_buf_t *out, bool *found,
                   proto_err_t *err)
{
    store_q_t *q = store_q_sql(s, KV_GET, strlen(KV_GET), err);
    if (!q)
        return -err->code;
    store_q_text(q, 1, key, klen);
    int rc = store_q_step(s, q, err);
    *found = rc == STORE_ROW;
    if (*found) {
        size_t n;
        const void *v = store_q_col_blob(q, 0, &n);
        rc = proto_buf_append(out, v, n) != 0
                 ? proto_err_set(err, PROTO_E_OUT_OF_MEMORY, "out of memory reading a value")
                 : 0;
    }
    store_q_done(q);
    return rc < 0 ? rc : 0;
}

int store_test_count(store_t *s, int64_t *n, proto_err_t *err)
{
    store_q_t *q = store_q_sql(s, KV_COUNT, strlen(KV_COUNT), err);
    if (!q)
        return -err->code;
    int rc = store_q_step(s, q, err);
    if (rc == STORE_ROW)
        *n = store_q_col_int(q, 0);
    store_q_done(q);
    return rc < 0 ? rc : 0;
}
