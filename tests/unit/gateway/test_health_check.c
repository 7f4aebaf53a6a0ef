/* The health thread's pieces: response-head parsing, checks against a tiny in-test HTTP server that
 * answers 200 or 503 with a queue-depth header (health flips only after the thresholds, models are
 * checked too), a refused port, the thread itself, and DNS resolution of "localhost:PORT". */
#include "gateway/health_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gw_test_util.h"

typedef struct {
    int fd;
    int port;
    atomic_int status;     /* what to answer */
    atomic_int model_seen; /* requests for /v2/models/mlp/ready */
    atomic_int requests;
    atomic_bool stop;
    pthread_t th;
} server;

static void *server_main(void *arg)
{
    server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd pf = {s->fd, POLLIN, 0};
        if (poll(&pf, 1, 20) != 1) continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) continue;
        char buf[2048];
        size_t got = 0;
        while (got < sizeof(buf) - 1) {
            ssize_t r = recv(c, buf + got, sizeof(buf) - 1 - got, 0);
            if (r <= 0) break;
            got += (size_t)r;
            buf[got] = 0;
            if (strstr(buf, "\r\n\r\n")) break;
        }
        buf[got] = 0;
        atomic_fetch_add(&s->requests, 1);
        if (strstr(buf, "GET /v2/models/mlp/ready HTTP/1.1")) atomic_fetch_add(&s->model_seen, 1);
        int st = atomic_load(&s->status);
        char resp[256];
        int n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nX-InferGate-Queue-Depth: 7\r\n"
                         "Connection: close\r\n\r\n",
                         st, st == 200 ? "OK" : "Service Unavailable");
        send(c, resp, (size_t)n, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static void server_start(server *s)
{
    memset(s, 0, sizeof(*s));
    atomic_store(&s->status, 200);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(s->fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(listen(s->fd, 16) == 0);
    socklen_t len = sizeof(a);
    getsockname(s->fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, server_main, s);
}

static void server_stop(server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->th, NULL);
    close(s->fd);
}

/* A port nobody listens on: bound, then closed. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_parse_head(void)
{
    int64_t q;
    const char *h1 = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nx-infergate-queue-depth:  12 \r\n";
    CHECK_EQ_INT(ig_gw_health_parse_head(h1, strlen(h1), &q), 200);
    CHECK_EQ_INT(q, 12);
    const char *h2 = "HTTP/1.0 503 Busy\r\n";
    CHECK_EQ_INT(ig_gw_health_parse_head(h2, strlen(h2), &q), 503);
    CHECK_EQ_INT(q, -1);
    const char *h3 = "HTTP/1.1 200 OK\r\nX-Infergate-Queue-Depth: 1x\r\n";
    CHECK_EQ_INT(ig_gw_health_parse_head(h3, strlen(h3), &q), 200);
    CHECK_EQ_INT(q, -1);
    const char *bad[] = {"",
                         "HTTP/1.1",
                         "HTTP/2 200 OK\r\n",
                         "HTTP/1.1 2x0 OK\r\n",
                         "HTTP/1.1 2000\r\n",
                         "SSH-2.0-OpenSSH\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(ig_gw_health_parse_head(bad[i], strlen(bad[i]), &q), 0);
}

static ig_gw_pool *hc_pool(int port, const char *hc)
{
    char yaml[512];
    snprintf(yaml, sizeof(yaml), "name: h\nendpoints: [\"127.0.0.1:%d\"]\nhealth_check: %s\n", port, hc);
    ig_error err = {0};
    ig_gw_pool *p = pool_yaml(yaml, &err);
    if (!p) fprintf(stderr, "%s\n", err.msg);
    CHECK(p != NULL);
    return p;
}

static void test_checks(void)
{
    server s;
    server_start(&s);
    ig_gw_pool *p =
        hc_pool(s.port, "{interval: 1s, timeout: 2s, unhealthy_threshold: 2, healthy_threshold: 2,"
                        " models: [mlp]}");
    ig_gw_endpoint **eps;
    size_t n;
    ig_gw_pool_snapshot(p, &eps, &n);
    ig_gw_endpoint *ep = eps[0];
    int64_t q;
    CHECK(ig_gw_health_check_endpoint(p, ep, &q));
    CHECK_EQ_INT(q, 7);
    CHECK_EQ_INT(atomic_load(&s.model_seen), 1);
    CHECK_EQ_INT(atomic_load(&s.requests), 2);

    ig_gw_health_check_pool(p);
    CHECK(ig_gw_endpoint_healthy(ep));
    CHECK_EQ_INT(ig_gw_endpoint_queue_depth(ep), 7);
    atomic_store(&s.status, 503);
    ig_gw_health_check_pool(p);
    CHECK(ig_gw_endpoint_healthy(ep)); /* one failure: below the threshold */
    ig_gw_health_check_pool(p);
    CHECK(!ig_gw_endpoint_healthy(ep));
    atomic_store(&s.status, 200);
    ig_gw_health_check_pool(p);
    CHECK(!ig_gw_endpoint_healthy(ep));
    ig_gw_health_check_pool(p);
    CHECK(ig_gw_endpoint_healthy(ep));
    ig_gw_endpoints_release(eps, n);

    /* The thread does the same on its own: 503 -> unhealthy within a few intervals. */
    ig_gw_pool *tp = hc_pool(s.port, "{interval: 20ms, timeout: 1s, unhealthy_threshold: 2}");
    ig_gw_pool_snapshot(tp, &eps, &n);
    atomic_store(&s.status, 503);
    ig_error err = {0};
    ig_gw_health *h = ig_gw_health_start(&tp, 1, &err);
    CHECK(h != NULL);
    for (int i = 0; i < 500 && ig_gw_endpoint_healthy(eps[0]); i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    CHECK(!ig_gw_endpoint_healthy(eps[0]));
    atomic_store(&s.status, 200);
    for (int i = 0; i < 500 && !ig_gw_endpoint_healthy(eps[0]); i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    CHECK(ig_gw_endpoint_healthy(eps[0]));
    ig_gw_health_stop(h);
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(tp);
    ig_gw_pool_free(p);
    server_stop(&s);

    /* Nobody listening: a failed check, quickly (connection refused). */
    ig_gw_pool *dp = hc_pool(dead_port(), "{timeout: 1s}");
    ig_gw_pool_snapshot(dp, &eps, &n);
    CHECK(!ig_gw_health_check_endpoint(dp, eps[0], &q));
    CHECK_EQ_INT(q, -1);
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(dp);
}

static void test_dns(void)
{
    server s;
    server_start(&s);
    char yaml[256];
    snprintf(yaml, sizeof(yaml), "name: d\ndns: \"localhost:%d\"\nresolve: 50ms\nlb: ring_hash\n", s.port);
    ig_error err = {0};
    ig_gw_pool *p = pool_yaml(yaml, &err);
    CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "%s\n", err.msg);
        server_stop(&s);
        return;
    }
    const char *host, *port;
    int64_t every;
    CHECK(ig_gw_pool_dns(p, &host, &port, &every));
    CHECK_STR(host, "localhost");
    CHECK_EQ_INT(every, 50000000);
    ig_gw_endpoint **eps, **again;
    size_t n, n2;
    ig_gw_pool_snapshot(p, &eps, &n);
    CHECK(n >= 1);
    char want4[32], want6[40];
    snprintf(want4, sizeof(want4), "127.0.0.1:%d", s.port);
    snprintf(want6, sizeof(want6), "[::1]:%d", s.port);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |=
            !strcmp(ig_gw_endpoint_address(eps[i]), want4) || !strcmp(ig_gw_endpoint_address(eps[i]), want6);
    CHECK(found);
    /* Resolving again keeps the same endpoint objects (and their state). */
    ig_gw_pool_record(p, eps[0], 503, SEC);
    CHECK_EQ_INT(ig_gw_pool_resolve(p, 2 * SEC, &err), 0);
    ig_gw_pool_snapshot(p, &again, &n2);
    CHECK_EQ_INT(n2, n);
    for (size_t i = 0; i < n && i < n2; i++) CHECK(again[i] == eps[i]);
    ig_gw_endpoints_release(again, n2);
    /* The thread re-resolves too; the pool keeps serving meanwhile. */
    ig_gw_health *h = ig_gw_health_start(&p, 1, &err);
    for (int i = 0; i < 20; i++) {
        ig_gw_endpoint *ep = ig_gw_pool_pick(p, (uint64_t)i, 0, NULL, 3 * SEC);
        CHECK(ep != NULL);
        ig_gw_endpoint_finish(ep);
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    ig_gw_health_stop(h);
    CHECK_EQ_INT(ig_gw_pool_size(p), n);
    ig_gw_endpoints_release(eps, n);
    ig_gw_pool_free(p);

    /* A name that does not resolve: the pool exists, empty; resolve says why. */
    p = pool_yaml("name: x\ndns: \"no-such-host.invalid:80\"\n", &err);
    CHECK(p != NULL);
    if (p) {
        CHECK_EQ_INT(ig_gw_pool_size(p), 0);
        CHECK(ig_gw_pool_pick(p, 1, 1, NULL, SEC) == NULL);
        memset(&err, 0, sizeof(err));
        CHECK_EQ_INT(ig_gw_pool_resolve(p, SEC, &err), IG_EUNAVAILABLE);
        CHECK(strstr(err.msg, "no-such-host.invalid") != NULL);
        ig_gw_pool_free(p);
    }
    server_stop(&s);
}

int main(void)
{
    test_parse_head();
    test_checks();
    test_dns();
    return CHECK_DONE();
}
