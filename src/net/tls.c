/* Loading and checking the PEM files behind --tls-cert, --tls-key and --tls-client-ca (GnuTLS parses
 * them here; gRPC core uses them through its own TLS stack). */
#include "net/tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { max_pem_bytes = 1 << 20 };

static int read_file(const char *what, const char *path, char **out, ig_error *err)
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

static gnutls_datum_t datum(char *s)
{
    return (gnutls_datum_t){(unsigned char *)s, (unsigned)strlen(s)};
}

/* Parses the pair as the REST port will, which also checks that the key belongs to the certificate. */
static int check(ig_tls_pem *t, const char *cert_path, const char *key_path, const char *ca_path,
                 ig_error *err)
{
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        return ig_error_set(err, IG_ENOMEM, "TLS: out of memory");
    int rc = 0;
    gnutls_datum_t c = datum(t->cert), k = datum(t->key);
    int g = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (g < 0) {
        rc = ig_error_set(err, IG_EINVAL, "--tls-cert '%s' / --tls-key '%s': %s", cert_path, key_path,
                          gnutls_strerror(g));
    } else if (t->client_ca) {
        gnutls_datum_t a = datum(t->client_ca);
        g = gnutls_certificate_set_x509_trust_mem(cred, &a, GNUTLS_X509_FMT_PEM);
        if (g <= 0)
            rc = ig_error_set(err, IG_EINVAL, "--tls-client-ca '%s': %s", ca_path,
                              g < 0 ? gnutls_strerror(g) : "no PEM certificate in it");
    }
    gnutls_certificate_free_credentials(cred);
    return rc;
}

int ig_tls_load(const char *cert_path, const char *key_path, const char *client_ca_path, ig_tls_pem *out,
                ig_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = read_file("--tls-cert", cert_path, &out->cert, err);
    if (!rc) rc = read_file("--tls-key", key_path, &out->key, err);
    if (!rc && client_ca_path) rc = read_file("--tls-client-ca", client_ca_path, &out->client_ca, err);
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
