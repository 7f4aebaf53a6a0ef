/* libFuzzer target for bearer-token checking: arbitrary bytes as the token against a fixed config with
 * an HS256 oct key and an RS256 key (both generated once at start-up). Any crash, sanitizer report or
 * leak is a bug; refusals are expected. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/auth.h"

static ig_auth *auth;

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
        *out++ = al[v >> 18], *out++ = al[v >> 12 & 63], *out++ = al[v >> 6 & 63], *out++ = al[v & 63];
    }
    if (n - i == 1) {
        unsigned v = in[i] << 16;
        *out++ = al[v >> 18], *out++ = al[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = in[i] << 16 | in[i + 1] << 8;
        *out++ = al[v >> 18], *out++ = al[v >> 12 & 63], *out++ = al[v >> 6 & 63];
    }
    *out = 0;
}

static void init(void)
{
    char dir[] = "/tmp/ig_fuzz_auth_XXXXXX", path[64], n64[400], e64[16], k64[64];
    if (!mkdtemp(dir)) abort();
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    BIGNUM *n = NULL, *e = NULL;
    unsigned char buf[256], key[32];
    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &e);
    b64url(buf, (size_t)BN_bn2bin(n, buf), n64);
    b64url(buf, (size_t)BN_bn2bin(e, buf), e64);
    RAND_bytes(key, sizeof(key));
    b64url(key, sizeof(key), k64);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(rsa);
    snprintf(path, sizeof(path), "%s/keys.jwks", dir);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fprintf(f,
            "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"n\":\"%s\",\"e\":\"%s\"},"
            "{\"kty\":\"oct\",\"kid\":\"hs1\",\"k\":\"%s\"}]}",
            n64, e64, k64);
    fclose(f);
    static const char yaml[] = "auth:\n  jwt:\n    jwks_file: keys.jwks\n    algorithms: [RS256, HS256]\n"
                               "    audiences: [infergate]\n";
    ig_error err = {0};
    ig_conf *c = ig_conf_load_string(yaml, sizeof(yaml) - 1, "fuzz.yaml", &err);
    auth = c ? ig_auth_from_conf(c, ig_conf_get(ig_conf_root(c), "auth"), dir, &err) : NULL;
    ig_conf_free(c);
    unlink(path);
    rmdir(dir);
    if (!auth) {
        fprintf(stderr, "fuzz_auth_jwt: %s\n", err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!auth) init();
    char *hdr = malloc(size + 8);
    if (!hdr) return 0;
    memcpy(hdr, "Bearer ", 7);
    memcpy(hdr + 7, data, size);
    hdr[size + 7] = 0; /* a header value ends at its first NUL, as the HTTP parser hands it over */
    ig_auth_request rq = {.authorization = hdr, .now_s = 1700000000};
    ig_auth_identity id;
    char why[128];
    ig_auth_check(auth, &rq, "model", false, &id, why, sizeof(why));
    free(hdr);
    return 0;
}
