/* test_store.c - the SQLite store: connection set-up, error mapping, the
 * migrations runner and checkpoints, against temporary database files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "proto_errors.h"
#include "store.h"
#include "test_methods.h"
#include "store_internal.h"

typedef struct {
    char dir[64];        /* private temporary directory */
    char path[128];      /* database file inside it */
    store_options_t opt; /* options pointing at path */
    store_t *w;          /* writer connection */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/noormme-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    f->opt = (store_options_t){.path = f->path,
                               .synchronous_full = true,
                               .busy_timeout_ms = 1000,
                               .wal_limit_bytes = 1 << 20};
    proto_err_t err;
    assert_int_equal(store_open_writer(&f->opt, &f->w, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    store_close(f->w);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Answers the single integer of `sql`, read through a separate connection
 * so the test does not depend on the code under test. */
static long long query_int(fixture_t *f, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* True when the writer can see table `name`. */
static int table_exists(fixture_t *f, const char *name)
{
    char sql[256];
    proto_err_t err;
    snprintf(sql, sizeof sql, "SELECT 1 FROM \"%s\" LIMIT 0", name);
    return store_exec(f->w, sql, &err) == 0;
}

static void test_store_writer_uses_wal_and_reader_is_read_only(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    assert_int_equal(store_exec(f->w, "CREATE TABLE t(x)", &err), 0);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    struct stat st;
    assert_int_equal(stat(wal, &st), 0); /* WAL mode keeps a -wal file */

    store_t *r = NULL;
    assert_int_equal(store_open_reader(&f->opt, &r, &err), 0);
    assert_int_equal(store_exec(r, "SELECT * FROM t", &err), 0);
    assert_int_equal(store_exec(r, "INSERT INTO t VALUES (1)", &err), -PROTO_E_READ_ONLY);
    assert_int_equal(err.code, PROTO_E_READ_ONLY);
    store_close(r);
}

static void test_store_maps_unique_violation_to_conflict_and_fk_to_constraint(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    assert_int_equal(store_exec(f->w,
                                "CREATE TABLE p(id INTEGER PRIMARY KEY, e TEXT UNIQUE);"
                                "CREATE TABLE c(pid INTEGER REFERENCES p(id));"
                                "INSERT INTO p VALUES (1, 'a');",
                                &err),
                     0);
    assert_int_equal(store_exec(f->w, "INSERT INTO p VALUES (2, 'a')", &err), -PROTO_E_CONFLICT);
    assert_non_null(strstr(err.message, "UNIQUE"));
    assert_int_equal(store_exec(f->w, "INSERT INTO p VALUES (1, 'b')", &err), -PROTO_E_CONFLICT);
    /* foreign_keys=ON is set by the store. */
    assert_int_equal(store_exec(f->w, "INSERT INTO c VALUES (99)", &err), -PROTO_E_CONSTRAINT);
    assert_int_equal(store_exec(f->w, "SELEC nonsense", &err), -PROTO_E_INTERNAL);
}

static void test_store_refuses_a_file_that_is_not_a_database(void **state)
{
    fixture_t *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/garbage.db", f->dir);
    FILE *g = fopen(path, "w");
    assert_non_null(g);
    for (int i = 0; i < 4096; i++)
        fputc('x', g);
    fclose(g);
    store_options_t o = f->opt;
    o.path = path;
    store_t *s = NULL;
    proto_err_t err;
    assert_int_equal(store_open_writer(&o, &s, &err), -PROTO_E_CORRUPT);
    assert_null(s);
}

static void test_store_open_reports_a_missing_directory(void **state)
{
    fixture_t *f = *state;
    store_options_t o = f->opt;
    o.path = "/nonexistent-dir-noormme/x.db";
    store_t *s = NULL;
    proto_err_t err;
    assert_true(store_open_writer(&o, &s, &err) < 0);
    assert_non_null(strstr(err.message, "/nonexistent-dir-noormme/x.db"));
}

static const store_migration_t two[] = {
    {"0001_a.sql", "CREATE TABLE a(x);"},
    {"0002_b.sql", "CREATE TABLE b(y);"},
};

static void test_migrate_applies_in_order_and_records_each_once(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    assert_int_equal(store_migrate(f->w, two, 1, &err), 0);
    assert_true(table_exists(f, "a"));
    assert_false(table_exists(f, "b"));
    assert_int_equal(store_migrate(f->w, two, 2, &err), 0);
    assert_true(table_exists(f, "b"));
    /* Running again applies nothing (CREATE TABLE would fail if it did). */
    assert_int_equal(store_migrate(f->w, two, 2, &err), 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM _noormme_migrations"), 2);
    assert_int_equal(query_int(f, "SELECT max(version) FROM _noormme_migrations"), 2);
}

static void test_migrate_refuses_a_changed_migration(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    assert_int_equal(store_migrate(f->w, two, 2, &err), 0);
    const store_migration_t edited[] = {
        {"0001_a.sql", "CREATE TABLE a(x, z);"},
        {"0002_b.sql", "CREATE TABLE b(y);"},
    };
    assert_true(store_migrate(f->w, edited, 2, &err) < 0);
    assert_non_null(strstr(err.message, "0001_a.sql changed"));
}

static void test_migrate_refuses_an_unknown_applied_migration(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    assert_int_equal(store_migrate(f->w, two, 2, &err), 0);
    assert_true(store_migrate(f->w, two, 1, &err) < 0);
    assert_non_null(strstr(err.message, "does not know"));
    const store_migration_t other[] = {{"0001_a.sql", "CREATE TABLE a(x);"},
                                       {"0003_c.sql", "CREATE TABLE c(z);"}};
    assert_true(store_migrate(f->w, other, 2, &err) < 0);
    assert_false(table_exists(f, "c")); /* nothing applied after a refusal */
}

static void test_migrate_rolls_back_a_failing_migration_whole(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    const store_migration_t bad[] = {
        {"0001_a.sql", "CREATE TABLE a(x);"},
        {"0002_bad.sql", "CREATE TABLE half(y); INSERT INTO missing VALUES (1);"},
    };
    assert_true(store_migrate(f->w, bad, 2, &err) < 0);
    assert_non_null(strstr(err.message, "0002_bad.sql failed"));
    assert_true(table_exists(f, "a"));
    assert_false(table_exists(f, "half"));
    assert_int_equal(query_int(f, "SELECT count(*) FROM _noormme_migrations"), 1);
    /* The fixed migration can then be applied. */
    assert_int_equal(store_migrate(f->w, two, 2, &err), 0);
    assert_true(table_exists(f, "b"));
}

static void test_migrate_refuses_badly_named_or_unordered_lists(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    const store_migration_t unnamed[] = {{"a.sql", "SELECT 1"}};
    assert_true(store_migrate(f->w, unnamed, 1, &err) < 0);
    assert_non_null(strstr(err.message, "NNNN_name.sql"));
    const store_migration_t unordered[] = {{"0002_b.sql", "SELECT 1"}, {"0001_a.sql", "SELECT 1"}};
    assert_true(store_migrate(f->w, unordered, 2, &err) < 0);
    assert_non_null(strstr(err.message, "out of order"));
    const store_migration_t dup[] = {{"0001_a.sql", "SELECT 1"}, {"0001_b.sql", "SELECT 1"}};
    assert_true(store_migrate(f->w, dup, 2, &err) < 0);
}

static void test_store_truncate_checkpoint_empties_the_wal(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    assert_int_equal(store_test_init(f->w, &err), 0);
    for (int i = 0; i < 50; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(store_test_put(f->w, k, (size_t)n, "v", 1, &err), 0);
    }
    int64_t db, wal;
    store_file_sizes(f->path, &db, &wal);
    assert_true(wal > 0);
    assert_int_equal(store_checkpoint(f->w, true, &err), 0);
    store_file_sizes(f->path, &db, &wal);
    assert_int_equal(wal, 0);
    assert_true(db > 0);
}

static void test_store_savepoint_rollback_undoes_only_its_own_writes(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    assert_int_equal(store_test_init(f->w, &err), 0);
    assert_int_equal(store_begin(f->w, &err), 0);
    assert_true(store_in_transaction(f->w));
    assert_int_equal(store_test_put(f->w, "keep", 4, "1", 1, &err), 0);
    assert_int_equal(store_savepoint(f->w, &err), 0);
    assert_int_equal(store_test_put(f->w, "drop", 4, "2", 1, &err), 0);
    store_rollback_to(f->w);
    assert_int_equal(store_release(f->w, &err), 0);
    assert_int_equal(store_commit(f->w, &err), 0);
    assert_false(store_in_transaction(f->w));

    proto_buf_t b;
    proto_buf_init(&b);
    bool found = false;
    assert_int_equal(store_test_get(f->w, "keep", 4, &b, &found, &err), 0);
    assert_true(found);
    assert_int_equal(store_test_get(f->w, "drop", 4, &b, &found, &err), 0);
    assert_false(found);
    int64_t n = 0;
    assert_int_equal(store_test_count(f->w, &n, &err), 0);
    assert_int_equal(n, 1);
    proto_buf_deinit(&b);
}

static void test_store_error_maps_each_result_code_family_once(void **state)
{
    fixture_t *f = *state;
    const struct {
        int rc;
        bool writing;
        int code;
    } cases[] = {
        {SQLITE_CONSTRAINT_UNIQUE, true, PROTO_E_CONFLICT},
        {SQLITE_CONSTRAINT_PRIMARYKEY, true, PROTO_E_CONFLICT},
        {SQLITE_CONSTRAINT_FOREIGNKEY, true, PROTO_E_CONSTRAINT},
        {SQLITE_CONSTRAINT_NOTNULL, true, PROTO_E_CONSTRAINT},
        {SQLITE_BUSY, true, PROTO_E_UNAVAILABLE},
        {SQLITE_LOCKED, false, PROTO_E_UNAVAILABLE},
        {SQLITE_NOMEM, false, PROTO_E_OUT_OF_MEMORY},
        /* SQLite may report an I/O error for a commit that reached the
         * disk: a write's outcome is then unknown, a read's is not. */
        {SQLITE_IOERR_WRITE, true, PROTO_E_OUTCOME_UNKNOWN},
        {SQLITE_IOERR_FSYNC, true, PROTO_E_OUTCOME_UNKNOWN},
        {SQLITE_IOERR_READ, false, PROTO_E_UNAVAILABLE},
        {SQLITE_FULL, true, PROTO_E_STORAGE_FULL},
        {SQLITE_READONLY, true, PROTO_E_READ_ONLY},
        {SQLITE_CORRUPT, false, PROTO_E_CORRUPT},
        {SQLITE_NOTADB, false, PROTO_E_CORRUPT},
        {SQLITE_TOOBIG, true, PROTO_E_LIMIT_EXCEEDED},
        {SQLITE_ERROR, false, PROTO_E_INTERNAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_err_t err;
        assert_int_equal(store_error(f->w, cases[i].rc, cases[i].writing, &err), -cases[i].code);
        assert_int_equal(err.code, cases[i].code);
        assert_non_null(strstr(err.message, "sqlite:"));
    }
}

static void test_store_lock_admits_one_owner_at_a_time(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    int first = -1, second = -1;
    assert_int_equal(store_lock(f->path, &first, &err), 0);
    assert_true(first >= 0);
    /* flock locks belong to the open file description: a second open, as a
     * second noormd would make, is refused and told who owns it. */
    assert_int_equal(store_lock(f->path, &second, &err), -PROTO_E_UNAVAILABLE);
    assert_int_equal(second, -1);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    assert_non_null(strstr(err.message, pid));
    /* Another spelling of the same file takes the same lock. */
    char alias[160];
    snprintf(alias, sizeof alias, "%s/alias.db", f->dir);
    assert_int_equal(symlink(f->path, alias), 0);
    assert_int_equal(store_lock(alias, &second, &err), -PROTO_E_UNAVAILABLE);
    char dotted[160];
    snprintf(dotted, sizeof dotted, "%s/./t.db", f->dir);
    assert_int_equal(store_lock(dotted, &second, &err), -PROTO_E_UNAVAILABLE);
    store_unlock(first);
    assert_int_equal(store_lock(f->path, &second, &err), 0);
    store_unlock(second);
}

/* issue 7 defect 8: text and blobs are bound SQLITE_STATIC, pointing into
 * request memory that is freed once the request is answered. After
 * store_q_done the statement must hold no such pointer, and starting it
 * again without binding must see NULL, not the last request's value. */
static void test_store_q_done_leaves_no_parameter_bound(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    char value[] = "bytes-of-a-request";
    store_q_t *q = store_q_sql(f->w, "SELECT ?1", 9, &err);
    assert_non_null(q);
    store_q_text(q, 1, value, strlen(value));
    assert_int_equal(store_q_step(f->w, q, &err), STORE_ROW);
    size_t len;
    const char *got = store_q_col_text(q, 0, &len);
    assert_int_equal(len, strlen(value));
    assert_memory_equal(got, value, len);
    store_q_done(q);

    /* What SQLite itself holds between two uses of the statement. */
    char *sql = sqlite3_expanded_sql(q->st);
    assert_non_null(sql);
    assert_string_equal(sql, "SELECT NULL");
    sqlite3_free(sql);

    q = store_q_sql(f->w, "SELECT ?1", 9, &err);
    assert_non_null(q);
    assert_int_equal(store_q_step(f->w, q, &err), STORE_ROW);
    assert_true(store_q_is_null(q, 0));
    store_q_done(q);
}

/* issue 7 defect 8: a bind that fails must not leave the statement to run
 * with a missing parameter: the next store_q_step fails instead, reporting
 * the first failing bind, and the next use of the statement starts clean. */
static void test_store_q_failed_bind_makes_the_step_fail(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    store_q_t *q = store_q_sql(f->w, "SELECT ?1", 9, &err);
    assert_non_null(q);
    store_q_text(q, 1, "a", 1);
    store_q_int(q, 2, 7); /* the statement has no ?2 */
    store_q_null(q, 0);   /* a second failure does not replace the first */
    memset(&err, 0, sizeof err);
    assert_int_equal(store_q_step(f->w, q, &err), -PROTO_E_INTERNAL);
    assert_int_equal(err.code, PROTO_E_INTERNAL);
    assert_non_null(strstr(err.message, "parameter 2"));
    store_q_done(q);

    q = store_q_sql(f->w, "SELECT ?1", 9, &err);
    assert_non_null(q);
    store_q_text(q, 1, "b", 1);
    assert_int_equal(store_q_step(f->w, q, &err), STORE_ROW);
    size_t len;
    assert_memory_equal(store_q_col_text(q, 0, &len), "b", 1);
    store_q_done(q);

    /* A value over SQLite's length limit is refused by the bind: the step
     * reports LIMIT_EXCEEDED rather than running with ?1 unbound. */
    sqlite3_limit(f->w->db, SQLITE_LIMIT_LENGTH, 8);
    q = store_q_sql(f->w, "SELECT ?1", 9, &err);
    assert_non_null(q);
    store_q_blob(q, 1, "123456789", 9);
    assert_int_equal(store_q_step(f->w, q, &err), -PROTO_E_LIMIT_EXCEEDED);
    assert_non_null(strstr(err.message, "parameter 1"));
    store_q_done(q);
}

static void test_store_embedded_migrations_are_in_order(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    assert_int_equal(
        store_migrate(f->w, store_embedded_migrations, store_embedded_migrations_count, &err), 0);
}

/* Steps dynamic statement `sql` to its first row on `s`; returns the
 * statement, left busy (not done). */
static store_q_t *start_dyn(store_t *s, const char *sql)
{
    proto_err_t err;
    store_q_t *q = store_q_sql(s, sql, strlen(sql), &err);
    assert_non_null(q);
    assert_int_equal(store_q_step(s, q, &err), STORE_ROW);
    return q;
}

/* The dynamic-statement cache holds STORE_DYN_MAX (64) statements: the
 * 65th distinct text evicts the least recently used one, which is prepared
 * again on its next use; a statement still being stepped is never evicted,
 * and when all 64 are in use the 65th is refused with an error, not a
 * dangling statement. */
static void test_store_dynamic_statement_cache_at_and_past_its_size(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    char sql[64];
    store_q_t *first = start_dyn(f->w, "SELECT 0");
    for (int i = 1; i < 64; i++) { /* 64 statements in all, every one busy */
        snprintf(sql, sizeof sql, "SELECT %d", i);
        start_dyn(f->w, sql);
    }
    assert_null(store_q_sql(f->w, "SELECT 64", 9, &err)); /* 65th: none may go */
    assert_int_equal(err.code, PROTO_E_INTERNAL);
    /* "SELECT 0" is the oldest but busy: finishing another one frees it. */
    store_q_t *mid = store_q_sql(f->w, "SELECT 5", 8, &err); /* a hit: reset, not busy */
    assert_non_null(mid);
    store_q_t *q = start_dyn(f->w, "SELECT 64"); /* evicts "SELECT 5", the only idle one */
    assert_int_equal(store_q_col_int(q, 0), 64);
    assert_int_equal(store_q_col_int(first, 0), 0); /* untouched while it steps */
    assert_int_equal(store_q_step(f->w, first, &err), STORE_DONE);
    store_q_done(first);
    q = start_dyn(f->w, "SELECT 5"); /* prepared again, in a slot that was free to go */
    assert_int_equal(store_q_col_int(q, 0), 5);
    for (int i = 0; i < STORE_DYN_MAX; i++)
        store_q_done(&f->w->dyn[i].q);
}

/* Every connection is DEFENSIVE (no SQL can corrupt the file through
 * writable_schema); read-only ones do not trust the schema's functions and
 * views, the writer does (the auth schema's CHECK needs json_valid). */
static void test_store_connections_are_defensive_and_readers_distrust_the_schema(void **state)
{
    fixture_t *f = *state;
    proto_err_t err;
    assert_int_equal(store_exec(f->w, "CREATE TABLE t(x)", &err), 0);
    assert_int_equal(store_exec(f->w, "PRAGMA writable_schema=ON", &err), 0);
    assert_int_not_equal(store_exec(f->w, "DELETE FROM sqlite_master WHERE name='t'", &err), 0);
    store_t *r = NULL;
    assert_int_equal(store_open_reader(&f->opt, &r, &err), 0);
    store_q_t *q = start_dyn(r, "PRAGMA trusted_schema");
    assert_int_equal(store_q_col_int(q, 0), 0);
    store_q_done(q);
    q = start_dyn(f->w, "PRAGMA trusted_schema");
    assert_int_equal(store_q_col_int(q, 0), 1);
    store_q_done(q);
    store_close(r);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_store_writer_uses_wal_and_reader_is_read_only),
        T(test_store_maps_unique_violation_to_conflict_and_fk_to_constraint),
        T(test_store_refuses_a_file_that_is_not_a_database),
        T(test_store_open_reports_a_missing_directory),
        T(test_migrate_applies_in_order_and_records_each_once),
        T(test_migrate_refuses_a_changed_migration),
        T(test_migrate_refuses_an_unknown_applied_migration),
        T(test_migrate_rolls_back_a_failing_migration_whole),
        T(test_migrate_refuses_badly_named_or_unordered_lists),
        T(test_store_truncate_checkpoint_empties_the_wal),
        T(test_store_savepoint_rollback_undoes_only_its_own_writes),
        T(test_store_error_maps_each_result_code_family_once),
        T(test_store_lock_admits_one_owner_at_a_time),
        T(test_store_embedded_migrations_are_in_order),
        T(test_store_q_done_leaves_no_parameter_bound),
        T(test_store_q_failed_bind_makes_the_step_fail),
        T(test_store_dynamic_statement_cache_at_and_past_its_size),
        T(test_store_connections_are_defensive_and_readers_distrust_the_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
