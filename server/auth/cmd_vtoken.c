/* cmd_vtoken.c - auth.* methods on verification tokens (Auth.js
 * VerificationToken: email sign-in links). Stored as keyed hashes, like
 * sessions; redeemed by one DELETE ... RETURNING so a link works once. */
#include "auth.h"
#include "proto_errors.h"

enum { V_IDENTIFIER, V_TOKEN, V_EXPIRES };

static void pack_vtoken(cmd_ctx_t *ctx, int64_t expires_ms)
{
    msgpack_packer *pk = ctx->pk;
    proto_str_t identifier = cmd_str(ctx->in.arg[V_IDENTIFIER]);
    proto_str_t token = cmd_str(ctx->in.arg[V_TOKEN]);
    msgpack_pack_map(pk, 3);
    proto_pack_cstr(pk, "identifier");
    proto_pack_str(pk, identifier.ptr, identifier.len);
    proto_pack_cstr(pk, "token");
    proto_pack_str(pk, token.ptr, token.len);
    proto_pack_cstr(pk, "expires");
    proto_pack_time_ms(pk, expires_ms);
}

static store_q_t *start(cmd_ctx_t *ctx, store_stmt_id_t id, uint8_t hash[CRYPTO_HASH_BYTES])
{
    proto_str_t identifier = cmd_str(ctx->in.arg[V_IDENTIFIER]);
    proto_str_t token = cmd_str(ctx->in.arg[V_TOKEN]);
    crypto_hash_token(ctx->srv->crypto, CRYPTO_HASH_VTOKEN, token.ptr, token.len, hash);
    store_q_t *q = store_q(ctx->store, id, ctx->err);
    if (q) {
        store_q_text(q, 1, identifier.ptr, identifier.len);
        store_q_blob(q, 2, hash, CRYPTO_HASH_BYTES);
    }
    return q;
}

/* auth.createVerificationToken {identifier, token, expires} -> the token.
 * The same (identifier, token) twice is CONFLICT. */
int cmd_vtoken_create(cmd_ctx_t *ctx)
{
    if (ctx->in.arg[V_TOKEN]->via.str.size == 0)
        return cmd_fail(ctx, PROTO_E_INVALID_ARGUMENT, "token", "token must not be empty");
    uint8_t hash[CRYPTO_HASH_BYTES];
    store_q_t *q = start(ctx, STORE_STMT_VTOKEN_INSERT, hash);
    if (!q)
        return -ctx->err->code;
    int64_t expires = cmd_time(ctx, V_EXPIRES);
    store_q_int(q, 3, expires);
    int rc = store_q_step(ctx->store, q, ctx->err);
    store_q_done(q);
    if (rc < 0)
        return rc;
    pack_vtoken(ctx, expires);
    return 0;
}

/* auth.useVerificationToken {identifier, token} -> the token, now deleted,
 * or nil when unknown, already used, or the identifier does not match. */
int cmd_vtoken_use(cmd_ctx_t *ctx)
{
    uint8_t hash[CRYPTO_HASH_BYTES];
    store_q_t *q = start(ctx, STORE_STMT_VTOKEN_USE, hash);
    if (!q)
        return -ctx->err->code;
    int rc = store_q_step(ctx->store, q, ctx->err);
    if (rc == STORE_ROW)
        pack_vtoken(ctx, store_q_col_int(q, 0));
    else if (rc == STORE_DONE)
        msgpack_pack_nil(ctx->pk);
    store_q_done(q);
    return rc < 0 ? rc : 0;
}
