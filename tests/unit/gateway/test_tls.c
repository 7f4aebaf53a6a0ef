/* Gateway listener TLS: `tls:` config errors with their lines, and handshakes between
 * ig_gw_tls_accept on one end of a non-blocking socketpair and an OpenSSL client on the other
 * (versions, client certificates from the right and a wrong CA, subject/SAN extraction, large
 * writes through a moving buffer). Certificates are made at run time with the openssl CLI. */
#include "gateway/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static char dir[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[2200];
    snprintf(full, sizeof full, "cd %s && (%s) >/dev/null 2>&1", dir, cmd);
    return system(full);
}

/* A CA (NAME.crt/.key), and leaf certificates signed by one. */
static int make_ca(const char *name)
{
    return sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s.key "
              "-out %s.crt -subj /CN=%s -days 2",
              name, name, name);
}

static int make_leaf(const char *name, const char *ca, const char *subj, const char *san)
{
    return sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s.key "
              "-out %s.csr -subj '%s' && printf 'subjectAltName=%s\\n' > %s.ext && "
              "openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -CAcreateserial -days 2 "
              "-extfile %s.ext -out %s.crt",
              name, name, subj, san, name, name, ca, ca, name, name);
}

static ig_gw_tls *tls_yaml(const char *yaml, ig_error *err)
{
    ig_conf *c = ig_conf_load_string(yaml, strlen(yaml), "test.yaml", err);
    if (!c) return NULL;
    ig_gw_tls *t = ig_gw_tls_from_conf(c, ig_conf_get(ig_conf_root(c), "tls"), dir, err);
    ig_conf_free(c);
    return t;
}

/* The config is refused with an error that starts with want_prefix and contains want. */
static void check_refused(const char *yaml, const char *want_prefix, const char *want)
{
    ig_error err = {0};
    ig_gw_tls *t = tls_yaml(yaml, &err);
    CHECK(t == NULL);
    ig_gw_tls_free(t);
    CHECK(!strncmp(err.msg, want_prefix, strlen(want_prefix)));
    CHECK(strstr(err.msg, want) != NULL);
    if (strncmp(err.msg, want_prefix, strlen(want_prefix)) || !strstr(err.msg, want))
        fprintf(stderr, "  got: %s\n  want: %s ... %s\n", err.msg, want_prefix, want);
}

static void test_config(void)
{
    ig_error err = {0};
    ig_gw_tls *t = tls_yaml("tls:\n  cert: server.crt\n  key: server.key\n", &err);
    CHECK(t != NULL);
    CHECK(!ig_gw_tls_requires_client_cert(t));
    ig_gw_tls_free(t);
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "tls:\n  cert: %s/server.crt\n  key: server.key\n  client_ca: ca.crt\n  min_version: \"1.3\"\n",
             dir);
    t = tls_yaml(yaml, &err);
    CHECK(t != NULL);
    CHECK(ig_gw_tls_requires_client_cert(t));
    ig_gw_tls_free(t);

    check_refused("listen: x\ntls:\n  key: server.key\n", "test.yaml:3:", "missing key 'cert'");
    check_refused("tls:\n  cert: server.crt\n", "test.yaml:2:", "missing key 'key'");
    check_refused("tls:\n  cert: server.crt\n  key: nope.key\n", "test.yaml:3:", "nope.key");
    check_refused("tls:\n  cert: server.crt\n  key: nope.key\n", "test.yaml:3:", "No such file");
    check_refused("tls:\n  cert: server.crt\n  key: client-a.key\n",
                  "test.yaml:3:", "does not match the certificate");
    check_refused("tls:\n  cert: server.key\n  key: server.key\n", "test.yaml:2:", "tls.cert: cannot load");
    check_refused("tls:\n  cert: server.crt\n  key: server.crt\n",
                  "test.yaml:3:", "no PEM private key in it");
    check_refused("tls:\n  cert: server.crt\n  key: server.key\n  client_ca: server.key\n",
                  "test.yaml:4:", "no PEM CA certificate in it");
    check_refused("tls:\n  cert: server.crt\n  key: server.key\n  min_version: \"1.1\"\n",
                  "test.yaml:4:", "min_version");
    check_refused("tls:\n  cert: server.crt\n  key: server.key\n  ciphers: x\n",
                  "test.yaml:4:", "unknown key 'ciphers'");
    check_refused("tls:\n  cert: \"\"\n  key: server.key\n", "test.yaml:2:", "empty path");
    check_refused("tls: [a]\n", "test.yaml:1:", "expected a map");
}

