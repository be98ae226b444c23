/* crypto.h - every secret noormd handles, behind one module.
 *
 * Only crypto.c includes sodium.h. One 32-byte master key (base64, from a
 * file or the environment) is loaded into guarded memory and never used
 * directly: crypto_kdf derives a subkey per purpose. Session and
 * verification tokens are stored as keyed BLAKE2b hashes; OAuth tokens are
 * sealed with XChaCha20-Poly1305 under additional data that binds each
 * ciphertext to its table, column and account (a list of length-prefixed
 * fields), so a ciphertext moved to another row or column fails to open.
 */
#ifndef NOORMME_CRYPTO_H
#define NOORMME_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "proto_rpc.h"

#define CRYPTO_KEY_BYTES     32
#define CRYPTO_HASH_BYTES    32
#define CRYPTO_TOKEN_CHARS   43 /* 256 random bits in unpadded base64url */
/* Sealed layout: head (1) | nonce (24) | ciphertext | tag (16). The head is
 * the key id, with CRYPTO_SEAL_FORMAT2 flipped in when the additional data
 * is length-prefixed (every new seal); without it, the value is of format
 * 1, sealed before issue 7, whose additional data joined its fields with
 * NUL. */
#define CRYPTO_SEAL_OVERHEAD (1 + 24 + 16)
#define CRYPTO_SEAL_FORMAT2  0x80
/* Bounds of the additional data of one seal: fields, and encoded bytes. */
#define CRYPTO_AD_MAX_FIELDS 8
#define CRYPTO_AD_MAX_BYTES  2048

typedef struct crypto crypto_t;

typedef enum {
    CRYPTO_HASH_SESSION = 1, /* sessions.token_hash */
    CRYPTO_HASH_VTOKEN = 2,  /* verification_tokens.token_hash */
} crypto_hash_purpose_t;

/* Loads the master key: from `key_file` when it is non-empty (the file must
 * not be readable or writable by group or others), else from `key_env` (the
 * value of NOORMME_KEY). Exactly one must be given. Returns 0 with *out set
 * (free with crypto_free), or a negative code with a message that never
 * contains key material. */
int crypto_load(const char *key_file, const char *key_env, crypto_t **out, proto_err_t *err);

/* Builds the key set from raw key bytes (tests). */
int crypto_from_bytes(const uint8_t key[CRYPTO_KEY_BYTES], crypto_t **out, proto_err_t *err);

/* Wipes and frees the key set. NULL is a no-op. */
void crypto_free(crypto_t *c);

/* One byte naming the master key, stored with every ciphertext so a key
 * change is detected (and, later, old keys can be kept for reading). */
uint8_t crypto_key_id(const crypto_t *c);

/* out = keyed BLAKE2b-256 of the token under the purpose's subkey. */
void crypto_hash_token(const crypto_t *c, crypto_hash_purpose_t purpose, const char *token,
                       size_t len, uint8_t out[CRYPTO_HASH_BYTES]);

/* Seals `plain` into `out` (room for len + CRYPTO_SEAL_OVERHEAD bytes) with
 * a fresh random nonce, binding the `nad` fields of additional data `ad`
 * (bytes, NUL allowed; ptr may be NULL when len is 0): each field is
 * encoded as its length (4 bytes, big-endian) then its bytes, so no two
 * different field lists give the same additional data. Returns 0, or -1
 * (nothing written) when the fields pass CRYPTO_AD_MAX_FIELDS or encode to
 * more than CRYPTO_AD_MAX_BYTES. */
int crypto_seal(const crypto_t *c, const proto_str_t *ad, size_t nad, const void *plain, size_t len,
                uint8_t *out);

/* Opens what crypto_seal made, or a format 1 value sealed by earlier
 * versions (additional data: the fields joined by NUL). `out` needs
 * sealed_len - CRYPTO_SEAL_OVERHEAD bytes. Returns 0, or -1 when the key id
 * differs, the bytes were altered, or `ad` is not the field list they were
 * sealed with: never garbage. A format 1 value is refused when a field
 * holds a NUL byte, since its additional data is then ambiguous: another
 * account's ciphertext could open as this one's. */
int crypto_open(const crypto_t *c, const proto_str_t *ad, size_t nad, const uint8_t *sealed,
                size_t sealed_len, void *out);

/* Writes a new session token: 256 random bits as CRYPTO_TOKEN_CHARS chars of
 * unpadded base64url, NUL-terminated. */
void crypto_random_token(char out[CRYPTO_TOKEN_CHARS + 1]);

/* Writes a random RFC 4122 version 4 UUID (36 chars + NUL). */
void crypto_random_uuid(char out[37]);

#endif
