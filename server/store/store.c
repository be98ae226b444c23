/* store.c - SQLite connections, pragmas, transactions and error mapping. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_errors.h"

static const char *const store_stmt_sql[STORE_STMT_COUNT] = {
#define STORE_STMT(id, sql) sql,
#include "store_sql.def"
#undef STORE_STMT
};

int store_error(store_t *s, int rc, bool writing, proto_err_t *err)
{
    const char *detail = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    int code;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        code = (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                   ? PROTO_E_CONFLICT
                   : PROTO_E_CONSTRAINT;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL: code = PROTO_E_UNAVAILABLE; break;
    case SQLITE_NOMEM: code = PROTO_E_OUT_OF_MEMORY; break;
    case SQLITE_IOERR: code = writing ? PROTO_E_OUTCOME_UNKNOWN : PROTO_E_UNAVAILABLE; break;
    case SQLITE_FULL: code = PROTO_E_STORAGE_FULL; break;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM: code = PROTO_E_READ_ONLY; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: code = PROTO_E_CORRUPT; break;
    case SQLITE_TOOBIG: code = PROTO_E_LIMIT_EXCEEDED; break;
    default: code = PROTO_E_INTERNAL; break;
    }
    return proto_err_set(err, code, "%s (sqlite: %s)", proto_error_message(code), detail);
}

sqlite3_stmt *store_stmt(store_t *s, store_stmt_id_t id, proto_err_t *err)
{
    sqlite3_stmt *st = s->stmts[id];
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
    }
    int rc = sqlite3_prepare_v3(s->db, store_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                &s->stmts[id], NULL);
    if (rc != SQLITE_OK) {
        store_error(s, rc, false, err);
        return NULL;
    }
    return s->stmts[id];
}

/* Runs a prepared statement that returns no rows. */
static int stmt_run(store_t *s, store_stmt_id_t id, proto_err_t *err)
{
    sqlite3_stmt *st = store_stmt(s, id, err);
    if (!st)
        return -err->code;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(s, rc, s->writer, err);
    return 0;
}

store_q_t *store_q(store_t *s, store_stmt_id_t id, proto_err_t *err)
{
    sqlite3_stmt *st = store_stmt(s, id, err);
    if (!st)
        return NULL;
    store_q_t *q = &s->qs[id];
    q->st = st;
    q->bind_rc = SQLITE_OK;
    q->bind_index = 0;
    return q;
}

/* Remembers the first bind that failed: store_q_step then refuses to run a
 * statement that would miss a parameter. */
static void bind_result(store_q_t *q, int i, int rc)
{
    if (rc != SQLITE_OK && q->bind_rc == SQLITE_OK) {
        q->bind_rc = rc;
        q->bind_index = i;
    }
}

void store_q_text(store_q_t *q, int i, const char *p, size_t n)
{
    /* A NULL pointer would bind SQL NULL: empty text stays text. */
    bind_result(
        q, i,
        sqlite3_bind_text64(q->st, i, p ? p : "", (sqlite3_uint64)n, SQLITE_STATIC, SQLITE_UTF8));
}

void store_q_blob(store_q_t *q, int i, const void *p, size_t n)
{
    bind_result(q, i,
                p ? sqlite3_bind_blob64(q->st, i, p, (sqlite3_uint64)n, SQLITE_STATIC)
                  : sqlite3_bind_zeroblob(q->st, i, 0));
}

void store_q_int(store_q_t *q, int i, int64_t v)
{
    bind_result(q, i, sqlite3_bind_int64(q->st, i, v));
}

void store_q_null(store_q_t *q, int i)
{
    bind_result(q, i, sqlite3_bind_null(q->st, i));
}

int store_q_step(store_t *s, store_q_t *q, proto_err_t *err)
{
    if (q->bind_rc != SQLITE_OK) {
        int code = store_error(s, q->bind_rc, false, err);
        snprintf(err->message, sizeof err->message,
                 "%s: cannot bind parameter %d of the statement (sqlite: %s)",
                 proto_error_message(err->code), q->bind_index, sqlite3_errstr(q->bind_rc));
        return code;
    }
    int rc = sqlite3_step(q->st);
    if (rc == SQLITE_ROW)
        return STORE_ROW;
    if (rc == SQLITE_DONE)
        return STORE_DONE;
    int code = store_error(s, rc, s->writer, err);
    sqlite3_reset(q->st);
    return code;
}

bool store_q_is_null(store_q_t *q, int col)
{
    return sqlite3_column_type(q->st, col) == SQLITE_NULL;
}

int64_t store_q_col_int(store_q_t *q, int col)
{
    return sqlite3_column_int64(q->st, col);
}

