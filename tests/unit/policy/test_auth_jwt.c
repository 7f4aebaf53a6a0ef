/* JWT bearer tokens: keys (RSA 2048, EC P-256, a 256-bit oct secret) and tokens are made at test time
 * with OpenSSL, the JWKS is written to a temp dir. Positive RS256/ES256/HS256 cases, claims (models,
 * admin, leeway) and the negative matrix: alg none, key confusion, embedded keys, time claims, iss,
 * aud, crit, kid rules, size, encoding, segments, signature shape and tampering — all 401. */
#include "policy/auth.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define NOW 1700000000LL

static EVP_PKEY *rsa, *ec, *evil;
static unsigned char hs_key[32];
static char dir[64];

static char *b64url(const unsigned char *in, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n * 4 / 3 + 4), *o = out;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
        *o++ = al[v >> 18], *o++ = al[v >> 12 & 63], *o++ = al[v >> 6 & 63], *o++ = al[v & 63];
    }
    if (n - i == 1) {
        unsigned v = in[i] << 16;
        *o++ = al[v >> 18], *o++ = al[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = in[i] << 16 | in[i + 1] << 8;
        *o++ = al[v >> 18], *o++ = al[v >> 12 & 63], *o++ = al[v >> 6 & 63];
    }
    *o = 0;
    return out;
}

static char *b64s(const char *s)
{
    return b64url((const unsigned char *)s, strlen(s));
}

static char *bn_b64(EVP_PKEY *k, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    unsigned char buf[512];
    int n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    return b64url(buf, (size_t)n);
}

enum { SIG_RS256, SIG_ES256, SIG_HS256, SIG_ES256_DER, SIG_HS_RAW };

/* Signs header.payload; key is the EVP key (RS/ES) or raw secret bytes (HS). */
static char *sign(const char *hdr, const char *payload, int how, EVP_PKEY *pk, const unsigned char *sec,
                  size_t sec_len)
{
    char *h = b64s(hdr), *p = b64s(payload);
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *input = malloc(in_len + 1);
    snprintf(input, in_len + 1, "%s.%s", h, p);
    unsigned char sig[1024];
    size_t sig_len = sizeof(sig);
    if (how == SIG_HS256 || how == SIG_HS_RAW) {
        unsigned int l = 0;
        HMAC(EVP_sha256(), sec, (int)sec_len, (unsigned char *)input, in_len, sig, &l);
        sig_len = l;
    } else {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk);
        EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input, in_len);
        EVP_MD_CTX_free(ctx);
        if (how == SIG_ES256) {
            const unsigned char *d = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &d, (long)sig_len);
            unsigned char rs[64];
            BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32);
            ECDSA_SIG_free(es);
            memcpy(sig, rs, 64);
            sig_len = 64;
        }
    }
    char *s = b64url(sig, sig_len);
    char *tok = malloc(in_len + strlen(s) + 2);
    sprintf(tok, "%s.%s", input, s);
    free(h), free(p), free(input), free(s);
    return tok;
}

static char claims[512];
static const char *std_claims(void)
{
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"https://"
             "issuer.example\",\"aud\":\"infergate\",\"sub\":\"alice\",\"exp\":%lld,\"iat\":%lld}",
             NOW + 600, NOW - 10);
    return claims;
}

static ig_auth *auth;

static ig_auth_result run(const char *token, const char *model, bool admin, ig_auth_identity *id, char *why)
{
    char hdr[9000];
    snprintf(hdr, sizeof(hdr), "Bearer %s", token);
    ig_auth_request rq = {.authorization = hdr, .now_s = NOW};
    return ig_auth_check(auth, &rq, model, admin, id, why, 128);
}

/* Expects token to be refused with 401; frees it. */
static void reject(char *token, const char *label)
{
    ig_auth_identity id;
    char why[128];
    ig_auth_result r = run(token, "mlp", false, &id, why);
    if (r != IG_AUTH_UNAUTHENTICATED) fprintf(stderr, "  %s: got %d (%s)\n", label, r, why);
    CHECK_EQ_INT(r, IG_AUTH_UNAUTHENTICATED);
    free(token);
}

