/* JWT bearer tokens (RFC 7519/7515, compact form) verified against keys from a JWKS file (RFC 7517).
 * The algorithm allow-list comes from the config, never the token; each key's kty binds the algorithm
 * family (RSA: RS and PS, EC: ES on its own curve, oct: HS only), so a public key can never act as an
 * HMAC secret. Header-embedded keys (jwk, jku, x5u, x5c) are ignored and nothing is ever fetched.
 * Signatures are checked with OpenSSL EVP: libjwt 1.10 takes the algorithm from the token and a key
 * as raw bytes, which cannot express these bindings. Claims: exp required, nbf, iat, iss, aud. */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "policy/auth_int.h"

#define MAX_TOKEN 8192
#define MAX_KID 128
#define MAX_JWKS_BYTES (1 << 20)

enum { FAM_HMAC, FAM_RSA, FAM_PSS, FAM_EC };
enum { KTY_RSA, KTY_EC, KTY_OCT };

typedef struct {
    const char *name;
    int fam;
    const EVP_MD *(*md)(void);
    const char *curve; /* FAM_EC: the JWK crv it requires */
    size_t coord;      /* FAM_EC: bytes of r and s */
} alg_info;

static const alg_info algs[] = {
    {"HS256", FAM_HMAC, EVP_sha256, NULL, 0},   {"HS384", FAM_HMAC, EVP_sha384, NULL, 0},
    {"HS512", FAM_HMAC, EVP_sha512, NULL, 0},   {"RS256", FAM_RSA, EVP_sha256, NULL, 0},
    {"RS384", FAM_RSA, EVP_sha384, NULL, 0},    {"RS512", FAM_RSA, EVP_sha512, NULL, 0},
    {"PS256", FAM_PSS, EVP_sha256, NULL, 0},    {"PS384", FAM_PSS, EVP_sha384, NULL, 0},
    {"PS512", FAM_PSS, EVP_sha512, NULL, 0},    {"ES256", FAM_EC, EVP_sha256, "P-256", 32},
    {"ES384", FAM_EC, EVP_sha384, "P-384", 48}, {"ES512", FAM_EC, EVP_sha512, "P-521", 66},
};
#define N_ALGS (sizeof(algs) / sizeof(algs[0]))

typedef struct {
    char kid[MAX_KID + 1];
    int kty;
    int alg;           /* index into algs when the JWK names one, else -1 */
    const char *curve; /* EC keys */
    EVP_PKEY *pkey;    /* RSA and EC keys */
    unsigned char *k;  /* oct keys */
    size_t k_len;
} jwk;

struct ig__auth_jwt {
    jwk *keys;
    size_t n_keys;
    unsigned allowed; /* bit i: algs[i] is allowed */
    char *issuer;
    char **aud;
    size_t n_aud;
    int64_t leeway_s, max_lifetime_s; /* max_lifetime_s 0: none */
    char *models_claim, *admin_claim;
};

static void set_why(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
    if (!why || !why_len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

static int find_alg(const char *name)
{
    for (size_t i = 0; i < N_ALGS; i++)
        if (!strcmp(algs[i].name, name)) return (int)i;
    return -1;
}

static bool kid_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_KID) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return false; /* explicit ranges: isalnum would follow the locale */
    return true;
}

static int b64val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '-') return 62;
    if (ch == '_') return 63;
    return -1;
}

/* Strict base64url without padding (RFC 7515 §2): only the alphabet, no '=', and unused trailing bits
 * zero, so every byte string has exactly one accepted encoding. out gets n*3/4 (+1 for a NUL) bytes. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 == 1) return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out) return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) goto bad;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) goto bad;
    out[o] = 0;
    *out_len = o;
    return out;
bad:
    free(out);
    return NULL;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char ch = s[i];
        size_t len;
        uint32_t cp;
        if (ch < 0x80) {
            if (ch == 0) return false;
            i++;
            continue;
        } else if ((ch & 0xe0) == 0xc0) {
            len = 2, cp = ch & 0x1f;
        } else if ((ch & 0xf0) == 0xe0) {
            len = 3, cp = ch & 0x0f;
        } else if ((ch & 0xf8) == 0xf0) {
            len = 4, cp = ch & 0x07;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A JSON object from exactly n bytes of UTF-8, with no duplicate member names (RFC 8725 §3.2: two
 * parsers must not read different claims from one token). NULL otherwise. */
