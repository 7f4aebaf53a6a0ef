/* Shadow exchanges (see mirror.h): one connection per copy (TLS when the shadow pool has it), closed
 * after the response, so the primary's keep-alive pool is never disturbed by shadow traffic. */
#include "gateway/mirror.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/http1.h"
#include "gateway/shadow.h"

enum { MIRROR_MAX_RESPONSE = 8 << 20 };

typedef struct mirror {
    ig_watch w; /* first: the loop hands this pointer back */
    ig_loop *loop;
    ig_gw_mirror_job *job;
    ig_gw_endpoint *ep;
    size_t sent;
    char *in;
    size_t in_len, in_cap;
    char *body;
    size_t body_len, body_cap;
    bool overflow, connecting;
    SSL *ssl; /* the shadow pool's TLS, or NULL */
    ig_http1_msg resp;
    size_t json_len;
} mirror;

static void job_free(ig_gw_mirror_job *job)
{
    ig_gw_config_release(job->cfg);
    free(job->request);
    free(job->primary);
    free(job);
}

static void release_mem(ig_watch *w)
{
    mirror *m = (mirror *)w;
    job_free(m->job);
    free(m->in);
    free(m->body);
    free(m);
}

/* result: 0 same, 1 differ, negative not comparable (shadow failed or unparsable). */
static void finish(mirror *m, int result)
{
    ig_gw_mirror_job *job = m->job;
    ig_gw_route_stats *s = job->route->stats;
    atomic_fetch_add_explicit(result == 0   ? &s->shadow_same
                              : result == 1 ? &s->shadow_differ
                                            : &s->shadow_error,
                              1, memory_order_relaxed);
    if (job->route->rollout)
        ig_rollout_record_shadow(job->route->rollout, job->shadow_pool, result,
                                 (int64_t)ig_loop_now(m->loop));
    if (m->ep) {
        ig_gw_pool_record(job->cfg->pools[job->shadow_pool], m->ep,
                          result < 0 && !m->resp.status ? 0 : m->resp.status, (int64_t)ig_loop_now(m->loop));
        ig_gw_endpoint_finish(m->ep);
        m->ep = NULL;
    }
    ig_ssl_close(m->ssl);
    m->ssl = NULL;
    close(m->w.fd);
    ig_loop_retire(m->loop, &m->w, release_mem);
}

static void on_body(void *ctx, const char *at, size_t len)
{
    mirror *m = ctx;
    if (m->overflow) return;
    if (m->body_len + len > MIRROR_MAX_RESPONSE) {
        m->overflow = true;
        return;
    }
    if (m->body_cap - m->body_len < len) {
        size_t cap = m->body_cap ? m->body_cap : 16384;
        while (cap - m->body_len < len) cap *= 2;
        char *b = realloc(m->body, cap);
        if (!b) {
            m->overflow = true;
            return;
        }
        m->body = b;
        m->body_cap = cap;
    }
    memcpy(m->body + m->body_len, at, len);
    m->body_len += len;
}

static void compare(mirror *m)
{
    ig_gw_mirror_job *job = m->job;
    if (m->overflow || m->resp.status != 200) {
        finish(m, -1);
        return;
    }
    double atol = 1e-5, rtol = 1e-4;
    if (job->route->rollout) ig_rollout_shadow_tolerance(job->route->rollout, &atol, &rtol);
    int r = ig_shadow_compare(job->primary, job->primary_len, job->primary_json_len, m->body, m->body_len,
                              m->json_len ? m->json_len : m->body_len, atol, rtol);
    finish(m, r);
}

static void on_head(mirror *m)
{
    size_t len;
    const char *v = ig_http1_find(&m->resp, "Inference-Header-Content-Length", &len);
    m->json_len = 0;
    for (size_t i = 0; v && i < len && v[i] >= '0' && v[i] <= '9' && m->json_len < MIRROR_MAX_RESPONSE; i++)
        m->json_len = m->json_len * 10 + (size_t)(v[i] - '0');
}

