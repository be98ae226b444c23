/* store.h - the SQLite store: connections, transactions, migrations.
 *
 * Only store*.c include sqlite3.h. A store_t is one SQLite connection; the
 * server opens exactly one writer (used only by the writer thread: it is the
 * only connection that ever writes or checkpoints) and one read-only reader
 * per reading thread. Functions that can fail return 0 or a negative
 * proto_error_t code and describe the failure in `err`.
 */
#ifndef NOORMME_STORE_H
#define NOORMME_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_buf.h"
#include "proto_rpc.h"

typedef struct store store_t;

/* Every statement the server runs more than once (store_sql.def), prepared
 * on first use and kept for the connection's lifetime. */
typedef enum {
#define STORE_STMT(id, sql) STORE_STMT_##id,
#include "store_sql.def"
#undef STORE_STMT
    STORE_STMT_COUNT
} store_stmt_id_t;

/* A prepared statement in use by a handler: bind, step, read columns, done.
 * Parameters are numbered from 1 and columns from 0, as in SQLite. */
typedef struct store_q store_q_t;

#define STORE_ROW  1 /* store_q_step: a row is ready */
#define STORE_DONE 0 /* store_q_step: no more rows */

typedef struct {
    const char *path;        /* database file */
    bool synchronous_full;   /* synchronous=FULL (else NORMAL) */
    int busy_timeout_ms;     /* wait on locks held by other processes */
    int64_t wal_limit_bytes; /* journal_size_limit */
} store_options_t;

/* A migration: `name` is the file name ("0001_auth.sql"); its leading number
 * is the version. */
typedef struct {
    const char *name;
    const char *sql;
} store_migration_t;

/* The migrations in schema/, embedded at build time, in version order. */
extern const store_migration_t store_embedded_migrations[];
extern const size_t store_embedded_migrations_count;

/* Opens the writer connection, creating the file when missing, and sets WAL
 * mode, foreign_keys, busy_timeout, synchronous and journal_size_limit.
 * *out is freed with store_close(). */
int store_open_writer(const store_options_t *o, store_t **out, proto_err_t *err);

/* Opens a read-only connection to a database a writer has already set up. */
int store_open_reader(const store_options_t *o, store_t **out, proto_err_t *err);

/* Closes the connection and finalizes its statements. NULL is a no-op. */
void store_close(store_t *s);

/* Applies the migrations not yet recorded in _noormme_migrations, each in its
 * own transaction, in version order. Refuses (and applies nothing) when a
 * recorded migration is unknown to `list` or its checksum changed, or when
 * `list` is not in strictly increasing version order. Writer only. */
int store_migrate(store_t *w, const store_migration_t *list, size_t n, proto_err_t *err);

/* Runs `sql` (one or more statements, no results). Writer only for writes. */
int store_exec(store_t *s, const char *sql, proto_err_t *err);

/* Transaction control for the writer's group commit. begin is BEGIN
 * IMMEDIATE; the savepoint calls bracket one request inside the batch. */
int store_begin(store_t *s, proto_err_t *err);
int store_commit(store_t *s, proto_err_t *err);
void store_rollback(store_t *s);
int store_savepoint(store_t *s, proto_err_t *err);
int store_release(store_t *s, proto_err_t *err);
void store_rollback_to(store_t *s);

/* True while a transaction is open. SQLite rolls a whole transaction back by
 * itself after some errors (I/O, full disk, out of memory), which the writer
 * must notice. */
bool store_in_transaction(const store_t *s);

/* Checkpoints the WAL (PASSIVE, or TRUNCATE when `truncate`): writer only.
 * Returns 0 or a negative code. */
int store_checkpoint(store_t *s, bool truncate, proto_err_t *err);

/* Sizes in bytes of the database file and its WAL (0 when absent). */
void store_file_sizes(const char *db_path, int64_t *db_bytes, int64_t *wal_bytes);

/* Starts statement `id` on `s`: reset, bindings cleared, no bind failure
 * recorded. Returns NULL with `err` set when it cannot be prepared. The
 * store_q_t belongs to `s` (one per statement); finish with store_q_done(). */
store_q_t *store_q(store_t *s, store_stmt_id_t id, proto_err_t *err);

/* Starts the dynamic statement `sql` (len bytes, one statement) on `s`,
 * prepared on first use and cached by its text (at most STORE_DYN_MAX per
 * connection, least recently used evicted). NULL with `err` set when it
 * cannot be prepared. Finish with store_q_done(). */
store_q_t *store_q_sql(store_t *s, const char *sql, size_t len, proto_err_t *err);

/* Bind parameter `i`. Text and blobs are not copied: `p` must stay valid
 * until store_q_done, which unbinds them. A bind that fails (no such
 * parameter, a value over SQLite's length limit, no memory) is remembered,
 * the first one only, and makes the next store_q_step fail. */
void store_q_text(store_q_t *q, int i, const char *p, size_t n);
void store_q_blob(store_q_t *q, int i, const void *p, size_t n);
void store_q_int(store_q_t *q, int i, int64_t v);
void store_q_null(store_q_t *q, int i);

/* Runs to the next row: STORE_ROW, STORE_DONE, or a negative code (via
 * store_error, as a write when `s` is the writer). After a failed bind it
 * runs nothing and fails with that bind's error, naming the parameter. */
int store_q_step(store_t *s, store_q_t *q, proto_err_t *err);

bool store_q_is_null(store_q_t *q, int col);
int64_t store_q_col_int(store_q_t *q, int col);
/* Text or blob of a column; valid until the next step or store_q_done. */
const char *store_q_col_text(store_q_t *q, int col, size_t *len);
const void *store_q_col_blob(store_q_t *q, int col, size_t *len);

/* Resets the statement and clears its bindings: on a reader this ends its
 * read transaction, so call it as soon as the rows are consumed. NULL is a
 * no-op. */
void store_q_done(store_q_t *q);

/* Rows changed by the last INSERT, UPDATE or DELETE on `s`. */
int64_t store_changes(store_t *s);

/* Makes this process the only noormd serving `db_path`: takes an exclusive
 * flock(2) on "<db_path>.lock" (created 0600, holding the owner's pid) and
 * returns its descriptor in *fd; the lock lasts until store_unlock or exit.
 * A database already owned by another live noormd is refused: two servers
 * would mean two writers. So is a lock path that is a symbolic link, or
 * anything but a regular file with one link owned by our euid: it is
 * written only after those checks. */
int store_lock(const char *db_path, int *fd, proto_err_t *err);

/* Releases the lock taken by store_lock (the file stays). -1 is a no-op. */
void store_unlock(int fd);

/* The linked SQLite library's version string. */
const char *store_sqlite_version(void);

#endif
