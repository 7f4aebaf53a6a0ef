/* Gateway TLS (see tls.h): the listener's `tls:` section and the pools' `tls:` maps read, their
 * files loaded and the contexts built by net/ssl. */
#include "gateway/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct ig_gw_tls {
    SSL_CTX *ctx;
    bool client_ca;
    ig_tls_pem pem; /* kept for the gRPC front's credentials */
    uint64_t fingerprint;
};

/* A hash of the texts, each with its length so that no two different lists hash the same bytes;
 * never 0. 0 when out of memory. */
static uint64_t fingerprint(const char *const *parts, int n)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h) return 0;
    XXH3_64bits_reset(h);
    for (int i = 0; i < n; i++) {
        uint64_t len = parts[i] ? strlen(parts[i]) + 1 : 0;
        XXH3_64bits_update(h, &len, sizeof len);
        if (parts[i]) XXH3_64bits_update(h, parts[i], len);
    }
    uint64_t v = XXH3_64bits_digest(h) | 1;
    XXH3_freeState(h);
    return v;
}

/* A path from the config, made absolute against base_dir when relative; NULL with err otherwise. */
static bool conf_path(const ig_conf *c, const ig_conf_node *map, const char *key, bool required,
                      const char *base_dir, char *out, size_t cap, ig_error *err)
{
    const char *v;
    out[0] = '\0';
    if (!ig_conf_str(c, map, key, NULL, &v, err)) return false;
    if (!v) return required ? ig_conf_fail(c, map, err, "tls: missing key '%s'", key) : true;
    const ig_conf_node *n = ig_conf_get(map, key);
    if (!*v) return ig_conf_fail(c, n, err, "tls.%s: empty path", key);
    int len =
        v[0] == '/' || !base_dir ? snprintf(out, cap, "%s", v) : snprintf(out, cap, "%s/%s", base_dir, v);
    if (len < 0 || (size_t)len >= cap) return ig_conf_fail(c, n, err, "tls.%s: path too long", key);
    FILE *f = fopen(out, "r");
    if (!f) return ig_conf_fail(c, n, err, "tls.%s: cannot read %s: %s", key, out, strerror(errno));
    fclose(f);
    return true;
}

/* Reads one configured file into *out; a read error names the key's line. */
static bool conf_pem(const ig_conf *c, const ig_conf_node *map, const char *key, const char *path, char **out,
                     ig_error *err)
{
    ig_error e = {0};
    if (!path[0]) return true;
    if (!ig_tls_read_pem("file", path, out, &e)) return true;
    return ig_conf_fail(c, ig_conf_get(map, key), err, "tls.%s: %s", key, e.msg);
}

