/* proto_rpc.c - MessagePack-RPC decode and encode. */
#include "proto_rpc.h"

#include "proto_scan.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto_errors.h"

static bool obj_is_uint32(const msgpack_object *o, uint32_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
        return false;
    *v = (uint32_t)o->via.u64;
    return true;
}

/* params: [ {map} ] names the arguments; [] means none. */
static void decode_params(const msgpack_object *params, proto_msg_t *out)
{
    out->args = NULL;
    out->params_ok = false;
    if (params->type != MSGPACK_OBJECT_ARRAY)
        return;
    if (params->via.array.size == 0) {
        out->params_ok = true;
        return;
    }
    if (params->via.array.size != 1 || params->via.array.ptr[0].type != MSGPACK_OBJECT_MAP)
        return;
    out->args = &params->via.array.ptr[0];
    out->params_ok = true;
}

/* True when `buf` is one object msgpack-c's fixed unpacker stack can hold. */
static bool fits_unpacker_stack(const uint8_t *buf, size_t len)
{
    proto_scan_t sc;
    proto_scan_init(&sc, len ? len : 1, PROTO_SCAN_DEPTH_CAP);
    size_t n = 0;
    return proto_scan_feed(&sc, buf, len, &n) == PROTO_SCAN_COMPLETE && n == len;
}

int proto_msg_decode(const uint8_t *buf, size_t len, msgpack_zone *zone, proto_msg_t *out)
{
    memset(out, 0, sizeof *out);
    msgpack_object root;
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack((const char *)buf, len, &off, zone, &root);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR && fits_unpacker_stack(buf, len)) {
        /* msgpack-c says NOMEM both for a full stack (too deep: the
         * client's fault) and for malloc failing. Here it was malloc: the
         * server's shortage, so a retriable answer to the request,
         * addressed by the msgid read off the raw bytes. */
        out->has_msgid = proto_peek_msgid(buf, len, &out->msgid);
        out->type = PROTO_MSG_REQUEST;
        return -PROTO_E_OUT_OF_MEMORY;
    }
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len)
        return -PROTO_E_PARSE_ERROR;

    if (root.type != MSGPACK_OBJECT_ARRAY || root.via.array.size < 3)
        return -PROTO_E_INVALID_MESSAGE;
    const msgpack_object *el = root.via.array.ptr;
    uint32_t type;
    if (!obj_is_uint32(&el[0], &type))
        return -PROTO_E_INVALID_MESSAGE;

    if (type == PROTO_MSG_REQUEST && root.via.array.size == 4) {
        out->type = PROTO_MSG_REQUEST;
        out->has_msgid = obj_is_uint32(&el[1], &out->msgid);
        if (!out->has_msgid || el[2].type != MSGPACK_OBJECT_STR)
            return -PROTO_E_INVALID_MESSAGE;
        out->method.ptr = el[2].via.str.ptr;
        out->method.len = el[2].via.str.size;
        decode_params(&el[3], out);
        return 0;
    }
    if (type == PROTO_MSG_NOTIFY && root.via.array.size == 3) {
        out->type = PROTO_MSG_NOTIFY;
        if (el[1].type != MSGPACK_OBJECT_STR)
            return -PROTO_E_INVALID_MESSAGE;
        out->method.ptr = el[1].via.str.ptr;
        out->method.len = el[1].via.str.size;
        decode_params(&el[2], out);
        return 0;
    }
    /* A response, an unknown type, or the wrong arity. Address the error if
     * the second element looks like a msgid. */
    out->has_msgid = root.via.array.size == 4 && obj_is_uint32(&el[1], &out->msgid);
    return -PROTO_E_INVALID_MESSAGE;
}

void proto_pack_result_head(msgpack_packer *pk, uint32_t msgid)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, PROTO_MSG_RESPONSE);
    msgpack_pack_uint32(pk, msgid);
    msgpack_pack_nil(pk);
}