const char *store_q_col_text(store_q_t *q, int col, size_t *len)
{
    const char *p = (const char *)sqlite3_column_text(q->st, col);
    *len = (size_t)sqlite3_column_bytes(q->st, col);
    return p ? p : "";
}

const void *store_q_col_blob(store_q_t *q, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(q->st, col);
    *len = (size_t)sqlite3_column_bytes(q->st, col);
    return p;
}

void store_q_done(store_q_t *q)
{
    if (!q)
        return;
    sqlite3_reset(q->st);
    /* Text and blobs are bound SQLITE_STATIC into request memory that is
     * freed after the reply: no pointer to it may outlive the request. */
    sqlite3_clear_bindings(q->st);
}

int64_t store_changes(store_t *s)
{
    return sqlite3_changes64(s->db);
}

int store_exec(store_t *s, const char *sql, proto_err_t *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    sqlite3_free(msg); /* the connection's errmsg says the same */
    if (rc != SQLITE_OK)
        return store_error(s, rc, s->writer, err);
    return 0;
}

static int store_open(const store_options_t *o, bool writer, store_t **out, proto_err_t *err)
{
    *out = NULL;
    store_t *s = calloc(1, sizeof *s);
    if (!s)
        return proto_err_set(err, PROTO_E_INTERNAL, "out of memory opening the database");
    s->writer = writer;
    int flags = SQLITE_OPEN_NOMUTEX |
                (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
    int rc = sqlite3_open_v2(o->path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        int code = store_error(s, rc, false, err);
        snprintf(err->message, sizeof err->message, "cannot open database %s: %s", o->path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        store_close(s);
        return code;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, o->busy_timeout_ms);
    /* No SQL may corrupt the file (writable_schema, shadow tables), and on
     * the read-only connections that will run the app's queries no function
     * or view in the schema runs with more trust than the query itself. The
     * writer keeps trusted_schema on: it runs only our own statements, and
     * SQLite 3.40.1 refuses the auth schema's CHECK (json_valid(extra))
     * ("unsafe use of json_valid()") when it is off. */
    int on = -1, trusted = -1;
    if (sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, &on) != SQLITE_OK || on != 1 ||
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, writer ? 1 : 0, &trusted) !=
            SQLITE_OK ||
        trusted != (writer ? 1 : 0)) {
        proto_err_set(err, PROTO_E_INTERNAL, "cannot make the connection to %s defensive", o->path);
        store_close(s);
        return -PROTO_E_INTERNAL;
    }

    char pragmas[256];
    if (writer) {
        snprintf(pragmas, sizeof pragmas,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON; "
                 "PRAGMA journal_size_limit=%lld;",
                 o->synchronous_full ? "FULL" : "NORMAL", (long long)o->wal_limit_bytes);
    } else {
        snprintf(pragmas, sizeof pragmas, "PRAGMA foreign_keys=ON; PRAGMA query_only=ON;");
    }
    rc = store_exec(s, pragmas, err);
    if (rc == 0 && writer) {
        /* journal_mode answers with the mode it got; WAL can be refused
         * (e.g. on a file system without shared memory). */
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW &&
            strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
            rc = proto_err_set(err, PROTO_E_INTERNAL, "database %s could not be put in WAL mode",
                               o->path);
        sqlite3_finalize(st);
    }
    if (rc != 0) {
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int store_open_writer(const store_options_t *o, store_t **out, proto_err_t *err)
{
    return store_open(o, true, out, err);
}

int store_open_reader(const store_options_t *o, store_t **out, proto_err_t *err)
{
    return store_open(o, false, out, err);
}

void store_close(store_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < STORE_STMT_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    store_dyn_clear(s);
    sqlite3_close(s->db);
    free(s);
}

int store_begin(store_t *s, proto_err_t *err)
{
    return stmt_run(s, STORE_STMT_BEGIN, err);
}

int store_commit(store_t *s, proto_err_t *err)
{
    int rc = stmt_run(s, STORE_STMT_COMMIT, err);
    /* A failed COMMIT can leave the transaction open (e.g. SQLITE_BUSY);
     * the batch is answered with the error, so close it. */
    if (rc != 0 && !sqlite3_get_autocommit(s->db))
        store_rollback(s);
    return rc;
}

void store_rollback(store_t *s)
{
    proto_err_t ignored;
    if (!sqlite3_get_autocommit(s->db))
        stmt_run(s, STORE_STMT_ROLLBACK, &ignored);
}

int store_savepoint(store_t *s, proto_err_t *err)
{
    return stmt_run(s, STORE_STMT_SAVEPOINT, err);
}

int store_release(store_t *s, proto_err_t *err)
{
    return stmt_run(s, STORE_STMT_RELEASE, err);
}

void store_rollback_to(store_t *s)
{
    proto_err_t ignored;
    if (!sqlite3_get_autocommit(s->db))
        stmt_run(s, STORE_STMT_ROLLBACK_TO, &ignored);
}

bool store_in_transaction(const store_t *s)
{
    return !sqlite3_get_autocommit(s->db);
}

int store_checkpoint(store_t *s, bool truncate, proto_err_t *err)
{
    int rc = sqlite3_wal_checkpoint_v2(
        s->db, NULL, truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_error(s, rc, true, err);
    return 0;
}

void store_file_sizes(const char *db_path, int64_t *db_bytes, int64_t *wal_bytes)
{
    struct stat st;
    *db_bytes = stat(db_path, &st) == 0 ? (int64_t)st.st_size : 0;
    char wal[4096];
    int n = snprintf(wal, sizeof wal, "%s-wal", db_path);
    *wal_bytes = (n > 0 && (size_t)n < sizeof wal && stat(wal, &st) == 0) ? (int64_t)st.st_size : 0;
}

int store_lock(const char *db_path, int *fd_out, proto_err_t *err)
{
    *fd_out = -1;
    /* Name the lock after the file's real path, so that two spellings of
     * one database (a symlink, "./x.db" vs "x.db") take the same lock. */
    char real[PATH_MAX];
    if (!realpath(db_path, real)) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", db_path);
        char *slash = strrchr(dir, '/');
        const char *base = slash ? slash + 1 : db_path;
        if (slash)
            *slash = '\0';
        char rdir[PATH_MAX];
        if (!realpath(slash ? (dir[0] ? dir : "/") : ".", rdir))
            return proto_err_set(err, PROTO_E_READ_ONLY, "cannot resolve the directory of %s: %s",
                                 db_path, strerror(errno));
        if (snprintf(real, sizeof real, "%s/%s", strcmp(rdir, "/") ? rdir : "", base) >=
            (int)sizeof real)
            return proto_err_set(err, PROTO_E_INTERNAL, "database path is too long");
    }
    char path[PATH_MAX + 8];
    int n = snprintf(path, sizeof path, "%s.lock", real);
    if (n < 0 || (size_t)n >= sizeof path)
        return proto_err_set(err, PROTO_E_INTERNAL, "database path is too long");
    /* Whoever can write the database directory can put anything at this
     * path, and noormd may run as root: never follow a symlink, and check
     * what was opened before writing to it. O_NONBLOCK: a FIFO with no
     * reader must not hang the start (it is refused below). */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return proto_err_set(err, PROTO_E_READ_ONLY,
                                 "lock file %s is a symbolic link; refusing to follow it "
                                 "(remove it if it is not yours)",
                                 path);
        return proto_err_set(err, PROTO_E_READ_ONLY, "cannot open lock file %s: %s", path,
                             strerror(e));
    }
    struct stat st;
    const char *bad = NULL;
    char why[96];
    if (fstat(fd, &st) != 0) {
        snprintf(why, sizeof why, "cannot be examined (%s)", strerror(errno));
        bad = why;
    } else if (!S_ISREG(st.st_mode)) {
        bad = "is not a regular file";
    } else if (st.st_uid != geteuid()) {
        snprintf(why, sizeof why, "is owned by uid %ld, not by this server's uid %ld",
                 (long)st.st_uid, (long)geteuid());
        bad = why;
    } else if (st.st_nlink != 1) {
        /* A hard link to someone else's file passes the checks above
         * when that someone is us (root). */
        bad = "has more than one name (a hard link)";
    }
    if (bad) {
        close(fd);
        return proto_err_set(err, PROTO_E_READ_ONLY,
                             "lock file %s %s; refusing to use it (remove it if it is not yours)",
                             path, bad);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char owner[32] = "";
        ssize_t r = pread(fd, owner, sizeof owner - 1, 0);
        owner[r > 0 ? r : 0] = '\0';
        owner[strcspn(owner, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return proto_err_set(err, PROTO_E_UNAVAILABLE,
                                 "database %s is already served by another noormd (pid %s); "
                                 "one database has exactly one server",
                                 db_path, owner[0] ? owner : "unknown");
        return proto_err_set(err, PROTO_E_INTERNAL, "cannot lock %s: %s", path, strerror(e));
    }
    /* Checked and locked: only now is it ours to truncate. */
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* The pid is only a hint for the message above; the lock holds. */
    }
    *fd_out = fd;
    return 0;
}

void store_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

const char *store_sqlite_version(void)
{
    return sqlite3_libversion();
}