ig_gw_tls *ig_gw_tls_from_conf(const ig_conf *c, const ig_conf_node *tls_map, const char *base_dir,
                               ig_error *err)
{
    if (!ig_conf_expect(c, tls_map, IG_CONF_MAP, err)) return NULL;
    char paths[3][4096], why[256];
    static const char *const keys[3] = {"cert", "key", "client_ca"};
    const char *minv;
    if (!conf_path(c, tls_map, "cert", true, base_dir, paths[0], sizeof paths[0], err) ||
        !conf_path(c, tls_map, "key", true, base_dir, paths[1], sizeof paths[1], err) ||
        !conf_path(c, tls_map, "client_ca", false, base_dir, paths[2], sizeof paths[2], err) ||
        !ig_conf_str(c, tls_map, "min_version", "1.2", &minv, err) || !ig_conf_no_unknown(c, tls_map, err))
        return NULL;
    int min_proto;
    if (!strcmp(minv, "1.2"))
        min_proto = TLS1_2_VERSION;
    else if (!strcmp(minv, "1.3"))
        min_proto = TLS1_3_VERSION;
    else {
        ig_conf_fail(c, ig_conf_get(tls_map, "min_version"), err,
                     "tls.min_version: expected \"1.2\" or \"1.3\"");
        return NULL;
    }
    ig_tls_pem pem = {0};
    ig_gw_tls *t = NULL;
    if (conf_pem(c, tls_map, keys[0], paths[0], &pem.cert, err) &&
        conf_pem(c, tls_map, keys[1], paths[1], &pem.key, err) &&
        conf_pem(c, tls_map, keys[2], paths[2], &pem.client_ca, err)) {
        ig_ssl_bad bad;
        SSL_CTX *ctx = ig_ssl_server_ctx(&pem, min_proto, &bad, why, sizeof why);
        const char *parts[] = {pem.cert, pem.key, pem.client_ca};
        uint64_t fp = ctx ? fingerprint(parts, 3) : 0;
        if (ctx && fp && (t = calloc(1, sizeof *t))) {
            t->ctx = ctx;
            t->client_ca = pem.client_ca != NULL;
            t->pem = pem; /* the texts move into t */
            memset(&pem, 0, sizeof pem);
            t->fingerprint = fp;
        } else if (ctx) {
            SSL_CTX_free(ctx);
            ig_conf_fail(c, tls_map, err, "tls: out of memory");
        } else if (bad == IG_SSL_BAD_NONE) {
            ig_conf_fail(c, tls_map, err, "tls: %s", why);
        } else {
            const char *key = keys[bad - IG_SSL_BAD_CERT];
            ig_conf_fail(c, ig_conf_get(tls_map, key), err, "tls.%s: cannot load %s: %s", key,
                         paths[bad - IG_SSL_BAD_CERT], why);
        }
    }
    ig_tls_free(&pem);
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
    char paths[3][4096], why[256];
    static const char *const keys[3] = {"cert", "key", "ca"};
    const char *name;
    if (!conf_path(c, tls_map, "ca", false, base_dir, paths[2], sizeof paths[2], err) ||
        !conf_path(c, tls_map, "cert", false, base_dir, paths[0], sizeof paths[0], err) ||
        !conf_path(c, tls_map, "key", false, base_dir, paths[1], sizeof paths[1], err) ||
        !ig_conf_str(c, tls_map, "server_name", NULL, &name, err) || !ig_conf_no_unknown(c, tls_map, err))
        return NULL;
    if (!paths[0][0] != !paths[1][0]) {
        ig_conf_fail(c, tls_map, err, "tls: 'cert' and 'key' go together");
        return NULL;
    }
    if (name && !*name) {
        ig_conf_fail(c, ig_conf_get(tls_map, "server_name"), err, "tls.server_name: empty");
        return NULL;
    }
    ig_gw_upstream_tls *t = calloc(1, sizeof *t);
    if (!t) {
        ig_conf_fail(c, tls_map, err, "tls: out of memory");
        return NULL;
    }
    if (!conf_pem(c, tls_map, keys[0], paths[0], &t->pem.cert, err) ||
        !conf_pem(c, tls_map, keys[1], paths[1], &t->pem.key, err) ||
        !conf_pem(c, tls_map, keys[2], paths[2], &t->pem.client_ca, err))
        goto fail;
    ig_ssl_bad bad;
    t->ctx = ig_ssl_client_ctx(t->pem.client_ca, t->pem.cert, t->pem.key, &bad, why, sizeof why);
    if (!t->ctx) {
        if (bad == IG_SSL_BAD_NONE || (bad == IG_SSL_BAD_CA && !paths[2][0])) {
            ig_conf_fail(c, tls_map, err, "tls: %s", why);
        } else {
            int k = bad == IG_SSL_BAD_CERT ? 0 : bad == IG_SSL_BAD_KEY ? 1 : 2;
            ig_conf_fail(c, ig_conf_get(tls_map, keys[k]), err, "tls.%s: cannot load %s: %s", keys[k],
                         paths[k], why);
        }
        goto fail;
    }
    name = name ? name : dns_host;
    if (name && !(t->server_name = strdup(name))) {
        ig_conf_fail(c, tls_map, err, "tls: out of memory");
        goto fail;
    }
    const char *parts[] = {t->pem.client_ca, t->pem.cert, t->pem.key, t->server_name};
    if (!(t->fingerprint = fingerprint(parts, 4))) {
        ig_conf_fail(c, tls_map, err, "tls: out of memory");
        goto fail;
    }
    return t;
fail:
    ig_gw_upstream_tls_free(t);
    return NULL;
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
    char host[256];
    const char *name = t->server_name;
    if (!name) {
        /* "host:port" or "[v6]:port": the host part, brackets dropped */
        const char *a = endpoint_address, *end = strrchr(a, ':');
        size_t len = end ? (size_t)(end - a) : strlen(a);
        if (a[0] == '[' && len >= 2 && a[len - 1] == ']') a++, len -= 2;
        if (len >= sizeof host) len = sizeof host - 1;
        memcpy(host, a, len);
        host[len] = '\0';
        name = host;
    }
    return ig_ssl_connect(t->ctx, fd, name);
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
