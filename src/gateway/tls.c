/* Gateway TLS (see tls.h): the listener's `tls:` section and the pools' `tls:` maps read, their
 * files loaded and the contexts built by net/ssl. */
#include "gateway/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "gateway/endpoint.h"

struct ig_gw_tls {
    SSL_CTX *ctx;
    bool client_ca;
    ig_tls_pem pem; /* kept for the gRPC front's credentials */
    uint64_t fingerprint;
};

/* A hash of the texts (each with its length, so that no two different lists hash the same bytes);
 * never 0, the value for "no TLS". */
static uint64_t fingerprint(const char *const *parts, int n)
{
    uint64_t h = 0;
    for (int i = 0; i < n; i++) {
        uint64_t len = parts[i] ? strlen(parts[i]) + 1 : 0;
        h = XXH3_64bits_withSeed(&len, sizeof len, h);
        if (parts[i]) h = XXH3_64bits_withSeed(parts[i], len, h);
    }
    return h | 1;
}

/* The PEM files of a `tls:` map, read once: keys[i] names the file for cert, key and CA in that order
 * (a relative path resolves against base_dir); an absent key leaves its text NULL and its path "".
 * Errors name the key's line. */
typedef struct tls_files {
    const char *keys[3];
    char paths[3][4096];
    ig_tls_pem pem;
} tls_files;

static bool read_files(const ig_conf *c, const ig_conf_node *map, const char *base_dir,
                       const bool required[3], tls_files *f, ig_error *err)
{
    char **texts[3] = {&f->pem.cert, &f->pem.key, &f->pem.client_ca};
    for (int i = 0; i < 3; i++) {
        const char *key = f->keys[i], *v;
        char *out = f->paths[i];
        out[0] = '\0';
        if (!ig_conf_str(c, map, key, NULL, &v, err)) return false;
        if (!v) {
            if (required[i]) return ig_conf_fail(c, map, err, "tls: missing key '%s'", key);
            continue;
        }
        const ig_conf_node *n = ig_conf_get(map, key);
        if (!*v) return ig_conf_fail(c, n, err, "tls.%s: empty path", key);
        size_t cap = sizeof f->paths[i];
        int len =
            v[0] == '/' || !base_dir ? snprintf(out, cap, "%s", v) : snprintf(out, cap, "%s/%s", base_dir, v);
        if (len < 0 || (size_t)len >= cap) return ig_conf_fail(c, n, err, "tls.%s: path too long", key);
        ig_error e = {0};
        if (ig_tls_read_pem("cannot read", out, texts[i], &e))
            return ig_conf_fail(c, n, err, "tls.%s: %s", key, e.msg);
    }
    return true;
}

/* A context net/ssl refused: the error names the file at fault, or the map when none is. */
static void ctx_refused(const ig_conf *c, const ig_conf_node *map, const tls_files *f, ig_ssl_bad bad,
                        const char *why, ig_error *err)
{
    int k = bad == IG_SSL_BAD_CERT ? 0 : bad == IG_SSL_BAD_KEY ? 1 : 2;
    if (bad == IG_SSL_BAD_NONE || !f->paths[k][0])
        ig_conf_fail(c, map, err, "tls: %s", why);
    else
        ig_conf_fail(c, ig_conf_get(map, f->keys[k]), err, "tls.%s: cannot load %s: %s", f->keys[k],
                     f->paths[k], why);
}

ig_gw_tls *ig_gw_tls_from_conf(const ig_conf *c, const ig_conf_node *tls_map, const char *base_dir,
                               ig_error *err)
{
    if (!ig_conf_expect(c, tls_map, IG_CONF_MAP, err)) return NULL;
    tls_files f = {.keys = {"cert", "key", "client_ca"}};
    static const bool required[3] = {true, true, false};
    const char *minv;
    ig_gw_tls *t = NULL;
    if (!read_files(c, tls_map, base_dir, required, &f, err) ||
        !ig_conf_str(c, tls_map, "min_version", "1.2", &minv, err) || !ig_conf_no_unknown(c, tls_map, err))
        goto done;
    int min_proto;
    if (!strcmp(minv, "1.2")) {
        min_proto = TLS1_2_VERSION;
    } else if (!strcmp(minv, "1.3")) {
        min_proto = TLS1_3_VERSION;
    } else {
        ig_conf_fail(c, ig_conf_get(tls_map, "min_version"), err,
                     "tls.min_version: expected \"1.2\" or \"1.3\"");
        goto done;
    }
    char why[256];
    ig_ssl_bad bad;
    SSL_CTX *ctx = ig_ssl_server_ctx(&f.pem, min_proto, &bad, why, sizeof why);
    if (!ctx) {
        ctx_refused(c, tls_map, &f, bad, why, err);
    } else if (!(t = calloc(1, sizeof *t))) {
        SSL_CTX_free(ctx);
        ig_conf_fail(c, tls_map, err, "tls: out of memory");
    } else {
        const char *parts[] = {f.pem.cert, f.pem.key, f.pem.client_ca};
        t->ctx = ctx;
        t->client_ca = f.pem.client_ca != NULL;
        t->fingerprint = fingerprint(parts, 3);
        t->pem = f.pem; /* the texts move into t */
        memset(&f.pem, 0, sizeof f.pem);
    }
done:
    ig_tls_free(&f.pem);
    return t;
}

