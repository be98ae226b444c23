/* cmd_util.c - small pieces every handler group uses: argument access,
 * binding, and packing rows with their extra fields. */
#include <string.h>

#include "cmd.h"
#include "proto_errors.h"
#include "proto_json.h"

proto_str_t cmd_str(const msgpack_object *o)
{
    proto_str_t s = {o->via.str.ptr, o->via.str.size};
    return s;
}

void cmd_bind_opt_str(cmd_ctx_t *ctx, store_q_t *q, int p, int i)
{
    const msgpack_object *o = ctx->in.arg[i];
    if (o && o->type == MSGPACK_OBJECT_STR)
        store_q_text(q, p, o->via.str.ptr, o->via.str.size);
    else
        store_q_null(q, p);
}

int64_t cmd_time(const cmd_ctx_t *ctx, int i)
{
    int64_t ms = 0;
    proto_obj_time_ms(ctx->in.arg[i], &ms);
    return ms;
}

void cmd_bind_opt_time(cmd_ctx_t *ctx, store_q_t *q, int p, int i)
{
    const msgpack_object *o = ctx->in.arg[i];
    if (o && o->type == MSGPACK_OBJECT_EXT)
        store_q_int(q, p, cmd_time(ctx, i));
    else
        store_q_null(q, p);
}

/* Fails the request for an extra field whose value has no JSON form. */
static int fail_no_json(cmd_ctx_t *ctx, const msgpack_object_kv *kv)
{
    char field[68];
    proto_str_printable(field, sizeof field, kv->key.via.str.ptr, kv->key.via.str.size);
    return cmd_fail(ctx, PROTO_E_INVALID_ARGUMENT, field,
                    "extra field \"%s\" holds a value with no JSON form (binary data, NaN, "
                    "infinity, or a map with non-string keys)",
                    field);
}

/* Fails the request when the extra-fields object `json` would be stored
 * larger than --max-extra-bytes: every reply for the record carries it,
 * and past the output cap those replies cannot be sent at all. */
static int check_extra_size(cmd_ctx_t *ctx, const proto_buf_t *json)
{
    int64_t max = ctx->srv->cfg.max_extra_bytes;
    if ((int64_t)json->len <= max)
        return 0;
    int rc = cmd_fail(ctx, PROTO_E_LIMIT_EXCEEDED, NULL,
                      "the extra fields of this record would take %zu bytes of JSON; the limit "
                      "is %lld (--max-extra-bytes)",
                      json->len, (long long)max);
    proto_err_detail(ctx->err, "limit", "max-extra-bytes", 15);
    return rc;
}

int cmd_extra_json(cmd_ctx_t *ctx, proto_buf_t *out)
{
    uint32_t count = 0;
    proto_buf_append(out, "{", 1);
    for (unsigned e = 0; e < ctx->in.nextra; e++) {
        const msgpack_object_kv *kv = ctx->in.extra[e];
        if (proto_json_write_member(kv->key.via.str.ptr, kv->key.via.str.size, &kv->val, out,
                                    &count) != 0) {
            return out->failed ? cmd_fail_oom(ctx) : fail_no_json(ctx, kv);
        }
    }
    proto_buf_append(out, "}", 1);
    if (out->failed)
        return cmd_fail_oom(ctx);
    return check_extra_size(ctx, out);
}

/* True when `key` is one of the request's extra field names. */
static bool is_given(const cmd_ctx_t *ctx, const msgpack_object *key)
{
    for (unsigned e = 0; e < ctx->in.nextra; e++) {
        const msgpack_object *k = &ctx->in.extra[e]->key;
        if (k->via.str.size == key->via.str.size &&
            memcmp(k->via.str.ptr, key->via.str.ptr, k->via.str.size) == 0)
            return true;
    }
    return false;
}

