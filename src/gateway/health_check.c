/* The health thread: blocking HTTP/1.1 GETs with a deadline (non-blocking connect + poll), status
 * and queue-depth parsing, threshold application per endpoint, and periodic DNS re-resolution. */
#include "gateway/health_check.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct ig_gw_health {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    size_t n;
    ig_gw_pool **pools;
    int64_t *next_check, *next_resolve;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int ig_gw_health_parse_head(const char *buf, size_t len, int64_t *queue_depth)
{
    *queue_depth = -1;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') return 0;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') return 0;
        status = status * 10 + (buf[i] - '0');
    }
    if (len > 12 && buf[12] != ' ' && buf[12] != '\r') return 0;
    static const char name[] = "x-infergate-queue-depth:";
    const size_t nl = sizeof(name) - 1;
    const char *p = memchr(buf, '\n', len), *end = buf + len;
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        if ((size_t)(eol - line) > nl && !strncasecmp(line, name, nl)) {
            const char *v = line + nl;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            int64_t d = 0;
            bool digits = false;
            while (v < eol && *v >= '0' && *v <= '9' && d < (INT64_MAX - 9) / 10) {
                d = d * 10 + (*v++ - '0');
                digits = true;
            }
            while (v < eol && (*v == ' ' || *v == '\t' || *v == '\r')) v++;
            if (digits && v == eol) *queue_depth = d;
        }
        p = eol < end ? eol : NULL;
    }
    return status;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - mono_ns();
    if (left <= 0) return 0;
    return (int)((left + 999999) / 1000000);
}

/* Waits until fd can be written (or read); false at the deadline. */
static bool wait_fd(int fd, bool for_write, int64_t deadline)
{
    struct pollfd pf = {fd, for_write ? POLLOUT : POLLIN, 0};
    return poll(&pf, 1, remaining_ms(deadline)) == 1;
}

/* One GET with a deadline, over TLS when the pool has it; returns the status (0 on any failure). */
static int http_get(const ig_gw_upstream_tls *tls, const ig_gw_endpoint *ep, const char *path,
                    int64_t timeout_ns, int64_t *queue_depth)
{
    *queue_depth = -1;
    int64_t deadline = mono_ns() + timeout_ns;
    socklen_t alen;
    const struct sockaddr *sa = ig_gw_endpoint_sockaddr(ep, &alen);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int status = 0;
    SSL *ssl = NULL;
    if (connect(fd, sa, alen) != 0) {
        if (errno != EINPROGRESS || !wait_fd(fd, true, deadline)) goto done;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) goto done;
    }
    if (tls && !(ssl = ig_gw_upstream_tls_connect(tls, fd, ig_gw_endpoint_address(ep)))) goto done;
    char req[512];
    int rl =
        snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: infergate-health\r\nConnection: close\r\n\r\n",
                 path, ig_gw_endpoint_address(ep));
    if (rl < 0 || (size_t)rl >= sizeof(req)) goto done;
    size_t sent = 0;
    while (sent < (size_t)rl) {
        bool wants_read = false; /* TLS: the handshake waits for the server */
        ssize_t w = ssl ? ig_ssl_write(ssl, req + sent, (size_t)rl - sent, &wants_read)
                        : send(fd, req + sent, (size_t)rl - sent, MSG_NOSIGNAL);
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || !wait_fd(fd, !wants_read, deadline)) goto done;
    }
    /* The head is all we need; a larger head than this is not a health endpoint's answer. */
    char buf[4096];
    size_t got = 0;
    for (;;) {
        bool wants_write = false;
        ssize_t r = ssl ? ig_ssl_read(ssl, buf + got, sizeof(buf) - 1 - got, &wants_write)
                        : recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(fd, wants_write, deadline)) break;
            continue;
        }
        if (r <= 0) break;
        got += (size_t)r;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n") || got == sizeof(buf) - 1) break;
    }
    char *end = got ? strstr(buf, "\r\n\r\n") : NULL;
    if (end) status = ig_gw_health_parse_head(buf, (size_t)(end - buf) + 2, queue_depth);
done:
    ig_ssl_close(ssl);
    close(fd);
    return status;
}

