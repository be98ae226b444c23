/* cmd_authenticator.c - auth.* methods on WebAuthn authenticators (Auth.js
 * AdapterAuthenticator). */
#include "auth.h"
#include "proto_errors.h"

/* Columns (STORE_AUTHENTICATOR_COLS) and their Auth.js names, in order. */
enum {
    W_CREDENTIAL_ID,
    W_USER_ID,
    W_PROVIDER_ACCOUNT_ID,
    W_PUBLIC_KEY,
    W_COUNTER,
    W_DEVICE_TYPE,
    W_BACKED_UP,
    W_TRANSPORTS
};

static int pack_authenticator(cmd_ctx_t *ctx, store_q_t *q, int col)
{
    (void)col;
    msgpack_packer *pk = ctx->pk;
    msgpack_pack_map(pk, 8);
    static const char *const text_keys[] = {"credentialID", "userId", "providerAccountId",
                                            "credentialPublicKey"};
    for (int c = W_CREDENTIAL_ID; c <= W_PUBLIC_KEY; c++) {
        proto_pack_cstr(pk, text_keys[c]);
        cmd_pack_col_text(ctx, q, c);
    }
    proto_pack_cstr(pk, "counter");
    msgpack_pack_int64(pk, store_q_col_int(q, W_COUNTER));
    proto_pack_cstr(pk, "credentialDeviceType");
    cmd_pack_col_text(ctx, q, W_DEVICE_TYPE);
    proto_pack_cstr(pk, "credentialBackedUp"); /* stored 0/1, returned as a boolean */
    if (store_q_col_int(q, W_BACKED_UP))
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    proto_pack_cstr(pk, "transports");
    cmd_pack_col_text(ctx, q, W_TRANSPORTS);
    return 0;
}

/* auth.createAuthenticator {credentialID, userId, providerAccountId,
 * credentialPublicKey, counter, credentialDeviceType, credentialBackedUp,
 * transports?} -> the authenticator */
int cmd_authenticator_create(cmd_ctx_t *ctx)
{
    store_q_t *q = store_q(ctx->store, STORE_STMT_AUTHENTICATOR_INSERT, ctx->err);
    if (!q)
        return -ctx->err->code;
    for (int a = W_CREDENTIAL_ID; a <= W_PUBLIC_KEY; a++) {
        proto_str_t s = cmd_str(ctx->in.arg[a]);
        store_q_text(q, a + 1, s.ptr, s.len);
    }
    store_q_int(q, W_COUNTER + 1, ctx->in.arg[W_COUNTER]->via.i64);
    proto_str_t dev = cmd_str(ctx->in.arg[W_DEVICE_TYPE]);
    store_q_text(q, W_DEVICE_TYPE + 1, dev.ptr, dev.len);
    store_q_int(q, W_BACKED_UP + 1, ctx->in.arg[W_BACKED_UP]->via.boolean);
    cmd_bind_opt_str(ctx, q, W_TRANSPORTS + 1, W_TRANSPORTS);
    int rc = store_q_step(ctx->store, q, ctx->err);
    if (rc == STORE_ROW)
        rc = pack_authenticator(ctx, q, 0);
    store_q_done(q);
    return rc < 0 ? rc : 0;
}

/* auth.getAuthenticator {credentialID} -> authenticator | nil */
int cmd_authenticator_get(cmd_ctx_t *ctx)
{
    store_q_t *q = store_q(ctx->store, STORE_STMT_AUTHENTICATOR_GET, ctx->err);
    if (!q)
        return -ctx->err->code;
    proto_str_t id = cmd_str(ctx->in.arg[0]);
    store_q_text(q, 1, id.ptr, id.len);
    return cmd_pack_one(ctx, q, pack_authenticator);
}

/* auth.listAuthenticatorsByUserId {userId} -> [authenticator] ([] when
 * none); past --max-rows, cut as cmd_pack_all says. */
int cmd_authenticator_list(cmd_ctx_t *ctx)
{
    store_q_t *q = store_q(ctx->store, STORE_STMT_AUTHENTICATOR_LIST, ctx->err);
    if (!q)
        return -ctx->err->code;
    proto_str_t user = cmd_str(ctx->in.arg[0]);
    store_q_text(q, 1, user.ptr, user.len);
    store_q_int(q, 2, cmd_list_limit(ctx));
    return cmd_pack_all(ctx, q, pack_authenticator);
}

/* auth.updateAuthenticatorCounter {credentialID, newCounter} -> the
 * authenticator; an unknown credential is NOT_FOUND (Auth.js expects a
 * throw). */
int cmd_authenticator_update_counter(cmd_ctx_t *ctx)
{
    store_q_t *q = store_q(ctx->store, STORE_STMT_AUTHENTICATOR_UPDATE_COUNTER, ctx->err);
    if (!q)
        return -ctx->err->code;
    proto_str_t id = cmd_str(ctx->in.arg[0]);
    store_q_text(q, 1, id.ptr, id.len);
    store_q_int(q, 2, ctx->in.arg[1]->via.i64);
    int rc = store_q_step(ctx->store, q, ctx->err);
    if (rc == STORE_ROW)
        rc = pack_authenticator(ctx, q, 0);
    else if (rc == STORE_DONE)
        rc = cmd_fail(ctx, PROTO_E_NOT_FOUND, "credentialID",
                      "no authenticator with this credentialID");
    store_q_done(q);
    return rc < 0 ? rc : 0;
}