static void accept_(char *token, const char *label)
{
    ig_auth_identity id;
    char why[128];
    ig_auth_result r = run(token, "mlp", false, &id, why);
    if (r != IG_AUTH_ALLOW) fprintf(stderr, "  %s: got %d (%s)\n", label, r, why);
    CHECK_EQ_INT(r, IG_AUTH_ALLOW);
    free(token);
}

static void write_jwks(void)
{
    char *n = bn_b64(rsa, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_b64(rsa, OSSL_PKEY_PARAM_RSA_E, 0);
    char *x = bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    char *k = b64url(hs_key, sizeof(hs_key));
    char path[128];
    snprintf(path, sizeof(path), "%s/keys.jwks", dir);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"},"
            "{\"kty\":\"EC\",\"kid\":\"ec1\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"x\":\"%s\",\"y\":\"%s\"},"
            "{\"kty\":\"oct\",\"kid\":\"hs1\",\"k\":\"%s\"}]}",
            n, e, x, y, k);
    fclose(f);
    free(n), free(e), free(x), free(y), free(k);
}

static ig_auth *load(const char *yaml, ig_error *err)
{
    memset(err, 0, sizeof(*err));
    ig_conf *c = ig_conf_load_string(yaml, strlen(yaml), "t.yaml", err);
    if (!c) return NULL;
    ig_auth *a = ig_auth_from_conf(c, ig_conf_get(ig_conf_root(c), "auth"), dir, err);
    ig_conf_free(c);
    return a;
}

static const char *conf_text = "auth:\n"
                               "  jwt:\n"
                               "    jwks_file: keys.jwks\n"
                               "    algorithms: [RS256, ES256, HS256]\n"
                               "    issuer: https://issuer.example\n"
                               "    audiences: [infergate]\n"
                               "    leeway: 60s\n"
                               "    max_lifetime: 24h\n";

static void test_positive(void)
{
    const char *c = std_claims();
    accept_(sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"JWT\"}", c, SIG_RS256, rsa, NULL, 0),
            "RS256");
    accept_(sign("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", c, SIG_ES256, ec, NULL, 0), "ES256");
    accept_(sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", c, SIG_HS256, NULL, hs_key, 32), "HS256");
    /* Without kid every key of the algorithm's kind is tried. */
    accept_(sign("{\"alg\":\"RS256\"}", c, SIG_RS256, rsa, NULL, 0), "RS256 no kid");
    /* Header URLs are ignored, never fetched: a configured key still decides. */
    accept_(sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"jku\":\"http://127.0.0.1:1/k\",\"x5u\":\"http://"
                 "127.0.0.1:1/c\"}",
                 c, SIG_RS256, rsa, NULL, 0),
            "jku ignored");
    char buf[512];
    /* exp in the past but within the leeway. */
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"https://issuer.example\",\"aud\":[\"x\",\"infergate\"],\"exp\":%lld}", NOW - 30);
    accept_(sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", buf, SIG_RS256, rsa, NULL, 0), "exp within leeway");
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":%lld,\"nbf\":%lld}", NOW + 60,
             NOW + 30);
    accept_(sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", buf, SIG_RS256, rsa, NULL, 0), "nbf within leeway");

    /* Identity, models claim and admin. */
    ig_auth_identity id;
    char why[128];
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"sub\":\"bob\",\"exp\":%lld,"
             "\"models\":[\"mlp\",\"res*\"]}",
             NOW + 60);
    char *t = sign("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", buf, SIG_ES256, ec, NULL, 0);
    CHECK_EQ_INT(run(t, "resnet", false, &id, why), IG_AUTH_ALLOW);
    CHECK_STR(id.principal, "bob");
    CHECK_STR(id.method, "jwt");
    CHECK(!id.admin);
    CHECK_EQ_INT(run(t, "bert", false, &id, why), IG_AUTH_FORBIDDEN);
    CHECK_EQ_INT(run(t, "mlp", true, &id, why), IG_AUTH_FORBIDDEN);
    free(t);
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"sub\":\"carol\",\"exp\":%lld,"
             "\"models\":\"bert gpt*\",\"scope\":\"read admin\"}",
             NOW + 60);
    t = sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", buf, SIG_HS256, NULL, hs_key, 32);
    CHECK_EQ_INT(run(t, "gpt2", true, &id, why), IG_AUTH_ALLOW);
    CHECK(id.admin);
    CHECK_EQ_INT(run(t, "mlp", false, &id, why), IG_AUTH_FORBIDDEN);
    free(t);
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":%lld,\"admin\":true}",
             NOW + 60);
    t = sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", buf, SIG_RS256, rsa, NULL, 0);
    CHECK_EQ_INT(run(t, NULL, true, &id, why), IG_AUTH_ALLOW);
    CHECK(id.admin);
    free(t);
    /* A models claim of the wrong shape is an invalid token. */
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":%lld,\"models\":7}",
             NOW + 60);
    reject(sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", buf, SIG_RS256, rsa, NULL, 0), "models claim shape");
}

