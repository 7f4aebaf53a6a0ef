/* Server-side OpenSSL for the HTTP/1.1 ports (see ssl.h): the context built from PEM text in memory,
 * so what was checked at load is exactly what is served, and SSL_read/SSL_write wrapped for
 * non-blocking sockets. */
#include "net/ssl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The one protocol both ends of our TLS speak over ALPN. */
static const unsigned char alpn_h11[] = "\x08http/1.1";

/* Offers HTTP/1.1 to clients that negotiate a protocol (curl offers h2 first); anything else
 * goes on without ALPN and is answered as HTTP/1.1 anyway. */
static int select_alpn(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    (void)s;
    (void)arg;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, alpn_h11, sizeof alpn_h11 - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* Fails the build: why is OpenSSL's reason, or `missing` when the text held no PEM block of the kind
 * wanted. */
static SSL_CTX *ctx_fail(SSL_CTX *ctx, ig_ssl_bad *bad, ig_ssl_bad which, char *why, size_t cap,
                         const char *missing)
{
    unsigned long e = ERR_peek_last_error();
    *bad = which;
    if (!e || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        ERR_clear_error();
        snprintf(why, cap, "%s", missing);
    } else {
        ssl_reason(why, cap);
    }
    SSL_CTX_free(ctx);
    return NULL;
}

/* Fails the build with our own reason. */
static SSL_CTX *ctx_refuse(SSL_CTX *ctx, ig_ssl_bad *bad, ig_ssl_bad which, char *why, size_t cap,
                           const char *text)
{
    ERR_clear_error();
    *bad = which;
    snprintf(why, cap, "%s", text);
    SSL_CTX_free(ctx);
    return NULL;
}

/* A context of either side with what both share: the minimum version, no renegotiation (a client
 * could otherwise swap certificates mid-connection after its identity was taken), a peer that drops
 * the TCP connection without close_notify just closing, output buffers that grow and move between
 * retries of one write. NULL with *bad and why set. */
static SSL_CTX *ctx_new(const SSL_METHOD *method, int min_version, long extra_options, ig_ssl_bad *bad,
                        char *why, size_t cap)
{
    *bad = IG_SSL_BAD_NONE;
    ERR_clear_error();
    errno = 0;
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, min_version))
        return ctx_fail(ctx, bad, IG_SSL_BAD_NONE, why, cap, "cannot create a TLS context");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION |
                                 extra_options);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

/* Reads every certificate in PEM text, in order; the end of the text is not an error. */
static int next_cert(BIO *b, X509 **out)
{
    ERR_clear_error();
    *out = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (*out) return 1;
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        return 0;
    }
    return -1;
}

/* The leaf certificate, then the rest of the chain. */
static bool use_chain(SSL_CTX *ctx, const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = NULL;
    bool ok = b && next_cert(b, &x) == 1 && SSL_CTX_use_certificate(ctx, x) == 1;
    X509_free(x);
    int more = 0;
    while (ok && (more = next_cert(b, &x)) == 1)
        if (SSL_CTX_add0_chain_cert(ctx, x) != 1) { /* takes x only on success */
            X509_free(x);
            ok = false;
        }
    BIO_free(b);
    return ok && more == 0;
}

static bool use_key(SSL_CTX *ctx, const char *pem)
{
    /* Without a key block OpenSSL's decoders only say "unsupported": say what is missing instead. */
    if (!strstr(pem, "PRIVATE KEY-----")) {
        ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
        return false;
    }
    BIO *b = BIO_new_mem_buf(pem, -1);
    /* An empty passphrase instead of a terminal prompt: an encrypted key fails to load. */
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
    bool ok = k && SSL_CTX_use_PrivateKey(ctx, k) == 1;
    EVP_PKEY_free(k);
    BIO_free(b);
    return ok;
}

/* Trusts every certificate in the CA text; a server also names them to clients as acceptable. */
static bool add_trust(SSL_CTX *ctx, const char *pem, bool name_to_clients)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509 *x;
    int n = 0, r = b ? 0 : -1;
    while (b && (r = next_cert(b, &x)) == 1) {
        bool ok =
            X509_STORE_add_cert(store, x) == 1 && (!name_to_clients || SSL_CTX_add_client_CA(ctx, x) == 1);
        X509_free(x);
        if (!ok) {
            r = -1;
            break;
        }
        n++;
    }
    BIO_free(b);
    return r == 0 && n > 0;
}

/* The certificate and its key, checked to belong together. */
static SSL_CTX *use_pair(SSL_CTX *ctx, const char *cert, const char *key, ig_ssl_bad *bad, char *why,
                         size_t cap)
{
    if (!use_chain(ctx, cert))
        return ctx_fail(ctx, bad, IG_SSL_BAD_CERT, why, cap, "no PEM certificate in it");
    bool loaded = use_key(ctx, key);
    /* OpenSSL compares the key with the certificate as it loads it; the check catches the rest. */
    if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        return ctx_fail(ctx, bad, IG_SSL_BAD_KEY, why, cap, "no PEM private key in it");
    if (!loaded || SSL_CTX_check_private_key(ctx) != 1)
        return ctx_refuse(ctx, bad, IG_SSL_BAD_KEY, why, cap, "the key does not match the certificate");
    return ctx;
}

