/* test_crypto.c - server/crypto.c: the key set from raw bytes; keyed token
 * hashes (deterministic, separate per purpose and per key); sealing OAuth
 * tokens (round trips, every single-bit change and every wrong additional
 * data or key refused, fresh nonces); random session tokens and UUIDs; and
 * loading the master key from a file or the environment, with every way
 * that can be wrong refused by a message that never holds the key. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h> /* only to build a format 1 value by hand */

#include "crypto.h"
#include "proto_rpc.h"

/* "0123456789abcdef" twice, and its base64 with and without padding. */
static const uint8_t key_a[CRYPTO_KEY_BYTES] = "0123456789abcdef0123456789abcdef";
#define KEY_A_B64       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define KEY_A_B64_NOPAD "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
static const uint8_t key_b[CRYPTO_KEY_BYTES] = "fedcba9876543210FEDCBA9876543210";

/* An additional-data field from a string literal (NUL bytes included). */
#define F(lit)                                                                                     \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }
/* The additional data cmd_account.c binds to an access token. */
static const proto_str_t ad_a[] = {F("accounts"), F("access_token"), F("github"), F("12345")};
#define AD_A_N (sizeof ad_a / sizeof ad_a[0])

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/noormd-crypto-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static crypto_t *key_set(const uint8_t key[CRYPTO_KEY_BYTES])
{
    crypto_t *c = NULL;
    proto_err_t err;
    assert_int_equal(crypto_from_bytes(key, &c, &err), 0);
    assert_non_null(c);
    return c;
}

/* Seals `len` bytes of `plain` under the `nad` fields `ad`; the caller
 * frees the result. */
static uint8_t *seal(const crypto_t *c, const proto_str_t *ad, size_t nad, const void *plain,
                     size_t len)
{
    uint8_t *s = malloc(len + CRYPTO_SEAL_OVERHEAD);
    assert_non_null(s);
    assert_int_equal(crypto_seal(c, ad, nad, plain, len, s), 0);
    return s;
}

/* Opens into a fresh buffer and compares; returns crypto_open's result. */
static int open_and_check(const crypto_t *c, const proto_str_t *ad, size_t nad,
                          const uint8_t *sealed, size_t sealed_len, const void *want,
                          size_t want_len)
{
    size_t n = sealed_len >= CRYPTO_SEAL_OVERHEAD ? sealed_len - CRYPTO_SEAL_OVERHEAD : 0;
    uint8_t *out = malloc(n + 1);
    assert_non_null(out);
    int rc = crypto_open(c, ad, nad, sealed, sealed_len, out);
    if (rc == 0 && want) {
        assert_int_equal(n, want_len);
        if (n)
            assert_memory_equal(out, want, n);
    }
    free(out);
    return rc;
}

/* ---- key set and hashes ------------------------------------------------ */

static void test_crypto_from_bytes_gives_the_same_key_id_for_the_same_key(void **state)
{
    (void)state;
    crypto_t *a1 = key_set(key_a), *a2 = key_set(key_a);
    assert_int_equal(crypto_key_id(a1), crypto_key_id(a2));
    crypto_free(a1);
    crypto_free(a2);
    crypto_free(NULL); /* a no-op */
}

