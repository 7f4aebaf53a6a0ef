/* The TLS front between real OpenSSL clients and a server thread that gets the handed-over ends:
 * bytes both ways through the relay (a 1 MiB answer delivered whole before the close_notify, a
 * 1 MiB upload ended by a half-close), the client certificate looked up by the server's
 * descriptor, refused handshakes, the handshake timeout, a vanished client, and quiesce.
 * Certificates are made at run time with the openssl CLI. */
#include "net/tls_front.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

enum { BIG = 1 << 20 };

static char dir[64];

static int sh(const char *cmd)
{
    char full[2048];
    snprintf(full, sizeof full, "cd %s && (%s) >/dev/null 2>&1", dir, cmd);
    return system(full);
}

static int make_pki(void)
{
    return sh(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
        "-out ca.crt -subj /CN=ca -days 2 && "
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
        "-out server.csr -subj /CN=server && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out server.crt "
        "&& "
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key "
        "-out client.csr -subj /CN=client/O=acme && printf 'subjectAltName=URI:spiffe://acme/a\\n' > c.ext "
        "&& "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile c.ext "
        "-out client.crt");
}

/* ---- the server side: the handed-over descriptors, in order ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t arrived = PTHREAD_COND_INITIALIZER;
static int handed[16], n_handed;

static int take(void *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
    CHECK(addr->sa_family == AF_INET && sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    pthread_mutex_lock(&lock);
    if (n_handed < 16) handed[n_handed++] = fd;
    pthread_cond_broadcast(&arrived);
    pthread_mutex_unlock(&lock);
    return 0;
}

/* The next handed-over descriptor, or -1 after 5 s. */
static int next_handed(int index)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&lock);
    while (n_handed <= index)
        if (pthread_cond_timedwait(&arrived, &lock, &dl)) break;
    int fd = n_handed > index ? handed[index] : -1;
    pthread_mutex_unlock(&lock);
    return fd;
}

static bool wait_fd(int fd, short what)
{
    struct pollfd p = {.fd = fd, .events = what};
    return poll(&p, 1, 5000) == 1;
}

/* Reads until EOF; returns the byte count and checks they follow the pattern i % 251. */
static size_t drain_plain(int fd, bool *pattern_ok)
{
    size_t total = 0;
    char buf[8192];
    *pattern_ok = true;
    while (wait_fd(fd, POLLIN)) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)buf[i] != (total + (size_t)i) % 251) *pattern_ok = false;
        total += (size_t)n;
    }
    return total;
}

static void send_plain(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len && wait_fd(fd, POLLOUT)) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += (size_t)n;
    }
}

static char *pattern(void)
{
    char *p = malloc(BIG);
    for (size_t i = 0; i < BIG; i++) p[i] = (char)(i % 251);
    return p;
}

/* Server role for the download test: reads the request line, answers BIG bytes, closes. */
static void *serve_download(void *arg)
{
    int fd = next_handed(*(int *)arg);
    char req[6];
    if (fd < 0 || !wait_fd(fd, POLLIN) || recv(fd, req, 5, 0) != 5) return NULL;
    char *data = pattern();
    send_plain(fd, data, BIG);
    free(data);
    close(fd);
    return NULL;
}

/* Server role for the upload test: reads until EOF, then answers "done". */
typedef struct {
    int index;
    size_t received;
    bool pattern_ok;
} upload;

static void *serve_upload(void *arg)
{
    upload *u = arg;
    int fd = next_handed(u->index);
    if (fd < 0) return NULL;
    u->received = drain_plain(fd, &u->pattern_ok);
    send_plain(fd, "done", 4);
    close(fd);
    return NULL;
}

/* ---- the client side ---- */

static SSL_CTX *client_ctx(bool with_cert)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char path[128], key[128];
    snprintf(path, sizeof path, "%s/ca.crt", dir);
    SSL_CTX_load_verify_locations(ctx, path, NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (with_cert) {
        snprintf(path, sizeof path, "%s/client.crt", dir);
        snprintf(key, sizeof key, "%s/client.key", dir);
        SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM);
    }
    return ctx;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A TLS client connection (blocking), or NULL when the handshake failed. */
