/* cmd_session.c - auth.* methods on sessions (Auth.js AdapterSession).
 *
 * A session row is keyed by the keyed hash of its token: the token itself
 * is never stored, so every method hashes the token it is given and hands
 * that same token back in its result. */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "proto_errors.h"

/* {sessionToken, userId, expires}: the token as the caller gave it. */
static void pack_session(cmd_ctx_t *ctx, proto_str_t token, store_q_t *q, int user_col,
                         int expires_col)
{
    msgpack_packer *pk = ctx->pk;
    msgpack_pack_map(pk, 3);
    proto_pack_cstr(pk, "sessionToken");
    proto_pack_str(pk, token.ptr, token.len);
    proto_pack_cstr(pk, "userId");
    cmd_pack_col_text(ctx, q, user_col);
    proto_pack_cstr(pk, "expires");
    cmd_pack_col_time(ctx, q, expires_col);
}

/* Starts statement `id` with ?1 bound to the hash of the sessionToken
 * argument at position `arg`. */
static store_q_t *by_token(cmd_ctx_t *ctx, store_stmt_id_t id, int arg,
                           uint8_t hash[CRYPTO_HASH_BYTES])
{
    proto_str_t token = cmd_str(ctx->in.arg[arg]);
    crypto_hash_token(ctx->srv->crypto, CRYPTO_HASH_SESSION, token.ptr, token.len, hash);
    store_q_t *q = store_q(ctx->store, id, ctx->err);
    if (q)
        store_q_blob(q, 1, hash, CRYPTO_HASH_BYTES);
    return q;
}

/* auth.createSession {sessionToken?, userId, expires} -> session. Without
 * a token, a 256-bit random one is made (for apps that mint sessions
 * themselves) and returned. */
int cmd_session_create(cmd_ctx_t *ctx)
{
    char made[CRYPTO_TOKEN_CHARS + 1];
    proto_str_t token;
    if (cmd_has(ctx, 0)) {
        token = cmd_str(ctx->in.arg[0]);
        if (token.len == 0)
            return cmd_fail(ctx, PROTO_E_INVALID_ARGUMENT, "sessionToken",
                            "sessionToken must not be empty");
    } else {
        crypto_random_token(made);
        token.ptr = made;
        token.len = CRYPTO_TOKEN_CHARS;
    }
    uint8_t hash[CRYPTO_HASH_BYTES];
    crypto_hash_token(ctx->srv->crypto, CRYPTO_HASH_SESSION, token.ptr, token.len, hash);
    store_q_t *q = store_q(ctx->store, STORE_STMT_SESSION_INSERT, ctx->err);
    if (!q)
        return -ctx->err->code;
    proto_str_t user = cmd_str(ctx->in.arg[1]);
    int64_t expires = cmd_time(ctx, 2);
    store_q_blob(q, 1, hash, sizeof hash);
    store_q_text(q, 2, user.ptr, user.len);
    store_q_int(q, 3, expires);
    int rc = store_q_step(ctx->store, q, ctx->err);
    store_q_done(q);
    if (rc < 0)
        return rc;
    msgpack_packer *pk = ctx->pk;
    msgpack_pack_map(pk, 3);
    proto_pack_cstr(pk, "sessionToken");
    proto_pack_str(pk, token.ptr, token.len);
    proto_pack_cstr(pk, "userId");
    proto_pack_str(pk, user.ptr, user.len);
    proto_pack_cstr(pk, "expires");
    proto_pack_time_ms(pk, expires);
    return 0;
}

/* auth.getSessionAndUser {sessionToken} -> {session, user} | nil. One
 * indexed join. Expired sessions are returned too: Auth.js checks expiry
 * itself and then deletes the session. */
int cmd_session_get_and_user(cmd_ctx_t *ctx)
{
    uint8_t hash[CRYPTO_HASH_BYTES];
    store_q_t *q = by_token(ctx, STORE_STMT_SESSION_GET_AND_USER, 0, hash);
    if (!q)
        return -ctx->err->code;
    int rc = store_q_step(ctx->store, q, ctx->err);
    if (rc == STORE_ROW) {
        msgpack_pack_map(ctx->pk, 2);
        proto_pack_cstr(ctx->pk, "session");
        pack_session(ctx, cmd_str(ctx->in.arg[0]), q, 1, 0); /* userId = users.id */
        proto_pack_cstr(ctx->pk, "user");
        rc = cmd_pack_user(ctx, q, 1);
    } else if (rc == STORE_DONE) {
        msgpack_pack_nil(ctx->pk);
    }
    store_q_done(q);
    return rc < 0 ? rc : 0;
}

/* Runs a statement returning (user_id, expires) for one token: packs the
 * session, or nil when the token is unknown. */