bool ig_gw_health_check_endpoint(const ig_gw_pool *p, const ig_gw_endpoint *ep, int64_t *queue_depth)
{
    const ig_gw_health_conf *hc = ig_gw_pool_health_conf(p);
    const ig_gw_upstream_tls *tls = ig_gw_pool_tls(p);
    int64_t q = -1, qd;
    bool pass = http_get(tls, ep, hc->path, hc->timeout_ns, &qd) == 200;
    if (qd >= 0) q = qd;
    for (size_t i = 0; pass && i < hc->n_models; i++) {
        char path[256];
        snprintf(path, sizeof(path), "/v2/models/%s/ready", hc->models[i]);
        pass = http_get(tls, ep, path, hc->timeout_ns, &qd) == 200;
        if (qd >= 0) q = qd;
    }
    if (queue_depth) *queue_depth = q;
    return pass;
}

static void check_pool(ig_gw_pool *p, ig_gw_health *h)
{
    const ig_gw_health_conf *hc = ig_gw_pool_health_conf(p);
    ig_gw_endpoint **eps;
    size_t n;
    if (ig_gw_pool_snapshot(p, &eps, &n)) return;
    for (size_t i = 0; i < n; i++) {
        if (h) {
            pthread_mutex_lock(&h->mu);
            bool stop = h->stop;
            pthread_mutex_unlock(&h->mu);
            if (stop) break;
        }
        int64_t q;
        bool pass = ig_gw_health_check_endpoint(p, eps[i], &q);
        if (q >= 0) ig_gw_endpoint_report_queue(eps[i], q);
        ig_gw_outlier_health_report(ig_gw_endpoint_outlier(eps[i]), hc, pass);
    }
    ig_gw_endpoints_release(eps, n);
}

void ig_gw_health_check_pool(ig_gw_pool *p)
{
    check_pool(p, NULL);
}

static void *health_main(void *arg)
{
    ig_gw_health *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        pthread_mutex_unlock(&h->mu);
        int64_t now = mono_ns(), wake = now + 1000000000LL;
        for (size_t i = 0; i < h->n; i++) {
            ig_gw_pool *p = h->pools[i];
            const ig_gw_health_conf *hc = ig_gw_pool_health_conf(p);
            int64_t resolve_ns;
            if (ig_gw_pool_dns(p, NULL, NULL, &resolve_ns)) {
                if (now >= h->next_resolve[i]) {
                    ig_gw_pool_resolve(p, mono_ns(), NULL); /* a failure keeps the set; retried next time */
                    h->next_resolve[i] = mono_ns() + resolve_ns;
                }
                if (h->next_resolve[i] < wake) wake = h->next_resolve[i];
            }
            if (hc->enabled) {
                if (now >= h->next_check[i]) {
                    check_pool(p, h);
                    h->next_check[i] = mono_ns() + hc->interval_ns;
                }
                if (h->next_check[i] < wake) wake = h->next_check[i];
            }
        }
        pthread_mutex_lock(&h->mu);
        if (h->stop) break;
        /* The condvar uses CLOCK_MONOTONIC (set in start) so wall-clock jumps do not stall checks. */
        struct timespec ts = {(time_t)(wake / 1000000000LL), (long)(wake % 1000000000LL)};
        while (!h->stop && mono_ns() < wake) {
            if (pthread_cond_timedwait(&h->cv, &h->mu, &ts) == ETIMEDOUT) break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

ig_gw_health *ig_gw_health_start(ig_gw_pool *const *pools, size_t n, ig_error *err)
{
    ig_gw_health *h = calloc(1, sizeof(*h));
    if (!h) goto nomem;
    h->n = n;
    h->pools = calloc(n ? n : 1, sizeof(*h->pools));
    h->next_check = calloc(n ? n : 1, sizeof(int64_t));
    h->next_resolve = calloc(n ? n : 1, sizeof(int64_t));
    if (!h->pools || !h->next_check || !h->next_resolve) goto nomem;
    int64_t now = mono_ns();
    for (size_t i = 0; i < n; i++) {
        int64_t resolve_ns = 0;
        h->pools[i] = pools[i];
        /* Pools were resolved when built: the first re-resolution is one interval away. */
        if (ig_gw_pool_dns(pools[i], NULL, NULL, &resolve_ns)) h->next_resolve[i] = now + resolve_ns;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&h->thread, NULL, health_main, h);
    if (rc) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        ig_error_set(err, IG_ERUNTIME, "cannot start the health thread: %s", strerror(rc));
        goto fail;
    }
    return h;
nomem:
    ig_error_set(err, IG_ENOMEM, "out of memory");
fail:
    if (h) {
        free(h->pools);
        free(h->next_check);
        free(h->next_resolve);
        free(h);
    }
    return NULL;
}

void ig_gw_health_stop(ig_gw_health *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h->pools);
    free(h->next_check);
    free(h->next_resolve);
    free(h);
}
