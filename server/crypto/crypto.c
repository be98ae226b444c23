/* crypto.c - libsodium behind crypto.h. */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto_errors.h"

/* Subkey ids under the context below. Never renumber: stored hashes and
 * ciphertexts depend on them. */
enum { SUBKEY_SESSION = 1, SUBKEY_VTOKEN = 2, SUBKEY_ACCOUNT_TOKENS = 3, SUBKEY_KEY_ID = 4 };
static const char crypto_kdf_ctx[crypto_kdf_CONTEXTBYTES] = {'n', 'o', 'o', 'r',
                                                             'm', 'm', 'e', '1'};

struct crypto {
    uint8_t session[crypto_generichash_KEYBYTES];              /* session token hashes */
    uint8_t vtoken[crypto_generichash_KEYBYTES];               /* verification token hashes */
    uint8_t seal[crypto_aead_xchacha20poly1305_ietf_KEYBYTES]; /* OAuth token encryption */
    uint8_t key_id;                                            /* names the master key */
};

static int crypto_ready(proto_err_t *err)
{
    if (sodium_init() < 0)
        return proto_err_set(err, PROTO_E_INTERNAL, "libsodium failed to initialise");
    return 0;
}

int crypto_from_bytes(const uint8_t key[CRYPTO_KEY_BYTES], crypto_t **out, proto_err_t *err)
{
    *out = NULL;
    if (crypto_ready(err) != 0)
        return -err->code;
    /* Guarded pages: not swapped, not in core dumps, overflow traps. */
    crypto_t *c = sodium_malloc(sizeof *c);
    if (!c)
        return proto_err_set(err, PROTO_E_INTERNAL, "cannot allocate guarded key memory");
    crypto_kdf_derive_from_key(c->session, sizeof c->session, SUBKEY_SESSION, crypto_kdf_ctx, key);
    crypto_kdf_derive_from_key(c->vtoken, sizeof c->vtoken, SUBKEY_VTOKEN, crypto_kdf_ctx, key);
    crypto_kdf_derive_from_key(c->seal, sizeof c->seal, SUBKEY_ACCOUNT_TOKENS, crypto_kdf_ctx, key);
    uint8_t id[16];
    crypto_kdf_derive_from_key(id, sizeof id, SUBKEY_KEY_ID, crypto_kdf_ctx, key);
    c->key_id = id[0];
    sodium_memzero(id, sizeof id);
    sodium_mprotect_readonly(c);
    *out = c;
    return 0;
}

/* Decodes standard base64 (padding optional, surrounding whitespace
 * ignored) into exactly CRYPTO_KEY_BYTES. */