/* ---- handshakes over a socketpair ---- */

typedef struct {
    int min, max;           /* client protocol bounds (0: library default) */
    const char *cert, *key; /* client certificate, or NULL */
} client_opts;

typedef struct {
    int server_rc; /* 1: the server read the client's first bytes; 0: clean close; -1: failed */
    int server_errno;
    int client_ok; /* the client read the server's answer */
    SSL *server;   /* kept for ig_ssl_peer (the caller closes it) */
} hs_result;

static SSL_CTX *client_ctx(const client_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char path[256];
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    SSL_CTX_load_verify_locations(ctx, path, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->min || o->max) SSL_CTX_set_security_level(ctx, 0); /* lets the client offer old versions */
    if (o->min) SSL_CTX_set_min_proto_version(ctx, o->min);
    if (o->max) SSL_CTX_set_max_proto_version(ctx, o->max);
    if (o->cert) {
        snprintf(path, sizeof path, "%s/%s", dir, o->cert);
        CHECK_EQ_INT(SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM), 1);
        snprintf(path, sizeof path, "%s/%s", dir, o->key);
        CHECK_EQ_INT(SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM), 1);
    }
    return ctx;
}

/* Runs a handshake, the client's "ping" and the server's "pong", stepping both ends by turns. */
static hs_result handshake(ig_gw_tls *t, const client_opts *o)
{
    hs_result r = {.server_rc = -1};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return r;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    SSL_CTX *cctx = client_ctx(o);
    SSL *cl = SSL_new(cctx);
    SSL_set_fd(cl, sv[1]);
    SSL_set_connect_state(cl);
    SSL_set_tlsext_host_name(cl, "localhost");
    SSL_set1_host(cl, "localhost");
    r.server = ig_gw_tls_accept(t, sv[0]);
    CHECK(r.server != NULL);
    bool client_done = false, client_failed = false, sent = false, answered = false;
    char buf[64];
    for (int i = 0; i < 200 && r.server && !r.client_ok; i++) {
        if (!client_failed) {
            ERR_clear_error();
            if (!client_done) {
                int rc = SSL_do_handshake(cl);
                if (rc == 1)
                    client_done = true;
                else if (SSL_get_error(cl, rc) != SSL_ERROR_WANT_READ &&
                         SSL_get_error(cl, rc) != SSL_ERROR_WANT_WRITE)
                    client_failed = true;
            }
            if (client_done && !sent) sent = SSL_write(cl, "ping", 4) == 4;
            if (answered) {
                int n = SSL_read(cl, buf, sizeof buf);
                if (n == 4 && !memcmp(buf, "pong", 4)) r.client_ok = 1;
                if (n <= 0 && SSL_get_error(cl, n) != SSL_ERROR_WANT_READ) client_failed = true;
            }
        }
        if (r.server_rc == -1 && r.server_errno == 0) {
            bool ww = false;
            ssize_t n = ig_ssl_read(r.server, buf, sizeof buf, &ww);
            if (n == 4 && !memcmp(buf, "ping", 4)) {
                r.server_rc = 1;
                CHECK_EQ_INT(ig_ssl_write(r.server, "pong", 4, NULL), 4);
                answered = true;
            } else if (n == 0) {
                r.server_rc = 0;
                r.server_errno = -1;
            } else if (n < 0 && errno != EAGAIN) {
                r.server_errno = errno;
            }
        }
        if (client_failed && r.server_errno) break;
    }
    ERR_clear_error();
    SSL_free(cl);
    SSL_CTX_free(cctx);
    close(sv[1]);
    /* sv[0] is closed by the caller after ig_ssl_close */
    if (r.server)
        SSL_set_app_data(r.server, (void *)(intptr_t)(sv[0] + 1));
    else
        close(sv[0]);
    return r;
}

static void hs_close(hs_result *r)
{
    if (!r->server) return;
    int fd = (int)(intptr_t)SSL_get_app_data(r->server) - 1;
    ig_ssl_close(r->server);
    close(fd);
    r->server = NULL;
}

static ig_gw_tls *server(const char *extra)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, "tls:\n  cert: server.crt\n  key: server.key\n%s", extra);
    ig_error err = {0};
    ig_gw_tls *t = tls_yaml(yaml, &err);
    if (!t) fprintf(stderr, "server config: %s\n", err.msg);
    return t;
}