static cJSON *parse_object(const unsigned char *s, size_t n)
{
    if (!utf8_valid(s, n)) return NULL;
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts((const char *)s, n, &end, 0);
    if (!o) return NULL;
    while (end < (const char *)s + n && isspace((unsigned char)*end)) end++;
    if (!cJSON_IsObject(o) || end != (const char *)s + n) goto bad;
    size_t count = (size_t)cJSON_GetArraySize(o), i = 0;
    if (count > 1) {
        const char **names = malloc(count * sizeof(*names));
        if (!names) goto bad;
        for (cJSON *m = o->child; m && i < count; m = m->next) names[i++] = m->string ? m->string : "";
        qsort(names, i, sizeof(*names), cmp_str_ptr);
        bool dup = false;
        for (size_t k = 1; k < i; k++) dup |= !strcmp(names[k - 1], names[k]);
        free(names);
        if (dup) goto bad;
    }
    return o;
bad:
    cJSON_Delete(o);
    return NULL;
}

/* ---- JWKS ---------------------------------------------------------------------------------------- */

static void jwk_clear(jwk *k)
{
    EVP_PKEY_free(k->pkey);
    if (k->k) OPENSSL_clear_free(k->k, k->k_len);
    memset(k, 0, sizeof(*k));
}

static unsigned char *member_b64(const cJSON *o, const char *name, size_t *len)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(m)) return NULL;
    return b64url_decode(m->valuestring, strlen(m->valuestring), len);
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (!pkey) return NULL;
    /* Reject points off the curve and other malformed public keys at load, not at first use. */
    EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new(pkey, NULL);
    bool ok = chk && EVP_PKEY_public_check(chk) == 1;
    EVP_PKEY_CTX_free(chk);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

static const char *load_rsa(const cJSON *o, jwk *k)
{
    size_t nl = 0, el = 0;
    unsigned char *n = member_b64(o, "n", &nl), *e = member_b64(o, "e", &el);
    const char *why = NULL;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!n || !e || !nl || !el) {
        why = "RSA key needs base64url 'n' and 'e'";
        goto out;
    }
    bn = BN_bin2bn(n, (int)nl, NULL);
    be = BN_bin2bn(e, (int)el, NULL);
    if (!bld || !bn || !be || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be)) {
        why = "out of memory";
        goto out;
    }
    if (BN_num_bits(bn) < 2048) {
        why = "RSA modulus shorter than 2048 bits";
        goto out;
    }
    if (BN_num_bits(bn) > 16384) {
        why = "RSA modulus longer than 16384 bits";
        goto out;
    }
    k->pkey = pkey_fromdata("RSA", bld);
    if (!k->pkey) why = "RSA key rejected by OpenSSL";
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return why;
}

static const char *load_ec(const cJSON *o, jwk *k)
{
    const cJSON *crv = cJSON_GetObjectItemCaseSensitive(o, "crv");
    size_t coord = 0;
    if (cJSON_IsString(crv)) {
        for (size_t i = 0; i < N_ALGS; i++)
            if (algs[i].curve && !strcmp(algs[i].curve, crv->valuestring)) {
                coord = algs[i].coord;
                k->curve = algs[i].curve;
            }
    }
    if (!coord) return "EC key needs crv P-256, P-384 or P-521";
    size_t xl = 0, yl = 0;
    unsigned char *x = member_b64(o, "x", &xl), *y = member_b64(o, "y", &yl);
    const char *why = NULL;
    unsigned char pt[1 + 2 * 66];
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!x || !y || xl != coord || yl != coord) {
        why = "EC key needs base64url 'x' and 'y' of the curve's size";
        goto out;
    }
    pt[0] = 4; /* uncompressed point */
    memcpy(pt + 1, x, coord);
    memcpy(pt + 1 + coord, y, coord);
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, k->curve, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * coord)) {
        why = "out of memory";
        goto out;
    }
    k->pkey = pkey_fromdata("EC", bld);
    if (!k->pkey) why = "EC point is not on the curve";
out:
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    return why;
}