int proto_err_set(proto_err_t *e, int code, const char *fmt, ...)
{
    if (code < 0)
        code = -code;
    e->code = code;
    e->ndetails = 0;
    e->message[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
    }
    return -code;
}

char *proto_str_printable(char *out, size_t outsz, const char *s, size_t len)
{
    if (outsz == 0)
        return out;
    size_t room = outsz - 1;
    bool cut = len > room;
    size_t take = cut && room >= 3 ? room - 3 : (cut ? room : len);
    for (size_t i = 0; i < take; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (cut && room >= 3) {
        memcpy(out + take, "...", 3);
        take += 3;
    }
    out[take] = '\0';
    return out;
}

void proto_err_detail(proto_err_t *e, const char *key, const char *val, size_t val_len)
{
    if (e->ndetails >= PROTO_ERR_DETAILS)
        return;
    proto_str_printable(e->detail_val[e->ndetails], sizeof e->detail_val[0], val, val_len);
    e->detail_key[e->ndetails++] = key;
}

void proto_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

void proto_pack_cstr(msgpack_packer *pk, const char *s)
{
    proto_pack_str(pk, s, strlen(s));
}

void proto_pack_error_obj(msgpack_packer *pk, const proto_err_t *e)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, e->code);
    proto_pack_cstr(pk, proto_error_name(e->code));
    proto_pack_cstr(pk, e->message[0] ? e->message : proto_error_message(e->code));
    msgpack_pack_map(pk, e->ndetails);
    for (unsigned i = 0; i < e->ndetails; i++) {
        proto_pack_cstr(pk, e->detail_key[i]);
        proto_pack_cstr(pk, e->detail_val[i]);
    }
}

void proto_pack_error_response(msgpack_packer *pk, uint32_t msgid, const proto_err_t *e)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, PROTO_MSG_RESPONSE);
    msgpack_pack_uint32(pk, msgid);
    proto_pack_error_obj(pk, e);
    msgpack_pack_nil(pk);
}

void proto_pack_error_notify(msgpack_packer *pk, const proto_err_t *e)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint8(pk, PROTO_MSG_NOTIFY);
    proto_pack_cstr(pk, "server.error");
    msgpack_pack_array(pk, 1);
    proto_pack_error_obj(pk, e);
}

void proto_pack_time_ms(msgpack_packer *pk, int64_t unix_ms)
{
    int64_t sec = unix_ms / 1000;
    int64_t ms = unix_ms % 1000;
    if (ms < 0) { /* floor division: nanoseconds are always 0..999999999 */
        ms += 1000;
        sec -= 1;
    }
    msgpack_timestamp ts = {.tv_sec = sec, .tv_nsec = (uint32_t)(ms * 1000000)};
    msgpack_pack_timestamp(pk, &ts);
}

int proto_obj_time_ms(const msgpack_object *o, int64_t *unix_ms)
{
    msgpack_timestamp ts;
    if (o->type != MSGPACK_OBJECT_EXT || !msgpack_object_to_timestamp(o, &ts))
        return -1;
    if (ts.tv_nsec > 999999999u)
        return -1;
    /* Only what a JavaScript Date can hold: +-8.64e15 ms from the epoch.
     * Checking seconds first keeps the multiplication from overflowing. */
    if (ts.tv_sec > PROTO_TIME_MAX_MS / 1000 || ts.tv_sec < -PROTO_TIME_MAX_MS / 1000 - 1)
        return -1;
    int64_t ms = ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000);
    if (ms > PROTO_TIME_MAX_MS || ms < -PROTO_TIME_MAX_MS)
        return -1;
    *unix_ms = ms;
    return 0;
}

