/* proto_json.h - MessagePack values to JSON text and back, for the `extra`
 * columns that keep fields Auth.js or a provider sends beyond the known
 * ones. JSON keeps them queryable with SQLite's json functions.
 *
 * Mapping: nil/bool/int/float/str/array/map as JSON; a timestamp becomes
 * {"$date": <Unix ms>} and comes back as a timestamp. bin, other
 * extensions, NaN and infinities have no JSON form and are refused.
 */
#ifndef NOORMME_PROTO_JSON_H
#define NOORMME_PROTO_JSON_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "proto_buf.h"

/* Deepest JSON nesting accepted when reading back. */
#define PROTO_JSON_MAX_DEPTH 32

/* Appends `o` as JSON to `out`. Returns 0, or -1 when `o` holds a value
 * with no JSON form (nothing useful is left in `out` then). */
int proto_json_write(const msgpack_object *o, proto_buf_t *out);

/* Appends one "key":value member (comma-separated after the first, as told
 * by *count) and increments *count; for building an object piecewise. */
int proto_json_write_member(const char *key, size_t klen, const msgpack_object *val,
                            proto_buf_t *out, uint32_t *count);

/* Packs the JSON text `json[0..len)` as MessagePack. When `members` is not
 * NULL the text must be an object and only its members are packed (as
 * key, value pairs, no map header) with their number in *members, so the
 * caller can merge them into a map of its own. Returns 0, -1 for text
 * that is not valid JSON (or nests deeper than PROTO_JSON_MAX_DEPTH), or
 * PROTO_JSON_NOMEM when memory to unescape a string ran out. A failed
 * append to `pk` shows in its buffer, not here. */
#define PROTO_JSON_NOMEM (-2)
int proto_json_pack(msgpack_packer *pk, const char *json, size_t len, uint32_t *members);

#endif
