/* store_internal.h - shared by the store*.c files only (includes sqlite3.h). */
#ifndef NOORMME_STORE_INTERNAL_H
#define NOORMME_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

/* A statement in use through the store_q_* calls. */
struct store_q {
    sqlite3_stmt *st; /* the prepared statement (owned by stmts[] or dyn[]) */
    int bind_rc;      /* result of the first bind that failed since store_q, or SQLITE_OK */
    int bind_index;   /* the parameter that bind was for */
};

/* Dynamic statements kept per connection, by SQL text (least recently
 * used goes first). */
#define STORE_DYN_MAX 64

typedef struct {
    char *sql;     /* the text (owned), NULL when the slot is free */
    size_t len;    /* its length */
    store_q_t q;   /* the prepared statement and its bind state */
    uint64_t used; /* store clock at the last use */
} store_dyn_t;

struct store {
    sqlite3 *db;                           /* the connection */
    bool writer;                           /* opened read-write */
    sqlite3_stmt *stmts[STORE_STMT_COUNT]; /* prepared lazily, finalized at close */
    store_q_t qs[STORE_STMT_COUNT];        /* the store_q state of each statement */
    store_dyn_t dyn[STORE_DYN_MAX];        /* dynamic statements */
    uint64_t dyn_clock;                    /* advances per dynamic lookup */
};

/* Finalizes the dynamic statements (store_close). */
void store_dyn_clear(store_t *s);

/* The prepared, reset statement `id`, or NULL with `err` set. */
sqlite3_stmt *store_stmt(store_t *s, store_stmt_id_t id, proto_err_t *err);

/* The one place SQLite result codes become protocol errors: fills `err` from
 * `rc` and the connection's message and returns the negative code. An I/O
 * error while `writing` is OUTCOME_UNKNOWN, because SQLite can report an
 * error for a commit that did reach the disk. */
int store_error(store_t *s, int rc, bool writing, proto_err_t *err);

#endif