static char *with_claims(const char *fmt, long long a, long long b)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), fmt, a, b);
    return sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", buf, SIG_RS256, rsa, NULL, 0);
}

static void test_negative(void)
{
    const char *c = std_claims();
    char *h;
    /* alg none in any case, with and without a signature. */
    const char *nones[] = {"none", "None", "NONE", "nOnE"};
    for (int i = 0; i < 4; i++) {
        char hdr[64], *hb, *pb, tok[2048];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", nones[i]);
        hb = b64s(hdr), pb = b64s(c);
        snprintf(tok, sizeof(tok), "%s.%s.", hb, pb);
        reject(strdup(tok), "alg none, empty sig");
        snprintf(tok, sizeof(tok), "%s.%s.AAAA", hb, pb);
        reject(strdup(tok), "alg none, junk sig");
        free(hb), free(pb);
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"hs1\"}", nones[i]);
        reject(sign(hdr, c, SIG_HS256, NULL, hs_key, 32), "alg none, hmac sig");
    }
    /* Algorithm outside the allow-list (HS384 with a valid key and signature shape). */
    reject(sign("{\"alg\":\"HS384\",\"kid\":\"hs1\"}", c, SIG_HS256, NULL, hs_key, 32), "HS384 not allowed");
    reject(sign("{\"alg\":\"PS256\",\"kid\":\"rsa1\"}", c, SIG_RS256, rsa, NULL, 0), "PS256 not allowed");
    reject(sign("{\"alg\":\"XYZ\",\"kid\":\"rsa1\"}", c, SIG_RS256, rsa, NULL, 0), "unknown alg");
    reject(sign("{\"kid\":\"rsa1\"}", c, SIG_RS256, rsa, NULL, 0), "no alg");
    /* Key confusion: HS256 with the RSA public key (DER and PEM-ish bytes, and n) as the HMAC secret. */
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(rsa, &der);
    reject(sign("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", c, SIG_HS_RAW, NULL, der, (size_t)der_len),
           "HS/RS confusion");
    reject(sign("{\"alg\":\"HS256\"}", c, SIG_HS_RAW, NULL, der, (size_t)der_len), "HS/RS confusion no kid");
    OPENSSL_free(der);
    unsigned char nbuf[512];
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &bn);
    int nl = BN_bn2bin(bn, nbuf);
    BN_free(bn);
    reject(sign("{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", c, SIG_HS_RAW, NULL, nbuf, (size_t)nl), "HS with n");
    /* ... and the other way: an oct key never verifies RS/ES, EC keys never HS. */
    reject(sign("{\"alg\":\"RS256\",\"kid\":\"hs1\"}", c, SIG_RS256, rsa, NULL, 0), "RS256 with oct kid");
    reject(sign("{\"alg\":\"HS256\",\"kid\":\"ec1\"}", c, SIG_HS256, NULL, hs_key, 32), "HS256 with ec kid");
    /* Attacker key embedded in the header: ignored, so the token fails. */
    char *en = bn_b64(evil, OSSL_PKEY_PARAM_RSA_N, 0), *ee = bn_b64(evil, OSSL_PKEY_PARAM_RSA_E, 0);
    char hdr[2048];
    snprintf(hdr, sizeof(hdr),
             "{\"alg\":\"RS256\",\"kid\":\"evil\",\"jwk\":{\"kty\":\"RSA\",\"kid\":\"evil\",\"n\":\"%s\","
             "\"e\":\"%s\"}}",
             en, ee);
    reject(sign(hdr, c, SIG_RS256, evil, NULL, 0), "embedded jwk, own kid");
    snprintf(hdr, sizeof(hdr),
             "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"jwk\":{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}}", en,
             ee);
    reject(sign(hdr, c, SIG_RS256, evil, NULL, 0), "embedded jwk, configured kid");
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"jwk\":{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}}", en,
             ee);
    reject(sign(hdr, c, SIG_RS256, evil, NULL, 0), "embedded jwk, no kid");
    free(en), free(ee);
    reject(sign("{\"alg\":\"RS256\",\"jku\":\"http://127.0.0.1:1/jwks\"}", c, SIG_RS256, evil, NULL, 0),
           "jku");
    reject(sign("{\"alg\":\"RS256\",\"x5u\":\"http://127.0.0.1:1/c.pem\"}", c, SIG_RS256, evil, NULL, 0),
           "x5u");
    reject(sign("{\"alg\":\"RS256\",\"x5c\":[\"MIIB\"]}", c, SIG_RS256, evil, NULL, 0), "x5c");
    /* Time claims. */
    reject(with_claims("{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"iat\":%lld,\"x\":%lld}",
                       NOW, 0),
           "missing exp");
    reject(with_claims("{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":%lld,\"x\":%lld}",
                       NOW - 61, 0),
           "expired beyond leeway");
    reject(
        with_claims("{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":\"%lld\",\"x\":%lld}",
                    NOW + 60, 0),
        "exp as string");
    reject(with_claims("{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":%lld,\"nbf\":%lld}",
                       NOW + 600, NOW + 120),
           "nbf in the future");
    reject(with_claims("{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":%lld,\"iat\":%lld}",
                       NOW + 600, NOW + 3600),
           "iat in the future");
    reject(with_claims("{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":%lld,\"iat\":%lld}",
                       NOW + 2 * 86400, NOW),
           "longer than max_lifetime");
    /* iss and aud. */
    reject(with_claims("{\"iss\":\"https://evil.example\",\"aud\":\"infergate\",\"exp\":%lld,\"x\":%lld}",
                       NOW + 60, 0),
           "wrong iss");
    reject(with_claims("{\"aud\":\"infergate\",\"exp\":%lld,\"x\":%lld}", NOW + 60, 0), "missing iss");
    reject(with_claims("{\"iss\":\"https://issuer.example\",\"aud\":\"other\",\"exp\":%lld,\"x\":%lld}",
                       NOW + 60, 0),
           "wrong aud");
    reject(with_claims("{\"iss\":\"https://issuer.example\",\"aud\":[\"a\",\"b\"],\"exp\":%lld,\"x\":%lld}",
                       NOW + 60, 0),
           "wrong aud list");
    reject(with_claims("{\"iss\":\"https://issuer.example\",\"exp\":%lld,\"x\":%lld}", NOW + 60, 0),
           "missing aud");
    /* Duplicate claim names. */
    reject(with_claims("{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":%lld,\"exp\":%lld}",
                       NOW + 60, NOW + 999999),
           "duplicate exp");
    /* crit, typ. */
    reject(
        sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"exp\"],\"exp\":1}", c, SIG_RS256, rsa, NULL, 0),
        "crit");
    reject(sign("{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"typ\":\"JOSE+JSON\"}", c, SIG_RS256, rsa, NULL, 0),
           "typ");
    /* kid rules. */
    char longkid[200];
    memset(longkid, 'a', 129);
    longkid[129] = 0;
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", longkid);
    reject(sign(hdr, c, SIG_RS256, rsa, NULL, 0), "kid too long");
    reject(sign("{\"alg\":\"RS256\",\"kid\":\"../rsa1\"}", c, SIG_RS256, rsa, NULL, 0), "kid path");
    reject(sign("{\"alg\":\"RS256\",\"kid\":\"rsa1' OR '1'='1\"}", c, SIG_RS256, rsa, NULL, 0), "kid sql");
    reject(sign("{\"alg\":\"RS256\",\"kid\":\"rsa2\"}", c, SIG_RS256, rsa, NULL, 0), "unknown kid");
    reject(sign("{\"alg\":\"RS256\",\"kid\":7}", c, SIG_RS256, rsa, NULL, 0), "kid number");
    /* Size: a valid signature over a token larger than 8 KiB. */
    char *big = malloc(9000);
    int bl = snprintf(big, 9000,
                      "{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"exp\":%lld,\"pad\":\"",
                      NOW + 60);
    memset(big + bl, 'p', 7000);
    strcpy(big + bl + 7000, "\"}");
    reject(sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", big, SIG_HS256, NULL, hs_key, 32), "> 8 KiB");
    free(big);
    /* Encoding and structure. */
    char *good = sign("{\"alg\":\"HS256\",\"kid\":\"hs1\"}", c, SIG_HS256, NULL, hs_key, 32);
    accept_(strdup(good), "baseline");
    char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    {
        char *t = strdup(good);
        t[dot1 - good + 3] = '*'; /* not in the alphabet */
        reject(t, "bad base64url char");
        t = malloc(strlen(good) + 3);
        sprintf(t, "%s==", good);
        reject(t, "padding");
        t = malloc(strlen(good) + 8);
        sprintf(t, "%s.AAAA", good);
        reject(t, "four segments");
        t = strndup(good, (size_t)(dot2 - good));
        reject(t, "two segments");
        t = strndup(good, (size_t)(dot2 - good + 1));
        reject(t, "empty signature");
        t = strdup(good);
        size_t sl = strlen(t);
        t[sl - 1] = t[sl - 1] == 'A' ? 'B' : 'A'; /* signature bit flipped (or non-canonical trailing bits) */
        reject(t, "modified signature");
        reject(strdup("a.b"), "garbage");
        reject(strdup(".."), "empty segments");
    }
    /* Tampered payload: same header and signature, different claims. */
    {
        char *other = b64s(
            "{\"iss\":\"https://issuer.example\",\"aud\":\"infergate\",\"sub\":\"root\",\"exp\":9999999999}");
        size_t hl = (size_t)(dot1 - good);
        char *t = malloc(strlen(good) + strlen(other) + 4);
        sprintf(t, "%.*s.%s%s", (int)hl, good, other, dot2);
        reject(t, "tampered payload");
        free(other);
    }
    free(good);
    /* ES256: DER signatures and wrong lengths are refused; r = s = 0 too. */
    reject(sign("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", c, SIG_ES256_DER, ec, NULL, 0), "ES256 DER signature");
    {
        char *t = sign("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", c, SIG_ES256, ec, NULL, 0);
        char *d = strrchr(t, '.');
        char *hp = strndup(t, (size_t)(d - t));
        unsigned char zero[64] = {0}, sig65[65] = {0};
        char *z = b64url(zero, 64), *s65 = b64url(sig65, 65);
        char *u = malloc(strlen(hp) + 200);
        sprintf(u, "%s.%s", hp, z);
        reject(u, "ES256 r=s=0");
        u = malloc(strlen(hp) + 200);
        sprintf(u, "%s.%s", hp, s65);
        reject(u, "ES256 65 bytes");
        free(z), free(s65), free(hp), free(t);
    }
    (void)h;
}