static SSL *tls_connect(SSL_CTX *ctx, int port, int *fd_out)
{
    int fd = tcp_connect(port);
    SSL *s = fd >= 0 ? SSL_new(ctx) : NULL;
    *fd_out = fd;
    if (!s) return NULL;
    SSL_set_fd(s, fd);
    if (SSL_connect(s) != 1) {
        ERR_clear_error();
        SSL_free(s);
        return NULL;
    }
    return s;
}

static void test_relay(ig_tls_front *f, int port)
{
    SSL_CTX *ctx = client_ctx(true);
    int fd, index = n_handed;
    pthread_t server;
    pthread_create(&server, NULL, serve_download, &index);
    SSL *s = tls_connect(ctx, port, &fd);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(SSL_write(s, "GET\r\n", 5), 5);
        /* The server's end knows who is on the other side. */
        ig_tls_peer *p = ig_tls_front_peer(f, next_handed(index));
        CHECK(p != NULL);
        if (p) {
            CHECK_STR(p->id.subject, "O=acme,CN=client");
            CHECK_EQ_INT(p->id.n_sans, 1);
            CHECK_STR(p->id.san_ptrs[0], "URI:spiffe://acme/a");
            ig_tls_peer_unref(p);
        }
        /* Everything the server wrote arrives before the close_notify. */
        size_t total = 0;
        bool ok = true;
        char buf[16384];
        int n;
        while ((n = SSL_read(s, buf, sizeof buf)) > 0) {
            for (int i = 0; i < n; i++)
                if ((unsigned char)buf[i] != (total + (size_t)i) % 251) ok = false;
            total += (size_t)n;
        }
        CHECK_EQ_INT(total, BIG);
        CHECK(ok);
        CHECK_EQ_INT(SSL_get_error(s, n), SSL_ERROR_ZERO_RETURN);
        SSL_free(s);
    }
    pthread_join(server, NULL);
    close(fd);

    /* An upload ended by the client's close_notify and half-close: the server reads all of it, then
     * its answer still reaches the client. */
    upload u = {.index = n_handed};
    pthread_create(&server, NULL, serve_upload, &u);
    s = tls_connect(ctx, port, &fd);
    CHECK(s != NULL);
    if (s) {
        char *data = pattern();
        size_t off = 0;
        int w = 1;
        while (off < BIG && w > 0)
            if ((w = SSL_write(s, data + off, (int)(BIG - off))) > 0) off += (size_t)w;
        free(data);
        CHECK_EQ_INT(off, BIG);
        SSL_shutdown(s);
        shutdown(fd, SHUT_WR);
        char buf[8] = {0};
        CHECK_EQ_INT(SSL_read(s, buf, sizeof buf - 1), 4);
        CHECK_STR(buf, "done");
        SSL_free(s);
    }
    pthread_join(server, NULL);
    CHECK_EQ_INT(u.received, BIG);
    CHECK(u.pattern_ok);
    close(fd);
    SSL_CTX_free(ctx);
}