static void test_versions(void)
{
    ig_gw_tls *t = server("");
    CHECK(t != NULL);
    if (!t) return;
    hs_result r = handshake(t, &(client_opts){.min = TLS1_VERSION, .max = TLS1_1_VERSION});
    CHECK_EQ_INT(r.server_rc, -1);
    CHECK_EQ_INT(r.server_errno, EPROTO);
    CHECK(!r.client_ok);
    hs_close(&r);
    r = handshake(t, &(client_opts){.min = TLS1_2_VERSION, .max = TLS1_2_VERSION});
    CHECK_EQ_INT(r.server_rc, 1);
    CHECK(r.client_ok);
    CHECK_EQ_INT(SSL_version(r.server), TLS1_2_VERSION);
    /* No client_ca: no certificate is asked for, so there is no peer identity. */
    char subject[256] = "x", sans[2][256];
    CHECK_EQ_INT(ig_ssl_peer(r.server, subject, sizeof subject, sans, 2), 0);
    CHECK_STR(subject, "");
    hs_close(&r);
    r = handshake(t, &(client_opts){0});
    CHECK_EQ_INT(r.server_rc, 1);
    CHECK(r.client_ok);
    CHECK_EQ_INT(SSL_version(r.server), TLS1_3_VERSION);
    hs_close(&r);
    ig_gw_tls_free(t);

    t = server("  min_version: \"1.3\"\n");
    r = handshake(t, &(client_opts){.min = TLS1_2_VERSION, .max = TLS1_2_VERSION});
    CHECK_EQ_INT(r.server_rc, -1);
    CHECK_EQ_INT(r.server_errno, EPROTO);
    hs_close(&r);
    ig_gw_tls_free(t);
}

static void test_client_certs(void)
{
    ig_gw_tls *t = server("  client_ca: ca.crt\n");
    CHECK(t != NULL);
    if (!t) return;
    for (int v = 0; v < 2; v++) {
        int ver = v ? TLS1_3_VERSION : TLS1_2_VERSION;
        /* Without a certificate: refused at the handshake. */
        hs_result r = handshake(t, &(client_opts){.min = ver, .max = ver});
        CHECK_EQ_INT(r.server_rc, -1);
        CHECK_EQ_INT(r.server_errno, EPROTO);
        CHECK(!r.client_ok);
        hs_close(&r);
        /* A certificate from another CA: refused too. */
        r = handshake(t, &(client_opts){.min = ver, .max = ver, .cert = "rogue.crt", .key = "rogue.key"});
        CHECK_EQ_INT(r.server_rc, -1);
        CHECK_EQ_INT(r.server_errno, EPROTO);
        CHECK(!r.client_ok);
        hs_close(&r);
        /* The right CA: subject in RFC 2253 order and the SANs in certificate order. */
        r = handshake(t,
                      &(client_opts){.min = ver, .max = ver, .cert = "client-a.crt", .key = "client-a.key"});
        CHECK_EQ_INT(r.server_rc, 1);
        CHECK(r.client_ok);
        char subject[256], sans[8][256];
        size_t n = r.server ? ig_ssl_peer(r.server, subject, sizeof subject, sans, 8) : 0;
        CHECK_EQ_INT(n, 4);
        CHECK_STR(subject, "CN=client-a,O=acme");
        if (n == 4) {
            CHECK_STR(sans[0], "DNS:a.example");
            CHECK_STR(sans[1], "URI:spiffe://acme/a");
            CHECK_STR(sans[2], "email:a@example.com");
            CHECK_STR(sans[3], "IP:10.0.0.1");
        }
        /* max_sans bounds what is written; a short subject buffer leaves it empty. */
        char tiny[8] = "x";
        CHECK_EQ_INT(r.server ? ig_ssl_peer(r.server, tiny, sizeof tiny, sans, 2) : 0, 2);
        CHECK_STR(tiny, "");
        hs_close(&r);
    }
    ig_gw_tls_free(t);
}

/* A response larger than the socket buffer: writes return EAGAIN part way and are retried from a
 * buffer that moved (the proxy's output buffer grows with realloc). */