static void test_crypto_hash_is_deterministic_and_separate_per_purpose_and_key(void **state)
{
    (void)state;
    crypto_t *a = key_set(key_a), *a2 = key_set(key_a), *b = key_set(key_b);
    static const char token[] = "session-token-value";
    uint8_t h1[CRYPTO_HASH_BYTES], h2[CRYPTO_HASH_BYTES], h3[CRYPTO_HASH_BYTES];

    crypto_hash_token(a, CRYPTO_HASH_SESSION, token, sizeof token - 1, h1);
    crypto_hash_token(a2, CRYPTO_HASH_SESSION, token, sizeof token - 1, h2);
    assert_memory_equal(h1, h2, CRYPTO_HASH_BYTES);
    crypto_hash_token(a, CRYPTO_HASH_SESSION, token, sizeof token - 1, h2);
    assert_memory_equal(h1, h2, CRYPTO_HASH_BYTES);

    crypto_hash_token(a, CRYPTO_HASH_VTOKEN, token, sizeof token - 1, h2);
    assert_memory_not_equal(h1, h2, CRYPTO_HASH_BYTES);
    crypto_hash_token(a, CRYPTO_HASH_VTOKEN, token, sizeof token - 1, h3);
    assert_memory_equal(h2, h3, CRYPTO_HASH_BYTES);

    crypto_hash_token(b, CRYPTO_HASH_SESSION, token, sizeof token - 1, h3);
    assert_memory_not_equal(h1, h3, CRYPTO_HASH_BYTES);
    crypto_hash_token(b, CRYPTO_HASH_VTOKEN, token, sizeof token - 1, h3);
    assert_memory_not_equal(h2, h3, CRYPTO_HASH_BYTES);

    /* One byte more or less, or one byte changed, is another hash; the
     * hash is not the token. */
    crypto_hash_token(a, CRYPTO_HASH_SESSION, token, sizeof token - 2, h3);
    assert_memory_not_equal(h1, h3, CRYPTO_HASH_BYTES);
    crypto_hash_token(a, CRYPTO_HASH_SESSION, "session-token-valuf", sizeof token - 1, h3);
    assert_memory_not_equal(h1, h3, CRYPTO_HASH_BYTES);
    assert_memory_not_equal(h1, token, 16);
    /* The empty token hashes too. */
    crypto_hash_token(a, CRYPTO_HASH_SESSION, "", 0, h3);
    assert_memory_not_equal(h1, h3, CRYPTO_HASH_BYTES);
    crypto_free(a);
    crypto_free(a2);
    crypto_free(b);
}

/* ---- sealing ---------------------------------------------------------- */

static void test_crypto_seal_open_round_trips_empty_one_byte_and_16_kib(void **state)
{
    (void)state;
    crypto_t *c = key_set(key_a);
    static uint8_t big[16384];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31 + 7);
    static const size_t lens[] = {0, 1, 2, 15, 16, 17, 4096, sizeof big};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t *s = seal(c, ad_a, AD_A_N, big, lens[i]);
        assert_int_equal(s[0], crypto_key_id(c) ^ CRYPTO_SEAL_FORMAT2);
        assert_int_equal(
            open_and_check(c, ad_a, AD_A_N, s, lens[i] + CRYPTO_SEAL_OVERHEAD, big, lens[i]), 0);
        /* The plaintext is not in the sealed bytes. */
        if (lens[i] >= 16)
            assert_memory_not_equal(s + 1 + 24, big, 16);
        free(s);
    }
    /* Empty additional data works as well, as long as it is the same. */
    uint8_t *s = seal(c, NULL, 0, "x", 1);
    assert_int_equal(open_and_check(c, NULL, 0, s, 1 + CRYPTO_SEAL_OVERHEAD, "x", 1), 0);
    free(s);
    crypto_free(c);
}

