/* store_internal.h - shared by the store*.c files only (includes sqlite3.h). */
#ifndef NOORMME_STORE_INTERNAL_H
#define NOORMME_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

/* A statement in use through the store_q_* calls. */
struct store_q {
    sqlite3_stmt *st; /* the prepared statement (owned by the store's stmts[]) */
    int bind_rc;      /* result of the first bind that failed since store_q, or SQLITE_OK */
    int bind_index;   /* the parameter that bind was for */
};

struct store {
    sqlite3 *db;                           /* the connection */
    bool writer;                           /* opened read-write */
    sqlite3_stmt *stmts[STORE_STMT_COUNT]; /* prepared lazily, finalized at close */
    store_q_t qs[STORE_STMT_COUNT];        /* the store_q state of each statement */
};

/* The prepared, reset statement `id`, or NULL with `err` set. */
sqlite3_stmt *store_stmt(store_t *s, store_stmt_id_t id, proto_err_t *err);

/* The one place SQLite result codes become protocol errors: fills `err` from
 * `rc` and the connection's message and returns the negative code. An I/O
 * error while `writing` is OUTCOME_UNKNOWN, because SQLite can report an
 * error for a commit that did reach the disk. */
int store_error(store_t *s, int rc, bool writing, proto_err_t *err);

#endif