bool proto_peek_msgid(const uint8_t *buf, size_t len, uint32_t *msgid)
{
    /* [0, msgid, ...]: a 4-element array header, the type 0, then msgid. */
    size_t i;
    if (len >= 1 && buf[0] == 0x94)
        i = 1;
    else if (len >= 3 && buf[0] == 0xdc && buf[1] == 0 && buf[2] == 4)
        i = 3;
    else if (len >= 5 && buf[0] == 0xdd && buf[1] == 0 && buf[2] == 0 && buf[3] == 0 && buf[4] == 4)
        i = 5;
    else
        return false;
    if (i >= len || buf[i] != 0x00)
        return false;
    i++;
    if (i >= len)
        return false;
    uint8_t t = buf[i++];
    if (t <= 0x7f) {
        *msgid = t;
        return true;
    }
    /* Any integer encoding of a value in 0..UINT32_MAX, as the decoder
     * accepts: unsigned 8..64 bits (0xcc..0xcf), signed 8..64 (0xd0..0xd3). */
    size_t n = 0;
    bool is_signed = false;
    if (t >= 0xcc && t <= 0xcf)
        n = (size_t)1 << (t - 0xcc);
    else if (t >= 0xd0 && t <= 0xd3) {
        n = (size_t)1 << (t - 0xd0);
        is_signed = true;
    }
    if (n == 0 || len - i < n)
        return false;
    if (is_signed && (buf[i] & 0x80))
        return false; /* negative */
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++)
        v = (v << 8) | buf[i + k];
    if (v > UINT32_MAX)
        return false;
    *msgid = (uint32_t)v;
    return true;
}

/* Bytes proto_obj_clone needs for the arrays and maps under `o`. */
static size_t clone_size(const msgpack_object *o)
{
    size_t n = 0;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        n += o->via.array.size * sizeof(msgpack_object);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            n += clone_size(&o->via.array.ptr[i]);
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        n += o->via.map.size * sizeof(msgpack_object_kv);
        for (uint32_t i = 0; i < o->via.map.size; i++)
            n += clone_size(&o->via.map.ptr[i].key) + clone_size(&o->via.map.ptr[i].val);
    }
    return n;
}

size_t proto_obj_clone_size(const msgpack_object *o)
{
    return clone_size(o);
}

/* Rebases a pointer into [from, from+len) onto `to`. */
static const char *rebase(const char *p, const uint8_t *from, uint8_t *to)
{
    return p ? (const char *)to + (p - (const char *)from) : p;
}

static void clone_into(msgpack_object *dst, const msgpack_object *src, const uint8_t *from,
                       uint8_t *to, uint8_t **arena)
{
    *dst = *src;
    switch (src->type) {
    case MSGPACK_OBJECT_STR: dst->via.str.ptr = rebase(src->via.str.ptr, from, to); break;
    case MSGPACK_OBJECT_BIN: dst->via.bin.ptr = rebase(src->via.bin.ptr, from, to); break;
    case MSGPACK_OBJECT_EXT: dst->via.ext.ptr = rebase(src->via.ext.ptr, from, to); break;
    case MSGPACK_OBJECT_ARRAY: {
        msgpack_object *a = (msgpack_object *)*arena;
        *arena += src->via.array.size * sizeof *a;
        for (uint32_t i = 0; i < src->via.array.size; i++)
            clone_into(&a[i], &src->via.array.ptr[i], from, to, arena);
        dst->via.array.ptr = src->via.array.size ? a : NULL;
        break;
    }
    case MSGPACK_OBJECT_MAP: {
        msgpack_object_kv *kv = (msgpack_object_kv *)*arena;
        *arena += src->via.map.size * sizeof *kv;
        for (uint32_t i = 0; i < src->via.map.size; i++) {
            clone_into(&kv[i].key, &src->via.map.ptr[i].key, from, to, arena);
            clone_into(&kv[i].val, &src->via.map.ptr[i].val, from, to, arena);
        }
        dst->via.map.ptr = src->via.map.size ? kv : NULL;
        break;
    }
    default: break;
    }
}

void proto_obj_clone(msgpack_object *dst, const msgpack_object *src, const uint8_t *from,
                     uint8_t *to, void *arena)
{
    uint8_t *a = arena;
    clone_into(dst, src, from, to, &a);
}