static const char *load_jwk(const cJSON *o, jwk *k)
{
    if (!cJSON_IsObject(o)) return "not a JSON object";
    const cJSON *kty = cJSON_GetObjectItemCaseSensitive(o, "kty");
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(o, "kid");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(o, "alg");
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(o, "use");
    if (!cJSON_IsString(kid) || !kid_valid(kid->valuestring))
        return "needs a 'kid' of 1 to 128 characters from [A-Za-z0-9._-]";
    strcpy(k->kid, kid->valuestring);
    if (!cJSON_IsString(kty)) return "needs a 'kty'";
    if (use && (!cJSON_IsString(use) || strcmp(use->valuestring, "sig"))) return "'use' is not \"sig\"";
    k->alg = -1;
    if (alg) {
        if (!cJSON_IsString(alg) || (k->alg = find_alg(alg->valuestring)) < 0) return "unsupported 'alg'";
    }
    if (!strcmp(kty->valuestring, "RSA")) {
        k->kty = KTY_RSA;
        if (cJSON_GetObjectItemCaseSensitive(o, "d"))
            return "holds a private key ('d'); publish only the public part";
        if (k->alg >= 0 && algs[k->alg].fam != FAM_RSA && algs[k->alg].fam != FAM_PSS)
            return "'alg' does not fit an RSA key";
        return load_rsa(o, k);
    }
    if (!strcmp(kty->valuestring, "EC")) {
        k->kty = KTY_EC;
        if (cJSON_GetObjectItemCaseSensitive(o, "d"))
            return "holds a private key ('d'); publish only the public part";
        const char *why = load_ec(o, k);
        if (why) return why;
        if (k->alg >= 0 && (algs[k->alg].fam != FAM_EC || strcmp(algs[k->alg].curve, k->curve)))
            return "'alg' does not fit this EC key's curve";
        return NULL;
    }
    if (!strcmp(kty->valuestring, "oct")) {
        k->kty = KTY_OCT;
        if (k->alg >= 0 && algs[k->alg].fam != FAM_HMAC) return "'alg' does not fit an oct key";
        k->k = member_b64(o, "k", &k->k_len);
        if (!k->k) return "oct key needs a base64url 'k'";
        /* RFC 7518 §3.2: a key shorter than the hash output is not allowed; 256 bits for any HS*. */
        if (k->k_len < 32) return "oct key shorter than 256 bits";
        return NULL;
    }
    return "unsupported 'kty' (RSA, EC or oct)";
}

static bool key_fits(const jwk *k, int alg)
{
    const alg_info *a = &algs[alg];
    if (k->alg >= 0 && k->alg != alg) return false;
    switch (k->kty) {
    case KTY_RSA:
        return a->fam == FAM_RSA || a->fam == FAM_PSS;
    case KTY_EC:
        return a->fam == FAM_EC && !strcmp(a->curve, k->curve);
    case KTY_OCT:
        return a->fam == FAM_HMAC && k->k_len >= (size_t)EVP_MD_get_size(a->md());
    }
    return false;
}

static bool load_jwks(ig__auth_jwt *j, const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_why(why, why_len, "cannot open: %s", strerror(errno));
        return false;
    }
    char *buf = malloc(MAX_JWKS_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_JWKS_BYTES + 1, f) : 0;
    bool rd_err = ferror(f);
    fclose(f);
    if (!buf || rd_err || n > MAX_JWKS_BYTES) {
        free(buf);
        set_why(why, why_len, "%s", !buf ? "out of memory" : rd_err ? "read error" : "larger than 1 MiB");
        return false;
    }
    buf[n] = 0;
    cJSON *root = parse_object((const unsigned char *)buf, n);
    free(buf);
    const cJSON *keys = root ? cJSON_GetObjectItemCaseSensitive(root, "keys") : NULL;
    bool ok = false;
    if (!cJSON_IsArray(keys) || cJSON_GetArraySize(keys) == 0) {
        set_why(why, why_len, "expected a JSON object with a non-empty \"keys\" array");
        goto out;
    }
    size_t count = (size_t)cJSON_GetArraySize(keys);
    j->keys = calloc(count, sizeof(*j->keys));
    if (!j->keys) {
        set_why(why, why_len, "out of memory");
        goto out;
    }
    for (const cJSON *o = keys->child; o; o = o->next) {
        jwk *k = &j->keys[j->n_keys++];
        const char *w = load_jwk(o, k);
        if (w) {
            set_why(why, why_len, "key %zu: %s", j->n_keys, w);
            goto out;
        }
        for (size_t i = 0; i + 1 < j->n_keys; i++)
            if (!strcmp(j->keys[i].kid, k->kid)) {
                set_why(why, why_len, "kid '%s' appears twice", k->kid);
                goto out;
            }
    }
    ok = true;