static void test_jwks_errors(void)
{
    char path[128], yaml[512];
    ig_error err;
    snprintf(path, sizeof(path), "%s/bad.jwks", dir);
    const char *bads[] = {
        "not json",
        "{\"keys\":[]}",
        "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"c2hvcnQ\"}]}",             /* short secret */
        "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a/b\",\"k\":\"c2hvcnQ\"}]}",           /* kid charset */
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", /* tiny modulus */
        "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"a\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}",
        "{\"keys\":[{\"kty\":\"OKP\",\"kid\":\"a\"}]}",
    };
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        FILE *f = fopen(path, "w");
        fputs(bads[i], f);
        fclose(f);
        snprintf(yaml, sizeof(yaml),
                 "auth:\n  jwt:\n    jwks_file: bad.jwks\n    algorithms: [HS256, RS256, ES256]\n");
        ig_auth *a = load(yaml, &err);
        if (a) fprintf(stderr, "  jwks case %zu loaded\n", i);
        CHECK(a == NULL);
        CHECK(strstr(err.msg, "t.yaml:3:") != NULL);
        ig_auth_free(a);
    }
    unlink(path);
    /* Keys present but none fits the allow-list. */
    ig_auth *a = load("auth:\n  jwt:\n    jwks_file: keys.jwks\n    algorithms: [ES384]\n", &err);
    CHECK(a == NULL);
    CHECK(strstr(err.msg, "no key fits") != NULL);
}