static int decode_key(const char *text, size_t len, uint8_t key[CRYPTO_KEY_BYTES])
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    while (len > 0 && (text[0] == ' ' || text[0] == '\t')) {
        text++;
        len--;
    }
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(key, CRYPTO_KEY_BYTES, text, len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 &&
        sodium_base642bin(key, CRYPTO_KEY_BYTES, text, len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
        return -1;
    return (got == CRYPTO_KEY_BYTES && end == text + len) ? 0 : -1;
}

int crypto_load(const char *key_file, const char *key_env, crypto_t **out, proto_err_t *err)
{
    *out = NULL;
    bool have_file = key_file && *key_file, have_env = key_env && *key_env;
    if (have_file && have_env)
        return proto_err_set(err, PROTO_E_INVALID_ARGUMENT,
                             "both --key-file and NOORMME_KEY are set; give only one");
    if (!have_file && !have_env)
        return proto_err_set(err, PROTO_E_INVALID_ARGUMENT,
                             "no master key: give --key-file PATH (NOORMME_KEY_FILE) or "
                             "NOORMME_KEY; `make run` creates a development key in "
                             "./var/noormme.key");
    if (crypto_ready(err) != 0)
        return -err->code;

    char *text = sodium_malloc(256);
    if (!text)
        return proto_err_set(err, PROTO_E_INTERNAL, "cannot allocate guarded key memory");
    size_t len = 0;
    int rc = 0;
    if (have_file) {
        /* O_NONBLOCK: a FIFO with no writer would block the start forever;
         * it is refused below like any other non-regular file. */
        int fd = open(key_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        struct stat st;
        if (fd < 0) {
            rc = proto_err_set(err, PROTO_E_INVALID_ARGUMENT, "cannot open key file %s: %s",
                               key_file, strerror(errno));
        } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            rc = proto_err_set(err, PROTO_E_INVALID_ARGUMENT, "key file %s is not a regular file",
                               key_file);
        } else if (st.st_mode & 077) {
            rc = proto_err_set(err, PROTO_E_INVALID_ARGUMENT,
                               "key file %s is accessible by group or others (mode %04o); "
                               "run: chmod 600 %s",
                               key_file, (unsigned)(st.st_mode & 07777), key_file);
        } else {
            ssize_t n = read(fd, text, 255);
            if (n < 0)
                rc = proto_err_set(err, PROTO_E_INVALID_ARGUMENT, "cannot read key file %s: %s",
                                   key_file, strerror(errno));
            else
                len = (size_t)n;
        }
        if (fd >= 0)
            close(fd);
    } else {
        len = strlen(key_env);
        if (len > 255)
            len = 255; /* longer is invalid anyway */
        memcpy(text, key_env, len);
    }
    uint8_t *key = sodium_malloc(CRYPTO_KEY_BYTES);
    if (rc == 0 && !key)
        rc = proto_err_set(err, PROTO_E_INTERNAL, "cannot allocate guarded key memory");
    if (rc == 0 && decode_key(text, len, key) != 0)
        rc = proto_err_set(err, PROTO_E_INVALID_ARGUMENT,
                           "the master key in %s is not 32 bytes of base64 on one line",
                           have_file ? key_file : "NOORMME_KEY");
    if (rc == 0)
        rc = crypto_from_bytes(key, out, err);
    sodium_free(key);
    sodium_free(text);
    return rc;
}

void crypto_free(crypto_t *c)
{
    if (c)
        sodium_free(c); /* wipes before freeing */
}

uint8_t crypto_key_id(const crypto_t *c)
{
    return c->key_id;
}

void crypto_hash_token(const crypto_t *c, crypto_hash_purpose_t purpose, const char *token,
                       size_t len, uint8_t out[CRYPTO_HASH_BYTES])
{
    const uint8_t *key = purpose == CRYPTO_HASH_SESSION ? c->session : c->vtoken;
    crypto_generichash(out, CRYPTO_HASH_BYTES, (const uint8_t *)token, len, key,
                       crypto_generichash_KEYBYTES);
}

/* Encodes the additional data of a format 2 value: the head byte of the
 * sealed value (so it cannot be changed either), then every field as its
 * length, 4 bytes big-endian, and its bytes. Returns the length, or -1
 * past the bounds in crypto.h. */
static long ad_encode(uint8_t head, const proto_str_t *ad, size_t nad,
                      uint8_t buf[1 + CRYPTO_AD_MAX_BYTES])
{
    if (nad > CRYPTO_AD_MAX_FIELDS)
        return -1;
    buf[0] = head;
    size_t n = 0; /* field bytes written after the head */
    for (size_t i = 0; i < nad; i++) {
        if (ad[i].len > CRYPTO_AD_MAX_BYTES - 4 || n > CRYPTO_AD_MAX_BYTES - 4 - ad[i].len)
            return -1;
        uint8_t *p = buf + 1 + n;
        uint32_t len = (uint32_t)ad[i].len;
        p[0] = (uint8_t)(len >> 24);
        p[1] = (uint8_t)(len >> 16);
        p[2] = (uint8_t)(len >> 8);
        p[3] = (uint8_t)len;
        if (ad[i].len)
            memcpy(p + 4, ad[i].ptr, ad[i].len);
        n += 4 + ad[i].len;
    }
    return (long)(1 + n);
}

/* Encodes the additional data of a format 1 value (before issue 7): the
 * fields joined by NUL. Returns the length, or -1 past the bounds, or when
 * a field holds a NUL: the encoding is then ambiguous (("x", "a\0b") and
 * ("x\0a", "b") give the same bytes), so such a value is not opened. */
static long ad_encode_v1(const proto_str_t *ad, size_t nad, uint8_t buf[1 + CRYPTO_AD_MAX_BYTES])
{
    if (nad > CRYPTO_AD_MAX_FIELDS)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < nad; i++) {
        if ((ad[i].len && memchr(ad[i].ptr, 0, ad[i].len)) || ad[i].len > CRYPTO_AD_MAX_BYTES ||
            n + (i > 0) > CRYPTO_AD_MAX_BYTES - ad[i].len)
            return -1;
        if (i > 0)
            buf[n++] = 0;
        if (ad[i].len)
            memcpy(buf + n, ad[i].ptr, ad[i].len);
        n += ad[i].len;
    }
    return (long)n;
}

int crypto_seal(const crypto_t *c, const proto_str_t *ad, size_t nad, const void *plain, size_t len,
                uint8_t *out)
{
    uint8_t buf[1 + CRYPTO_AD_MAX_BYTES];
    uint8_t head = (uint8_t)(c->key_id ^ CRYPTO_SEAL_FORMAT2);
    long ad_len = ad_encode(head, ad, nad, buf);
    if (ad_len < 0)
        return -1;
    out[0] = head;
    uint8_t *nonce = out + 1;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        out + 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL, plain, len, buf,
        (unsigned long long)ad_len, NULL, nonce, c->seal);
    return 0;
}

int crypto_open(const crypto_t *c, const proto_str_t *ad, size_t nad, const uint8_t *sealed,
                size_t sealed_len, void *out)
{
    if (sealed_len < CRYPTO_SEAL_OVERHEAD)
        return -1;
    uint8_t buf[1 + CRYPTO_AD_MAX_BYTES];
    long ad_len;
    /* The head picks the encoding of the additional data; a head that is
     * neither is another key's. Flipping the format bit does not help: the
     * two encodings of one field list differ in length, so the tag fails. */
    if (sealed[0] == (uint8_t)(c->key_id ^ CRYPTO_SEAL_FORMAT2))
        ad_len = ad_encode(sealed[0], ad, nad, buf);
    else if (sealed[0] == c->key_id)
        ad_len = ad_encode_v1(ad, nad, buf);
    else
        return -1;
    if (ad_len < 0)
        return -1;
    const uint8_t *nonce = sealed + 1;
    const uint8_t *box = nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    size_t box_len = sealed_len - 1 - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(
               out, NULL, NULL, box, box_len, buf, (unsigned long long)ad_len, nonce, c->seal) == 0
               ? 0
               : -1;
}

void crypto_random_token(char out[CRYPTO_TOKEN_CHARS + 1])
{
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, CRYPTO_TOKEN_CHARS + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

void crypto_random_uuid(char out[37])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