out:
    cJSON_Delete(root);
    return ok;
}

/* ---- config -------------------------------------------------------------------------------------- */

void ig__auth_jwt_free(ig__auth_jwt *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->n_keys; i++) jwk_clear(&j->keys[i]);
    free(j->keys);
    free(j->issuer);
    for (size_t i = 0; i < j->n_aud; i++) free(j->aud[i]);
    free(j->aud);
    free(j->models_claim);
    free(j->admin_claim);
    free(j);
}

static bool dup_str(const ig_conf *c, const ig_conf_node *at, const char *s, char **out, ig_error *err)
{
    *out = s ? strdup(s) : NULL;
    return !s || *out || ig_conf_fail(c, at, err, "out of memory");
}

static bool parse_algorithms(const ig_conf *c, const ig_conf_node *map, ig__auth_jwt *j, ig_error *err)
{
    const ig_conf_node *seq = ig_conf_get(map, "algorithms");
    if (!seq)
        return ig_conf_fail(c, map, err, "jwt: missing key 'algorithms' (the allow-list, e.g. [RS256])");
    if (seq->kind == IG_CONF_MAP || (seq->kind == IG_CONF_SEQ && seq->count == 0))
        return ig_conf_fail(c, seq, err, "algorithms: expected a non-empty list such as [RS256, ES256]");
    const ig_conf_node *it = seq->kind == IG_CONF_SEQ ? seq->child : seq;
    for (; it; it = seq->kind == IG_CONF_SEQ ? it->next : NULL) {
        if (!ig_conf_expect(c, it, IG_CONF_SCALAR, err)) return false;
        if (!strcasecmp(it->value, "none"))
            return ig_conf_fail(c, it, err, "algorithms: 'none' (unsigned tokens) can never be allowed");
        int a = find_alg(it->value);
        if (a < 0)
            return ig_conf_fail(c, it, err, "algorithms: unsupported '%s' (HS/RS/PS/ES 256, 384, 512)",
                                it->value);
        j->allowed |= 1u << a;
    }
    return true;
}

static bool parse_audiences(const ig_conf *c, const ig_conf_node *map, ig__auth_jwt *j, ig_error *err)
{
    const ig_conf_node *seq = ig_conf_get(map, "audiences");
    if (!seq) return true;
    if (seq->kind == IG_CONF_MAP || (seq->kind == IG_CONF_SEQ && seq->count == 0))
        return ig_conf_fail(c, seq, err, "audiences: expected a non-empty list");
    size_t n = seq->kind == IG_CONF_SEQ ? seq->count : 1;
    j->aud = calloc(n, sizeof(*j->aud));
    if (!j->aud) return ig_conf_fail(c, seq, err, "out of memory");
    const ig_conf_node *it = seq->kind == IG_CONF_SEQ ? seq->child : seq;
    for (; it; it = seq->kind == IG_CONF_SEQ ? it->next : NULL) {
        if (!ig_conf_expect(c, it, IG_CONF_SCALAR, err)) return false;
        if (!*it->value) return ig_conf_fail(c, it, err, "audiences: empty value");
        if (!dup_str(c, it, it->value, &j->aud[j->n_aud++], err)) return false;
    }
    return true;
}

