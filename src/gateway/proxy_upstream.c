/* Upstream connections: keep-alive pools per worker and address, tries and retries, circuit breakers
 * on connections, and the relay of response bytes (chunk framing and all) to the client. */
#include "gateway/proxy_int.h"

/* ---- upstream connections ---- */

/* Idle connections are kept per address and TLS settings: a connection is only reused by a pool that
 * would have opened it the same way. */
static idle_bucket *bucket_for(ig_gw_worker *w, const struct sockaddr *sa, socklen_t len,
                               uint64_t tls_fingerprint, bool create)
{
    for (idle_bucket *b = w->idle; b; b = b->next)
        if (b->addrlen == len && b->tls_fingerprint == tls_fingerprint && !memcmp(&b->addr, sa, len))
            return b;
    if (!create) return NULL;
    idle_bucket *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    memcpy(&b->addr, sa, len);
    b->addrlen = len;
    b->tls_fingerprint = tls_fingerprint;
    b->next = w->idle;
    w->idle = b;
    return b;
}

static void idle_remove(gw_upstream *u)
{
    idle_bucket *b = bucket_for(u->wk, (struct sockaddr *)&u->addr, u->addrlen, u->tls_fingerprint, false);
    if (!b) return;
    for (gw_upstream **p = &b->head; *p; p = &(*p)->idle_next)
        if (*p == u) {
            *p = u->idle_next;
            b->count--;
            return;
        }
}

static void upstream_release_mem(ig_watch *w)
{
    gw_upstream *u = container_of(w, gw_upstream, w);
    bytes_free(&u->in);
    free(u);
}

static void upstream_uncharge(gw_upstream *u)
{
    if (!u->charged_pool) return;
    if (u->pending) ig_gw_pool_release_pending(u->charged_pool);
    ig_gw_pool_release_connection(u->charged_pool);
    ig_gw_config_release(u->charged_cfg);
    u->charged_pool = NULL;
    u->charged_cfg = NULL;
    u->pending = false;
}

void ig__gw_upstream_close(gw_upstream *u)
{
    upstream_uncharge(u);
    if (!u->client)
        idle_remove(u);
    else if (u->client->up == u)
        u->client->up = NULL;
    u->client = NULL;
    ig_ssl_close(u->ssl);
    u->ssl = NULL;
    close(u->w.fd);
    ig_loop_retire(u->wk->loop, &u->w, upstream_release_mem);
}

static void upstream_idle_deadline(ig_watch *w, uint64_t now)
{
    (void)now;
    ig__gw_upstream_close(container_of(w, gw_upstream, w));
}

static void upstream_failed(gw_upstream *u, const char *why);
static void upstream_on_io(ig_watch *w, uint32_t events);

static void upstream_deadline(ig_watch *w, uint64_t now)
{
    (void)now;
    gw_upstream *u = container_of(w, gw_upstream, w);
    upstream_failed(u, u->handshaking ? "TLS handshake timeout" : "connect timeout");
}

/* Puts a connection whose exchange ended cleanly back for reuse. */
static void upstream_park(gw_upstream *u)
{
    idle_bucket *b = bucket_for(u->wk, (struct sockaddr *)&u->addr, u->addrlen, u->tls_fingerprint, true);
    if (u->client && u->client->up == u) u->client->up = NULL;
    u->client = NULL;
    if (!b || b->count >= MAX_IDLE_PER_ENDPOINT || u->in.len) {
        ig__gw_upstream_close(u);
        return;
    }
    u->idle_next = b->head;
    b->head = u;
    b->count++;
    u->w.on_deadline = upstream_idle_deadline;
    u->w.deadline_ns = ig_loop_now(u->wk->loop) + UPSTREAM_IDLE_MS * 1000000ull;
    ig_loop_set(u->wk->loop, &u->w, EPOLLIN | EPOLLRDHUP);
}

enum { CAPTURE_MAX = 8 << 20 };

static void capture_body(void *ctx, const char *at, size_t len)
{
    gw_request *rq = ctx;
    if (rq->capture_overflow) return;
    if (rq->capture.len + len > CAPTURE_MAX || !bytes_append(&rq->capture, at, len))
        rq->capture_overflow = true;
}

/* A keep-alive connection to sa, or a new one. NULL with *overflow set when the pool's connection
 * or pending limit refused a new one. */