static void test_large_write(void)
{
    ig_gw_tls *t = server("");
    if (!t) return;
    hs_result r = handshake(t, &(client_opts){0});
    CHECK_EQ_INT(r.server_rc, 1);
    if (r.server_rc != 1) {
        hs_close(&r);
        ig_gw_tls_free(t);
        return;
    }
    /* handshake() freed its client: make a fresh pair for the transfer. */
    hs_close(&r);
    int sv[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    SSL_CTX *cctx = client_ctx(&(client_opts){0});
    SSL *cl = SSL_new(cctx);
    SSL_set_fd(cl, sv[1]);
    SSL_set_connect_state(cl);
    SSL *s = ig_gw_tls_accept(t, sv[0]);
    enum { TOTAL = 1 << 20 };
    unsigned char *src = malloc(TOTAL), *got = malloc(TOTAL);
    for (size_t i = 0; i < TOTAL; i++) src[i] = (unsigned char)(i * 31 + (i >> 9));
    size_t sent = 0, recvd = 0;
    int eagain = 0, spins = 0;
    char *moving = NULL;
    while (recvd < TOTAL && spins++ < 200000) {
        ERR_clear_error();
        int n = SSL_read(cl, got + recvd, TOTAL - recvd);
        if (n > 0) recvd += (size_t)n;
        if (sent < TOTAL) {
            /* A fresh copy each try: the pointer moves like a realloc'ed buffer. */
            char *fresh = malloc(TOTAL - sent);
            memcpy(fresh, src + sent, TOTAL - sent);
            free(moving);
            moving = fresh;
            bool want_read = false;
            ssize_t w = ig_ssl_write(s, moving, TOTAL - sent, &want_read);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno == EAGAIN)
                eagain++;
            else
                break;
        }
    }
    CHECK_EQ_INT(sent, TOTAL);
    CHECK_EQ_INT(recvd, TOTAL);
    CHECK(eagain > 0);
    CHECK(!memcmp(src, got, TOTAL));
    /* The client closes cleanly: the server reads 0. */
    SSL_shutdown(cl);
    char b[16];
    ssize_t z = -1;
    for (int i = 0; i < 100 && z < 0; i++) z = ig_ssl_read(s, b, sizeof b, NULL);
    CHECK_EQ_INT(z, 0);
    free(moving);
    free(src);
    free(got);
    ig_ssl_close(s);
    SSL_free(cl);
    SSL_CTX_free(cctx);
    close(sv[0]);
    close(sv[1]);
    ig_gw_tls_free(t);
}

static ig_gw_upstream_tls *upstream_yaml(const char *yaml, const char *dns_host, ig_error *err)
{
    ig_conf *c = ig_conf_load_string(yaml, strlen(yaml), "test.yaml", err);
    if (!c) return NULL;
    ig_gw_upstream_tls *t =
        ig_gw_upstream_tls_from_conf(c, ig_conf_get(ig_conf_root(c), "tls"), dir, dns_host, err);
    ig_conf_free(c);
    return t;
}

/* Steps an upstream client (to endpoint) and the listener's server through their handshakes: 1 when
 * both finished, -1 when one failed. *verified: the client accepted the server's certificate. */
static int upstream_handshake(ig_gw_tls *srv, const ig_gw_upstream_tls *up, const char *endpoint,
                              bool *verified)
{
    int sv[2], rc = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv)) return -1;
    SSL *s = ig_gw_tls_accept(srv, sv[0]), *c = ig_gw_upstream_tls_connect(up, sv[1], endpoint);
    bool s_done = false, c_done = false, ww;
    for (int i = 0; i < 100 && s && c && !(s_done && c_done); i++) {
        if (!c_done && ig_ssl_handshake(c, &ww) == 1) c_done = true;
        if (!c_done && errno != EAGAIN) break;
        if (!s_done && ig_ssl_handshake(s, &ww) == 1) s_done = true;
        if (!s_done && errno != EAGAIN) break;
    }
    if (s_done && c_done) rc = 1;
    *verified = c && SSL_get_verify_result(c) == X509_V_OK;
    ig_ssl_close(s);
    ig_ssl_close(c);
    close(sv[0]);
    close(sv[1]);
    return rc;
}

/* A pool's `tls:`: the map's errors, and handshakes that check the upstream's name or address and
 * offer the client certificate an mTLS listener requires. */