static void test_refusals(ig_tls_front *f, int port)
{
    /* No client certificate: refused at the handshake (TLS 1.3 reports it at the first read). */
    SSL_CTX *ctx = client_ctx(false);
    int fd, before = n_handed;
    SSL *s = tls_connect(ctx, port, &fd);
    if (s) {
        char b;
        SSL_write(s, "x", 1);
        CHECK(SSL_read(s, &b, 1) <= 0);
        ERR_clear_error();
        SSL_free(s);
    }
    close(fd);
    SSL_CTX_free(ctx);
    usleep(100 * 1000);
    CHECK_EQ_INT(n_handed, before); /* the server never saw it */

    /* Silence after connecting: closed when the handshake timeout passes. */
    fd = tcp_connect(port);
    CHECK(fd >= 0 && wait_fd(fd, POLLIN));
    char b;
    CHECK(fd >= 0 && recv(fd, &b, 1, 0) <= 0);
    close(fd);

    /* A client that vanishes after the handshake: the server's end reads EOF and the certificate
     * slot is cleared. */
    ctx = client_ctx(true);
    int index = n_handed;
    s = tls_connect(ctx, port, &fd);
    CHECK(s != NULL);
    int sfd = next_handed(index);
    CHECK(sfd >= 0);
    SSL_free(s);
    close(fd);
    bool ok;
    CHECK_EQ_INT(sfd >= 0 ? drain_plain(sfd, &ok) : 1, 0);
    for (int i = 0; i < 100 && sfd >= 0; i++) {
        ig_tls_peer *p = ig_tls_front_peer(f, sfd);
        if (!p) break;
        ig_tls_peer_unref(p);
        usleep(10 * 1000);
    }
    ig_tls_peer *p = sfd >= 0 ? ig_tls_front_peer(f, sfd) : NULL;
    CHECK(p == NULL);
    ig_tls_peer_unref(p);
    if (sfd >= 0) close(sfd);
    SSL_CTX_free(ctx);
}

/* The connection limit: while one silent connection holds the only place, a TLS client waits
 * unserved; once it is gone the next one is served. */
static void test_limit(ig_tls_front_config cfg)
{
    cfg.max_connections = 1;
    cfg.handshake_timeout_ms = 5000;
    ig_tls_front *f = NULL;
    ig_error err = {0};
    CHECK_EQ_INT(ig_tls_front_start(&cfg, &f, &err), 0);
    if (!f) return;
    int port = ig_tls_front_port(f), silent = tcp_connect(port), fd;
    usleep(100 * 1000);
    SSL_CTX *ctx = client_ctx(true);
    int waiting = tcp_connect(port);
    struct timeval tv = {.tv_usec = 300 * 1000};
    setsockopt(waiting, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL *s = SSL_new(ctx);
    SSL_set_fd(s, waiting);
    CHECK(SSL_connect(s) != 1); /* not accepted: no ServerHello within 300 ms */
    ERR_clear_error();
    SSL_free(s);
    close(waiting);
    close(silent);
    usleep(200 * 1000);
    s = tls_connect(ctx, port, &fd);
    CHECK(s != NULL);
    SSL_free(s);
    close(fd);
    SSL_CTX_free(ctx);
    ig_tls_front_free(f, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/ig_front_XXXXXX");
    if (!mkdtemp(dir) || make_pki()) {
        fprintf(stderr, "cannot make certificates with the openssl CLI\n");
        return 1;
    }
    char cert[128], key[128], ca[128];
    snprintf(cert, sizeof cert, "%s/server.crt", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    ig_error err = {0};
    ig_tls_store *store = NULL;
    CHECK_EQ_INT(ig_tls_store_create(cert, key, ca, &store, &err), 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ig_tls_front_config cfg = {.addr = (struct sockaddr *)&a,
                               .addrlen = sizeof a,
                               .tls = store,
                               .threads = 2,
                               .handshake_timeout_ms = 300,
                               .handoff = take};
    ig_tls_front *f = NULL;
    CHECK_EQ_INT(store ? ig_tls_front_start(&cfg, &f, &err) : -1, 0);
    if (f) {
        int port = ig_tls_front_port(f);
        CHECK(port > 0);
        test_relay(f, port);
        test_refusals(f, port);
        ig_tls_front_quiesce(f);
        int fd = tcp_connect(port);
        CHECK(fd < 0); /* the listener is closed */
        if (fd >= 0) close(fd);
        ig_tls_front_free(f, 100);
        test_limit(cfg);
    }
    ig_tls_store_free(store);
    sh("rm -rf ./*");
    rmdir(dir);
    return CHECK_DONE();
}
