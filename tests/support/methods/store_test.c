/* store_test.c - the key/value table behind the test.* methods. Linked only
 * into test builds, where it exercises the write path end to end. */
#include "store_internal.h"

#include "proto_errors.h"

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
    sqlite3_stmt *st = store_stmt(w, STORE_STMT_TEST_PUT, err);
    if (!st)
        return -err->code;
    sqlite3_bind_text(st, 1, key, (int)klen, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, val, (int)vlen, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(w, rc, true, err);
}

int store_test_get(store_t *s, const char *key, size_t klen, proto_buf_t *out, bool *found,
                   proto_err_t *err)
{
    sqlite3_stmt *st = store_stmt(s, STORE_STMT_TEST_GET, err);
    if (!st)
        return -err->code;
    sqlite3_bind_text(st, 1, key, (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found) {
        const void *v = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        if (proto_buf_append(out, v, (size_t)n) != 0)
            rc = SQLITE_NOMEM;
        else
            rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(s, rc, false, err);
}

int store_test_count(store_t *s, int64_t *n, proto_err_t *err)
{
    sqlite3_stmt *st = store_stmt(s, STORE_STMT_TEST_COUNT, err);
    if (!st)
        return -err->code;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(s, rc, false, err);
}