ig__auth_jwt *ig__auth_jwt_parse(const ig_conf *c, const ig_conf_node *map, const char *base_dir,
                                 ig_error *err)
{
    if (!ig_conf_expect(c, map, IG_CONF_MAP, err)) return NULL;
    ig__auth_jwt *j = calloc(1, sizeof(*j));
    if (!j) {
        ig_conf_fail(c, map, err, "out of memory");
        return NULL;
    }
    const char *issuer = NULL, *models_claim = NULL, *admin_claim = NULL;
    int64_t leeway_ms = 0, max_life_ms = 0;
    const ig_conf_node *file = ig_conf_require(c, map, "jwks_file", IG_CONF_SCALAR, err);
    if (!file || !parse_algorithms(c, map, j, err) || !parse_audiences(c, map, j, err) ||
        !ig_conf_str(c, map, "issuer", NULL, &issuer, err) || !dup_str(c, map, issuer, &j->issuer, err) ||
        !ig_conf_duration_ms(c, map, "leeway", 60000, &leeway_ms, err) ||
        !ig_conf_duration_ms(c, map, "max_lifetime", 0, &max_life_ms, err) ||
        !ig_conf_str(c, map, "models_claim", "models", &models_claim, err) ||
        !dup_str(c, map, models_claim, &j->models_claim, err) ||
        !ig_conf_str(c, map, "admin_claim", "admin", &admin_claim, err) ||
        !dup_str(c, map, admin_claim, &j->admin_claim, err) || !ig_conf_no_unknown(c, map, err))
        goto fail;
    /* RFC 8725 §3.8 and our reliability rules: clock skew allowance stays small. */
    if (leeway_ms > 60000) {
        ig_conf_fail(c, ig_conf_get(map, "leeway"), err, "leeway: at most 60s");
        goto fail;
    }
    j->leeway_s = leeway_ms / 1000;
    j->max_lifetime_s = max_life_ms / 1000;
    if (ig_conf_get(map, "max_lifetime") && j->max_lifetime_s < 1) {
        ig_conf_fail(c, ig_conf_get(map, "max_lifetime"), err, "max_lifetime: at least 1s");
        goto fail;
    }
    if (!*file->value) {
        ig_conf_fail(c, file, err, "jwks_file: empty path");
        goto fail;
    }
    char path[4096];
    int pl = file->value[0] == '/' || !base_dir || !*base_dir
                 ? snprintf(path, sizeof(path), "%s", file->value)
                 : snprintf(path, sizeof(path), "%s/%s", base_dir, file->value);
    if (pl < 0 || (size_t)pl >= sizeof(path)) {
        ig_conf_fail(c, file, err, "jwks_file: path too long");
        goto fail;
    }
    char why[256];
    if (!load_jwks(j, path, why, sizeof(why))) {
        ig_conf_fail(c, file, err, "jwks_file '%s': %s", path, why);
        goto fail;
    }
    bool usable = false;
    for (size_t i = 0; i < j->n_keys; i++)
        for (int a = 0; a < (int)N_ALGS; a++) usable |= (j->allowed >> a & 1) && key_fits(&j->keys[i], a);
    if (!usable) {
        ig_conf_fail(c, file, err, "jwks_file '%s': no key fits any of the allowed algorithms", path);
        goto fail;
    }
    return j;
fail:
    ig__auth_jwt_free(j);
    return NULL;
}

/* ---- verification -------------------------------------------------------------------------------- */

static bool verify_sig(const jwk *k, const alg_info *a, const unsigned char *msg, size_t msg_len,
                       const unsigned char *sig, size_t sig_len)
{
    if (a->fam == FAM_HMAC) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        if (!HMAC(a->md(), k->k, (int)k->k_len, msg, msg_len, mac, &mac_len)) return false;
        return sig_len == mac_len && CRYPTO_memcmp(mac, sig, mac_len) == 0;
    }
    unsigned char *der = NULL;
    int der_len = 0;
    if (a->fam == FAM_EC) {
        /* JOSE carries r||s, each exactly the curve's size (RFC 7518 §3.4); DER or other lengths are
         * refused, and so are r or s of zero (CVE-2022-21449). OpenSSL checks r, s < n. */
        if (sig_len != 2 * a->coord) return false;
        BIGNUM *r = BN_bin2bn(sig, (int)a->coord, NULL), *s = BN_bin2bn(sig + a->coord, (int)a->coord, NULL);
        ECDSA_SIG *es = ECDSA_SIG_new();
        if (!r || !s || !es || BN_is_zero(r) || BN_is_zero(s) || !ECDSA_SIG_set0(es, r, s)) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            return false;
        }
        der_len = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        if (der_len <= 0) return false;
    } else if (sig_len != (size_t)EVP_PKEY_get_size(k->pkey)) {
        return false;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, a->md(), NULL, k->pkey) == 1;
    if (ok && a->fam == FAM_PSS)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
    if (ok)
        ok = der ? EVP_DigestVerify(ctx, der, (size_t)der_len, msg, msg_len) == 1
                 : EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