static gw_upstream *upstream_get(gw_client *c, const struct sockaddr *sa, socklen_t len, bool *overflow)
{
    ig_gw_worker *wk = c->wk;
    const ig_gw_upstream_tls *tls = ig_gw_pool_tls(c->rq.pool);
    idle_bucket *b = bucket_for(wk, sa, len, ig_gw_upstream_tls_fingerprint(tls), false);
    gw_upstream *u = NULL;
    if (b && b->head) {
        u = b->head;
        b->head = u->idle_next;
        b->count--;
        u->idle_next = NULL;
        u->reused = true;
    } else {
        /* Circuit breakers: connections and connections still being opened, per pool. */
        ig_gw_pool *pool = c->rq.pool;
        if (!ig_gw_pool_acquire_connection(pool)) {
            *overflow = true;
            return NULL;
        }
        if (!ig_gw_pool_acquire_pending(pool)) {
            ig_gw_pool_release_connection(pool);
            *overflow = true;
            return NULL;
        }
        u = calloc(1, sizeof *u);
        int fd = u ? socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
        if (fd < 0) {
            free(u);
            ig_gw_pool_release_pending(pool);
            ig_gw_pool_release_connection(pool);
            return NULL;
        }
        u->charged_pool = pool;
        u->charged_cfg = ig_gw_config_ref(c->rq.cfg);
        u->pending = true;
        ig__gw_set_nonblocking_socket_opts(fd);
        u->wk = wk;
        u->w.fd = fd;
        u->w.on_io = upstream_on_io;
        memcpy(&u->addr, sa, len);
        u->addrlen = len;
        int rc = connect(fd, sa, len);
        if ((rc < 0 && errno != EINPROGRESS) ||
            ig_loop_add(wk->loop, &u->w, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
            upstream_uncharge(u);
            close(fd);
            free(u);
            return NULL;
        }
        if (tls && !(u->ssl = ig_gw_upstream_tls_connect(tls, fd, ig_gw_endpoint_address(c->rq.ep)))) {
            ig_loop_del(wk->loop, &u->w);
            upstream_uncharge(u);
            close(fd);
            free(u);
            return NULL;
        }
        u->tls_fingerprint = ig_gw_upstream_tls_fingerprint(tls);
        u->handshaking = tls != NULL;
        u->connecting = rc < 0;
        if (!u->connecting) {
            ig_gw_pool_release_pending(pool);
            u->pending = false;
        }
    }
    u->client = c;
    u->head_off = u->body_off = 0;
    u->got_bytes = u->paused = false;
    u->in.len = 0;
    ig_http1_begin(&u->resp,
                   c->req.parser.method == HTTP_HEAD ? IG_HTTP1_RESPONSE_TO_HEAD : IG_HTTP1_RESPONSE);
    if (c->rq.shadow_pool >= 0 || c->rq.has_cache_key) {
        c->rq.capture.len = 0;
        c->rq.capture_overflow = false;
        u->resp.on_body = capture_body;
        u->resp.body_ctx = &c->rq;
    }
    u->w.on_deadline = upstream_deadline;
    u->w.deadline_ns = u->connecting || u->handshaking
                           ? ig_loop_now(wk->loop) + (uint64_t)c->rq.cfg->connect_timeout_ms * 1000000u
                           : 0;
    c->up = u;
    return u;
}

static uint64_t hash_key(gw_client *c)
{
    size_t len;
    const char *k = ig_http1_find(&c->req, "x-infergate-hash-key", &len);
    if (k) return XXH3_64bits(k, len);
    return XXH3_64bits(c->rq.model, strlen(c->rq.model));
}

void ig__gw_try_upstream(gw_client *c)
{
    gw_request *rq = &c->rq;
    uint64_t now = ig_loop_now(c->wk->loop);
    rq->tries++;
    rq->try_start_ns = now;
    ig_gw_stats_try(rq->cfg->pool_stats[rq->pool_index], rq->tries);
    rq->ep = ig_gw_pool_pick(rq->pool, hash_key(c), ig__gw_next_rand(c->wk), rq->prev_ep, (int64_t)now);
    if (!rq->ep) {
        ig__gw_client_error(c, 503, "no upstream endpoint is available", NULL, !c->req.done);
        return ig__gw_request_local_end(c);
    }
    snprintf(rq->prev_addr, sizeof rq->prev_addr, "%s", ig_gw_endpoint_address(rq->ep));
    socklen_t len;
    const struct sockaddr *sa = ig_gw_endpoint_sockaddr(rq->ep, &len);
    bool overflow = false;
    gw_upstream *u = upstream_get(c, sa, len, &overflow);
    if (!u && overflow) {
        ig__gw_client_error(c, 503, "upstream pool is at its connection limit",
                            "x-infergate-overloaded: true\r\n", !c->req.done);
        return ig__gw_request_local_end(c);
    }
    if (!u) {
        ig_gw_pool_record(rq->pool, rq->ep, 0, (int64_t)now);
        ig__gw_client_error(c, 502, "cannot open a connection to the upstream", NULL, !c->req.done);
        return ig__gw_request_local_end(c);
    }
    if (!u->connecting) ig__gw_upstream_write(u);
}

/* Writes the first piece through TLS (SSL_write takes one buffer), all of them on a plain socket. */
static ssize_t upstream_send(gw_upstream *u, const struct iovec *iov, int n)
{
    if (!u->ssl) return writev(u->w.fd, iov, n);
    return ig_ssl_write(u->ssl, iov[0].iov_base, iov[0].iov_len, &u->write_waits_read);
}

static ssize_t upstream_recv(gw_upstream *u, void *buf, size_t len)
{
    if (!u->ssl) return read(u->w.fd, buf, len);
    return ig_ssl_read(u->ssl, buf, len, &u->read_waits_write);
}

/* Why a write or read failed, in the client's error: on a new TLS connection that never answered,
 * what TLS says (a certificate that failed verification, a refused handshake; with TLS 1.3 a server
 * refusing our client certificate closes the connection only after the handshake). Uses errno. */
static const char *io_failure(gw_upstream *u, const char *plain)
{
    if (!u->ssl) return plain;
    if (SSL_get_verify_result(u->ssl) != X509_V_OK)
        return "TLS: the upstream's certificate failed verification (its name or its CA)";
    if (errno == EPROTO) return "TLS: the handshake with the upstream failed";
    if (!u->reused && !u->got_bytes)
        return "TLS: the upstream closed the new connection (does it require a client certificate?)";
    return plain;
}

/* The handshake finished: the connect deadline no longer applies. */
static void tls_established(gw_upstream *u)
{
    if (!u->handshaking || !SSL_is_init_finished(u->ssl)) return;
    u->handshaking = false;
    u->w.deadline_ns = 0;
}

void ig__gw_upstream_write(gw_upstream *u)
{
    gw_client *c = u->client;
    if (!c || u->connecting) return;
    gw_request *rq = &c->rq;
    for (;;) {
        struct iovec iov[2];
        int n = 0;
        if (u->head_off < rq->up_head.len)
            iov[n++] = (struct iovec){rq->up_head.data + u->head_off, rq->up_head.len - u->head_off};
        if (u->body_off < c->body_len)
            iov[n++] = (struct iovec){c->in.data + c->req.head_len + u->body_off, c->body_len - u->body_off};
        if (n == 0) {
            ig_loop_set(u->wk->loop, &u->w, u->paused ? 0 : EPOLLIN | EPOLLRDHUP);
            return;
        }
        ssize_t w = upstream_send(u, iov, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ig_loop_set(u->wk->loop, &u->w, EPOLLIN | EPOLLRDHUP | (u->write_waits_read ? 0 : EPOLLOUT));
            return;
        }
        if (w < 0) {
            upstream_failed(u, io_failure(u, "write to upstream failed"));
            return;
        }
        tls_established(u);
        size_t k = (size_t)w, h = rq->up_head.len - u->head_off;
        if (k <= h)
            u->head_off += k;
        else {
            u->head_off = rq->up_head.len;
            u->body_off += k - h;
        }
    }
}

/* Try failed before a response head: another endpoint if the request may go again. */
static void upstream_failed(gw_upstream *u, const char *why)
{
    gw_client *c = u->client;
    if (!c) {
        ig__gw_upstream_close(u);
        return;
    }
    gw_request *rq = &c->rq;
    uint64_t now = ig_loop_now(c->wk->loop);
    /* A reused keep-alive connection the upstream had closed is not the endpoint's failure, and
     * the request is sent again at once on a new connection. */
    bool stale = u->reused && !u->got_bytes;
    if (rq->response_started) {
        ig__gw_upstream_close(u);
        c->close_after_write = true;
        rq->status = rq->status ? rq->status : 502;
        ig__gw_request_end(c);
        ig__gw_client_flush(c);
        return;
    }
    if (!stale) ig_gw_pool_record(rq->pool, rq->ep, 0, (int64_t)now);
    ig__gw_upstream_close(u);
    bool whole = c->req.done; /* all of the request is held, so it can be sent again */
    bool again = whole && now < rq->deadline_ns &&
                 (stale ? rq->tries <= rq->route->retries + 1
                        : rq->tries <= rq->route->retries && ig_gw_pool_may_retry(rq->pool));
    if (again) {
        if (!stale) {
            if (rq->holds_retry) ig_gw_pool_retry_done(rq->pool);
            rq->holds_retry = true;
            atomic_fetch_add_explicit(&rq->route->stats->retries, 1, memory_order_relaxed);
        }
        rq->prev_ep = stale ? NULL : rq->ep;
        ig_gw_endpoint_finish(rq->ep);
        rq->ep = NULL;
        ig__gw_try_upstream(c);
        return;
    }
    if (rq->route->rollout) ig_rollout_record(rq->route->rollout, rq->pool_index, true, -1, (int64_t)now);
    char msg[160];
    snprintf(msg, sizeof msg, "upstream %s: %s", rq->prev_addr, why);
    ig__gw_client_error(c, 502, msg, NULL, !c->req.done);
    ig__gw_request_local_end(c);
}

/* The response head arrived: retry a 503, else start relaying. Returns false when u was closed. */
static bool on_response_head(gw_upstream *u)
{
    gw_client *c = u->client;
    gw_request *rq = &c->rq;
    ig_http1_msg *r = &u->resp;
    uint64_t now = ig_loop_now(c->wk->loop);
    ig_gw_pool_record(rq->pool, rq->ep, r->status, (int64_t)now);
    size_t qlen;
    const char *q = ig_http1_find(r, "x-infergate-queue-depth", &qlen);
    if (q) {
        int64_t depth = 0;
        for (size_t i = 0; i < qlen && q[i] >= '0' && q[i] <= '9' && depth < (1LL << 40); i++)
            depth = depth * 10 + (q[i] - '0');
        ig_gw_endpoint_report_queue(rq->ep, depth);
    }
    if (r->status == 503 && c->req.done && rq->tries <= rq->route->retries && now < rq->deadline_ns &&
        ig_gw_pool_may_retry(rq->pool)) {
        if (rq->holds_retry) ig_gw_pool_retry_done(rq->pool);
        rq->holds_retry = true;
        atomic_fetch_add_explicit(&rq->route->stats->retries, 1, memory_order_relaxed);
        ig__gw_upstream_close(u);
        rq->prev_ep = rq->ep;
        ig_gw_endpoint_finish(rq->ep);
        rq->ep = NULL;
        ig__gw_try_upstream(c);
        return false;
    }
    rq->status = r->status;
    rq->response_started = true;
    if (rq->has_cache_key) {
        /* Two headers of the response go into the entry; copied, as the head's buffer moves. */
        ig_gw_slice ct = ig__gw_header_slice(r, "Content-Type"),
                    hl = ig__gw_header_slice(r, "Inference-Header-Content-Length");
        if (ct.len + hl.len <= sizeof rq->resp_hdrs) {
            if (ct.len) memcpy(rq->resp_hdrs, ct.ptr, ct.len);
            if (hl.len) memcpy(rq->resp_hdrs + ct.len, hl.ptr, hl.len);
            rq->resp_ctype = (ig_gw_slice){rq->resp_hdrs, ct.len};
            rq->resp_ihcl = (ig_gw_slice){rq->resp_hdrs + ct.len, hl.len};
        } else {
            rq->ig__gw_cache_store = false;
        }
    }
    if (rq->shadow_pool >= 0) {
        const char *j = ig_http1_find(r, "Inference-Header-Content-Length", &qlen);
        rq->capture_json_len = 0;
        for (size_t i = 0; j && i < qlen && j[i] >= '0' && j[i] <= '9' && rq->capture_json_len < CAPTURE_MAX;
             i++)
            rq->capture_json_len = rq->capture_json_len * 10 + (size_t)(j[i] - '0');
    }
    if (rq->route->rollout)
        ig_rollout_record(rq->route->rollout, rq->pool_index, r->status >= 500,
                          (int64_t)(now - rq->start_ns) / 1000, (int64_t)now);
    if (!c->req.keep_alive || atomic_load_explicit(&c->wk->sh->draining, memory_order_relaxed))
        c->close_after_write = true;
    /* Status line: the upstream's reason phrase, our version. */
    const char *sp = memchr(u->in.data, ' ', r->head_len);
    const char *eol = memchr(u->in.data, '\r', r->head_len);
    bool ok = sp && eol && sp < eol && bytes_append(&c->out, "HTTP/1.1", 8) &&
              bytes_append(&c->out, sp, (size_t)(eol - sp)) && bytes_append(&c->out, "\r\n", 2);
    bool has_id = false;
    for (size_t i = 0; ok && i < r->n_headers; i++) {
        const ig_http1_header *h = &r->headers[i];
        if (ig_http1_is_hop(r, h)) continue;
        if (h->name_len == 12 && !strncasecmp(h->name, "X-Request-Id", 12)) has_id = true;
        ok = bytes_append(&c->out, h->name, h->name_len) && bytes_append(&c->out, ": ", 2) &&
             bytes_append(&c->out, h->value, h->value_len) && bytes_append(&c->out, "\r\n", 2);
    }
    /* A body that ends when the upstream closes ends the client's connection too. */
    if (!r->no_body && !r->chunked && r->content_length < 0) c->close_after_write = true;
    if (ok && r->chunked) ok = bytes_printf(&c->out, "Transfer-Encoding: chunked\r\n");
    if (ok && !has_id) ok = bytes_printf(&c->out, "X-Request-Id: %s\r\n", rq->request_id);
    if (ok && rq->rl_headers[0]) ok = bytes_printf(&c->out, "%s", rq->rl_headers);
    if (ok) ok = bytes_printf(&c->out, "%s\r\n", c->close_after_write ? "Connection: close\r\n" : "");
    if (!ok) {
        c->close_after_write = true;
        ig__gw_upstream_close(u);
        ig__gw_client_close(c);
        return false;
    }
    bytes_consume(&u->in, r->head_len);
    return true;
}

/* Sends the shadow copy of a request whose primary answered 200 (see mirror.h). */
static void start_mirror(gw_client *c)
{
    gw_request *rq = &c->rq;
    if (rq->shadow_pool < 0 || rq->status != 200 || rq->capture_overflow || !c->req.done ||
        rq->up_head.len < 4)
        return;
    ig_gw_mirror_job *job = calloc(1, sizeof *job);
    size_t head = rq->up_head.len - 2; /* before the blank line */
    static const char close_hdr[] = "Connection: close\r\n\r\n";
    size_t n = head + sizeof close_hdr - 1 + c->body_len;
    if (!job || !(job->request = malloc(n))) {
        free(job);
        return;
    }
    memcpy(job->request, rq->up_head.data, head);
    memcpy(job->request + head, close_hdr, sizeof close_hdr - 1);
    memcpy(job->request + head + sizeof close_hdr - 1, c->in.data + c->req.head_len, c->body_len);
    job->request_len = n;
    job->cfg = ig_gw_config_ref(rq->cfg);
    job->route = rq->route;
    job->shadow_pool = rq->shadow_pool;
    job->primary = rq->capture.data;
    job->primary_len = rq->capture.len;
    job->primary_json_len = rq->capture_json_len ? rq->capture_json_len : rq->capture.len;
    rq->capture = (gw_bytes){0};
    job->deadline_ns = ig_loop_now(c->wk->loop) + (uint64_t)rq->route->timeout_ms * 1000000u;
    ig_gw_mirror_start(c->wk->loop, job, ig__gw_next_rand(c->wk));
}

/* The exchange is over: the upstream connection goes back to the pool (or closes). */
static void response_done(gw_upstream *u, bool reusable)
{
    gw_client *c = u->client;
    ig__gw_cache_store(c, &u->resp);
    start_mirror(c);
    if (reusable && u->resp.keep_alive && u->body_off == c->body_len && c->req.done)
        upstream_park(u);
    else
        ig__gw_upstream_close(u);
    ig__gw_request_end(c);
    if (!ig__gw_client_flush(c)) return;
    if (c->in.len && !c->close_after_write) ig__gw_client_process(c);
}

void ig__gw_upstream_read(gw_upstream *u)
{
    for (;;) {
        gw_client *c = u->client;
        if (!c) {
            /* idle: any byte or close means the connection is no longer usable, except TLS records
             * that carry no data (session tickets arrive after the handshake) */
            char byte;
            if (u->ssl && upstream_recv(u, &byte, 1) < 0 && errno == EAGAIN) return;
            ig__gw_upstream_close(u);
            return;
        }
        if (u->paused) return;
        if (!bytes_reserve(&u->in, 16 * 1024)) {
            upstream_failed(u, "out of memory");
            return;
        }
        ssize_t n = upstream_recv(u, u->in.data + u->in.len, u->in.cap - u->in.len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (u->read_waits_write) ig_loop_set(u->wk->loop, &u->w, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
            /* A write waiting for the handshake's next message: this read may have taken it in, and
             * no event would tell the write. */
            if (u->write_waits_read) ig__gw_upstream_write(u);
            return;
        }
        if (n <= 0) {
            if (u->resp.head_done && u->in.len == 0 && ig_http1_eof(&u->resp)) {
                response_done(u, false);
                return;
            }
            if (!u->resp.head_done)
                upstream_failed(
                    u, io_failure(u, n == 0 ? "connection closed before a response" : strerror(errno)));
            else {
                /* truncated body: the client cannot be told other than by closing */
                c->close_after_write = true;
                ig__gw_upstream_close(u);
                ig__gw_request_end(c);
                ig__gw_client_flush(c);
            }
            return;
        }
        u->got_bytes = true;
        u->in.len += (size_t)n;
        if (!u->resp.head_done) {
            int r = ig_http1_head(&u->resp, u->in.data, u->in.len);
            if (r == 0) continue;
            if (r < 0) {
                ig_gw_pool_record(c->rq.pool, c->rq.ep, 502, (int64_t)ig_loop_now(c->wk->loop));
                ig__gw_upstream_close(u);
                ig__gw_client_error(c, 502, "malformed response from the upstream", NULL, true);
                ig__gw_request_local_end(c);
                return;
            }
            if (!on_response_head(u)) return;
        }
        if (u->in.len) {
            ptrdiff_t used = ig_http1_body(&u->resp, u->in.data, u->in.len);
            if (used < 0) {
                c->close_after_write = true;
                ig__gw_upstream_close(u);
                ig__gw_request_end(c);
                ig__gw_client_flush(c);
                return;
            }
            if (!bytes_append(&c->out, u->in.data, (size_t)used)) {
                ig__gw_upstream_close(u);
                ig__gw_client_close(c);
                return;
            }
            c->rq.bytes_out += (size_t)used;
            bytes_consume(&u->in, (size_t)used);
        }
        if (u->resp.done) {
            response_done(u, u->in.len == 0);
            return;
        }
        if (!ig__gw_client_flush(c)) return;
        if (c->out.len - c->out.off > OUT_HIGH_WATER) {
            u->paused = true;
            ig_loop_set(u->wk->loop, &u->w, 0);
            return;
        }
    }
}

static void upstream_on_io(ig_watch *w, uint32_t events)
{
    gw_upstream *u = container_of(w, gw_upstream, w);
    if (u->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            upstream_failed(u, err ? strerror(err) : "connection refused");
            return;
        }
        if (!(events & EPOLLOUT)) return;
        u->connecting = false;
        if (u->pending) {
            ig_gw_pool_release_pending(u->charged_pool);
            u->pending = false;
        }
        u->w.deadline_ns = 0;
    }
    /* TLS may wait for the direction opposite to the one it writes or reads in. */
    if ((events & EPOLLOUT) || (u->write_waits_read && (events & EPOLLIN))) {
        ig__gw_upstream_write(u);
        if (u->w.retired) return;
    }
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) ||
        (u->read_waits_write && (events & EPOLLOUT)))
        ig__gw_upstream_read(u);
}
