/* Loading and checking the PEM files behind --tls-cert, --tls-key and --tls-client-ca (checked by
 * building the OpenSSL context the REST port serves them with; gRPC core takes the same text). */
#include "net/tls.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/ssl.h"

enum { max_pem_bytes = 1 << 20 };

int ig_tls_read_pem(const char *what, const char *path, char **out, ig_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ig_error_set(err, IG_EIO, "%s '%s': %s", what, path, strerror(errno));
    char *buf = malloc(max_pem_bytes + 1);
    size_t n = buf ? fread(buf, 1, max_pem_bytes + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf) return ig_error_set(err, IG_ENOMEM, "%s '%s': out of memory", what, path);
    if (bad || n == 0 || n > max_pem_bytes) {
        free(buf);
        return ig_error_set(err, IG_EINVAL, "%s '%s': %s", what, path,
                            bad ? "read error"
                            : n ? "larger than 1 MiB"
                                : "empty file");
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* Builds the context the REST port will serve, which also checks that the key belongs to the
 * certificate and that the CA file holds a certificate. */
static int check(ig_tls_pem *t, const char *cert_path, const char *key_path, const char *ca_path,
                 ig_error *err)
{
    ig_ssl_bad bad;
    char why[256];
    SSL_CTX *ctx = ig_ssl_server_ctx(t, TLS1_2_VERSION, &bad, why, sizeof why);
    if (ctx) {
        SSL_CTX_free(ctx);
        return 0;
    }
    switch (bad) {
    case IG_SSL_BAD_CERT:
        return ig_error_set(err, IG_EINVAL, "--tls-cert '%s': %s", cert_path, why);
    case IG_SSL_BAD_KEY:
        return ig_error_set(err, IG_EINVAL, "--tls-key '%s': %s", key_path, why);
    case IG_SSL_BAD_CA:
        return ig_error_set(err, IG_EINVAL, "--tls-client-ca '%s': %s", ca_path, why);
    default:
        return ig_error_set(err, IG_ENOMEM, "TLS: %s", why);
    }
}

int ig_tls_load(const char *cert_path, const char *key_path, const char *client_ca_path, ig_tls_pem *out,
                ig_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = ig_tls_read_pem("--tls-cert", cert_path, &out->cert, err);
    if (!rc) rc = ig_tls_read_pem("--tls-key", key_path, &out->key, err);
    if (!rc && client_ca_path) rc = ig_tls_read_pem("--tls-client-ca", client_ca_path, &out->client_ca, err);
    if (!rc) rc = check(out, cert_path, key_path, client_ca_path, err);
    if (rc) ig_tls_free(out);
    return rc;
}

void ig_tls_free(ig_tls_pem *t)
{
    if (!t) return;
    free(t->cert);
    if (t->key) memset(t->key, 0, strlen(t->key)); /* the private key does not linger in freed memory */
    free(t->key);
    free(t->client_ca);
    memset(t, 0, sizeof *t);
}

struct ig_tls_store {
    pthread_mutex_t lock;
    char *paths[3]; /* cert, key, client CA (NULL) */
    ig_tls_pem pem;
    atomic_ulong gen;
};

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d) *oom = true;
    return d;
}

int ig_tls_store_create(const char *cert_path, const char *key_path, const char *client_ca_path,
                        ig_tls_store **out, ig_error *err)
{
    *out = NULL;
    ig_tls_store *s = calloc(1, sizeof *s);
    if (!s) return ig_error_set(err, IG_ENOMEM, "TLS: out of memory");
    bool oom = false;
    s->paths[0] = dup_or_null(cert_path, &oom);
    s->paths[1] = dup_or_null(key_path, &oom);
    s->paths[2] = dup_or_null(client_ca_path, &oom);
    int rc = oom ? ig_error_set(err, IG_ENOMEM, "TLS: out of memory")
                 : ig_tls_load(cert_path, key_path, client_ca_path, &s->pem, err);
    if (rc) {
        for (int i = 0; i < 3; i++) free(s->paths[i]);
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->gen, 1);
    *out = s;
    return 0;
}

int ig_tls_store_reload(ig_tls_store *s, ig_error *err)
{
    ig_tls_pem fresh;
    int rc = ig_tls_load(s->paths[0], s->paths[1], s->paths[2], &fresh, err);
    if (rc) return rc;
    pthread_mutex_lock(&s->lock);
    ig_tls_pem old = s->pem;
    s->pem = fresh;
    atomic_fetch_add(&s->gen, 1);
    pthread_mutex_unlock(&s->lock);
    ig_tls_free(&old);
    return 0;
}

unsigned long ig_tls_store_generation(ig_tls_store *s)
{
    return atomic_load(&s->gen);
}

bool ig_tls_pem_copy(const ig_tls_pem *from, ig_tls_pem *out)
{
    bool oom = false;
    out->cert = dup_or_null(from->cert, &oom);
    out->key = dup_or_null(from->key, &oom);
    out->client_ca = dup_or_null(from->client_ca, &oom);
    if (oom) ig_tls_free(out);
    return !oom;
}

unsigned long ig_tls_store_get(ig_tls_store *s, ig_tls_pem *out)
{
    pthread_mutex_lock(&s->lock);
    bool ok = ig_tls_pem_copy(&s->pem, out);
    unsigned long gen = atomic_load(&s->gen);
    pthread_mutex_unlock(&s->lock);
    return ok ? gen : 0;
}

bool ig_tls_store_client_auth(const ig_tls_store *s)
{
    return s->paths[2] != NULL;
}

void ig_tls_store_free(ig_tls_store *s)
{
    if (!s) return;
    ig_tls_free(&s->pem);
    for (int i = 0; i < 3; i++) free(s->paths[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