static bool typ_ok(const cJSON *typ)
{
    if (!typ) return true;
    if (!cJSON_IsString(typ)) return false;
    const char *t = typ->valuestring;
    if (!strncasecmp(t, "application/", 12)) t += 12;
    return !strcasecmp(t, "JWT") || !strcasecmp(t, "at+jwt");
}

static bool word_in(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        while (*p == ' ') p++;
        const char *e = p;
        while (*e && *e != ' ') e++;
        if ((size_t)(e - p) == wl && wl && !memcmp(p, word, wl)) return true;
        p = e;
    }
    return false;
}

/* Whether the models claim (array of globs or a space-separated string) allows model; -1 when the
 * claim has the wrong shape. */
static int models_claim_allows(const cJSON *claim, const char *model)
{
    if (!claim) return 1;
    if (cJSON_IsString(claim)) {
        if (!model) return 1;
        char *copy = strdup(claim->valuestring);
        if (!copy) return 0;
        int ok = 0;
        char *save = NULL;
        for (char *g = strtok_r(copy, " ", &save); g && !ok; g = strtok_r(NULL, " ", &save))
            ok = fnmatch(g, model, 0) == 0;
        free(copy);
        return ok;
    }
    if (!cJSON_IsArray(claim)) return -1;
    int ok = 0;
    for (const cJSON *g = claim->child; g; g = g->next) {
        if (!cJSON_IsString(g)) return -1;
        if (model && fnmatch(g->valuestring, model, 0) == 0) ok = 1;
    }
    return model ? ok : 1;
}

static bool number_claim(const cJSON *claims, const char *name, double *out, bool *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(claims, name);
    *present = v != NULL;
    if (!v) return true;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return false;
    *out = v->valuedouble;
    return true;
}

static bool check_claims(const ig__auth_jwt *j, const cJSON *cl, int64_t now_s, const char *model,
                         ig__auth_grant *g, char *why, size_t why_len)
{
    double exp = 0, nbf = 0, iat = 0, now = (double)now_s, lw = (double)j->leeway_s;
    bool has_exp, has_nbf, has_iat;
    if (!number_claim(cl, "exp", &exp, &has_exp) || !number_claim(cl, "nbf", &nbf, &has_nbf) ||
        !number_claim(cl, "iat", &iat, &has_iat)) {
        set_why(why, why_len, "token time claim is not a number");
        return false;
    }
    if (!has_exp) {
        set_why(why, why_len, "token has no exp");
        return false;
    }
    if (now > exp + lw) {
        set_why(why, why_len, "token expired");
        return false;
    }
    if (has_nbf && nbf > now + lw) {
        set_why(why, why_len, "token not yet valid (nbf)");
        return false;
    }
    if (has_iat && iat > now + lw) {
        set_why(why, why_len, "token issued in the future (iat)");
        return false;
    }
    if (j->max_lifetime_s) {
        double ml = (double)j->max_lifetime_s;
        if (exp - now > ml + lw || (has_iat && exp - iat > ml) || (has_nbf && exp - nbf > ml)) {
            set_why(why, why_len, "token lifetime exceeds max_lifetime");
            return false;
        }
    }
    if (j->issuer) {
        const cJSON *iss = cJSON_GetObjectItemCaseSensitive(cl, "iss");
        if (!cJSON_IsString(iss) || strcmp(iss->valuestring, j->issuer)) {
            set_why(why, why_len, "token issuer not accepted");
            return false;
        }
    }
    if (j->n_aud) {
        const cJSON *aud = cJSON_GetObjectItemCaseSensitive(cl, "aud");
        bool ok = false;
        if (cJSON_IsString(aud)) {
            for (size_t i = 0; i < j->n_aud; i++) ok |= !strcmp(aud->valuestring, j->aud[i]);
        } else if (cJSON_IsArray(aud)) {
            for (const cJSON *a = aud->child; a; a = a->next)
                for (size_t i = 0; i < j->n_aud && cJSON_IsString(a); i++)
                    ok |= !strcmp(a->valuestring, j->aud[i]);
        }
        if (!ok) {
            set_why(why, why_len, "token audience not accepted");
            return false;
        }
    }
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(cl, "sub");
    if (sub && !cJSON_IsString(sub)) {
        set_why(why, why_len, "token sub is not a string");
        return false;
    }
    int mo = models_claim_allows(cJSON_GetObjectItemCaseSensitive(cl, j->models_claim), model);
    if (mo < 0) {
        set_why(why, why_len, "token claim '%s' is not a list of model names", j->models_claim);
        return false;
    }
    const cJSON *adm = cJSON_GetObjectItemCaseSensitive(cl, j->admin_claim);
    const cJSON *scope = cJSON_GetObjectItemCaseSensitive(cl, "scope");
    g->admin = cJSON_IsTrue(adm) || (cJSON_IsString(scope) && word_in(scope->valuestring, j->admin_claim));
    g->model_ok = mo == 1;
    const char *p = sub && *sub->valuestring ? sub->valuestring : "(no sub)";
    ig__auth_copy_printable(g->principal, sizeof(g->principal), p, strlen(p));
    return true;
}

