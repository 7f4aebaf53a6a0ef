/* API keys: the config stores only "sha256$<salt hex>$<SHA-256(salt || key) hex>". A presented key is
 * hashed with every configured salt and compared with CRYPTO_memcmp against every entry, whatever
 * matched earlier, so the time taken says nothing about which key (if any) matched. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "policy/auth_int.h"

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Exactly 2*n hex digits of s into out. */
static bool unhex(const char *s, size_t slen, unsigned char *out, size_t n)
{
    if (slen != 2 * n) return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static void tohex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

static bool salted_digest(const unsigned char salt[16], const char *key, size_t key_len,
                          unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, salt, 16) &&
              EVP_DigestUpdate(ctx, key, key_len) && EVP_DigestFinal_ex(ctx, out, &len) && len == 32;
    EVP_MD_CTX_free(ctx);
    return ok;
}

int ig_auth_hash_key(const char *key, char *out, size_t out_len)
{
    if (!key || !*key || !out || out_len < IG_AUTH_HASH_LEN) return IG_EINVAL;
    unsigned char salt[16], digest[32];
    if (RAND_bytes(salt, sizeof(salt)) != 1) return IG_EUNAVAILABLE;
    if (!salted_digest(salt, key, strlen(key), digest)) return IG_EUNAVAILABLE;
    memcpy(out, "sha256$", 7);
    tohex(salt, 16, out + 7);
    out[39] = '$';
    tohex(digest, 32, out + 40);
    OPENSSL_cleanse(digest, sizeof(digest));
    return 0;
}

static bool parse_hash(const char *s, unsigned char salt[16], unsigned char digest[32])
{
    if (strncmp(s, "sha256$", 7)) return false;
    const char *d = strchr(s + 7, '$');
    return d && unhex(s + 7, (size_t)(d - (s + 7)), salt, 16) && unhex(d + 1, strlen(d + 1), digest, 32);
}

static bool parse_key(const ig_conf *c, const ig_conf_node *n, ig__auth_key *k, ig_error *err)
{
    if (!ig_conf_expect(c, n, IG_CONF_MAP, err)) return false;
    const ig_conf_node *name = ig_conf_require(c, n, "name", IG_CONF_SCALAR, err);
    if (!name) return false;
    size_t nl = strlen(name->value);
    if (nl == 0 || nl >= sizeof(k->name))
        return ig_conf_fail(c, name, err, "name: expected 1 to %zu characters", sizeof(k->name) - 1);
    for (size_t i = 0; i < nl; i++)
        if ((unsigned char)name->value[i] < 0x20 || (unsigned char)name->value[i] > 0x7e)
            return ig_conf_fail(c, name, err, "name: only printable ASCII is allowed");
    memcpy(k->name, name->value, nl + 1);
    const ig_conf_node *hash = ig_conf_require(c, n, "hash", IG_CONF_SCALAR, err);
    if (!hash) return false;
    /* Never echo the value: a misplaced plain key would end up in the log. */
    if (!parse_hash(hash->value, k->salt, k->digest))
        return ig_conf_fail(
            c, hash, err,
            "hash: expected sha256$<32 hex salt>$<64 hex digest> (plain keys are not accepted)");
    if (!ig__auth_models_parse(c, n, &k->models, err)) return false;
    if (!ig_conf_bool(c, n, "admin", false, &k->admin, err)) return false;
    return ig_conf_no_unknown(c, n, err);
}

void ig__auth_keys_free(ig__auth_key *v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) ig__auth_models_free(&v[i].models);
    OPENSSL_cleanse(v, n * sizeof(*v));
    free(v);
}

bool ig__auth_keys_parse(const ig_conf *c, const ig_conf_node *seq, ig__auth_key **out, size_t *n,
                         ig_error *err)
{
    *out = NULL;
    *n = 0;
    if (!ig_conf_expect(c, seq, IG_CONF_SEQ, err)) return false;
    if (seq->count == 0) return ig_conf_fail(c, seq, err, "api_keys: empty list");
    ig__auth_key *v = calloc(seq->count, sizeof(*v));
    if (!v) return ig_conf_fail(c, seq, err, "out of memory");
    size_t i = 0;
    for (const ig_conf_node *it = seq->child; it; it = it->next, i++) {
        if (!parse_key(c, it, &v[i], err)) {
            ig__auth_keys_free(v, i + 1);
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(v[j].name, v[i].name)) {
                ig_conf_fail(c, it, err, "api key name '%s' is used twice", v[i].name);
                ig__auth_keys_free(v, i + 1);
                return false;
            }
    }
    *out = v;
    *n = i;
    return true;
}

long ig__auth_key_find(const ig__auth_key *v, size_t n, const char *key, size_t key_len)
{
    size_t found = 0, idx = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char d[32];
        if (!salted_digest(v[i].salt, key, key_len, d)) memset(d, 0, sizeof(d));
        /* Branch-free select: every entry costs the same whether or not it matches. */
        size_t eq = (size_t)(CRYPTO_memcmp(d, v[i].digest, 32) == 0);
        size_t mask = (size_t)0 - eq;
        idx = (idx & ~mask) | (i & mask);
        found |= eq;
        OPENSSL_cleanse(d, sizeof(d));
    }
    return found ? (long)idx : -1;
}
