/* Gateway listener TLS (see tls.h): builds the server SSL_CTX from the `tls:` section and wraps
 * SSL_read/SSL_write for the workers' non-blocking sockets. */
#include "gateway/tls.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ig_gw_tls {
    SSL_CTX *ctx;
    bool client_ca;
};

/* The newest OpenSSL error as text (the queue is cleared). */
static const char *ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (!e) {
        snprintf(buf, cap, "%s", errno ? strerror(errno) : "unknown error");
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(buf, cap, "%s", r);
        else
            ERR_error_string_n(e, buf, cap);
    }
    ERR_clear_error();
    return buf;
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

/* Offers HTTP/1.1 to clients that negotiate a protocol (curl offers h2 first); anything else
 * goes on without ALPN and is answered as HTTP/1.1 anyway. */
static int select_alpn(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    (void)s;
    (void)arg;
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, h11, sizeof h11 - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

ig_gw_tls *ig_gw_tls_from_conf(const ig_conf *c, const ig_conf_node *tls_map, const char *base_dir,
                               ig_error *err)
{
    if (!ig_conf_expect(c, tls_map, IG_CONF_MAP, err)) return NULL;
    char cert[4096], key[4096], ca[4096], why[256];
    const char *minv;
    if (!conf_path(c, tls_map, "cert", true, base_dir, cert, sizeof cert, err) ||
        !conf_path(c, tls_map, "key", true, base_dir, key, sizeof key, err) ||
        !conf_path(c, tls_map, "client_ca", false, base_dir, ca, sizeof ca, err) ||
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
    ig_gw_tls *t = calloc(1, sizeof *t);
    if (!t || !(t->ctx = SSL_CTX_new(TLS_server_method()))) {
        free(t);
        ig_conf_fail(c, tls_map, err, "tls: cannot create a TLS context: %s", ssl_reason(why, sizeof why));
        return NULL;
    }
    SSL_CTX *ctx = t->ctx;
    ERR_clear_error();
    errno = 0;
    if (!SSL_CTX_set_min_proto_version(ctx, min_proto)) {
        ig_conf_fail(c, tls_map, err, "tls: cannot set the minimum version: %s", ssl_reason(why, sizeof why));
        goto fail;
    }
    /* Renegotiation is refused (a client could otherwise swap certificates mid-connection after its
     * identity was cached); a peer that drops the TCP connection without close_notify just closes. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    /* The proxy's output buffer grows and moves between retries of one write. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ig_conf_fail(c, ig_conf_get(tls_map, "cert"), err, "tls.cert: cannot load %s: %s", cert,
                     ssl_reason(why, sizeof why));
        goto fail;
    }
    /* OpenSSL compares the key with the certificate as it loads it; the check below catches the rest. */
    int loaded = SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM);
    if (loaded != 1 && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
        ig_conf_fail(c, ig_conf_get(tls_map, "key"), err, "tls.key: cannot load %s: %s", key,
                     ssl_reason(why, sizeof why));
        goto fail;
    }
    if (loaded != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        ig_conf_fail(c, ig_conf_get(tls_map, "key"), err, "tls.key: %s does not match the certificate %s",
                     key, cert);
        goto fail;
    }
    if (ca[0]) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            ig_conf_fail(c, ig_conf_get(tls_map, "client_ca"), err,
                         "tls.client_ca: no CA certificate in %s: %s", ca, ssl_reason(why, sizeof why));
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_verify_depth(ctx, 8);
        t->client_ca = true;
    }
    /* Session resumption with client verification needs a context id. */
    static const unsigned char sid[] = "infergate-gateway";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    ERR_clear_error();
    return t;
fail:
    ig_gw_tls_free(t);
    return NULL;
}

void ig_gw_tls_free(ig_gw_tls *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    free(t);
}

bool ig_gw_tls_requires_client_cert(const ig_gw_tls *t)
{
    return t && t->client_ca;
}

SSL *ig_gw_tls_accept(ig_gw_tls *t, int fd)
{
    SSL *s = SSL_new(t->ctx);
    if (!s) {
        ERR_clear_error();
        return NULL;
    }
    if (SSL_set_fd(s, fd) != 1) {
        ERR_clear_error();
        SSL_free(s);
        return NULL;
    }
    SSL_set_accept_state(s);
    return s;
}