static void on_io(ig_watch *w, uint32_t events)
{
    mirror *m = (mirror *)w;
    ig_gw_mirror_job *job = m->job;
    if (m->connecting) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            finish(m, -1);
            return;
        }
        if (!(events & EPOLLOUT)) return;
        m->connecting = false;
    }
    bool other = false; /* TLS waits for the opposite direction of the socket */
    while (m->sent < job->request_len) {
        const char *at = job->request + m->sent;
        size_t left = job->request_len - m->sent;
        ssize_t n = m->ssl ? ig_ssl_write(m->ssl, at, left, &other) : write(w->fd, at, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ig_loop_set(m->loop, w, EPOLLIN | EPOLLRDHUP | (other ? 0 : EPOLLOUT));
            return;
        }
        if (n <= 0) {
            finish(m, -1);
            return;
        }
        m->sent += (size_t)n;
        if (m->sent == job->request_len) ig_loop_set(m->loop, w, EPOLLIN | EPOLLRDHUP);
    }
    for (;;) {
        if (m->in_cap - m->in_len < 16384) {
            size_t cap = m->in_cap ? m->in_cap * 2 : 32768;
            char *b = realloc(m->in, cap);
            if (!b) {
                finish(m, -1);
                return;
            }
            m->in = b;
            m->in_cap = cap;
        }
        char *at = m->in + m->in_len;
        size_t room = m->in_cap - m->in_len;
        ssize_t n = m->ssl ? ig_ssl_read(m->ssl, at, room, &other) : read(w->fd, at, room);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ig_loop_set(m->loop, w, EPOLLIN | EPOLLRDHUP | (other ? EPOLLOUT : 0));
            return;
        }
        if (n <= 0) {
            if (m->resp.head_done && ig_http1_eof(&m->resp))
                compare(m);
            else
                finish(m, -1);
            return;
        }
        m->in_len += (size_t)n;
        if (!m->resp.head_done) {
            int r = ig_http1_head(&m->resp, m->in, m->in_len);
            if (r == 0 && m->in_len < IG_HTTP1_MAX_HEAD) continue;
            if (r != 1) {
                finish(m, -1);
                return;
            }
            on_head(m);
            memmove(m->in, m->in + m->resp.head_len, m->in_len - m->resp.head_len);
            m->in_len -= m->resp.head_len;
        }
        if (m->in_len && ig_http1_body(&m->resp, m->in, m->in_len) < 0) {
            finish(m, -1);
            return;
        }
        m->in_len = 0;
        if (m->resp.done) {
            compare(m);
            return;
        }
    }
}

static void on_deadline(ig_watch *w, uint64_t now)
{
    (void)now;
    finish((mirror *)w, -1);
}

static void on_shutdown(ig_watch *w)
{
    finish((mirror *)w, -1);
}

void ig_gw_mirror_start(ig_loop *loop, ig_gw_mirror_job *job, uint64_t rnd)
{
    mirror *m = calloc(1, sizeof *m);
    if (!m) {
        job_free(job);
        return;
    }
    m->loop = loop;
    m->job = job;
    m->w.fd = -1;
    m->w.on_io = on_io;
    m->w.on_deadline = on_deadline;
    m->w.on_shutdown = on_shutdown;
    m->w.deadline_ns = job->deadline_ns;
    ig_http1_begin(&m->resp, IG_HTTP1_RESPONSE);
    m->resp.on_body = on_body;
    m->resp.body_ctx = m;
    ig_gw_pool *pool = job->cfg->pools[job->shadow_pool];
    m->ep = ig_gw_pool_pick(pool, rnd, rnd, NULL, (int64_t)ig_loop_now(loop));
    socklen_t len = 0;
    const struct sockaddr *sa = m->ep ? ig_gw_endpoint_sockaddr(m->ep, &len) : NULL;
    int fd = sa ? socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
    int rc = fd >= 0 ? connect(fd, sa, len) : -1;
    const ig_gw_upstream_tls *tls = ig_gw_pool_tls(pool);
    if (fd >= 0 && tls) m->ssl = ig_gw_upstream_tls_connect(tls, fd, ig_gw_endpoint_address(m->ep));
    if (fd < 0 || (rc < 0 && errno != EINPROGRESS) || (tls && !m->ssl) ||
        (m->w.fd = fd, ig_loop_add(loop, &m->w, EPOLLIN | EPOLLOUT | EPOLLRDHUP))) {
        SSL_free(m->ssl);
        if (fd >= 0) close(fd);
        ig_gw_route_stats *s = job->route->stats;
        atomic_fetch_add_explicit(&s->shadow_error, 1, memory_order_relaxed);
        if (m->ep) ig_gw_endpoint_finish(m->ep);
        job_free(job);
        free(m);
        return;
    }
    m->connecting = rc < 0;
}