static void test_crypto_open_fails_on_every_single_bit_flip(void **state)
{
    (void)state;
    crypto_t *c = key_set(key_a);
    static const char plain[] = "ya29.a0AfH6SMB-token";
    size_t n = sizeof plain - 1 + CRYPTO_SEAL_OVERHEAD;
    uint8_t *s = seal(c, ad_a, AD_A_N, plain, sizeof plain - 1);
    /* Every bit of key id, nonce, ciphertext and tag. */
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            s[i] ^= (uint8_t)(1u << bit);
            if (open_and_check(c, ad_a, AD_A_N, s, n, NULL, 0) == 0)
                fail_msg("a flip of bit %d of byte %zu of %zu was not noticed", bit, i, n);
            s[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(open_and_check(c, ad_a, AD_A_N, s, n, plain, sizeof plain - 1), 0);
    free(s);

    /* A 16 KiB token: every bit of the head and the tag, and bits spread
     * through the ciphertext. */
    static uint8_t big[16384];
    memset(big, 'b', sizeof big);
    n = sizeof big + CRYPTO_SEAL_OVERHEAD;
    s = seal(c, ad_a, AD_A_N, big, sizeof big);
    for (size_t i = 0; i < n; i = i < 25 || i >= n - 17 ? i + 1 : i + 509) {
        for (int bit = 0; bit < 8; bit++) {
            s[i] ^= (uint8_t)(1u << bit);
            if (open_and_check(c, ad_a, AD_A_N, s, n, NULL, 0) == 0)
                fail_msg("a flip of bit %d of byte %zu of %zu was not noticed", bit, i, n);
            s[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(open_and_check(c, ad_a, AD_A_N, s, n, big, sizeof big), 0);
    free(s);
    crypto_free(c);
}

static void test_crypto_open_fails_on_cut_or_lengthened_input(void **state)
{
    (void)state;
    crypto_t *c = key_set(key_a);
    static const char plain[] = "refresh-token";
    size_t n = sizeof plain - 1 + CRYPTO_SEAL_OVERHEAD;
    uint8_t *s = seal(c, ad_a, AD_A_N, plain, sizeof plain - 1);
    for (size_t len = 0; len < n; len++)
        assert_int_equal(open_and_check(c, ad_a, AD_A_N, s, len, NULL, 0), -1);
    uint8_t *longer = malloc(n + 1);
    assert_non_null(longer);
    memcpy(longer, s, n);
    longer[n] = 0;
    assert_int_equal(open_and_check(c, ad_a, AD_A_N, longer, n + 1, NULL, 0), -1);
    free(longer);
    free(s);
    crypto_free(c);
}

static void test_crypto_open_fails_on_other_additional_data_or_another_key(void **state)
{
    (void)state;
    crypto_t *a = key_set(key_a), *b = key_set(key_b);
    static const char plain[] = "gho_16C7e42F292c6912E7710c838347Ae178B4a";
    size_t n = sizeof plain - 1 + CRYPTO_SEAL_OVERHEAD;
    uint8_t *s = seal(a, ad_a, AD_A_N, plain, sizeof plain - 1);

    /* The token of another column, provider or account; cut or lengthened
     * fields; a field boundary moved; a field more or less; none at all. */
    static const struct {
        proto_str_t f[5];
        size_t n;
    } other[] = {
        {{F("accounts"), F("refresh_token"), F("github"), F("12345")}, 4},
        {{F("accounts"), F("access_token"), F("gitlab"), F("12345")}, 4},
        {{F("accounts"), F("access_token"), F("github"), F("12346")}, 4},
        {{F("accounts"), F("access_token"), F("github"), F("1234")}, 4},
        {{F("accounts"), F("access_token"), F("github"), F("123456")}, 4},
        {{F("accounts"), F("access_token"), F("github1"), F("2345")}, 4},
        {{F("sessions"), F("access_token"), F("github"), F("12345")}, 4},
        {{F("accounts"), F("access_token"), F("github"), F("12345"), F("")}, 5},
        {{F("accounts"), F("access_token"), F("github")}, 3},
        {{F("accounts\0access_token\0github\0"
            "12345")},
         1},
        {{F("")}, 0},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        if (open_and_check(a, other[i].f, other[i].n, s, n, NULL, 0) == 0)
            fail_msg("opened under other additional data (case %zu)", i);
    }
    assert_int_equal(open_and_check(b, ad_a, AD_A_N, s, n, NULL, 0), -1);

    /* Even with the key id byte made to match, in either format, another
     * key cannot open. */
    s[0] = crypto_key_id(b) ^ CRYPTO_SEAL_FORMAT2;
    assert_int_equal(open_and_check(b, ad_a, AD_A_N, s, n, NULL, 0), -1);
    s[0] = crypto_key_id(b);
    assert_int_equal(open_and_check(b, ad_a, AD_A_N, s, n, NULL, 0), -1);
    free(s);
    crypto_free(a);
    crypto_free(b);
}

static void test_crypto_failed_open_never_hands_out_the_plaintext(void **state)
{
    (void)state;
    crypto_t *c = key_set(key_a);
    static const char plain[] = "plaintext-that-must-not-leak";
    size_t len = sizeof plain - 1, n = len + CRYPTO_SEAL_OVERHEAD;
    uint8_t *s = seal(c, ad_a, AD_A_N, plain, len);
    uint8_t out[sizeof plain];
    /* A flipped tag bit, and the wrong additional data: the output buffer
     * holds no part of the plaintext afterwards. */
    for (int pass = 0; pass < 2; pass++) {
        memset(out, 0xAA, sizeof out);
        if (pass == 0)
            s[n - 1] ^= 1;
        int rc = crypto_open(c, ad_a, pass == 0 ? AD_A_N : AD_A_N - 1, s, n, out);
        if (pass == 0)
            s[n - 1] ^= 1;
        assert_int_equal(rc, -1);
        for (size_t i = 0; i + 4 <= len; i++)
            assert_null(memmem(out, len, plain + i, 4));
    }
    free(s);
    crypto_free(c);
}

static void test_crypto_two_seals_of_the_same_plaintext_differ(void **state)
{
    (void)state;
    crypto_t *c = key_set(key_a);
    static const char plain[] = "same-token";
    size_t n = sizeof plain - 1 + CRYPTO_SEAL_OVERHEAD;
    uint8_t *s1 = seal(c, ad_a, AD_A_N, plain, sizeof plain - 1);
    uint8_t *s2 = seal(c, ad_a, AD_A_N, plain, sizeof plain - 1);
    assert_int_equal(s1[0], s2[0]);
    assert_memory_not_equal(s1 + 1, s2 + 1, 24);                 /* nonce */
    assert_memory_not_equal(s1 + 25, s2 + 25, sizeof plain - 1); /* ciphertext */
    assert_int_equal(open_and_check(c, ad_a, AD_A_N, s1, n, plain, sizeof plain - 1), 0);
    assert_int_equal(open_and_check(c, ad_a, AD_A_N, s2, n, plain, sizeof plain - 1), 0);
    free(s1);
    free(s2);
    crypto_free(c);
}

/* issue 7 defect 3: the additional data joined its fields with NUL and no
 * lengths, so the fields of two accounts whose identifiers hold NUL could
 * give the same bytes, and one account's ciphertext opened as the other's.
 * Each pair here was one byte string under that encoding. */
static void test_crypto_field_lists_that_joined_the_same_never_open_each_other(void **state)
{
    (void)state;
    crypto_t *c = key_set(key_a);
    static const struct {
        proto_str_t f[4];
        size_t n;
    } pairs[][2] = {
        {{{F("accounts"), F("access_token"), F("x"), F("a\0b")}, 4},
         {{F("accounts"), F("access_token"), F("x\0a"), F("b")}, 4}},
        {{{F("accounts"), F("access_token"), F("x\0"), F("b")}, 4},
         {{F("accounts"), F("access_token"), F("x"), F("\0b")}, 4}},
        {{{F("accounts"), F("access_token\0x"), F("a"), F("b")}, 4},
         {{F("accounts"), F("access_token"), F("x\0a"), F("b")}, 4}},
        {{{F("accounts"), F("access_token"), F("x"), F("")}, 4},
         {{F("accounts"), F("access_token"), F("x\0")}, 3}},
    };
    static const char plain[] = "token-of-one-account";
    size_t n = sizeof plain - 1 + CRYPTO_SEAL_OVERHEAD;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        for (int k = 0; k < 2; k++) {
            uint8_t *s = seal(c, pairs[i][k].f, pairs[i][k].n, plain, sizeof plain - 1);
            assert_int_equal(
                open_and_check(c, pairs[i][k].f, pairs[i][k].n, s, n, plain, sizeof plain - 1), 0);
            if (open_and_check(c, pairs[i][1 - k].f, pairs[i][1 - k].n, s, n, NULL, 0) == 0)
                fail_msg("pair %zu: the value sealed for one field list opened for the other", i);
            free(s);
        }
    }
    crypto_free(c);
}

/* Builds, without crypto.c, a format 1 value as noormd sealed it before
 * issue 7: head = key id, additional data = the fields joined by NUL,
 * under subkey 3 of context "noormme1". The caller frees the result. */
static uint8_t *seal_format_1(const uint8_t key[CRYPTO_KEY_BYTES], const proto_str_t *ad,
                              size_t nad, const void *plain, size_t len)
{
    static const char ctx[crypto_kdf_CONTEXTBYTES] = {'n', 'o', 'o', 'r', 'm', 'm', 'e', '1'};
    uint8_t subkey[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], id[16];
    assert_int_equal(crypto_kdf_derive_from_key(subkey, sizeof subkey, 3, ctx, key), 0);
    assert_int_equal(crypto_kdf_derive_from_key(id, sizeof id, 4, ctx, key), 0);
    uint8_t joined[1024];
    size_t jlen = 0;
    for (size_t i = 0; i < nad; i++) {
        assert_true(jlen + 1 + ad[i].len <= sizeof joined);
        if (i > 0)
            joined[jlen++] = 0;
        memcpy(joined + jlen, ad[i].ptr, ad[i].len);
        jlen += ad[i].len;
    }
    uint8_t *s = malloc(len + CRYPTO_SEAL_OVERHEAD);
    assert_non_null(s);
    s[0] = id[0];
    randombytes_buf(s + 1, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(s + 25, NULL, plain, len, joined, jlen, NULL, s + 1,
                                               subkey);
    return s;
}

/* issue 7 defect 3: values sealed before the fix (format 1) still open
 * under their own fields, and only under them. */
static void test_crypto_opens_a_format_1_value_sealed_before_the_length_prefixes(void **state)
{
    (void)state;
    crypto_t *c = key_set(key_a);
    static const char plain[] = "gho_sealed_by_an_earlier_noormd";
    size_t n = sizeof plain - 1 + CRYPTO_SEAL_OVERHEAD;
    uint8_t *s = seal_format_1(key_a, ad_a, AD_A_N, plain, sizeof plain - 1);
    assert_int_equal(s[0], crypto_key_id(c)); /* the hand-made key id is the module's */
    assert_int_equal(open_and_check(c, ad_a, AD_A_N, s, n, plain, sizeof plain - 1), 0);
    static const proto_str_t other[] = {F("accounts"), F("access_token"), F("github"), F("12346")};
    assert_int_equal(open_and_check(c, other, 4, s, n, NULL, 0), -1);
    /* Made to look like format 2, it fails: the additional data differs. */
    s[0] ^= CRYPTO_SEAL_FORMAT2;
    assert_int_equal(open_and_check(c, ad_a, AD_A_N, s, n, NULL, 0), -1);
    s[0] ^= CRYPTO_SEAL_FORMAT2;
    /* Another key does not open it, whatever its head says. */
    crypto_t *b = key_set(key_b);
    assert_int_equal(open_and_check(b, ad_a, AD_A_N, s, n, NULL, 0), -1);
    crypto_free(b);
    free(s);

    /* A format 1 value whose fields hold NUL is ambiguous: it could be
     * another account's, so it is refused under either field list. */
    static const proto_str_t nul1[] = {F("accounts"), F("access_token"), F("x"), F("a\0b")};
    static const proto_str_t nul2[] = {F("accounts"), F("access_token"), F("x\0a"), F("b")};
    s = seal_format_1(key_a, nul1, 4, plain, sizeof plain - 1);
    assert_int_equal(open_and_check(c, nul1, 4, s, n, NULL, 0), -1);
    assert_int_equal(open_and_check(c, nul2, 4, s, n, NULL, 0), -1);
    free(s);
    crypto_free(c);
}

/* The additional data is bounded: more fields or bytes than crypto.h
 * allows are refused, and nothing is sealed. */
static void test_crypto_seal_refuses_additional_data_past_its_bounds(void **state)
{
    (void)state;
    crypto_t *c = key_set(key_a);
    static char big[CRYPTO_AD_MAX_BYTES];
    memset(big, 'f', sizeof big);
    uint8_t out[1 + CRYPTO_SEAL_OVERHEAD];
    proto_str_t fields[CRYPTO_AD_MAX_FIELDS + 1];
    for (size_t i = 0; i < CRYPTO_AD_MAX_FIELDS + 1; i++)
        fields[i] = (proto_str_t){"f", 1};
    assert_int_equal(crypto_seal(c, fields, CRYPTO_AD_MAX_FIELDS, "x", 1, out), 0);
    assert_int_equal(open_and_check(c, fields, CRYPTO_AD_MAX_FIELDS, out, sizeof out, "x", 1), 0);
    assert_int_equal(crypto_seal(c, fields, CRYPTO_AD_MAX_FIELDS + 1, "x", 1, out), -1);
    /* One field of CRYPTO_AD_MAX_BYTES - 4 bytes encodes to the limit. */
    fields[0] = (proto_str_t){big, CRYPTO_AD_MAX_BYTES - 4};
    assert_int_equal(crypto_seal(c, fields, 1, "x", 1, out), 0);
    assert_int_equal(open_and_check(c, fields, 1, out, sizeof out, "x", 1), 0);
    fields[0].len++;
    assert_int_equal(crypto_seal(c, fields, 1, "x", 1, out), -1);
    assert_int_equal(open_and_check(c, fields, 1, out, sizeof out, NULL, 0), -1);
    crypto_free(c);
}

/* ---- random tokens and UUIDs --------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_crypto_random_token_is_43_chars_of_unpadded_base64url(void **state)
{
    (void)state;
    enum { N = 1000 };
    static char tokens[N][CRYPTO_TOKEN_CHARS + 1];
    bool used[256] = {false};
    for (int i = 0; i < N; i++) {
        memset(tokens[i], '#', sizeof tokens[i]);
        crypto_random_token(tokens[i]);
        assert_int_equal(strlen(tokens[i]), 43);
        for (int k = 0; k < 43; k++) {
            unsigned char ch = (unsigned char)tokens[i][k];
            if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
                fail_msg("token %s holds '%c', not base64url", tokens[i], ch);
            used[ch] = true;
        }
    }
    /* 43,000 random characters use the whole alphabet, '-' and '_' too. */
    int distinct = 0;
    for (int ch = 0; ch < 256; ch++)
        distinct += used[ch];
    assert_int_equal(distinct, 64);
    qsort(tokens, N, sizeof tokens[0], cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(tokens[i - 1], tokens[i]);
}

static void test_crypto_random_uuid_is_a_version_4_rfc_4122_uuid(void **state)
{
    (void)state;
    enum { N = 1000 };
    static char ids[N][37];
    for (int i = 0; i < N; i++) {
        memset(ids[i], '#', sizeof ids[i]);
        crypto_random_uuid(ids[i]);
        const char *s = ids[i];
        assert_int_equal(strlen(s), 36);
        for (int k = 0; k < 36; k++) {
            bool dash = k == 8 || k == 13 || k == 18 || k == 23;
            bool hex = (s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f');
            if (dash ? s[k] != '-' : !hex)
                fail_msg("%s is not in 8-4-4-4-12 lowercase hex form", s);
        }
        if (s[14] != '4' || !strchr("89ab", s[19]))
            fail_msg("%s is not version 4 with the RFC 4122 variant", s);
    }
    qsort(ids, N, sizeof ids[0], cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
}

/* ---- loading the master key ------------------------------------------------ */

/* Writes `text` to tmpdir/name with exactly `mode`; returns the path. */
static const char *key_file(const char *name, const char *text, size_t len, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

/* True when `c` hashes like the key set built from `key`. */
static bool same_key(const crypto_t *c, const uint8_t key[CRYPTO_KEY_BYTES])
{
    crypto_t *ref = key_set(key);
    uint8_t h1[CRYPTO_HASH_BYTES], h2[CRYPTO_HASH_BYTES];
    crypto_hash_token(c, CRYPTO_HASH_SESSION, "t", 1, h1);
    crypto_hash_token(ref, CRYPTO_HASH_SESSION, "t", 1, h2);
    bool same = memcmp(h1, h2, sizeof h1) == 0 && crypto_key_id(c) == crypto_key_id(ref);
    crypto_free(ref);
    return same;
}

static void expect_loaded(const char *file, const char *env, const char *what)
{
    crypto_t *c = NULL;
    proto_err_t err;
    if (crypto_load(file, env, &c, &err) != 0)
        fail_msg("%s was refused: %s", what, err.message);
    assert_non_null(c);
    if (!same_key(c, key_a))
        fail_msg("%s loaded another key", what);
    crypto_free(c);
}

/* crypto_load must refuse, with `why` in its message and none of
 * `secret` (when not NULL), and leave *out NULL. */
static void expect_refused(const char *file, const char *env, const char *why, const char *secret)
{
    crypto_t *c = (crypto_t *)&c; /* not NULL: the call must set it */
    proto_err_t err;
    memset(&err, 0, sizeof err);
    int rc = crypto_load(file, env, &c, &err);
    if (rc == 0)
        fail_msg("accepted (%s expected)", why);
    assert_true(rc < 0);
    assert_null(c);
    assert_int_equal(err.code, -rc);
    if (!strstr(err.message, why))
        fail_msg("message \"%s\" does not say \"%s\"", err.message, why);
    if (secret && *secret && strstr(err.message, secret))
        fail_msg("message \"%s\" holds the key text", err.message);
}

static void test_crypto_load_reads_a_private_key_file_in_every_accepted_spelling(void **state)
{
    (void)state;
    static const char *const ok[] = {
        KEY_A_B64,       KEY_A_B64 "\n",       KEY_A_B64 "\r\n",
        KEY_A_B64_NOPAD, KEY_A_B64_NOPAD "\n", "  " KEY_A_B64 "  \n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect_loaded(key_file("ok.key", ok[i], strlen(ok[i]), 0600), NULL, ok[i]);
    expect_loaded(key_file("ro.key", KEY_A_B64 "\n", strlen(KEY_A_B64) + 1, 0400), NULL,
                  "a read-only key file");
}

static void test_crypto_load_refuses_a_key_file_open_to_group_or_others(void **state)
{
    (void)state;
    static const mode_t modes[] = {0640, 0604, 0644, 0660, 0606, 0620, 0602, 0610, 0601, 0700};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        const char *path = key_file("mode.key", KEY_A_B64 "\n", strlen(KEY_A_B64) + 1, modes[i]);
        if (modes[i] == 0700) {
            /* Execute for the owner only: still private. */
            expect_loaded(path, NULL, "a 0700 key file");
            continue;
        }
        expect_refused(path, NULL, "chmod 600", KEY_A_B64_NOPAD);
    }
}

static void test_crypto_load_refuses_what_is_not_a_regular_file(void **state)
{
    (void)state;
    expect_refused(tmpdir, NULL, "not a regular file", NULL);
    expect_refused("/dev/null", NULL, "not a regular file", NULL);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.key", tmpdir);
    expect_refused(missing, NULL, "cannot open", NULL);
    /* A symlink is not followed, even to a good key file. */
    const char *good = key_file("target.key", KEY_A_B64 "\n", strlen(KEY_A_B64) + 1, 0600);
    char link[128];
    snprintf(link, sizeof link, "%s/link.key", tmpdir);
    assert_int_equal(symlink(good, link), 0);
    expect_refused(link, NULL, "cannot open", NULL);
}

static void test_crypto_load_refuses_a_fifo_without_hanging(void **state)
{
    (void)state;
    /* A FIFO nobody writes to: opening it for reading must not block the
     * server's start forever. Run in a child, so a hang fails the test. */
    char fifo[128];
    snprintf(fifo, sizeof fifo, "%s/key.fifo", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10); /* a last resort: the parent kills sooner */
        crypto_t *c = NULL;
        proto_err_t err;
        int rc = crypto_load(fifo, NULL, &c, &err);
        _exit(rc != 0 && strstr(err.message, "not a regular file") ? 0 : 1);
    }
    int st = 0;
    pid_t r = 0;
    for (int waited = 0; waited < 3000 && (r = waitpid(pid, &st, WNOHANG)) == 0; waited += 10) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("crypto_load blocked on a FIFO for 3 s");
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_crypto_load_refuses_a_key_that_is_not_32_bytes_of_base64(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "\n",
        "this is not base64 at all",
        "MDEyMzQ1Njc4OWFiY2RlZg==",                                 /* 16 bytes */
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZW==",             /* 31 bytes */
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYh",             /* 33 bytes */
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n" KEY_A_B64, /* two keys */
        "MDEyMzQ1Njc4OWFiY2RlZjAx MjM0NTY3ODlhYmNkZWY=",            /* a space inside */
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY-",             /* base64url */
        KEY_A_B64 "x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *path = key_file("bad.key", bad[i], strlen(bad[i]), 0600);
        expect_refused(path, NULL, "not 32 bytes of base64", bad[i]);
        expect_refused(NULL, bad[i][0] ? bad[i] : "\n", "not 32 bytes of base64", bad[i]);
    }
    /* A long file is refused too (only the start is read). */
    static char longkey[4096];
    memset(longkey, 'A', sizeof longkey);
    expect_refused(key_file("long.key", longkey, sizeof longkey, 0600), NULL,
                   "not 32 bytes of base64", "AAAAAAAAAAAAAAAA");
}

static void test_crypto_load_takes_the_environment_key_and_refuses_both_or_neither(void **state)
{
    (void)state;
    expect_loaded(NULL, KEY_A_B64, "NOORMME_KEY");
    expect_loaded("", KEY_A_B64 "\n", "NOORMME_KEY with a newline and an empty --key-file");
    expect_loaded(NULL, KEY_A_B64_NOPAD, "NOORMME_KEY without padding");
    const char *path = key_file("both.key", KEY_A_B64 "\n", strlen(KEY_A_B64) + 1, 0600);
    expect_refused(path, KEY_A_B64, "give only one", KEY_A_B64_NOPAD);
    expect_refused(NULL, NULL, "no master key", NULL);
    expect_refused("", "", "no master key", NULL);
    expect_refused("", NULL, "no master key", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto_from_bytes_gives_the_same_key_id_for_the_same_key),
        cmocka_unit_test(test_crypto_hash_is_deterministic_and_separate_per_purpose_and_key),
        cmocka_unit_test(test_crypto_seal_open_round_trips_empty_one_byte_and_16_kib),
        cmocka_unit_test(test_crypto_open_fails_on_every_single_bit_flip),
        cmocka_unit_test(test_crypto_open_fails_on_cut_or_lengthened_input),
        cmocka_unit_test(test_crypto_open_fails_on_other_additional_data_or_another_key),
        cmocka_unit_test(test_crypto_failed_open_never_hands_out_the_plaintext),
        cmocka_unit_test(test_crypto_two_seals_of_the_same_plaintext_differ),
        cmocka_unit_test(test_crypto_field_lists_that_joined_the_same_never_open_each_other),
        cmocka_unit_test(test_crypto_opens_a_format_1_value_sealed_before_the_length_prefixes),
        cmocka_unit_test(test_crypto_seal_refuses_additional_data_past_its_bounds),
        cmocka_unit_test(test_crypto_random_token_is_43_chars_of_unpadded_base64url),
        cmocka_unit_test(test_crypto_random_uuid_is_a_version_4_rfc_4122_uuid),
        cmocka_unit_test(test_crypto_load_reads_a_private_key_file_in_every_accepted_spelling),
        cmocka_unit_test(test_crypto_load_refuses_a_key_file_open_to_group_or_others),
        cmocka_unit_test(test_crypto_load_refuses_what_is_not_a_regular_file),
        cmocka_unit_test(test_crypto_load_refuses_a_fifo_without_hanging),
        cmocka_unit_test(test_crypto_load_refuses_a_key_that_is_not_32_bytes_of_base64),
        cmocka_unit_test(test_crypto_load_takes_the_environment_key_and_refuses_both_or_neither),
    };
    return cmocka_run_group_tests_name("crypto", tests, make_tmpdir, remove_tmpdir);
}