static int session_or_nil(cmd_ctx_t *ctx, store_q_t *q)
{
    int rc = store_q_step(ctx->store, q, ctx->err);
    if (rc == STORE_ROW)
        pack_session(ctx, cmd_str(ctx->in.arg[0]), q, 0, 1);
    else if (rc == STORE_DONE)
        msgpack_pack_nil(ctx->pk);
    store_q_done(q);
    return rc < 0 ? rc : 0;
}

/* auth.updateSession {sessionToken, expires?, userId?} -> session | nil */
int cmd_session_update(cmd_ctx_t *ctx)
{
    uint8_t hash[CRYPTO_HASH_BYTES];
    store_q_t *q = by_token(ctx, STORE_STMT_SESSION_UPDATE, 0, hash);
    if (!q)
        return -ctx->err->code;
    store_q_int(q, 2, cmd_has(ctx, 2));
    cmd_bind_opt_time(ctx, q, 3, 2);
    store_q_int(q, 4, cmd_has(ctx, 1));
    cmd_bind_opt_str(ctx, q, 5, 1);
    return session_or_nil(ctx, q);
}

/* auth.deleteSession {sessionToken} -> the deleted session | nil */
int cmd_session_delete(cmd_ctx_t *ctx)
{
    uint8_t hash[CRYPTO_HASH_BYTES];
    store_q_t *q = by_token(ctx, STORE_STMT_SESSION_DELETE, 0, hash);
    if (!q)
        return -ctx->err->code;
    return session_or_nil(ctx, q);
}

/* One row of SESSION_LIST: {id, userId, expires}. */
static int pack_listed(cmd_ctx_t *ctx, store_q_t *q, int col)
{
    (void)col;
    size_t hlen;
    const uint8_t *h = store_q_col_blob(q, 0, &hlen);
    char id[33];
    size_t idlen = 0;
    for (size_t i = 0; i < 16 && i < hlen; i++, idlen += 2)
        snprintf(id + idlen, 3, "%02x", h[i]);
    proto_str_t user = cmd_str(ctx->in.arg[0]);
    msgpack_packer *pk = ctx->pk;
    msgpack_pack_map(pk, 3);
    proto_pack_cstr(pk, "id");
    proto_pack_str(pk, id, idlen);
    proto_pack_cstr(pk, "userId");
    proto_pack_str(pk, user.ptr, user.len);
    proto_pack_cstr(pk, "expires");
    proto_pack_time_ms(pk, store_q_col_int(q, 1));
    return 0;
}

/* auth.listSessions {userId} -> [{id, userId, expires}], newest expiry
 * first; past --max-rows, cut as cmd_pack_all says. Tokens cannot be
 * listed (they are not stored); `id` is an opaque handle derived from the
 * token's hash. */
int cmd_session_list(cmd_ctx_t *ctx)
{
    store_q_t *q = store_q(ctx->store, STORE_STMT_SESSION_LIST, ctx->err);
    if (!q)
        return -ctx->err->code;
    proto_str_t user = cmd_str(ctx->in.arg[0]);
    store_q_text(q, 1, user.ptr, user.len);
    store_q_int(q, 2, cmd_list_limit(ctx));
    return cmd_pack_all(ctx, q, pack_listed);
}

/* The 16 bytes of a session id (32 hex digits, either case), or -1. */
static int parse_session_id(proto_str_t id, uint8_t out[16])
{
    if (id.len != 32)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        char ch = id.ptr[i];
        int v = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (v < 0)
            return -1;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return 0;
}

/* auth.deleteSessionById {userId, id} -> the deleted {id, userId, expires},
 * or nil when the user has no session with that id. */
int cmd_session_delete_by_id(cmd_ctx_t *ctx)
{
    uint8_t prefix[16];
    if (parse_session_id(cmd_str(ctx->in.arg[1]), prefix) != 0)
        return cmd_fail(ctx, PROTO_E_INVALID_ARGUMENT, "id",
                        "id must be a session id from auth.listSessions (32 hex digits)");
    store_q_t *q = store_q(ctx->store, STORE_STMT_SESSION_DELETE_BY_ID, ctx->err);
    if (!q)
        return -ctx->err->code;
    proto_str_t user = cmd_str(ctx->in.arg[0]);
    store_q_text(q, 1, user.ptr, user.len);
    store_q_blob(q, 2, prefix, sizeof prefix);
    return cmd_pack_one(ctx, q, pack_listed);
}

/* auth.deleteSessions {userId} -> number deleted ("sign out everywhere") */
int cmd_session_delete_all(cmd_ctx_t *ctx)
{
    store_q_t *q = store_q(ctx->store, STORE_STMT_SESSION_DELETE_ALL, ctx->err);
    if (!q)
        return -ctx->err->code;
    proto_str_t user = cmd_str(ctx->in.arg[0]);
    store_q_text(q, 1, user.ptr, user.len);
    int rc = store_q_step(ctx->store, q, ctx->err);
    store_q_done(q);
    if (rc < 0)
        return rc;
    msgpack_pack_int64(ctx->pk, store_changes(ctx->store));
    return 0;
}