/* Maps an SSL_read/SSL_write failure to the return value and errno described in tls.h. other: set
 * when the operation waits for the other direction of the socket. */
static ssize_t io_failed(SSL *s, int rc, int want_other, bool *other)
{
    int e = SSL_get_error(s, rc);
    int saved = errno;
    ERR_clear_error();
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        if (other) *other = e == want_other;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        errno = saved ? saved : ECONNRESET;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

ssize_t ig_gw_tls_read(SSL *s, void *buf, size_t len, bool *want_write)
{
    if (want_write) *want_write = false;
    ERR_clear_error();
    int n = SSL_read(s, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0) return n;
    return io_failed(s, n, SSL_ERROR_WANT_WRITE, want_write);
}

ssize_t ig_gw_tls_write(SSL *s, const void *buf, size_t len, bool *want_read)
{
    if (want_read) *want_read = false;
    ERR_clear_error();
    int n = SSL_write(s, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0) return n;
    return io_failed(s, n, SSL_ERROR_WANT_READ, want_read);
}

size_t ig_gw_tls_pending(SSL *s)
{
    int n = SSL_pending(s);
    return n > 0 ? (size_t)n : 0;
}

/* One GENERAL_NAME as "KIND:value", or false for kinds the auth rules cannot name. */
static bool san_text(const GENERAL_NAME *g, char *out, size_t cap)
{
    const char *kind;
    const ASN1_STRING *str;
    switch (g->type) {
    case GEN_DNS:
        kind = "DNS", str = g->d.dNSName;
        break;
    case GEN_URI:
        kind = "URI", str = g->d.uniformResourceIdentifier;
        break;
    case GEN_EMAIL:
        kind = "email", str = g->d.rfc822Name;
        break;
    case GEN_IPADD: {
        char ip[INET6_ADDRSTRLEN];
        const ASN1_OCTET_STRING *a = g->d.iPAddress;
        int len = ASN1_STRING_length(a);
        int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
        if (!af || !inet_ntop(af, ASN1_STRING_get0_data(a), ip, sizeof ip)) return false;
        snprintf(out, cap, "IP:%s", ip);
        return true;
    }
    default:
        return false;
    }
    int len = ASN1_STRING_length(str);
    const unsigned char *d = ASN1_STRING_get0_data(str);
    /* IA5 strings; a name with a NUL or a control byte could pose as another one: skipped. */
    if (len <= 0 || (size_t)len + strlen(kind) + 2 > cap) return false;
    for (int i = 0; i < len; i++)
        if (d[i] < 0x20 || d[i] >= 0x7f) return false;
    snprintf(out, cap, "%s:%.*s", kind, len, (const char *)d);
    return true;
}

size_t ig_gw_tls_peer(SSL *s, char *subject, size_t subject_cap, char (*sans)[256], size_t max_sans)
{
    if (subject_cap) subject[0] = '\0';
    X509 *x = SSL_get0_peer_certificate(s);
    if (!x || SSL_get_verify_result(s) != X509_V_OK) return 0;
    BIO *b = BIO_new(BIO_s_mem());
    if (b) {
        /* RFC 2253 with UTF-8 kept as is (not escaped to \XX), the form auth rules are written in. */
        unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
        int w = X509_NAME_print_ex(b, X509_get_subject_name(x), 0, flags);
        char *p;
        long len = BIO_get_mem_data(b, &p);
        if (w >= 0 && len >= 0 && (size_t)len < subject_cap) {
            memcpy(subject, p, (size_t)len);
            subject[len] = '\0';
        }
        BIO_free(b);
    }
    size_t n = 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && n < max_sans; i++)
        if (san_text(sk_GENERAL_NAME_value(gens, i), sans[n], sizeof sans[n])) n++;
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
    return n;
}

void ig_gw_tls_close(SSL *s)
{
    if (!s) return;
    /* Only after a finished handshake: a close_notify then is polite, before it meaningless. */
    if (SSL_is_init_finished(s)) SSL_shutdown(s);
    ERR_clear_error();
    SSL_free(s);
}