int cmd_extra_merge(cmd_ctx_t *ctx, store_stmt_id_t id, int nkeys, proto_buf_t *out)
{
    if (ctx->in.nextra == 0)
        return 0;
    store_q_t *q = store_q(ctx->store, id, ctx->err);
    if (!q)
        return -ctx->err->code;
    for (int i = 0; i < nkeys; i++) {
        proto_str_t s = cmd_str(ctx->in.arg[i]);
        store_q_text(q, i + 1, s.ptr, s.len);
    }
    int rc = store_q_step(ctx->store, q, ctx->err);
    if (rc != STORE_ROW) {
        store_q_done(q);
        return rc < 0 ? rc : 0;
    }
    rc = 0;
    /* Old object -> msgpack map, so its members can be walked. */
    proto_buf_t packed;
    proto_buf_init(&packed);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &packed, proto_buf_msgpack_write);
    size_t len;
    const char *json = store_q_col_text(q, 0, &len);
    int bad = proto_json_pack(&pk, json, len, NULL);
    store_q_done(q);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object old;
    size_t off = 0;
    msgpack_unpack_return ur = MSGPACK_UNPACK_PARSE_ERROR;
    if (!bad && !packed.failed)
        ur = msgpack_unpack((const char *)packed.data, packed.len, &off, &zone, &old);
    if (packed.failed || bad == PROTO_JSON_NOMEM || ur == MSGPACK_UNPACK_NOMEM_ERROR) {
        /* Our shortage, not a damaged row: the write is retriable. */
        rc = cmd_fail_oom(ctx);
    } else if (bad || ur != MSGPACK_UNPACK_SUCCESS || old.type != MSGPACK_OBJECT_MAP) {
        rc = cmd_fail(ctx, PROTO_E_CORRUPT, NULL,
                      "a stored extra-fields column is not a JSON object");
    } else {
        uint32_t count = 0;
        proto_buf_append(out, "{", 1);
        for (uint32_t i = 0; i < old.via.map.size && rc == 0; i++) {
            const msgpack_object_kv *kv = &old.via.map.ptr[i];
            if (kv->key.type == MSGPACK_OBJECT_STR && !is_given(ctx, &kv->key))
                rc = proto_json_write_member(kv->key.via.str.ptr, kv->key.via.str.size, &kv->val,
                                             out, &count);
        }
        for (unsigned e = 0; e < ctx->in.nextra && rc == 0; e++) {
            const msgpack_object_kv *kv = ctx->in.extra[e];
            if (kv->val.type == MSGPACK_OBJECT_NIL)
                continue; /* nil removes the field */
            if (proto_json_write_member(kv->key.via.str.ptr, kv->key.via.str.size, &kv->val, out,
                                        &count) != 0) {
                rc = out->failed ? cmd_fail_oom(ctx) : fail_no_json(ctx, kv);
            }
        }
        proto_buf_append(out, "}", 1);
        if (rc == 0 && out->failed)
            rc = cmd_fail_oom(ctx);
        if (rc == 0)
            rc = check_extra_size(ctx, out);
    }
    msgpack_zone_destroy(&zone);
    proto_buf_deinit(&packed);
    return rc;
}

void cmd_pack_col_text(cmd_ctx_t *ctx, store_q_t *q, int col)
{
    if (store_q_is_null(q, col)) {
        msgpack_pack_nil(ctx->pk);
        return;
    }
    size_t len;
    const char *p = store_q_col_text(q, col, &len);
    proto_pack_str(ctx->pk, p, len);
}

void cmd_pack_col_time(cmd_ctx_t *ctx, store_q_t *q, int col)
{
    if (store_q_is_null(q, col))
        msgpack_pack_nil(ctx->pk);
    else
        proto_pack_time_ms(ctx->pk, store_q_col_int(q, col));
}