/* JWT and API keys side by side: a bad JWT is 401 even with a good x-api-key. */
static void test_mixed(void)
{
    char hash[IG_AUTH_HASH_LEN], yaml[1024];
    CHECK_EQ_INT(ig_auth_hash_key("plain-key", hash, sizeof(hash)), 0);
    snprintf(yaml, sizeof(yaml),
             "auth:\n  api_keys:\n    - name: k\n      hash: \"%s\"\n  jwt:\n    jwks_file: keys.jwks\n"
             "    algorithms: [RS256]\n",
             hash);
    ig_error err;
    ig_auth *a = load(yaml, &err);
    CHECK(a != NULL);
    if (!a) return;
    char tokhdr[2048];
    char *t = with_claims("{\"sub\":\"s\",\"exp\":%lld,\"x\":%lld}", NOW + 60, 0);
    snprintf(tokhdr, sizeof(tokhdr), "Bearer %s", t);
    ig_auth_identity id;
    char why[128];
    ig_auth_request rq = {.authorization = tokhdr, .now_s = NOW};
    CHECK_EQ_INT(ig_auth_check(a, &rq, "m", false, &id, why, sizeof(why)), IG_AUTH_ALLOW);
    CHECK_STR(id.method, "jwt");
    rq.now_s = NOW + 3600; /* now expired */
    rq.api_key = "plain-key";
    CHECK_EQ_INT(ig_auth_check(a, &rq, "m", false, &id, why, sizeof(why)), IG_AUTH_UNAUTHENTICATED);
    CHECK_STR(why, "token expired");
    rq.authorization = "Bearer plain-key";
    rq.api_key = NULL;
    CHECK_EQ_INT(ig_auth_check(a, &rq, "m", false, &id, why, sizeof(why)), IG_AUTH_ALLOW);
    CHECK_STR(id.method, "key");
    free(t);
    ig_auth_free(a);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ig_auth_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    rsa = EVP_RSA_gen(2048);
    evil = EVP_RSA_gen(2048);
    ec = EVP_EC_gen("P-256");
    RAND_bytes(hs_key, sizeof(hs_key));
    write_jwks();
    ig_error err;
    auth = load(conf_text, &err);
    CHECK(auth != NULL);
    if (!auth) {
        fprintf(stderr, "%s\n", err.msg);
    } else {
        test_positive();
        test_negative();
    }
    test_jwks_errors();
    test_mixed();
    ig_auth_free(auth);
    char path[128];
    snprintf(path, sizeof(path), "%s/keys.jwks", dir);
    unlink(path);
    rmdir(dir);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(evil);
    EVP_PKEY_free(ec);
    return CHECK_DONE();
}
