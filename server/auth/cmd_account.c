/* cmd_account.c - auth.* methods on accounts (Auth.js AdapterAccount).
 *
 * access_token, refresh_token and id_token are stored sealed
 * (crypto_seal). The additional data binds each ciphertext to the table,
 * the column and the account's (provider, providerAccountId), each field
 * length-prefixed: a ciphertext copied to another column or account fails
 * to open instead of being returned as someone else's token. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "proto_errors.h"

/* Argument positions of auth.linkAccount and auth.updateAccount
 * (protocol/methods.def). */
enum {
    A_PROVIDER,
    A_PROVIDER_ACCOUNT_ID,
    A_USER_ID,
    A_TYPE,
    A_ACCESS_TOKEN,
    A_REFRESH_TOKEN,
    A_ID_TOKEN,
    A_EXPIRES_AT,
    A_TOKEN_TYPE,
    A_SCOPE,
    A_SESSION_STATE,
};

/* Result columns (STORE_ACCOUNT_COLS). */
enum {
    C_USER_ID,
    C_TYPE,
    C_PROVIDER,
    C_PROVIDER_ACCOUNT_ID,
    C_ACCESS_TOKEN, /* the three sealed columns are consecutive */
    C_REFRESH_TOKEN,
    C_ID_TOKEN,
    C_EXPIRES_AT,
    C_TOKEN_TYPE,
    C_SCOPE,
    C_SESSION_STATE,
    C_EXTRA,
};

static const char *const sealed_names[3] = {"access_token", "refresh_token", "id_token"};

/* The additional data of a sealed token: the fields "accounts", the
 * column, the provider and the providerAccountId (crypto_seal
 * length-prefixes each, so identifiers holding NUL cannot collide). */
#define AD_FIELDS 4
static void account_ad(proto_str_t ad[AD_FIELDS], const char *column, proto_str_t provider,
                       proto_str_t account_id)
{
    ad[0] = (proto_str_t){"accounts", 8};
    ad[1] = (proto_str_t){column, strlen(column)};
    ad[2] = provider;
    ad[3] = account_id;
}

/* Seals the token arguments into `sealed[3]` (empty when absent or nil). */
static int seal_tokens(cmd_ctx_t *ctx, proto_str_t provider, proto_str_t account_id,
                       proto_buf_t sealed[3])
{
    for (int t = 0; t < 3; t++)
        proto_buf_init(&sealed[t]);
    for (int t = 0; t < 3; t++) {
        const msgpack_object *o = ctx->in.arg[A_ACCESS_TOKEN + t];
        if (!o || o->type != MSGPACK_OBJECT_STR)
            continue;
        proto_str_t ad[AD_FIELDS];
        account_ad(ad, sealed_names[t], provider, account_id);
        size_t n = o->via.str.size + CRYPTO_SEAL_OVERHEAD;
        if (proto_buf_reserve(&sealed[t], n) != 0)
            return cmd_fail_oom(ctx);
        if (crypto_seal(ctx->srv->crypto, ad, AD_FIELDS, o->via.str.ptr, o->via.str.size,
                        sealed[t].data) != 0) /* cannot happen within the argument limits */
            return cmd_fail(ctx, PROTO_E_INTERNAL, sealed_names[t],
                            "the account key is too long to seal %s under", sealed_names[t]);
        sealed[t].len = n;
    }
    return 0;
}

static void bind_sealed(store_q_t *q, int p, const proto_buf_t *b)
{
    if (b->len)
        store_q_blob(q, p, b->data, b->len);
    else
        store_q_null(q, p);
}

/* Packs an account row: the four keys, the optional fields that hold a
 * value (tokens decrypted), then the extra fields. A token that cannot be
 * decrypted fails the request with DECRYPT_FAILED, unless `lenient`: then
 * it is left out (used when the account is being deleted, which must stay
 * possible after a key change). */
