/* store_dyn.c - dynamic statements: prepared on first use, cached per
 * connection by their SQL text, least recently used evicted. The query
 * engine's compiler emits a finite set of texts per schema, so the cache
 * mostly hits; tests use it for their own tables. */
#include <stdlib.h>
#include <string.h>

#include "proto_errors.h"
#include "store_internal.h"

void store_dyn_clear(store_t *s)
{
    for (int i = 0; i < STORE_DYN_MAX; i++) {
        sqlite3_finalize(s->dyn[i].q.st);
        free(s->dyn[i].sql);
        memset(&s->dyn[i], 0, sizeof s->dyn[i]);
    }
}

store_q_t *store_q_sql(store_t *s, const char *sql, size_t len, proto_err_t *err)
{
    s->dyn_clock++;
    store_dyn_t *victim = NULL;
    for (int i = 0; i < STORE_DYN_MAX; i++) {
        store_dyn_t *d = &s->dyn[i];
        if (!d->sql) { /* slots fill in order: the rest are free too */
            victim = d;
            break;
        }
        if (d->len == len && memcmp(d->sql, sql, len) == 0) {
            d->used = s->dyn_clock;
            sqlite3_reset(d->q.st);
            sqlite3_clear_bindings(d->q.st);
            d->q.bind_rc = SQLITE_OK;
            d->q.bind_index = 0;
            return &d->q;
        }
        /* A statement still stepping belongs to a caller: never evicted. */
        if (!sqlite3_stmt_busy(d->q.st) && (!victim || d->used < victim->used))
            victim = d;
    }
    if (!victim) {
        proto_err_set(err, PROTO_E_INTERNAL,
                      "more than %d dynamic statements are in use at once on one connection",
                      STORE_DYN_MAX);
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        proto_err_set(err, PROTO_E_OUT_OF_MEMORY, "out of memory preparing a statement");
        return NULL;
    }
    memcpy(copy, sql, len);
    copy[len] = '\0';
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(s->db, copy, (int)len, SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (rc != SQLITE_OK || !st || (tail && *tail)) {
        if (rc == SQLITE_OK)
            proto_err_set(err, PROTO_E_INTERNAL, "a dynamic statement must be exactly one");
        else
            store_error(s, rc, false, err);
        sqlite3_finalize(st);
        free(copy);
        return NULL;
    }
    sqlite3_finalize(victim->q.st);
    free(victim->sql);
    victim->sql = copy;
    victim->len = len;
    victim->q.st = st;
    victim->q.bind_rc = SQLITE_OK;
    victim->q.bind_index = 0;
    victim->used = s->dyn_clock;
    return &victim->q;
}
