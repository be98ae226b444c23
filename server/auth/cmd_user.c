/* cmd_user.c - auth.* methods on users (Auth.js AdapterUser). */
#include <string.h>

#include "auth.h"
#include "proto_errors.h"

/* Argument positions of auth.createUser and auth.updateUser
 * (protocol/methods.def). */
enum { U_ID, U_NAME, U_EMAIL, U_EMAIL_VERIFIED, U_IMAGE };

/* auth.createUser {id?, name?, email?, emailVerified?, image?, ...extra}
 * -> user. Without an id (next-auth v4) a UUID is generated. A taken email
 * is CONFLICT. */
int cmd_user_create(cmd_ctx_t *ctx)
{
    proto_buf_t extra;
    proto_buf_init(&extra);
    int rc = cmd_extra_json(ctx, &extra);
    store_q_t *q = rc == 0 ? store_q(ctx->store, STORE_STMT_USER_INSERT, ctx->err) : NULL;
    if (q) {
        char uuid[37];
        if (cmd_has(ctx, U_ID)) {
            proto_str_t id = cmd_str(ctx->in.arg[U_ID]);
            store_q_text(q, 1, id.ptr, id.len);
        } else {
            crypto_random_uuid(uuid);
            store_q_text(q, 1, uuid, 36);
        }
        cmd_bind_opt_str(ctx, q, 2, U_NAME);
        cmd_bind_opt_str(ctx, q, 3, U_EMAIL);
        cmd_bind_opt_time(ctx, q, 4, U_EMAIL_VERIFIED);
        cmd_bind_opt_str(ctx, q, 5, U_IMAGE);
        store_q_text(q, 6, (const char *)extra.data, extra.len);
        rc = store_q_step(ctx->store, q, ctx->err);
        if (rc == STORE_ROW)
            rc = cmd_pack_user(ctx, q, 0);
        store_q_done(q);
    } else if (rc == 0) {
        rc = -ctx->err->code;
    }
    proto_buf_deinit(&extra);
    return rc < 0 ? rc : 0;
}

static int lookup(cmd_ctx_t *ctx, store_stmt_id_t id, int nargs)
{
    store_q_t *q = store_q(ctx->store, id, ctx->err);
    if (!q)
        return -ctx->err->code;
    for (int i = 0; i < nargs; i++) {
        proto_str_t s = cmd_str(ctx->in.arg[i]);
        store_q_text(q, i + 1, s.ptr, s.len);
    }
    return cmd_pack_one(ctx, q, cmd_pack_user);
}

/* auth.getUser {id} -> user | nil */
int cmd_user_get(cmd_ctx_t *ctx)
{
    return lookup(ctx, STORE_STMT_USER_GET, 1);
}

/* auth.getUserByEmail {email} -> user | nil (exact match) */
int cmd_user_get_by_email(cmd_ctx_t *ctx)
{
    return lookup(ctx, STORE_STMT_USER_GET_BY_EMAIL, 1);
}

/* auth.getUserByAccount {provider, providerAccountId} -> user | nil */
int cmd_user_get_by_account(cmd_ctx_t *ctx)
{
    return lookup(ctx, STORE_STMT_USER_GET_BY_ACCOUNT, 2);
}

/* auth.updateUser {id, ...partial} -> the whole user. Absent keys stay,
 * nil clears; an extra field given replaces its value whole and nil removes
 * it, other extra fields stay; unknown id: NOT_FOUND. */
int cmd_user_update(cmd_ctx_t *ctx)
{
    proto_buf_t extra;
    proto_buf_init(&extra);
    int rc = cmd_extra_merge(ctx, STORE_STMT_USER_GET_EXTRA, 1, &extra);
    store_q_t *q = rc == 0 ? store_q(ctx->store, STORE_STMT_USER_UPDATE, ctx->err) : NULL;
    if (q) {
        proto_str_t id = cmd_str(ctx->in.arg[U_ID]);
        store_q_text(q, 1, id.ptr, id.len);
        store_q_int(q, 2, cmd_has(ctx, U_NAME));
        cmd_bind_opt_str(ctx, q, 3, U_NAME);
        store_q_int(q, 4, cmd_has(ctx, U_EMAIL));
        cmd_bind_opt_str(ctx, q, 5, U_EMAIL);
        store_q_int(q, 6, cmd_has(ctx, U_EMAIL_VERIFIED));
        cmd_bind_opt_time(ctx, q, 7, U_EMAIL_VERIFIED);
        store_q_int(q, 8, cmd_has(ctx, U_IMAGE));
        cmd_bind_opt_str(ctx, q, 9, U_IMAGE);
        if (extra.len)
            store_q_text(q, 10, (const char *)extra.data, extra.len);
        else
            store_q_null(q, 10);
        rc = store_q_step(ctx->store, q, ctx->err);
        if (rc == STORE_ROW)
            rc = cmd_pack_user(ctx, q, 0);
        else if (rc == STORE_DONE)
            rc = cmd_fail(ctx, PROTO_E_NOT_FOUND, "id", "no user with this id");
        store_q_done(q);
    } else if (rc == 0) {
        rc = -ctx->err->code;
    }
    proto_buf_deinit(&extra);
    return rc < 0 ? rc : 0;
}

/* auth.deleteUser {userId} -> the deleted user | nil. Accounts, sessions
 * and authenticators go with it (ON DELETE CASCADE). */
int cmd_user_delete(cmd_ctx_t *ctx)
{
    return lookup(ctx, STORE_STMT_USER_DELETE, 1);
}