int cmd_pack_extra_begin(cmd_ctx_t *ctx, store_q_t *q, int extra_col, uint32_t known,
                         proto_buf_t *members)
{
    proto_buf_init(members);
    msgpack_packer mp;
    msgpack_packer_init(&mp, members, proto_buf_msgpack_write);
    size_t len;
    const char *json = store_q_col_text(q, extra_col, &len);
    uint32_t n = 0;
    int bad = proto_json_pack(&mp, json, len, &n);
    if (bad || members->failed) {
        bool oom = members->failed || bad == PROTO_JSON_NOMEM;
        proto_buf_deinit(members);
        return oom ? cmd_fail_oom(ctx)
                   : cmd_fail(ctx, PROTO_E_CORRUPT, NULL,
                              "a stored extra-fields column is not a JSON object");
    }
    msgpack_pack_map(ctx->pk, known + n);
    return 0;
}

void cmd_pack_extra_end(cmd_ctx_t *ctx, proto_buf_t *members)
{
    if (members->len)
        ctx->pk->callback(ctx->pk->data, (const char *)members->data, members->len);
    proto_buf_deinit(members);
}

int cmd_pack_user(cmd_ctx_t *ctx, store_q_t *q, int col)
{
    proto_buf_t members;
    int rc = cmd_pack_extra_begin(ctx, q, col + 5, 5, &members);
    if (rc != 0)
        return rc;
    msgpack_packer *pk = ctx->pk;
    proto_pack_cstr(pk, "id");
    cmd_pack_col_text(ctx, q, col);
    proto_pack_cstr(pk, "name");
    cmd_pack_col_text(ctx, q, col + 1);
    proto_pack_cstr(pk, "email");
    cmd_pack_col_text(ctx, q, col + 2);
    proto_pack_cstr(pk, "emailVerified");
    cmd_pack_col_time(ctx, q, col + 3);
    proto_pack_cstr(pk, "image");
    cmd_pack_col_text(ctx, q, col + 4);
    cmd_pack_extra_end(ctx, &members);
    return 0;
}

int cmd_pack_one(cmd_ctx_t *ctx, store_q_t *q, cmd_row_fn pack)
{
    int rc = store_q_step(ctx->store, q, ctx->err);
    if (rc == STORE_ROW)
        rc = pack(ctx, q, 0);
    else if (rc == STORE_DONE)
        msgpack_pack_nil(ctx->pk);
    store_q_done(q);
    return rc < 0 ? rc : 0;
}

int64_t cmd_list_limit(const cmd_ctx_t *ctx)
{
    return ctx->srv->cfg.max_rows + 1;
}

int cmd_pack_all(cmd_ctx_t *ctx, store_q_t *q, cmd_row_fn pack)
{
    /* A msgpack array states its length first: pack the rows aside while
     * counting them, then the header, then the rows. */
    uint32_t max = (uint32_t)ctx->srv->cfg.max_rows;
    proto_buf_t rows;
    proto_buf_init(&rows);
    msgpack_packer inner, *outer = ctx->pk;
    msgpack_packer_init(&inner, &rows, proto_buf_msgpack_write);
    ctx->pk = &inner;
    uint32_t n = 0;
    bool cut = false;
    int rc;
    while ((rc = store_q_step(ctx->store, q, ctx->err)) == STORE_ROW) {
        if (n == max) {
            /* One row past the limit exists: the list is cut here. */
            cut = true;
            rc = STORE_DONE;
            break;
        }
        if ((rc = pack(ctx, q, 0)) != 0)
            break;
        n++;
    }
    ctx->pk = outer;
    store_q_done(q);
    if (rc == STORE_DONE) {
        /* A whole list stays the array clients expect; a cut one says so
         * in a map a client cannot mistake for the whole list. */
        if (cut) {
            msgpack_pack_map(outer, 3);
            proto_pack_cstr(outer, "items");
        }
        msgpack_pack_array(outer, n);
        if (rows.len)
            outer->callback(outer->data, (const char *)rows.data, rows.len);
        if (cut) {
            proto_pack_cstr(outer, "truncated");
            msgpack_pack_true(outer);
            proto_pack_cstr(outer, "limit");
            msgpack_pack_uint32(outer, max);
        }
        rc = rows.failed ? cmd_fail_oom(ctx) : 0;
    }
    proto_buf_deinit(&rows);
    return rc < 0 ? rc : 0;
}