SSL_CTX *ig_ssl_server_ctx(const ig_tls_pem *pem, int min_version, ig_ssl_bad *bad, char *why, size_t why_cap)
{
    SSL_CTX *ctx =
        ctx_new(TLS_server_method(), min_version, SSL_OP_CIPHER_SERVER_PREFERENCE, bad, why, why_cap);
    if (!ctx) return NULL;
    if (!use_pair(ctx, pem->cert, pem->key, bad, why, why_cap)) return NULL;
    if (pem->client_ca) {
        if (!add_trust(ctx, pem->client_ca, true))
            return ctx_fail(ctx, bad, IG_SSL_BAD_CA, why, why_cap, "no PEM CA certificate in it");
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_verify_depth(ctx, 8);
    }
    /* Session resumption with client verification needs a context id. */
    static const unsigned char sid[] = "infergate";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    ERR_clear_error();
    return ctx;
}

SSL_CTX *ig_ssl_client_ctx(const char *ca_pem, const char *cert_pem, const char *key_pem, ig_ssl_bad *bad,
                           char *why, size_t why_cap)
{
    SSL_CTX *ctx = ctx_new(TLS_client_method(), TLS1_2_VERSION, 0, bad, why, why_cap);
    if (!ctx) return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_pem ? !add_trust(ctx, ca_pem, false) : SSL_CTX_set_default_verify_paths(ctx) != 1)
        return ctx_fail(ctx, bad, IG_SSL_BAD_CA, why, why_cap, "no PEM CA certificate in it");
    if (!cert_pem != !key_pem)
        return ctx_refuse(ctx, bad, cert_pem ? IG_SSL_BAD_KEY : IG_SSL_BAD_CERT, why, why_cap,
                          "a client certificate and its key go together");
    if (cert_pem && !use_pair(ctx, cert_pem, key_pem, bad, why, why_cap)) return NULL;
    /* Upstream connections are HTTP/1.1 (gRPC pools go through gRPC core's own TLS). */
    SSL_CTX_set_alpn_protos(ctx, alpn_h11, sizeof alpn_h11 - 1);
    ERR_clear_error();
    return ctx;
}

SSL *ig_ssl_connect(SSL_CTX *ctx, int fd, const char *name)
{
    SSL *s = SSL_new(ctx);
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    /* SNI carries host names only; the certificate must name the host or the address. */
    bool ok =
        s && SSL_set_fd(s, fd) == 1 && (is_ip || SSL_set_tlsext_host_name(s, name) == 1) &&
        (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), name) == 1 : SSL_set1_host(s, name) == 1);
    ERR_clear_error();
    if (!ok) {
        SSL_free(s);
        return NULL;
    }
    SSL_set_connect_state(s);
    return s;
}

SSL *ig_ssl_accept(SSL_CTX *ctx, int fd)
{
    SSL *s = SSL_new(ctx);
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

/* Maps an SSL_read/SSL_write failure to the return value and errno described in ssl.h. other: set
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

int ig_ssl_handshake(SSL *s, bool *want_write)
{
    *want_write = false;
    ERR_clear_error();
    int n = SSL_do_handshake(s);
    if (n == 1) return 1;
    if (io_failed(s, n, SSL_ERROR_WANT_WRITE, want_write) == 0) errno = ECONNRESET; /* closed mid-handshake */
    return -1;
}

ssize_t ig_ssl_read(SSL *s, void *buf, size_t len, bool *want_write)
{
    if (want_write) *want_write = false;
    ERR_clear_error();
    int n = SSL_read(s, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0) return n;
    return io_failed(s, n, SSL_ERROR_WANT_WRITE, want_write);
}

ssize_t ig_ssl_write(SSL *s, const void *buf, size_t len, bool *want_read)
{
    if (want_read) *want_read = false;
    ERR_clear_error();
    int n = SSL_write(s, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (n > 0) return n;
    return io_failed(s, n, SSL_ERROR_WANT_READ, want_read);
}

size_t ig_ssl_pending(SSL *s)
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

size_t ig_ssl_peer(SSL *s, char *subject, size_t subject_cap, char (*sans)[IG_SSL_SAN_BYTES], size_t max_sans)
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

void ig_ssl_identity_read(SSL *s, ig_ssl_identity *id)
{
    id->n_sans = ig_ssl_peer(s, id->subject, sizeof id->subject, id->sans, IG_SSL_MAX_SANS);
    for (size_t i = 0; i < id->n_sans; i++) id->san_ptrs[i] = id->sans[i];
}

void ig_ssl_close(SSL *s)
{
    if (!s) return;
    /* Only after a finished handshake: a close_notify then is polite, before it meaningless. */
    if (SSL_is_init_finished(s)) SSL_shutdown(s);
    ERR_clear_error();
    SSL_free(s);
}