static int pack_account_as(cmd_ctx_t *ctx, store_q_t *q, bool lenient)
{
    size_t plen, alen;
    const char *p = store_q_col_text(q, C_PROVIDER, &plen);
    proto_str_t provider = {p, plen};
    p = store_q_col_text(q, C_PROVIDER_ACCOUNT_ID, &alen);
    proto_str_t account_id = {p, alen};

    proto_buf_t plain[3];
    int rc = 0;
    uint32_t known = 4;
    bool shown[3] = {false, false, false};
    for (int t = 0; t < 3; t++) {
        proto_buf_init(&plain[t]);
        if (rc != 0 || store_q_is_null(q, C_ACCESS_TOKEN + t))
            continue;
        size_t slen;
        const uint8_t *s = store_q_col_blob(q, C_ACCESS_TOKEN + t, &slen);
        proto_str_t ad[AD_FIELDS];
        account_ad(ad, sealed_names[t], provider, account_id);
        if (slen >= CRYPTO_SEAL_OVERHEAD &&
            proto_buf_reserve(&plain[t], slen - CRYPTO_SEAL_OVERHEAD + 1) != 0) {
            /* No room for the plaintext says nothing about the key. */
            rc = cmd_fail_oom(ctx);
            continue;
        }
        if (slen < CRYPTO_SEAL_OVERHEAD ||
            crypto_open(ctx->srv->crypto, ad, AD_FIELDS, s, slen, plain[t].data) != 0) {
            if (lenient) {
                log_event(LOG_WARN, "token_not_decrypted", " column=%s action=unlink",
                          sealed_names[t]);
                continue;
            }
            rc = cmd_fail(ctx, PROTO_E_DECRYPT_FAILED, sealed_names[t],
                          "the stored %s of this account cannot be decrypted: it was sealed "
                          "under another master key or altered",
                          sealed_names[t]);
            continue;
        }
        plain[t].len = slen - CRYPTO_SEAL_OVERHEAD;
        shown[t] = true;
        known++;
    }
    for (int c = C_EXPIRES_AT; c <= C_SESSION_STATE; c++)
        known += !store_q_is_null(q, c);

    proto_buf_t members;
    if (rc == 0)
        rc = cmd_pack_extra_begin(ctx, q, C_EXTRA, known, &members);
    if (rc == 0) {
        msgpack_packer *pk = ctx->pk;
        static const char *const keys[] = {"userId", "type", "provider", "providerAccountId"};
        for (int c = 0; c < 4; c++) {
            proto_pack_cstr(pk, keys[c]);
            cmd_pack_col_text(ctx, q, c);
        }
        for (int t = 0; t < 3; t++) {
            if (!shown[t])
                continue;
            proto_pack_cstr(pk, sealed_names[t]);
            proto_pack_str(pk, (const char *)plain[t].data, plain[t].len);
        }
        if (!store_q_is_null(q, C_EXPIRES_AT)) {
            proto_pack_cstr(pk, "expires_at"); /* seconds, as Auth.js sends it */
            msgpack_pack_int64(pk, store_q_col_int(q, C_EXPIRES_AT));
        }
        static const char *const text_keys[] = {"token_type", "scope", "session_state"};
        for (int c = C_TOKEN_TYPE; c <= C_SESSION_STATE; c++) {
            if (store_q_is_null(q, c))
                continue;
            proto_pack_cstr(pk, text_keys[c - C_TOKEN_TYPE]);
            cmd_pack_col_text(ctx, q, c);
        }
        cmd_pack_extra_end(ctx, &members);
    }
    for (int t = 0; t < 3; t++) {
        if (plain[t].data)
            memset(plain[t].data, 0, plain[t].cap); /* plaintext tokens do not linger */
        proto_buf_deinit(&plain[t]);
    }
    return rc;
}

static int pack_account(cmd_ctx_t *ctx, store_q_t *q, int col)
{
    (void)col;
    return pack_account_as(ctx, q, false);
}

static int pack_unlinked_account(cmd_ctx_t *ctx, store_q_t *q, int col)
{
    (void)col;
    return pack_account_as(ctx, q, true);
}

/* auth.linkAccount {userId, type, provider, providerAccountId, tokens...,
 * ...extra} -> the account. The same (provider, providerAccountId) twice
 * is CONFLICT; an unknown userId is CONSTRAINT. */
int cmd_account_link(cmd_ctx_t *ctx)
{
    proto_str_t provider = cmd_str(ctx->in.arg[A_PROVIDER]);
    proto_str_t account_id = cmd_str(ctx->in.arg[A_PROVIDER_ACCOUNT_ID]);
    proto_buf_t extra, sealed[3];
    proto_buf_init(&extra);
    int rc = seal_tokens(ctx, provider, account_id, sealed);
    if (rc == 0)
        rc = cmd_extra_json(ctx, &extra);
    store_q_t *q = rc == 0 ? store_q(ctx->store, STORE_STMT_ACCOUNT_INSERT, ctx->err) : NULL;
    if (q) {
        proto_str_t user = cmd_str(ctx->in.arg[A_USER_ID]);
        proto_str_t type = cmd_str(ctx->in.arg[A_TYPE]);
        store_q_text(q, 1, user.ptr, user.len);
        store_q_text(q, 2, type.ptr, type.len);
        store_q_text(q, 3, provider.ptr, provider.len);
        store_q_text(q, 4, account_id.ptr, account_id.len);
        for (int t = 0; t < 3; t++)
            bind_sealed(q, 5 + t, &sealed[t]);
        if (cmd_has(ctx, A_EXPIRES_AT) && !cmd_is_nil(ctx, A_EXPIRES_AT))
            store_q_int(q, 8, ctx->in.arg[A_EXPIRES_AT]->via.i64);
        else
            store_q_null(q, 8);
        cmd_bind_opt_str(ctx, q, 9, A_TOKEN_TYPE);
        cmd_bind_opt_str(ctx, q, 10, A_SCOPE);
        cmd_bind_opt_str(ctx, q, 11, A_SESSION_STATE);
        store_q_text(q, 12, (const char *)extra.data, extra.len);
        rc = store_q_step(ctx->store, q, ctx->err);
        if (rc == STORE_ROW)
            rc = pack_account(ctx, q, 0);
        store_q_done(q);
    } else if (rc == 0) {
        rc = -ctx->err->code;
    }
    for (int t = 0; t < 3; t++)
        proto_buf_deinit(&sealed[t]);
    proto_buf_deinit(&extra);
    return rc < 0 ? rc : 0;
}