static void test_upstream(void)
{
    ig_error err = {0};
    const char *bad[][2] = {
        {"tls:\n  ca: ca.crt\n  cert: client-a.crt\n", "'cert' and 'key' go together"},
        {"tls:\n  ca: nope.crt\n", "nope.crt"},
        {"tls:\n  ca: server.key\n", "no PEM CA certificate in it"},
        {"tls:\n  ca: ca.crt\n  cert: client-a.crt\n  key: server.key\n", "does not match"},
        {"tls:\n  ca: ca.crt\n  server_name: \"\"\n", "server_name: empty"},
        {"tls:\n  ca: ca.crt\n  verify: false\n", "unknown key 'verify'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = (ig_error){0};
        ig_gw_upstream_tls *t = upstream_yaml(bad[i][0], NULL, &err);
        CHECK(t == NULL);
        CHECK(!strncmp(err.msg, "test.yaml:", 10) && strstr(err.msg, bad[i][1]));
        if (t || !strstr(err.msg, bad[i][1])) fprintf(stderr, "  got: %s\n  want: %s\n", err.msg, bad[i][1]);
        ig_gw_upstream_tls_free(t);
    }
    ig_gw_upstream_tls *a = upstream_yaml("tls:\n  ca: ca.crt\n", NULL, &err);
    ig_gw_upstream_tls *b = upstream_yaml("tls:\n  ca: ca.crt\n", NULL, &err);
    ig_gw_upstream_tls *named = upstream_yaml("tls:\n  ca: ca.crt\n  server_name: localhost\n", NULL, &err);
    CHECK(a && b && named && ig_gw_upstream_tls_fingerprint(a) == ig_gw_upstream_tls_fingerprint(b));
    CHECK(a && named && ig_gw_upstream_tls_fingerprint(a) != ig_gw_upstream_tls_fingerprint(named));
    CHECK(a && ig_gw_upstream_tls_fingerprint(a) != 0 && ig_gw_upstream_tls_fingerprint(NULL) == 0);
    ig_gw_upstream_tls_free(named);
    CHECK(a && !ig_gw_upstream_tls_cert(a) && ig_gw_upstream_tls_ca(a) && !ig_gw_upstream_tls_server_name(a));
    ig_gw_tls *srv = server("");
    bool verified;
    /* The server certificate names localhost and 127.0.0.1. */
    CHECK_EQ_INT(srv && a ? upstream_handshake(srv, a, "127.0.0.1:8000", &verified) : 0, 1);
    CHECK(verified);
    CHECK_EQ_INT(srv && a ? upstream_handshake(srv, a, "localhost:8000", &verified) : 0, 1);
    CHECK_EQ_INT(srv && a ? upstream_handshake(srv, a, "10.0.0.9:8000", &verified) : 0, -1);
    CHECK(!verified);
    ig_gw_upstream_tls_free(a);
    ig_gw_upstream_tls_free(b);
    /* A pool's DNS name is the default; server_name overrides it. */
    a = upstream_yaml("tls:\n  ca: ca.crt\n", "other.example", &err);
    CHECK_EQ_INT(srv && a ? upstream_handshake(srv, a, "127.0.0.1:8000", &verified) : 0, -1);
    CHECK(!verified);
    ig_gw_upstream_tls_free(a);
    a = upstream_yaml("tls:\n  ca: ca.crt\n  server_name: localhost\n", "other.example", &err);
    CHECK(a && !strcmp(ig_gw_upstream_tls_server_name(a), "localhost"));
    CHECK_EQ_INT(srv && a ? upstream_handshake(srv, a, "10.0.0.9:8000", &verified) : 0, 1);
    ig_gw_upstream_tls_free(a);
    ig_gw_tls_free(srv);
    /* An mTLS listener: without a client certificate the server fails the handshake. */
    srv = server("  client_ca: ca.crt\n");
    a = upstream_yaml("tls:\n  ca: ca.crt\n", NULL, &err);
    b = upstream_yaml("tls:\n  ca: ca.crt\n  cert: client-a.crt\n  key: client-a.key\n", NULL, &err);
    CHECK_EQ_INT(srv && a ? upstream_handshake(srv, a, "127.0.0.1:8000", &verified) : 0, -1);
    CHECK_EQ_INT(srv && b ? upstream_handshake(srv, b, "127.0.0.1:8000", &verified) : 0, 1);
    ig_gw_upstream_tls_free(a);
    ig_gw_upstream_tls_free(b);
    ig_gw_tls_free(srv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/ig_tls_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = make_ca("ca") | make_ca("rogue-ca") |
             make_leaf("server", "ca", "/CN=localhost", "DNS:localhost,IP:127.0.0.1") |
             make_leaf("client-a", "ca", "/O=acme/CN=client-a",
                       "DNS:a.example,URI:spiffe://acme/a,email:a@example.com,IP:10.0.0.1") |
             make_leaf("rogue", "rogue-ca", "/CN=client-a", "DNS:a.example");
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        test_config();
        test_versions();
        test_client_certs();
        test_large_write();
        test_upstream();
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
