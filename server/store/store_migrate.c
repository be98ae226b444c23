/* store_migrate.c - the schema migrations runner.
 *
 * Each migration runs in its own transaction together with the row that
 * records it, so a crash leaves it either fully applied and recorded or not
 * at all. Before applying anything, the recorded history must be a prefix of
 * the known list with identical checksums: a database migrated by a newer
 * server, or whose migration file was edited after it ran, is refused rather
 * than silently diverging.
 */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto_errors.h"

/* FNV-1a, 64-bit: detects an edited migration; not a security boundary. */
static void migration_checksum(const char *sql, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The version is the file name's leading number: "0003_x.sql" -> 3. */
static long long migration_version(const char *name)
{
    char *end = NULL;
    long long v = strtoll(name, &end, 10);
    if (end == name || *end != '_' || v <= 0)
        return -1;
    return v;
}

static int check_list(const store_migration_t *list, size_t n, proto_err_t *err)
{
    long long prev = 0;
    for (size_t i = 0; i < n; i++) {
        long long v = migration_version(list[i].name);
        if (v < 0)
            return proto_err_set(err, PROTO_E_INTERNAL,
                                 "migration \"%s\" is not named NNNN_name.sql", list[i].name);
        if (v <= prev)
            return proto_err_set(err, PROTO_E_INTERNAL,
                                 "migration \"%s\" is out of order (versions must increase)",
                                 list[i].name);
        prev = v;
    }
    return 0;
}

/* Compares the recorded history with `list`; sets *applied to how many of
 * `list` are already recorded. */
static int check_history(store_t *w, const store_migration_t *list, size_t n, size_t *applied,
                         proto_err_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(w->db,
                                "SELECT version, name, checksum FROM _noormme_migrations "
                                "ORDER BY version",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_error(w, rc, false, err);
    size_t i = 0;
    int out = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long version = sqlite3_column_int64(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *sum = (const char *)sqlite3_column_text(st, 2);
        if (i >= n || migration_version(list[i].name) != version) {
            out = proto_err_set(err, PROTO_E_INTERNAL,
                                "database has migration %lld (%s) that this noormd does not "
                                "know; was it migrated by a newer noormd?",
                                version, name ? name : "?");
            break;
        }
        char want[17];
        migration_checksum(list[i].sql, want);
        if (!sum || strcmp(sum, want) != 0) {
            out = proto_err_set(err, PROTO_E_INTERNAL,
                                "migration %s changed after it was applied (checksum %s, "
                                "recorded %s); add a new migration instead of editing one",
                                list[i].name, want, sum ? sum : "none");
            break;
        }
        i++;
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = store_error(w, rc, false, err);
    sqlite3_finalize(st);
    *applied = i;
    return out;
}

static int apply_one(store_t *w, const store_migration_t *m, proto_err_t *err)
{
    int rc = store_exec(w, "BEGIN IMMEDIATE", err);
    if (rc != 0)
        return rc;
    rc = store_exec(w, m->sql, err);
    if (rc != 0) {
        char why[PROTO_ERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->message);
        proto_err_set(err, -rc, "migration %s failed: %s", m->name, why);
        store_rollback(w);
        return rc;
    }
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(w->db,
                                 "INSERT INTO _noormme_migrations(version, name, checksum, "
                                 "applied_at) VALUES (?1, ?2, ?3, ?4)",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        char sum[17];
        migration_checksum(m->sql, sum);
        sqlite3_bind_int64(st, 1, migration_version(m->name));
        sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, sum, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL) * 1000);
        src = sqlite3_step(st);
        if (src == SQLITE_DONE)
            src = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_OK) {
        rc = store_error(w, src, true, err);
        store_rollback(w);
        return rc;
    }
    rc = store_exec(w, "COMMIT", err);
    if (rc != 0)
        store_rollback(w);
    return rc;
}

int store_migrate(store_t *w, const store_migration_t *list, size_t n, proto_err_t *err)
{
    int rc = check_list(list, n, err);
    if (rc != 0)
        return rc;
    rc = store_exec(w,
                    "CREATE TABLE IF NOT EXISTS _noormme_migrations("
                    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                    "checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                    err);
    if (rc != 0)
        return rc;
    size_t applied = 0;
    rc = check_history(w, list, n, &applied, err);
    for (size_t i = applied; rc == 0 && i < n; i++)
        rc = apply_one(w, &list[i], err);
    return rc;
}