bool ig__auth_jwt_verify(const ig__auth_jwt *j, const char *token, size_t len, int64_t now_s,
                         const char *model, ig__auth_grant *g, char *why, size_t why_len)
{
    if (len > MAX_TOKEN) {
        set_why(why, why_len, "token larger than 8 KiB");
        return false;
    }
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) || d1 == token || d2 == d1 + 1) {
        set_why(why, why_len, "malformed token (expected header.payload.signature)");
        return false;
    }
    if (d2 + 1 == token + len) {
        set_why(why, why_len, "token has an empty signature");
        return false;
    }
    bool ok = false;
    size_t hl = 0, pl = 0, sl = 0;
    unsigned char *hb = b64url_decode(token, (size_t)(d1 - token), &hl);
    unsigned char *pb = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
    unsigned char *sb = b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), &sl);
    cJSON *hdr = NULL, *cl = NULL;
    if (!hb || !pb || !sb) {
        set_why(why, why_len, "token is not valid base64url");
        goto out;
    }
    hdr = parse_object(hb, hl);
    if (!hdr) {
        set_why(why, why_len, "token header is not a valid JSON object");
        goto out;
    }
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(hdr, "alg");
    if (!cJSON_IsString(alg)) {
        set_why(why, why_len, "token header has no alg");
        goto out;
    }
    if (!strcasecmp(alg->valuestring, "none")) {
        set_why(why, why_len, "unsigned token (alg none) rejected");
        goto out;
    }
    int ai = find_alg(alg->valuestring);
    if (ai < 0 || !(j->allowed >> ai & 1)) {
        set_why(why, why_len, "token algorithm not allowed");
        goto out;
    }
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit")) {
        /* We implement no JWS extensions, so any critical one is unknown (RFC 7515 §4.1.11). */
        set_why(why, why_len, "token header has unsupported crit");
        goto out;
    }
    if (!typ_ok(cJSON_GetObjectItemCaseSensitive(hdr, "typ"))) {
        set_why(why, why_len, "token typ not accepted");
        goto out;
    }
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
    if (kid && (!cJSON_IsString(kid) || !kid_valid(kid->valuestring))) {
        set_why(why, why_len, "token kid is malformed");
        goto out;
    }
    bool kid_known = false, tried = false;
    for (size_t i = 0; i < j->n_keys && !ok; i++) {
        const jwk *k = &j->keys[i];
        if (kid && strcmp(k->kid, kid->valuestring)) continue;
        kid_known = true;
        if (!key_fits(k, ai)) continue;
        tried = true;
        ok = verify_sig(k, &algs[ai], (const unsigned char *)token, (size_t)(d2 - token), sb, sl);
    }
    if (!ok) {
        set_why(why, why_len, "%s",
                kid && !kid_known ? "token kid unknown"
                : !tried          ? "no configured key fits the token's algorithm"
                                  : "token signature invalid");
        goto out;
    }
    ok = false;
    cl = parse_object(pb, pl);
    if (!cl) {
        set_why(why, why_len, "token claims are not a valid JSON object");
        goto out;
    }
    ok = check_claims(j, cl, now_s, model, g, why, why_len);
out:
    cJSON_Delete(hdr);
    cJSON_Delete(cl);
    free(hb);
    free(pb);
    free(sb);
    return ok;
}