void ig_gw_tls_free(ig_gw_tls *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    ig_tls_free(&t->pem);
    free(t);
}

const ig_tls_pem *ig_gw_tls_pem(const ig_gw_tls *t)
{
    return &t->pem;
}

uint64_t ig_gw_tls_fingerprint(const ig_gw_tls *t)
{
    return t ? t->fingerprint : 0;
}

bool ig_gw_tls_requires_client_cert(const ig_gw_tls *t)
{
    return t && t->client_ca;
}

SSL *ig_gw_tls_accept(ig_gw_tls *t, int fd)
{
    return ig_ssl_accept(t->ctx, fd);
}

struct ig_gw_upstream_tls {
    SSL_CTX *ctx;
    uint64_t fingerprint;
    ig_tls_pem pem; /* cert, key and (in client_ca) the CA text: kept for gRPC channel credentials */
    char *server_name;
};

ig_gw_upstream_tls *ig_gw_upstream_tls_from_conf(const ig_conf *c, const ig_conf_node *tls_map,
                                                 const char *base_dir, const char *dns_host, ig_error *err)
{
    if (!ig_conf_expect(c, tls_map, IG_CONF_MAP, err)) return NULL;
    tls_files f = {.keys = {"cert", "key", "ca"}};
    static const bool required[3] = {false, false, false};
    const char *name;
    ig_gw_upstream_tls *t = NULL;
    if (!read_files(c, tls_map, base_dir, required, &f, err) ||
        !ig_conf_str(c, tls_map, "server_name", NULL, &name, err) || !ig_conf_no_unknown(c, tls_map, err))
        goto done;
    if (!f.paths[0][0] != !f.paths[1][0]) {
        ig_conf_fail(c, tls_map, err, "tls: 'cert' and 'key' go together");
        goto done;
    }
    if (name && !*name) {
        ig_conf_fail(c, ig_conf_get(tls_map, "server_name"), err, "tls.server_name: empty");
        goto done;
    }
    name = name ? name : dns_host;
    char why[256];
    ig_ssl_bad bad;
    SSL_CTX *ctx = ig_ssl_client_ctx(f.pem.client_ca, f.pem.cert, f.pem.key, &bad, why, sizeof why);
    if (!ctx) {
        ctx_refused(c, tls_map, &f, bad, why, err);
    } else if (!(t = calloc(1, sizeof *t)) || (name && !(t->server_name = strdup(name)))) {
        SSL_CTX_free(ctx);
        free(t);
        t = NULL;
        ig_conf_fail(c, tls_map, err, "tls: out of memory");
    } else {
        const char *parts[] = {f.pem.client_ca, f.pem.cert, f.pem.key, t->server_name};
        t->ctx = ctx;
        t->fingerprint = fingerprint(parts, 4);
        t->pem = f.pem; /* the texts move into t */
        memset(&f.pem, 0, sizeof f.pem);
    }
done:
    ig_tls_free(&f.pem);
    return t;
}

void ig_gw_upstream_tls_free(ig_gw_upstream_tls *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    ig_tls_free(&t->pem);
    free(t->server_name);
    free(t);
}

uint64_t ig_gw_upstream_tls_fingerprint(const ig_gw_upstream_tls *t)
{
    return t ? t->fingerprint : 0;
}

SSL *ig_gw_upstream_tls_connect(const ig_gw_upstream_tls *t, int fd, const char *endpoint_address)
{
    char host[256], port[8];
    if (t->server_name) return ig_ssl_connect(t->ctx, fd, t->server_name);
    return ig_gw_split_host_port(endpoint_address, host, sizeof host, port, sizeof port)
               ? ig_ssl_connect(t->ctx, fd, host)
               : NULL;
}

const char *ig_gw_upstream_tls_ca(const ig_gw_upstream_tls *t)
{
    return t->pem.client_ca;
}

const char *ig_gw_upstream_tls_cert(const ig_gw_upstream_tls *t)
{
    return t->pem.cert;
}

const char *ig_gw_upstream_tls_key(const ig_gw_upstream_tls *t)
{
    return t->pem.key;
}

const char *ig_gw_upstream_tls_server_name(const ig_gw_upstream_tls *t)
{
    return t->server_name;
}