static int by_key(cmd_ctx_t *ctx, store_stmt_id_t id, cmd_row_fn pack)
{
    store_q_t *q = store_q(ctx->store, id, ctx->err);
    if (!q)
        return -ctx->err->code;
    proto_str_t provider = cmd_str(ctx->in.arg[0]);
    proto_str_t account_id = cmd_str(ctx->in.arg[1]);
    store_q_text(q, 1, provider.ptr, provider.len);
    store_q_text(q, 2, account_id.ptr, account_id.len);
    return cmd_pack_one(ctx, q, pack);
}

/* auth.unlinkAccount {provider, providerAccountId} -> the account | nil.
 * Tokens that no longer decrypt are left out of the result rather than
 * blocking the unlink. */
int cmd_account_unlink(cmd_ctx_t *ctx)
{
    return by_key(ctx, STORE_STMT_ACCOUNT_DELETE, pack_unlinked_account);
}

/* auth.getAccount {providerAccountId, provider} -> account | nil */
int cmd_account_get(cmd_ctx_t *ctx)
{
    return by_key(ctx, STORE_STMT_ACCOUNT_GET, pack_account);
}

/* True unless the request names a userId other than the account's own
 * (the error then rolls the update back with the request's savepoint). */
static bool same_owner(cmd_ctx_t *ctx, store_q_t *q)
{
    if (!cmd_has(ctx, A_USER_ID))
        return true;
    proto_str_t want = cmd_str(ctx->in.arg[A_USER_ID]);
    size_t len;
    const char *have = store_q_col_text(q, C_USER_ID, &len);
    return len == want.len && memcmp(have, want.ptr, len) == 0;
}

/* auth.updateAccount {provider, providerAccountId, ...partial} -> the
 * account: refreshed tokens on re-login. Absent keys stay, nil clears;
 * unknown account: NOT_FOUND. userId may be given (Auth.js passes whole
 * accounts) but must be the account's own: it cannot move an account. */
int cmd_account_update(cmd_ctx_t *ctx)
{
    proto_str_t provider = cmd_str(ctx->in.arg[A_PROVIDER]);
    proto_str_t account_id = cmd_str(ctx->in.arg[A_PROVIDER_ACCOUNT_ID]);
    proto_buf_t extra, sealed[3];
    proto_buf_init(&extra);
    int rc = seal_tokens(ctx, provider, account_id, sealed);
    if (rc == 0)
        rc = cmd_extra_merge(ctx, STORE_STMT_ACCOUNT_GET_EXTRA, 2, &extra);
    store_q_t *q = rc == 0 ? store_q(ctx->store, STORE_STMT_ACCOUNT_UPDATE, ctx->err) : NULL;
    if (q) {
        store_q_text(q, 1, provider.ptr, provider.len);
        store_q_text(q, 2, account_id.ptr, account_id.len);
        store_q_int(q, 3, cmd_has(ctx, A_TYPE));
        cmd_bind_opt_str(ctx, q, 4, A_TYPE);
        for (int t = 0; t < 3; t++) {
            store_q_int(q, 5 + 2 * t, cmd_has(ctx, A_ACCESS_TOKEN + t));
            bind_sealed(q, 6 + 2 * t, &sealed[t]);
        }
        store_q_int(q, 11, cmd_has(ctx, A_EXPIRES_AT));
        if (cmd_has(ctx, A_EXPIRES_AT) && !cmd_is_nil(ctx, A_EXPIRES_AT))
            store_q_int(q, 12, ctx->in.arg[A_EXPIRES_AT]->via.i64);
        else
            store_q_null(q, 12);
        for (int i = 0; i < 3; i++) {
            store_q_int(q, 13 + 2 * i, cmd_has(ctx, A_TOKEN_TYPE + i));
            cmd_bind_opt_str(ctx, q, 14 + 2 * i, A_TOKEN_TYPE + i);
        }
        if (extra.len)
            store_q_text(q, 19, (const char *)extra.data, extra.len);
        else
            store_q_null(q, 19);
        rc = store_q_step(ctx->store, q, ctx->err);
        if (rc == STORE_ROW)
            rc = same_owner(ctx, q) ? pack_account(ctx, q, 0)
                                    : cmd_fail(ctx, PROTO_E_INVALID_ARGUMENT, "userId",
                                               "an account cannot be moved to another user; "
                                               "unlink it and link it again");
        else if (rc == STORE_DONE)
            rc = cmd_fail(ctx, PROTO_E_NOT_FOUND, "providerAccountId",
                          "no account for this provider and providerAccountId");
        store_q_done(q);
    } else if (rc == 0) {
        rc = -ctx->err->code;
    }
    for (int t = 0; t < 3; t++)
        proto_buf_deinit(&sealed[t]);
    proto_buf_deinit(&extra);
    return rc < 0 ? rc : 0;
}
