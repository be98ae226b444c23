/* test_auth_secrets.c - integration: what noormd does with secrets. A magic
 * link is redeemed once however many callers race for it; raw session,
 * verification and OAuth tokens never reach the database, its WAL or the
 * log; a stored OAuth ciphertext that was altered, or moved to another
 * row or column, fails to decrypt instead of returning garbage; purge
 * deletes exactly the expired rows; and the master key is checked at start
 * (missing, readable by others, malformed, replaced, from the
 * environment). Each test has its own server and directory. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rpcc.h"
#include "testsrv.h"
#include "wait.h"

/* Another valid master key (base64 of 32 bytes), for the key-change test. */
#define OTHER_KEY_B64 "ZmVkY2JhOTg3NjU0MzIxMEZFRENCQTk4NzY1NDMyMTA="

static testsrv_t srv;

static int stop_server(void **state)
{
    (void)state;
    return testsrv_finish(&srv);
}

/* Teardown for tests whose server is expected to have exited already. */
static int destroy_server(void **state)
{
    (void)state;
    return testsrv_destroy(&srv);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const msgpack_object *call(rpcc_t *c, uint32_t msgid, const char *method,
                                  const rpcc_arg_t *args, size_t nargs, msgpack_unpacked *u)
{
    const msgpack_object *r = rpcc_call(c, msgid, method, args, nargs, u, RPCC_TIMEOUT_MS);
    if (!r)
        fail_msg("%s did not answer with a result", method);
    return r;
}
#define CALL(c, id, method, args, u) call((c), (id), (method), (args), RPCC_NARGS(args), (u))

static void expect_error(rpcc_t *c, uint32_t msgid, const char *method, const rpcc_arg_t *args,
                         size_t nargs, const char *name, const char *field)
{
    msgpack_unpacked u;
    const msgpack_object *err =
        rpcc_call_error(c, msgid, method, args, nargs, name, &u, RPCC_TIMEOUT_MS);
    if (!err || (field && !rpcc_error_field_is(err, field)))
        fail_msg("%s: expected %s naming \"%s\"", method, name, field ? field : "");
    msgpack_unpacked_destroy(&u);
}

static void expect_nil_result(rpcc_t *c, uint32_t msgid, const char *method, const rpcc_arg_t *args,
                              size_t nargs)
{
    msgpack_unpacked u;
    const msgpack_object *r = call(c, msgid, method, args, nargs, &u);
    if (r->type != MSGPACK_OBJECT_NIL) {
        rpcc_print("answer", r);
        fail_msg("%s: expected nil", method);
    }
    msgpack_unpacked_destroy(&u);
}

/* Fills `out` with 2*n lowercase hex chars of fresh randomness. */
static void random_hex(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[64];
    assert_true(n <= sizeof b);
    FILE *f = fopen("/dev/urandom", "rb");
    assert_non_null(f);
    assert_int_equal(fread(b, 1, n, f), n);
    fclose(f);
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void make_user(rpcc_t *c, uint32_t msgid, const char *id)
{
    msgpack_unpacked u;
    rpcc_arg_t args[] = {RPCC_STR("id", id)};
    CALL(c, msgid, "auth.createUser", args, &u);
    msgpack_unpacked_destroy(&u);
}

/* ---- (a) one magic link, many redeemers ---------------------------------- */

#define RACERS 100

static int start_plain(void **state)
{
    (void)state;
    return testsrv_start(&srv, NOORMD_TEST_BIN, NULL);
}

static void
test_hundred_concurrent_redeems_of_one_verification_token_succeed_exactly_once(void **state)
{
    (void)state;
    static rpcc_t c[RACERS];
    for (int k = 0; k < RACERS; k++)
        rpcc_connect_or_fail(&c[k], srv.socket_path);
    /* Several rounds: one lucky interleaving must not pass for atomicity. */
    for (int round = 0; round < 3; round++) {
        char token[65];
        random_hex(token, 32);
        int64_t expires = now_ms() + 600000;
        msgpack_unpacked u;
        rpcc_arg_t create[] = {RPCC_STR("identifier", "race@example.com"), RPCC_STR("token", token),
                               RPCC_TIME("expires", expires)};
        CALL(&c[0], 1, "auth.createVerificationToken", create, &u);
        msgpack_unpacked_destroy(&u);

        /* Every request is in the server before any answer is read. */
        rpcc_arg_t use[] = {RPCC_STR("identifier", "race@example.com"), RPCC_STR("token", token)};
        for (int k = 0; k < RACERS; k++)
            assert_int_equal(rpcc_send_request(&c[k], 100 + (uint32_t)k,
                                               "auth.useVerificationToken", use, RPCC_NARGS(use),
                                               RPCC_TIMEOUT_MS),
                             RPCC_OK);
        int won = 0, lost = 0;
        for (int k = 0; k < RACERS; k++) {
            const msgpack_object *r = rpcc_expect_result(&c[k], 100 + (uint32_t)k, &u, 10000);
            if (!r)
                fail_msg("round %d, connection %d: no answer", round, k);
            if (r->type == MSGPACK_OBJECT_NIL) {
                lost++;
            } else {
                int64_t got;
                assert_true(rpcc_obj_str_eq(rpcc_map_get(r, "token"), token));
                assert_true(rpcc_obj_time_ms(rpcc_map_get(r, "expires"), &got) && got == expires);
                won++;
            }
            msgpack_unpacked_destroy(&u);
        }
        if (won != 1 || lost != RACERS - 1)
            fail_msg("round %d: %d redeemed and %d refused; want 1 and %d", round, won, lost,
                     RACERS - 1);
        expect_nil_result(&c[1], 2, "auth.useVerificationToken", use, RPCC_NARGS(use));
    }
    for (int k = 0; k < RACERS; k++)
        rpcc_close(&c[k]);
}

/* ---- (b) no raw token at rest or in the log ------------------------------ */

#define LEAK_USERS 1000
#define LEAK_CONNS 10
#define TOKEN_HEX  40 /* chars of each random token */

typedef struct {
    char session[TOKEN_HEX + 1]; /* session token */
    char access[TOKEN_HEX + 1];  /* access_token at link */
    char refresh[TOKEN_HEX + 1]; /* refresh_token */
    char id[TOKEN_HEX + 1];      /* id_token */
    char access2[TOKEN_HEX + 1]; /* access_token after updateAccount */
    char vtoken[TOKEN_HEX + 1];  /* verification token */
    char wrong[TOKEN_HEX + 1];   /* a verification token never created */
} leak_tokens_t;

#define TOKENS_PER_USER (sizeof(leak_tokens_t) / (TOKEN_HEX + 1))

/* Needles found by their first 8 bytes, sorted, then compared whole. */
typedef struct {
    uint64_t head; /* first 8 bytes */
    const char *s; /* the needle */
    size_t len;    /* its length */
} needle_t;

static int needle_cmp(const void *a, const void *b)
{
    uint64_t x = ((const needle_t *)a)->head, y = ((const needle_t *)b)->head;
    return x < y ? -1 : x > y;
}

/* Reads a whole file; NULL (and *len 0) when it does not exist. */
static uint8_t *slurp(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (;;) {
        if (cap - *len < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    return buf;
}

/* Marks in found[] every needle that occurs anywhere in `path`. Returns
 * false when the file does not exist. */
static bool scan_file(const char *path, needle_t *needles, size_t n, bool *found)
{
    size_t len;
    uint8_t *buf = slurp(path, &len);
    if (!buf)
        return false;
    for (size_t p = 0; p + 8 <= len; p++) {
        needle_t key;
        memcpy(&key.head, buf + p, 8);
        needle_t *hit = bsearch(&key, needles, n, sizeof *needles, needle_cmp);
        if (!hit)
            continue;
        while (hit > needles && hit[-1].head == key.head)
            hit--;
        for (; hit < needles + n && hit->head == key.head; hit++) {
            if (p + hit->len <= len && memcmp(buf + p, hit->s, hit->len) == 0)
                found[hit - needles] = true;
        }
    }
    free(buf);
    return true;
}

/* Sorts `needles`; scans the database, its WAL (when there is one; *wal_seen
 * says) and the log; returns how many needles occur in any of them, and
 * prints the first few when `report` is set. */
static size_t count_found(needle_t *needles, size_t n, bool *wal_seen, bool report)
{
    qsort(needles, n, sizeof *needles, needle_cmp);
    bool *found = calloc(n, sizeof *found);
    assert_non_null(found);
    char wal[TESTSRV_PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", srv.db_path);
    assert_true(scan_file(srv.db_path, needles, n, found));
    bool w = scan_file(wal, needles, n, found);
    if (wal_seen)
        *wal_seen = w;
    assert_true(scan_file(srv.log_path, needles, n, found));
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        if (!found[i])
            continue;
        if (report && hits < 5)
            fprintf(stderr, "a secret is stored or logged in the clear: %s\n", needles[i].s);
        hits++;
    }
    free(found);
    return hits;
}

static void add_needle(needle_t *v, size_t *n, const char *s)
{
    v[*n].s = s;
    v[*n].len = strlen(s);
    assert_true(v[*n].len >= 8);
    memcpy(&v[*n].head, s, 8);
    (*n)++;
}

/* What one pipelined answer must be. */
typedef enum { WANT_MAP, WANT_ARRAY, WANT_NIL, WANT_CONFLICT, WANT_NUMBER } want_t;

/* Reads the `n` answers to msgids 0..n-1 on `c`, in any order (a read is
 * answered at once, a write after its commit), and checks each against
 * want[msgid]. */
static void check_answers(rpcc_t *c, const want_t *want, uint32_t n)
{
    bool *seen = calloc(n, sizeof *seen);
    assert_non_null(seen);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_unpacked u;
        int r = rpcc_read(c, &u, 20000);
        if (r != RPCC_OK)
            fail_msg("%u of %u answers, then %s", i, n, rpcc_status_name(r));
        uint32_t id;
        const msgpack_object *err, *res;
        if (!rpcc_response_parts(&u.data, &id, &err, &res) || id >= n || seen[id])
            fail_msg("not a fresh response");
        seen[id] = true;
        bool ok = err->type == MSGPACK_OBJECT_NIL;
        switch (want[id]) {
        case WANT_MAP: ok = ok && res->type == MSGPACK_OBJECT_MAP; break;
        case WANT_ARRAY: ok = ok && res->type == MSGPACK_OBJECT_ARRAY; break;
        case WANT_NIL: ok = ok && res->type == MSGPACK_OBJECT_NIL; break;
        case WANT_NUMBER: ok = ok && res->type == MSGPACK_OBJECT_POSITIVE_INTEGER; break;
        case WANT_CONFLICT: ok = !ok && rpcc_error_is(err, "CONFLICT"); break;
        }
        if (!ok) {
            rpcc_print("answer", &u.data);
            fail_msg("request %u: unexpected answer (want kind %d)", id, (int)want[id]);
        }
        msgpack_unpacked_destroy(&u);
    }
    free(seen);
}

static int start_debug_log(void **state)
{
    (void)state;
    /* The most talkative log there is: it too must stay free of tokens. */
    const char *const args[] = {"--log-level", "debug", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static void test_raw_tokens_of_a_thousand_users_never_reach_database_wal_or_log(void **state)
{
    (void)state;
    leak_tokens_t *tok = calloc(LEAK_USERS, sizeof *tok);
    char(*emails)[48] = calloc(LEAK_USERS, sizeof *emails);
    assert_non_null(tok);
    assert_non_null(emails);
    for (int i = 0; i < LEAK_USERS; i++) {
        char *t = (char *)&tok[i];
        for (size_t k = 0; k < TOKENS_PER_USER; k++)
            random_hex(t + k * (TOKEN_HEX + 1), TOKEN_HEX / 2);
        /* Stored in plain text: the positive control for the scanner. */
        snprintf(emails[i], sizeof emails[i], "%04d-leak@example.com", i);
    }

    static rpcc_t c[LEAK_CONNS];
    for (int k = 0; k < LEAK_CONNS; k++)
        rpcc_connect_or_fail(&c[k], srv.socket_path);
    enum { PER_CONN = LEAK_USERS / LEAK_CONNS, PHASE1 = 4, PHASE2 = 5 };
    static want_t want[PER_CONN * PHASE2];
    int64_t expires = now_ms() + 86400000;

    /* Phase 1, writes: user, session, account with three tokens, magic
     * link. Pipelined on every connection, then all answers are read. */
    for (int k = 0; k < LEAK_CONNS; k++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        uint32_t id = 0;
        for (int j = 0; j < PER_CONN; j++) {
            int i = k * PER_CONN + j;
            char uid[32], pid[32];
            snprintf(uid, sizeof uid, "leak-user-%04d", i);
            snprintf(pid, sizeof pid, "leak-pa-%04d", i);
            rpcc_arg_t user[] = {RPCC_STR("id", uid), RPCC_STR("email", emails[i])};
            want[id] = WANT_MAP;
            rpcc_pack_request(&sb, id++, "auth.createUser", user, RPCC_NARGS(user));
            rpcc_arg_t sess[] = {RPCC_STR("sessionToken", tok[i].session), RPCC_STR("userId", uid),
                                 RPCC_TIME("expires", expires)};
            want[id] = WANT_MAP;
            rpcc_pack_request(&sb, id++, "auth.createSession", sess, RPCC_NARGS(sess));
            rpcc_arg_t acct[] = {RPCC_STR("userId", uid),
                                 RPCC_STR("type", "oauth"),
                                 RPCC_STR("provider", "leakprov"),
                                 RPCC_STR("providerAccountId", pid),
                                 RPCC_STR("access_token", tok[i].access),
                                 RPCC_STR("refresh_token", tok[i].refresh),
                                 RPCC_STR("id_token", tok[i].id)};
            want[id] = WANT_MAP;
            rpcc_pack_request(&sb, id++, "auth.linkAccount", acct, RPCC_NARGS(acct));
            rpcc_arg_t vt[] = {RPCC_STR("identifier", emails[i]), RPCC_STR("token", tok[i].vtoken),
                               RPCC_TIME("expires", expires)};
            want[id] = WANT_MAP;
            rpcc_pack_request(&sb, id++, "auth.createVerificationToken", vt, RPCC_NARGS(vt));
        }
        assert_int_equal(rpcc_send(&c[k], sb.data, sb.size, 10000), RPCC_OK);
        msgpack_sbuffer_destroy(&sb);
    }
    for (int k = 0; k < LEAK_CONNS; k++)
        check_answers(&c[k], want, PER_CONN * PHASE1);

    /* Phase 2, every other path a token takes: a read, a refresh, a failed
     * redeem, a refused duplicate, and a listing or a sign-out. */
    for (int k = 0; k < LEAK_CONNS; k++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        uint32_t id = 0;
        for (int j = 0; j < PER_CONN; j++) {
            int i = k * PER_CONN + j;
            char uid[32], pid[32];
            snprintf(uid, sizeof uid, "leak-user-%04d", i);
            snprintf(pid, sizeof pid, "leak-pa-%04d", i);
            rpcc_arg_t get[] = {RPCC_STR("sessionToken", tok[i].session)};
            want[id] = WANT_MAP;
            rpcc_pack_request(&sb, id++, "auth.getSessionAndUser", get, RPCC_NARGS(get));
            rpcc_arg_t upd[] = {RPCC_STR("provider", "leakprov"),
                                RPCC_STR("providerAccountId", pid),
                                RPCC_STR("access_token", tok[i].access2)};
            want[id] = WANT_MAP;
            rpcc_pack_request(&sb, id++, "auth.updateAccount", upd, RPCC_NARGS(upd));
            rpcc_arg_t use[] = {RPCC_STR("identifier", emails[i]), RPCC_STR("token", tok[i].wrong)};
            want[id] = WANT_NIL;
            rpcc_pack_request(&sb, id++, "auth.useVerificationToken", use, RPCC_NARGS(use));
            rpcc_arg_t dup[] = {RPCC_STR("sessionToken", tok[i].session), RPCC_STR("userId", uid),
                                RPCC_TIME("expires", expires)};
            want[id] = WANT_CONFLICT;
            rpcc_pack_request(&sb, id++, "auth.createSession", dup, RPCC_NARGS(dup));
            rpcc_arg_t who[] = {RPCC_STR("userId", uid)};
            bool sign_out = j % 10 == 0;
            want[id] = sign_out ? WANT_NUMBER : WANT_ARRAY;
            rpcc_pack_request(&sb, id++, sign_out ? "auth.deleteSessions" : "auth.listSessions",
                              who, RPCC_NARGS(who));
        }
        assert_int_equal(rpcc_send(&c[k], sb.data, sb.size, 10000), RPCC_OK);
        msgpack_sbuffer_destroy(&sb);
    }
    for (int k = 0; k < LEAK_CONNS; k++)
        check_answers(&c[k], want, PER_CONN * PHASE2);
    for (int k = 0; k < LEAK_CONNS; k++)
        rpcc_close(&c[k]);

    size_t nsecret = 0, nplain = 0;
    needle_t *secret = calloc(LEAK_USERS * TOKENS_PER_USER, sizeof *secret);
    needle_t *plain = calloc(LEAK_USERS, sizeof *plain);
    assert_non_null(secret);
    assert_non_null(plain);
    for (int i = 0; i < LEAK_USERS; i++) {
        const char *t = (const char *)&tok[i];
        for (size_t k = 0; k < TOKENS_PER_USER; k++)
            add_needle(secret, &nsecret, t + k * (TOKEN_HEX + 1));
        add_needle(plain, &nplain, emails[i]);
    }

    /* While running: the newest writes sit in the WAL. The emails, stored
     * in plain text, show the scan does see the data. */
    bool wal_seen = false;
    assert_int_equal(count_found(secret, nsecret, &wal_seen, true), 0);
    assert_int_equal(count_found(plain, nplain, NULL, false), LEAK_USERS);
    if (!wal_seen)
        fprintf(stderr, "note: no WAL file while the server ran\n");

    /* Stopped: the WAL is checkpointed into the database file. */
    assert_int_equal(testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);
    assert_int_equal(count_found(secret, nsecret, NULL, true), 0);
    assert_int_equal(count_found(plain, nplain, NULL, false), LEAK_USERS);

    free(secret);
    free(plain);
    free(tok);
    free(emails);
}

/* ---- (c) altered ciphertexts ---------------------------------------------- */

static sqlite3 *db_open(void)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(srv.db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("sqlite3_open %s: %s", srv.db_path, db ? sqlite3_errmsg(db) : "?");
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* Reads column `col` (a sealed token) of account (tamper, pid) into a
 * malloc'd buffer. */
static uint8_t *db_get_sealed(sqlite3 *db, const char *col, const char *pid, size_t *len)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM accounts WHERE provider = 'tamper' AND provider_account_id = ?1", col);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(st, 0), SQLITE_BLOB);
    *len = (size_t)sqlite3_column_bytes(st, 0);
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    memcpy(b, sqlite3_column_blob(st, 0), *len);
    sqlite3_finalize(st);
    return b;
}

static void db_put_sealed(sqlite3 *db, const char *col, const char *pid, const uint8_t *b,
                          size_t len)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "UPDATE accounts SET %s = ?1 WHERE provider = 'tamper' AND provider_account_id = ?2",
             col);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_blob(st, 1, b, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pid, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
}

/* Flips bit `bit` of byte `at` of the stored column (at < 0: from the end). */
static void db_flip_bit(sqlite3 *db, const char *col, const char *pid, long at, int bit)
{
    size_t len;
    uint8_t *b = db_get_sealed(db, col, pid, &len);
    size_t i = at < 0 ? len - (size_t)(-at) : (size_t)at;
    assert_true(i < len);
    b[i] ^= (uint8_t)(1u << bit);
    db_put_sealed(db, col, pid, b, len);
    free(b);
}

static void link_tamper_account(rpcc_t *c, uint32_t msgid, const char *pid)
{
    char at[64], rt[64];
    snprintf(at, sizeof at, "access-of-%s", pid);
    snprintf(rt, sizeof rt, "refresh-of-%s", pid);
    msgpack_unpacked u;
    rpcc_arg_t args[] = {RPCC_STR("userId", "u-tamper"), RPCC_STR("type", "oauth"),
                         RPCC_STR("provider", "tamper"), RPCC_STR("providerAccountId", pid),
                         RPCC_STR("access_token", at),   RPCC_STR("refresh_token", rt)};
    CALL(c, msgid, "auth.linkAccount", args, &u);
    msgpack_unpacked_destroy(&u);
}

/* getAccount must fail with DECRYPT_FAILED naming `field`, and the error
 * must carry no part of the account's tokens. */
static void expect_decrypt_failed(rpcc_t *c, uint32_t msgid, const char *pid, const char *field)
{
    msgpack_unpacked u;
    rpcc_arg_t args[] = {RPCC_STR("provider", "tamper"), RPCC_STR("providerAccountId", pid)};
    const msgpack_object *err = rpcc_call_error(c, msgid, "auth.getAccount", args, RPCC_NARGS(args),
                                                "DECRYPT_FAILED", &u, RPCC_TIMEOUT_MS);
    if (!err || !rpcc_error_field_is(err, field))
        fail_msg("account %s: want DECRYPT_FAILED naming %s", pid, field);
    char buf[2048];
    int n = msgpack_object_print_buffer(buf, sizeof buf, *err);
    buf[n > 0 && (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1] = '\0';
    assert_null(strstr(buf, "-of-"));
    msgpack_unpacked_destroy(&u);
}

static void
test_altered_or_moved_ciphertexts_fail_to_decrypt_instead_of_returning_garbage(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    make_user(&c, 1, "u-tamper");
    static const char *const pids[] = {"ct-flip", "keyid-flip", "nonce-flip",  "tag-flip",
                                       "swap-a",  "swap-b",     "column-move", "intact"};
    for (uint32_t i = 0; i < sizeof pids / sizeof pids[0]; i++)
        link_tamper_account(&c, 10 + i, pids[i]);
    rpcc_close(&c);
    assert_int_equal(testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);

    sqlite3 *db = db_open();
    /* Sealed layout: key id (1) | nonce (24) | ciphertext | tag (16). */
    db_flip_bit(db, "access_token", "ct-flip", 1 + 24 + 3, 0);
    db_flip_bit(db, "access_token", "keyid-flip", 0, 7);
    db_flip_bit(db, "access_token", "nonce-flip", 1 + 11, 4);
    db_flip_bit(db, "access_token", "tag-flip", -1, 2);
    size_t la, lb, lr;
    uint8_t *a = db_get_sealed(db, "access_token", "swap-a", &la);
    uint8_t *b = db_get_sealed(db, "access_token", "swap-b", &lb);
    db_put_sealed(db, "access_token", "swap-a", b, lb);
    db_put_sealed(db, "access_token", "swap-b", a, la);
    /* The account's own refresh token, copied over its access token. */
    uint8_t *r = db_get_sealed(db, "refresh_token", "column-move", &lr);
    db_put_sealed(db, "access_token", "column-move", r, lr);
    free(a);
    free(b);
    free(r);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    assert_int_equal(testsrv_restart(&srv), 0);
    rpcc_connect_or_fail(&c, srv.socket_path);
    for (uint32_t i = 0; i < 7; i++)
        expect_decrypt_failed(&c, 100 + i, pids[i], "access_token");
    /* The untouched account still opens, with its own tokens. */
    msgpack_unpacked u;
    rpcc_arg_t intact[] = {RPCC_STR("provider", "tamper"), RPCC_STR("providerAccountId", "intact")};
    const msgpack_object *acct = CALL(&c, 200, "auth.getAccount", intact, &u);
    assert_true(rpcc_obj_str_eq(rpcc_map_get(acct, "access_token"), "access-of-intact"));
    assert_true(rpcc_obj_str_eq(rpcc_map_get(acct, "refresh_token"), "refresh-of-intact"));
    msgpack_unpacked_destroy(&u);
    /* So does the refresh token that was only copied, not changed. */
    rpcc_arg_t moved[] = {RPCC_STR("provider", "tamper"),
                          RPCC_STR("providerAccountId", "column-move"), RPCC_NIL("access_token")};
    acct = CALL(&c, 201, "auth.updateAccount", moved, &u);
    assert_true(rpcc_obj_str_eq(rpcc_map_get(acct, "refresh_token"), "refresh-of-column-move"));
    assert_null(rpcc_map_get(acct, "access_token"));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

/* The sealed `col` of the account (provider, pid), both given with their
 * lengths (they may hold NUL), into a malloc'd buffer. */
static uint8_t *db_get_sealed_of(sqlite3 *db, const char *col, const char *provider, size_t plen,
                                 const char *pid, size_t alen, size_t *len)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM accounts WHERE provider = ?1 AND provider_account_id = ?2", col);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, provider, (int)plen, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pid, (int)alen, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(st, 0), SQLITE_BLOB);
    *len = (size_t)sqlite3_column_bytes(st, 0);
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    memcpy(b, sqlite3_column_blob(st, 0), *len);
    sqlite3_finalize(st);
    return b;
}

static void db_put_sealed_of(sqlite3 *db, const char *col, const char *provider, size_t plen,
                             const char *pid, size_t alen, const uint8_t *b, size_t len)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "UPDATE accounts SET %s = ?1 WHERE provider = ?2 AND provider_account_id = ?3", col);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_blob(st, 1, b, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, provider, (int)plen, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, pid, (int)alen, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
}

/* Two accounts whose identifiers hold NUL bytes placed so that the old
 * additional data, "accounts\0access_token\0" provider "\0" id, is the
 * same byte string for both. */
static const struct {
    const char *provider, *pid; /* with embedded NUL */
    size_t plen, alen;          /* their lengths */
    const char *token;          /* access_token linked */
} nul_accounts[2] = {
    {"x", "a\0b", 1, 3, "access-of-the-first-nul-account"},
    {"x\0a", "b", 3, 1, "access-of-the-second-nul-account"},
};

/* issue 7 defect 3: the additional data of a sealed token joined its
 * fields with NUL and no lengths, so a ciphertext moved between accounts
 * whose identifiers contain NUL still opened. Each field is now
 * length-prefixed: the moved ciphertexts fail with DECRYPT_FAILED. */
static void test_ciphertexts_moved_between_nul_bearing_identifiers_fail_to_decrypt(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    make_user(&c, 1, "u-nul");
    msgpack_unpacked u;
    for (uint32_t i = 0; i < 2; i++) {
        rpcc_arg_t args[] = {
            RPCC_STR("userId", "u-nul"),
            RPCC_STR("type", "oauth"),
            RPCC_STRN("provider", nul_accounts[i].provider, nul_accounts[i].plen),
            RPCC_STRN("providerAccountId", nul_accounts[i].pid, nul_accounts[i].alen),
            RPCC_STR("access_token", nul_accounts[i].token),
        };
        CALL(&c, 10 + i, "auth.linkAccount", args, &u);
        msgpack_unpacked_destroy(&u);
    }
    /* Before the move each opens with its own token. */
    for (uint32_t i = 0; i < 2; i++) {
        rpcc_arg_t key[] = {
            RPCC_STRN("provider", nul_accounts[i].provider, nul_accounts[i].plen),
            RPCC_STRN("providerAccountId", nul_accounts[i].pid, nul_accounts[i].alen),
        };
        const msgpack_object *acct = CALL(&c, 20 + i, "auth.getAccount", key, &u);
        assert_true(rpcc_obj_str_eq(rpcc_map_get(acct, "access_token"), nul_accounts[i].token));
        msgpack_unpacked_destroy(&u);
    }
    rpcc_close(&c);
    assert_int_equal(testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);

    sqlite3 *db = db_open();
    size_t len[2];
    uint8_t *sealed[2];
    for (int i = 0; i < 2; i++)
        sealed[i] =
            db_get_sealed_of(db, "access_token", nul_accounts[i].provider, nul_accounts[i].plen,
                             nul_accounts[i].pid, nul_accounts[i].alen, &len[i]);
    for (int i = 0; i < 2; i++)
        db_put_sealed_of(db, "access_token", nul_accounts[i].provider, nul_accounts[i].plen,
                         nul_accounts[i].pid, nul_accounts[i].alen, sealed[1 - i], len[1 - i]);
    free(sealed[0]);
    free(sealed[1]);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    assert_int_equal(testsrv_restart(&srv), 0);
    rpcc_connect_or_fail(&c, srv.socket_path);
    for (uint32_t i = 0; i < 2; i++) {
        rpcc_arg_t key[] = {
            RPCC_STRN("provider", nul_accounts[i].provider, nul_accounts[i].plen),
            RPCC_STRN("providerAccountId", nul_accounts[i].pid, nul_accounts[i].alen),
        };
        const msgpack_object *err =
            rpcc_call_error(&c, 30 + i, "auth.getAccount", key, RPCC_NARGS(key), "DECRYPT_FAILED",
                            &u, RPCC_TIMEOUT_MS);
        if (!err || !rpcc_error_field_is(err, "access_token"))
            fail_msg("nul account %u: the other account's token opened", i);
        msgpack_unpacked_destroy(&u);
    }
    rpcc_close(&c);
}

/* ---- (d) purge ---------------------------------------------------------- */

static int start_no_purge_timer(void **state)
{
    (void)state;
    /* Only the explicit server.purge calls of the test delete anything. */
    const char *const args[] = {"--purge-interval-ms", "86400000", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

static int64_t db_count(sqlite3 *db, const char *sql, int64_t bound)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (strstr(sql, "?1"))
        sqlite3_bind_int64(st, 1, bound);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void expect_purged_counters(rpcc_t *c, uint32_t msgid, uint64_t sessions, uint64_t vtokens)
{
    msgpack_unpacked u;
    const msgpack_object *stats = call(c, msgid, "server.stats", NULL, 0, &u);
    uint64_t s = 0, v = 0;
    assert_true(rpcc_obj_u64(rpcc_dig(stats, "purged", "sessions", NULL), &s));
    assert_true(rpcc_obj_u64(rpcc_dig(stats, "purged", "verificationTokens", NULL), &v));
    if (s != sessions || v != vtokens)
        fail_msg("server.stats purged: %llu sessions and %llu tokens, want %llu and %llu",
                 (unsigned long long)s, (unsigned long long)v, (unsigned long long)sessions,
                 (unsigned long long)vtokens);
    msgpack_unpacked_destroy(&u);
}

static void expect_purge(rpcc_t *c, uint32_t msgid, uint64_t sessions, uint64_t vtokens)
{
    msgpack_unpacked u;
    const msgpack_object *r = call(c, msgid, "server.purge", NULL, 0, &u);
    assert_true(rpcc_map_keys_are(r, "sessions", "verificationTokens", NULL));
    uint64_t s = 0, v = 0;
    assert_true(rpcc_obj_u64(rpcc_map_get(r, "sessions"), &s));
    assert_true(rpcc_obj_u64(rpcc_map_get(r, "verificationTokens"), &v));
    if (s != sessions || v != vtokens)
        fail_msg("server.purge: %llu sessions and %llu tokens, want %llu and %llu",
                 (unsigned long long)s, (unsigned long long)v, (unsigned long long)sessions,
                 (unsigned long long)vtokens);
    msgpack_unpacked_destroy(&u);
}

static int start_fast_purge_timer(void **state)
{
    (void)state;
    const char *const args[] = {"--purge-interval-ms", "100", NULL};
    return testsrv_start(&srv, NOORMD_TEST_BIN, args);
}

/* For wait_until: true once auth.getSessionAndUser (asked on the rpcc_t
 * `arg`) no longer finds the session "timer-expired". */
static bool expired_session_gone(void *arg)
{
    rpcc_t *c = arg;
    rpcc_arg_t get[] = {RPCC_STR("sessionToken", "timer-expired")};
    msgpack_unpacked u;
    bool gone =
        call(c, 79, "auth.getSessionAndUser", get, RPCC_NARGS(get), &u)->type == MSGPACK_OBJECT_NIL;
    msgpack_unpacked_destroy(&u);
    return gone;
}

static void test_purge_timer_removes_expired_sessions_by_itself(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    make_user(&c, 1, "u-timer");
    msgpack_unpacked u;
    rpcc_arg_t expired[] = {RPCC_STR("sessionToken", "timer-expired"),
                            RPCC_STR("userId", "u-timer"), RPCC_TIME("expires", now_ms() - 1000)};
    CALL(&c, 2, "auth.createSession", expired, &u);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t live[] = {RPCC_STR("sessionToken", "timer-live"), RPCC_STR("userId", "u-timer"),
                         RPCC_TIME("expires", now_ms() + 3600000)};
    CALL(&c, 3, "auth.createSession", live, &u);
    msgpack_unpacked_destroy(&u);
    /* No server.purge call: the 100 ms timer must do it. What is waited
     * for is the session being gone (with a deadline far beyond the
     * interval, for busy machines), not purged.sessions: the purge counts
     * the rows it deletes before its transaction commits, so the counter
     * can be seen before a reader stops finding the session. */
    assert_int_equal(wait_until(expired_session_gone, &c, WAIT_DEADLINE_MS), 0);
    uint64_t purged = 0;
    assert_int_equal(wait_stat_u64(&c, "purged/sessions", &purged), 0);
    assert_int_equal(purged, 1);
    rpcc_arg_t get_expired[] = {RPCC_STR("sessionToken", "timer-expired")};
    expect_nil_result(&c, 80, "auth.getSessionAndUser", get_expired, RPCC_NARGS(get_expired));
    rpcc_arg_t get_live[] = {RPCC_STR("sessionToken", "timer-live")};
    assert_true(rpcc_obj_str_eq(
        rpcc_dig(CALL(&c, 81, "auth.getSessionAndUser", get_live, &u), "user", "id", NULL),
        "u-timer"));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
}

static void test_purge_deletes_exactly_the_expired_sessions_and_verification_tokens(void **state)
{
    (void)state;
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    make_user(&c, 1, "u-purge");
    int64_t now = now_ms();
    /* Expired a minute, a day, and decades ago (before 1970); live ones
     * expire in an hour and in a month. */
    const int64_t s_exp[] = {now - 60000, now - 86400000, -5000};
    const int64_t s_live[] = {now + 3600000, now + 30LL * 86400000};
    const int64_t v_exp[] = {now - 60000, now - 3600000, 0, -1};
    const int64_t v_live[] = {now + 3600000, now + 86400000};
    uint32_t id = 10;
    char name[48];
    msgpack_unpacked u;
    for (int live = 0; live < 2; live++) {
        const int64_t *t = live ? s_live : s_exp;
        int n = live ? 2 : 3;
        for (int i = 0; i < n; i++) {
            snprintf(name, sizeof name, "purge-sess-%s-%d", live ? "live" : "expired", i);
            rpcc_arg_t args[] = {RPCC_STR("sessionToken", name), RPCC_STR("userId", "u-purge"),
                                 RPCC_TIME("expires", t[i])};
            CALL(&c, id++, "auth.createSession", args, &u);
            msgpack_unpacked_destroy(&u);
        }
        t = live ? v_live : v_exp;
        n = live ? 2 : 4;
        for (int i = 0; i < n; i++) {
            snprintf(name, sizeof name, "purge-vt-%s-%d", live ? "live" : "expired", i);
            rpcc_arg_t args[] = {RPCC_STR("identifier", "purge@example.com"),
                                 RPCC_STR("token", name), RPCC_TIME("expires", t[i])};
            CALL(&c, id++, "auth.createVerificationToken", args, &u);
            msgpack_unpacked_destroy(&u);
        }
    }
    expect_purged_counters(&c, id++, 0, 0);
    expect_purge(&c, id++, 3, 4);
    expect_purged_counters(&c, id++, 3, 4);
    for (int live = 0; live < 2; live++) {
        for (int i = 0; i < (live ? 2 : 3); i++) {
            snprintf(name, sizeof name, "purge-sess-%s-%d", live ? "live" : "expired", i);
            rpcc_arg_t args[] = {RPCC_STR("sessionToken", name)};
            const msgpack_object *r = CALL(&c, id++, "auth.getSessionAndUser", args, &u);
            if ((r->type == MSGPACK_OBJECT_NIL) == (bool)live)
                fail_msg("%s: %s after purge", name, live ? "gone" : "still there");
            msgpack_unpacked_destroy(&u);
        }
    }
    /* Nothing left to purge. */
    expect_purge(&c, id++, 0, 0);
    expect_purged_counters(&c, id++, 3, 4);
    rpcc_close(&c);

    /* The rows themselves: exactly the live ones remain. */
    assert_int_equal(testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);
    sqlite3 *db = db_open();
    assert_int_equal(db_count(db, "SELECT count(*) FROM sessions", 0), 2);
    assert_int_equal(db_count(db, "SELECT count(*) FROM sessions WHERE expires < ?1", now), 0);
    assert_int_equal(db_count(db, "SELECT count(*) FROM verification_tokens", 0), 2);
    assert_int_equal(
        db_count(db, "SELECT count(*) FROM verification_tokens WHERE expires < ?1", now), 0);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    /* And the live magic links still work, the purged ones do not. */
    assert_int_equal(testsrv_restart(&srv), 0);
    rpcc_connect_or_fail(&c, srv.socket_path);
    for (int live = 0; live < 2; live++) {
        for (int i = 0; i < (live ? 2 : 4); i++) {
            snprintf(name, sizeof name, "purge-vt-%s-%d", live ? "live" : "expired", i);
            rpcc_arg_t args[] = {RPCC_STR("identifier", "purge@example.com"),
                                 RPCC_STR("token", name)};
            const msgpack_object *r = CALL(&c, id++, "auth.useVerificationToken", args, &u);
            if ((r->type == MSGPACK_OBJECT_NIL) == (bool)live)
                fail_msg("%s: %s after purge", name, live ? "gone" : "still there");
            msgpack_unpacked_destroy(&u);
        }
    }
    rpcc_close(&c);
}

/* ---- (e) the master key at start ----------------------------------------- */

/* Replaces the server's key file with `text`, created with `mode`. */
static void write_key(const char *text, mode_t mode)
{
    unlink(srv.key_path);
    int fd = open(srv.key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Launches the prepared server and checks it refuses to start: a non-zero
 * exit within the bounded wait, with `why` in its log and no key text. */
static void expect_refused_start(const char *why, const char *key_text)
{
    assert_int_equal(testsrv_launch(&srv), 0);
    int st = testsrv_wait_exit(&srv, TESTSRV_EXIT_TIMEOUT_MS);
    if (st == TESTSRV_STILL_RUNNING || st == 0) {
        testsrv_print_log(&srv);
        fail_msg("the server %s; it must refuse to start (%s)",
                 st == 0 ? "exited 0" : "kept running", why);
    }
    if (!testsrv_log_contains(&srv, why)) {
        testsrv_print_log(&srv);
        fail_msg("the log does not explain the refusal with \"%s\"", why);
    }
    if (key_text && testsrv_log_contains(&srv, key_text)) {
        testsrv_print_log(&srv);
        fail_msg("the log holds the key text");
    }
}

/* Prepares (does not start) a server whose environment has no key. */
static int init_keyless_env(void **state)
{
    (void)state;
    if (testsrv_init(&srv, NOORMD_TEST_BIN, NULL) != 0 ||
        testsrv_set_env(&srv, "NOORMME_KEY", NULL) != 0 ||
        testsrv_set_env(&srv, "NOORMME_KEY_FILE", NULL) != 0) {
        testsrv_destroy(&srv);
        return -1;
    }
    return 0;
}

static int init_no_key_at_all(void **state)
{
    (void)state;
    /* An empty --key-file after testsrv's own: no file, no environment. */
    const char *const args[] = {"--key-file", "", NULL};
    if (testsrv_init(&srv, NOORMD_TEST_BIN, args) != 0 ||
        testsrv_set_env(&srv, "NOORMME_KEY", NULL) != 0 ||
        testsrv_set_env(&srv, "NOORMME_KEY_FILE", NULL) != 0) {
        testsrv_destroy(&srv);
        return -1;
    }
    return 0;
}

static void test_server_without_a_master_key_refuses_to_start(void **state)
{
    (void)state;
    expect_refused_start("no master key", NULL);
}

static void test_key_file_readable_by_group_or_others_is_refused_with_a_chmod_hint(void **state)
{
    (void)state;
    static const mode_t modes[] = {0644, 0640, 0604, 0660};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        write_key(TESTSRV_KEY_B64 "\n", modes[i]);
        expect_refused_start("chmod 600", TESTSRV_KEY_B64);
    }
}

static void test_key_that_is_not_32_bytes_of_base64_is_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "this is not base64 at all!\n",
        "MDEyMzQ1Njc4OWFiY2RlZg==\n",                     /* 16 bytes */
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYh\n", /* 33 bytes */
        "\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_key(bad[i], 0600);
        /* The key text itself must not be echoed (the newline aside). */
        char text[64];
        snprintf(text, sizeof text, "%.*s", (int)strcspn(bad[i], "\n"), bad[i]);
        expect_refused_start("not 32 bytes of base64", text[0] ? text : NULL);
    }
}

static void test_key_file_and_environment_key_together_are_refused(void **state)
{
    (void)state;
    assert_int_equal(testsrv_set_env(&srv, "NOORMME_KEY", OTHER_KEY_B64), 0);
    expect_refused_start("give only one", OTHER_KEY_B64);
}

static void
test_another_key_on_an_existing_database_finds_no_session_and_decrypts_nothing(void **state)
{
    (void)state;
    assert_int_equal(testsrv_launch(&srv), 0);
    assert_int_equal(testsrv_wait_ready(&srv, TESTSRV_READY_TIMEOUT_MS), 0);
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    make_user(&c, 1, "u-rekey");
    msgpack_unpacked u;
    rpcc_arg_t sess[] = {RPCC_STR("sessionToken", "sess-rekey"), RPCC_STR("userId", "u-rekey"),
                         RPCC_TIME("expires", now_ms() + 3600000)};
    CALL(&c, 2, "auth.createSession", sess, &u);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t acct[] = {RPCC_STR("userId", "u-rekey"),
                         RPCC_STR("type", "oauth"),
                         RPCC_STR("provider", "rekey"),
                         RPCC_STR("providerAccountId", "rk-1"),
                         RPCC_STR("access_token", "access-under-the-first-key"),
                         RPCC_STR("scope", "openid")};
    CALL(&c, 3, "auth.linkAccount", acct, &u);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t acct2[] = {RPCC_STR("userId", "u-rekey"),
                          RPCC_STR("type", "oauth"),
                          RPCC_STR("provider", "rekey"),
                          RPCC_STR("providerAccountId", "rk-2"),
                          RPCC_STR("refresh_token", "refresh-under-the-first-key"),
                          RPCC_STR("scope", "email")};
    CALL(&c, 4, "auth.linkAccount", acct2, &u);
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
    assert_int_equal(testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);

    write_key(OTHER_KEY_B64 "\n", 0600);
    assert_int_equal(testsrv_restart(&srv), 0);
    rpcc_connect_or_fail(&c, srv.socket_path);
    rpcc_arg_t get_sess[] = {RPCC_STR("sessionToken", "sess-rekey")};
    expect_nil_result(&c, 10, "auth.getSessionAndUser", get_sess, RPCC_NARGS(get_sess));
    rpcc_arg_t get_acct[] = {RPCC_STR("provider", "rekey"), RPCC_STR("providerAccountId", "rk-1")};
    expect_error(&c, 11, "auth.getAccount", get_acct, RPCC_NARGS(get_acct), "DECRYPT_FAILED",
                 "access_token");
    /* issue 7 defect 11: an account whose tokens no longer decrypt can
     * still be unlinked (the docs said it deleted nothing): the result
     * leaves the undecryptable token out, and the row is gone. */
    rpcc_arg_t key2[] = {RPCC_STR("provider", "rekey"), RPCC_STR("providerAccountId", "rk-2")};
    const msgpack_object *gone = CALL(&c, 13, "auth.unlinkAccount", key2, &u);
    assert_true(
        rpcc_map_keys_are(gone, "userId", "type", "provider", "providerAccountId", "scope", NULL));
    msgpack_unpacked_destroy(&u);
    expect_nil_result(&c, 14, "auth.getAccount", key2, RPCC_NARGS(key2));
    /* What is not secret still reads. */
    rpcc_arg_t get_user[] = {RPCC_STR("id", "u-rekey")};
    assert_true(
        rpcc_obj_str_eq(rpcc_map_get(CALL(&c, 12, "auth.getUser", get_user, &u), "id"), "u-rekey"));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);
    assert_int_equal(testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);

    /* Nothing was lost: the first key reads it all again. */
    write_key(TESTSRV_KEY_B64 "\n", 0600);
    assert_int_equal(testsrv_restart(&srv), 0);
    rpcc_connect_or_fail(&c, srv.socket_path);
    assert_true(rpcc_obj_str_eq(
        rpcc_dig(CALL(&c, 20, "auth.getSessionAndUser", get_sess, &u), "user", "id", NULL),
        "u-rekey"));
    msgpack_unpacked_destroy(&u);
    assert_true(
        rpcc_obj_str_eq(rpcc_map_get(CALL(&c, 21, "auth.getAccount", get_acct, &u), "access_token"),
                        "access-under-the-first-key"));
    msgpack_unpacked_destroy(&u);
    /* The unlink under the other key did delete: the first key does not
     * bring that account back, and its row is not in the file. */
    expect_nil_result(&c, 22, "auth.getAccount", key2, RPCC_NARGS(key2));
    rpcc_close(&c);
    assert_int_equal(testsrv_stop(&srv, TESTSRV_EXIT_TIMEOUT_MS), 0);
    sqlite3 *db = db_open();
    assert_int_equal(db_count(db,
                              "SELECT count(*) FROM accounts WHERE provider = 'rekey' AND "
                              "provider_account_id = 'rk-2'",
                              0),
                     0);
    assert_int_equal(db_count(db, "SELECT count(*) FROM accounts WHERE provider = 'rekey'", 0), 1);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(testsrv_restart(&srv), 0);
}

/* Prepares a server keyed only by NOORMME_KEY. */
static int init_env_key(void **state)
{
    (void)state;
    const char *const args[] = {"--key-file", "", NULL};
    if (testsrv_init(&srv, NOORMD_TEST_BIN, args) != 0 ||
        testsrv_set_env(&srv, "NOORMME_KEY", TESTSRV_KEY_B64) != 0 ||
        testsrv_set_env(&srv, "NOORMME_KEY_FILE", NULL) != 0) {
        testsrv_destroy(&srv);
        return -1;
    }
    return 0;
}

static void test_key_from_the_environment_works_and_is_not_left_in_proc_environ(void **state)
{
    (void)state;
    assert_int_equal(testsrv_launch(&srv), 0);
    assert_int_equal(testsrv_wait_ready(&srv, TESTSRV_READY_TIMEOUT_MS), 0);
    rpcc_t c;
    rpcc_connect_or_fail(&c, srv.socket_path);
    make_user(&c, 1, "u-envkey");
    msgpack_unpacked u;
    rpcc_arg_t acct[] = {RPCC_STR("userId", "u-envkey"), RPCC_STR("type", "oauth"),
                         RPCC_STR("provider", "envkey"), RPCC_STR("providerAccountId", "ek-1"),
                         RPCC_STR("access_token", "sealed-with-the-env-key")};
    CALL(&c, 2, "auth.linkAccount", acct, &u);
    msgpack_unpacked_destroy(&u);
    rpcc_arg_t get[] = {RPCC_STR("provider", "envkey"), RPCC_STR("providerAccountId", "ek-1")};
    assert_true(
        rpcc_obj_str_eq(rpcc_map_get(CALL(&c, 3, "auth.getAccount", get, &u), "access_token"),
                        "sealed-with-the-env-key"));
    msgpack_unpacked_destroy(&u);
    rpcc_close(&c);

    /* Another process of the same user must not read the key back. */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)srv.pid);
    size_t len;
    uint8_t *env = slurp(path, &len);
    assert_non_null(env);
    bool leaked = memmem(env, len, TESTSRV_KEY_B64, strlen(TESTSRV_KEY_B64)) != NULL;
    free(env);
    if (leaked)
        fail_msg("%s still holds the master key", path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_hundred_concurrent_redeems_of_one_verification_token_succeed_exactly_once,
            start_plain, stop_server),
        cmocka_unit_test_setup_teardown(
            test_raw_tokens_of_a_thousand_users_never_reach_database_wal_or_log, start_debug_log,
            stop_server),
        cmocka_unit_test_setup_teardown(
            test_altered_or_moved_ciphertexts_fail_to_decrypt_instead_of_returning_garbage,
            start_plain, stop_server),
        cmocka_unit_test_setup_teardown(
            test_ciphertexts_moved_between_nul_bearing_identifiers_fail_to_decrypt, start_plain,
            stop_server),
        cmocka_unit_test_setup_teardown(
            test_purge_deletes_exactly_the_expired_sessions_and_verification_tokens,
            start_no_purge_timer, stop_server),
        cmocka_unit_test_setup_teardown(test_purge_timer_removes_expired_sessions_by_itself,
                                        start_fast_purge_timer, stop_server),
        cmocka_unit_test_setup_teardown(test_server_without_a_master_key_refuses_to_start,
                                        init_no_key_at_all, destroy_server),
        cmocka_unit_test_setup_teardown(
            test_key_file_readable_by_group_or_others_is_refused_with_a_chmod_hint,
            init_keyless_env, destroy_server),
        cmocka_unit_test_setup_teardown(test_key_that_is_not_32_bytes_of_base64_is_refused,
                                        init_keyless_env, destroy_server),
        cmocka_unit_test_setup_teardown(test_key_file_and_environment_key_together_are_refused,
                                        init_keyless_env, destroy_server),
        cmocka_unit_test_setup_teardown(
            test_another_key_on_an_existing_database_finds_no_session_and_decrypts_nothing,
            init_keyless_env, stop_server),
        cmocka_unit_test_setup_teardown(
            test_key_from_the_environment_works_and_is_not_left_in_proc_environ, init_env_key,
            stop_server),
    };
    int failed = cmocka_run_group_tests_name("auth_secrets", tests, NULL, NULL);
    return failed + testsrv_problems();
}
