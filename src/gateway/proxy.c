/* The gateway's workers and their client connections (see proxy.h, proxy_int.h): accepting, reading
 * request bytes, answering locally, writing responses back, deadlines and closing. A request's bytes
 * stay in its client's buffer until the response head arrives, so a failed try can be sent again. */
#define _GNU_SOURCE /* accept4 */
#include "gateway/proxy_int.h"

/* ---- helpers ---- */

uint64_t ig__gw_next_rand(ig_gw_worker *w)
{
    /* xorshift64*: fast, and good enough to pick endpoints and split traffic */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 0x2545F4914F6CDD1DULL;
}

ig_gw_config *ig__gw_worker_config(ig_gw_worker *w)
{
    uint64_t gen = atomic_load_explicit(&w->sh->generation, memory_order_acquire);
    if (gen != w->cfg_gen || !w->cfg) {
        pthread_mutex_lock(&w->sh->lock);
        ig_gw_config *next = ig_gw_config_ref(w->sh->config);
        w->cfg_gen = atomic_load(&w->sh->generation);
        pthread_mutex_unlock(&w->sh->lock);
        ig_gw_config_release(w->cfg);
        w->cfg = next;
    }
    return w->cfg;
}

int ig__gw_set_nonblocking_socket_opts(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, ig_error *err)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return ig_error_set(err, IG_EINVAL, "listen address '%s' is not host:port", s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
    if (rc) return ig_error_set(err, IG_EINVAL, "listen address '%s': %s", s, gai_strerror(rc));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static int open_listener(const char *addr, ig_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (parse_hostport(addr, &ss, &len, err)) return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) || bind(fd, (struct sockaddr *)&ss, len) ||
        listen(fd, 4096)) {
        ig_error_set(err, IG_EIO, "cannot listen on %s: %s", addr, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* ---- client output ---- */

static void client_update_events(gw_client *c)
{
    uint32_t ev = EPOLLIN | EPOLLRDHUP;
    if (c->out.off < c->out.len || c->tls_wants_out) ev |= EPOLLOUT;
    ig_loop_set(c->wk->loop, &c->w, ev);
}

/* The client socket's bytes, through TLS when the listener has it. -1 with errno EAGAIN: wait for the
 * socket (a TLS write that waits for input needs nothing more: the client is always polled for input). */
static ssize_t client_recv(gw_client *c, void *buf, size_t len)
{
    if (!c->ssl) return read(c->w.fd, buf, len);
    return ig_ssl_read(c->ssl, buf, len, &c->tls_wants_out);
}

static ssize_t client_send(gw_client *c, const void *buf, size_t len)
{
    if (!c->ssl) return write(c->w.fd, buf, len);
    return ig_ssl_write(c->ssl, buf, len, NULL);
}

/* Writes what is pending. Returns false when the connection was closed. */
bool ig__gw_client_flush(gw_client *c)
{
    while (c->out.off < c->out.len) {
        ssize_t n = client_send(c, c->out.data + c->out.off, c->out.len - c->out.off);
        if (n > 0) {
            c->out.off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            client_update_events(c);
            return true;
        }
        ig__gw_client_close(c);
        return false;
    }
    c->out.len = c->out.off = 0;
    if (c->close_after_write && c->state != C_BUSY) {
        ig__gw_client_close(c);
        return false;
    }
    client_update_events(c);
    /* The upstream was paused while the client lagged. */
    if (c->up && c->up->paused) {
        c->up->paused = false;
        ig_loop_set(c->wk->loop, &c->up->w, EPOLLIN | EPOLLRDHUP);
        ig__gw_upstream_read(c->up);
    }
    return true;
}

/* Appends a complete local response. extra: header lines each ending CRLF, or "". */
void ig__gw_client_local_response(gw_client *c, int status, const char *ctype, const char *body,
                                  size_t body_len, const char *extra, bool close)
{
    if (close) c->close_after_write = true;
    bool ok =
        bytes_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s%s\r\n",
                     status, ig_status_reason(status), ctype, body_len,
                     c->rq.request_id[0] ? "X-Request-Id: " : "", c->rq.request_id,
                     c->rq.request_id[0] ? "\r\n" : "", extra,
                     c->close_after_write ? "Connection: close\r\n" : "") &&
        bytes_append(&c->out, body, body_len);
    if (!ok) c->close_after_write = true;
    c->rq.status = status;
    c->rq.bytes_out += body_len;
}

/* An Open Inference Protocol error body: {"error":"..."} with the message JSON-escaped. */
void ig__gw_client_error(gw_client *c, int status, const char *msg, const char *extra, bool close)
{
    size_t n = 0;
    char *body = ig_oip_error_json(msg, &n);
    if (!body) {
        /* out of memory: the status alone still tells the client */
        ig__gw_client_local_response(c, status, "application/json", "", 0, extra ? extra : "", true);
        return;
    }
    ig__gw_client_local_response(c, status, "application/json", body, n, extra ? extra : "", close);
    free(body);
}

/* ---- client connections ---- */

static void client_release_mem(ig_watch *w)
{
    gw_client *c = container_of(w, gw_client, w);
    bytes_free(&c->in);
    bytes_free(&c->out);
    bytes_free(&c->rq.up_head);
    free(c->cert);
    free(c);
}

void ig__gw_client_close(gw_client *c)
{
    if (c->state == C_DONE) return;
    if (c->up) ig__gw_upstream_close(c->up);
    if (c->rq.cfg) {
        c->rq.status = c->rq.status ? c->rq.status : 499; /* client went away */
        ig__gw_request_end(c);
    }
    c->state = C_DONE;
    ig_ssl_close(c->ssl);
    c->ssl = NULL;
    close(c->w.fd);
    ig_loop_retire(c->wk->loop, &c->w, client_release_mem);
}

static void client_shutdown(ig_watch *w)
{
    ig__gw_client_close(container_of(w, gw_client, w));
}

static void client_deadline(ig_watch *w, uint64_t now)
{
    gw_client *c = container_of(w, gw_client, w);
    if (c->state == C_IDLE) {
        if (c->in.len) {
            c->rq.status = 408;
            ig__gw_client_error(c, 408, "request head not received in time", NULL, true);
            ig__gw_client_flush(c);
        } else {
            ig__gw_client_close(c);
        }
        return;
    }
    if (c->state == C_BUSY && !c->rq.response_started) {
        if (c->up) ig__gw_upstream_close(c->up);
        ig__gw_client_error(c, 504, "upstream did not answer in time", NULL, !c->req.done);
        ig__gw_request_local_end(c);
        return;
    }
    ig__gw_client_close(c);
}

/* Delimits newly arrived body bytes of the current request. Returns false on a framing error. */
static bool client_feed_body(gw_client *c)
{
    if (c->req.done) return true;
    size_t avail = c->in.len - c->req.head_len - c->body_len;
    if (!avail) return true;
    ptrdiff_t n = ig_http1_body(&c->req, c->in.data + c->req.head_len + c->body_len, avail);
    if (n < 0) return false;
    c->body_len += (size_t)n;
    return true;
}

void ig__gw_client_process(gw_client *c)
{
    if (c->state == C_IDLE) {
        if (c->in.len == 0) return;
        int r = ig_http1_head(&c->req, c->in.data, c->in.len);
        if (r == 0) {
            if (!c->w.deadline_ns ||
                c->w.deadline_ns > ig_loop_now(c->wk->loop) +
                                       (uint64_t)ig__gw_worker_config(c->wk)->header_timeout_ms * 1000000u)
                c->w.deadline_ns = ig_loop_now(c->wk->loop) +
                                   (uint64_t)ig__gw_worker_config(c->wk)->header_timeout_ms * 1000000u;
            return;
        }
        if (r < 0) {
            ig__gw_client_error(c, c->req.error_status, c->req.error, NULL, true);
            ig__gw_client_flush(c);
            return;
        }
        c->body_len = 0;
        if (!client_feed_body(c)) {
            ig__gw_client_error(c, 400, c->req.error ? c->req.error : "malformed body", NULL, true);
            ig__gw_client_flush(c);
            return;
        }
        ig__gw_request_start(c);
        return;
    }
    if (c->state == C_BUSY) {
        if (!client_feed_body(c)) {
            if (c->up) ig__gw_upstream_close(c->up);
            if (!c->rq.response_started) {
                ig__gw_client_error(c, 400, c->req.error ? c->req.error : "malformed body", NULL, true);
                ig__gw_request_local_end(c);
            } else {
                ig__gw_client_close(c);
            }
            return;
        }
        if (c->req.head_len + c->body_len > (size_t)c->rq.cfg->max_request_bytes && !c->rq.response_started) {
            if (c->up) ig__gw_upstream_close(c->up);
            ig__gw_client_error(c, 413, "request body too large", NULL, true);
            ig__gw_request_local_end(c);
            return;
        }
        if (c->rq.awaiting) {
            if (c->req.done) ig__gw_request_resume(c);
            return;
        }
        if (c->up) ig__gw_upstream_write(c->up);
    }
}

static void client_on_io(ig_watch *w, uint32_t events)
{
    gw_client *c = container_of(w, gw_client, w);
    if (events & EPOLLOUT) {
        if (!ig__gw_client_flush(c)) return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) && !c->tls_wants_out) return;
    for (;;) {
        /* While a request is in flight, its bytes are kept; the limit applies to them. */
        if (!bytes_reserve(&c->in, 8192)) {
            ig__gw_client_close(c);
            return;
        }
        ssize_t n = client_recv(c, c->in.data + c->in.len, c->in.cap - c->in.len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->ssl) client_update_events(c); /* EPOLLOUT while the TLS layer waits to write */
            break;
        }
        if (n <= 0) {
            /* Half-closed after a complete request: answer it, then close. */
            if (n == 0 && c->state == C_BUSY && c->req.done) {
                c->close_after_write = true;
                ig_loop_set(c->wk->loop, &c->w, c->out.off < c->out.len ? EPOLLOUT : 0);
                return;
            }
            ig__gw_client_close(c);
            return;
        }
        c->in.len += (size_t)n;
        /* short read: drained (TLS: unless a decrypted record is still buffered) */
        if ((size_t)n < c->in.cap - c->in.len + (size_t)n && !(c->ssl && ig_ssl_pending(c->ssl))) break;
    }
    ig__gw_client_process(c);
    if (c->state != C_DONE && c->out.off < c->out.len) ig__gw_client_flush(c);
}

static void accept_clients(ig_gw_worker *wk, ig_watch *lw, bool admin)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(lw->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* Out of descriptors: a listener left registered would wake the loop again at once,
             * forever. The tick takes it back after a pause. */
            ig_loop_del(wk->loop, lw);
            wk->accept_resume_ns = ig_loop_now(wk->loop) + 100 * 1000000ull;
            return;
        }
        if (fd < 0) return; /* EAGAIN, or a transient error: the next event retries */
        if (atomic_load_explicit(&wk->sh->draining, memory_order_relaxed)) {
            close(fd);
            continue;
        }
        gw_client *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        ig__gw_set_nonblocking_socket_opts(fd);
        c->wk = wk;
        c->admin = admin;
        c->peer = ss;
        c->w.fd = fd;
        c->w.on_io = client_on_io;
        c->w.on_deadline = client_deadline;
        c->w.on_shutdown = client_shutdown;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->peer_ip, sizeof c->peer_ip);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->peer_ip, sizeof c->peer_ip);
        ig_http1_begin(&c->req, IG_HTTP1_REQUEST);
        ig_gw_config *cfg = ig__gw_worker_config(wk);
        /* The header timeout also bounds the TLS handshake. */
        c->w.deadline_ns = ig_loop_now(wk->loop) + (uint64_t)cfg->header_timeout_ms * 1000000u;
        if ((!admin && cfg->tls && !(c->ssl = ig_gw_tls_accept(cfg->tls, fd))) ||
            ig_loop_add(wk->loop, &c->w, EPOLLIN | EPOLLRDHUP)) {
            ig_ssl_close(c->ssl);
            close(fd);
            free(c);
        }
    }
}

static void listener_on_io(ig_watch *w, uint32_t events)
{
    (void)events;
    ig_gw_worker *wk = container_of(w, ig_gw_worker, listen_w);
    accept_clients(wk, w, false);
}

static void admin_on_io(ig_watch *w, uint32_t events)
{
    (void)events;
    ig_gw_worker *wk = container_of(w, ig_gw_worker, admin_w);
    accept_clients(wk, w, true);
}

/* ---- worker ---- */

static void worker_tick(void *arg, uint64_t now)
{
    ig_gw_worker *wk = arg;
    ig_gw_config *cfg =
        ig__gw_worker_config(wk); /* drop an old snapshot soon after a reload, even when idle */
    /* Canary windows that close on time are judged by one worker. */
    if (wk->id == 0)
        for (size_t i = 0; i < cfg->n_routes; i++)
            if (cfg->routes[i].rollout) ig_rollout_tick(cfg->routes[i].rollout, (int64_t)now);
    if (atomic_load_explicit(&wk->sh->draining, memory_order_relaxed) && wk->listen_w.fd >= 0) {
        ig_loop_del(wk->loop, &wk->listen_w);
        close(wk->listen_w.fd);
        wk->listen_w.fd = -1;
    }
    if (wk->accept_resume_ns && now >= wk->accept_resume_ns) {
        wk->accept_resume_ns = 0;
        ig_watch *ls[] = {&wk->listen_w, &wk->admin_w};
        for (int i = 0; i < 2; i++)
            if (ls[i]->fd >= 0 && !ls[i]->linked) ig_loop_add(wk->loop, ls[i], EPOLLIN);
    }
}

static void *worker_main(void *arg)
{
    ig_gw_worker *wk = arg;
    ig_loop_run(wk->loop, worker_tick, wk);
    return NULL;
}

ig_gw_worker *ig_gw_worker_create(ig_gw_shared *sh, int id, const char *listen, const char *admin,
                                  ig_error *err)
{
    ig_gw_worker *wk = calloc(1, sizeof *wk);
    if (!wk) {
        ig_error_set(err, IG_ENOMEM, "out of memory");
        return NULL;
    }
    wk->sh = sh;
    wk->id = id;
    wk->listen_w.fd = wk->admin_w.fd = -1;
    wk->rng = ig_now_ns() ^ ((uint64_t)(id + 1) * 0x9E3779B97F4A7C15ULL);
    if (!wk->rng) wk->rng = 1;
    if (!(wk->loop = ig_loop_create())) {
        ig_error_set(err, IG_EIO, "cannot create an event loop: %s", strerror(errno));
        goto fail;
    }
    if ((wk->listen_w.fd = open_listener(listen, err)) < 0) goto fail;
    wk->listen_w.on_io = listener_on_io;
    if (ig_loop_add(wk->loop, &wk->listen_w, EPOLLIN)) goto fail;
    if (admin) {
        if ((wk->admin_w.fd = open_listener(admin, err)) < 0) goto fail;
        wk->admin_w.on_io = admin_on_io;
        if (ig_loop_add(wk->loop, &wk->admin_w, EPOLLIN)) goto fail;
    }
    return wk;
fail:
    ig_gw_worker_free(wk);
    return NULL;
}

int ig_gw_worker_start(ig_gw_worker *wk)
{
    if (pthread_create(&wk->thread, NULL, worker_main, wk)) return IG_EIO;
    wk->started = true;
    return 0;
}

void ig_gw_worker_stop(ig_gw_worker *wk)
{
    if (!wk->started) return;
    ig_loop_stop(wk->loop);
    pthread_join(wk->thread, NULL);
    wk->started = false;
}

void ig_loop_wake_worker(ig_gw_worker *wk)
{
    ig_loop_wake(wk->loop);
}

int64_t ig_gw_worker_in_flight(const ig_gw_worker *wk)
{
    return atomic_load(&wk->in_flight);
}

void ig_gw_worker_free(ig_gw_worker *wk)
{
    if (!wk) return;
    ig_gw_worker_stop(wk);
    if (wk->listen_w.fd >= 0) close(wk->listen_w.fd);
    if (wk->admin_w.fd >= 0) close(wk->admin_w.fd);
    for (idle_bucket *b = wk->idle; b; b = b->next)
        while (b->head) ig__gw_upstream_close(b->head);
    /* Connections still open (a drain that timed out) end here, with their requests. */
    ig_loop_free(wk->loop);
    for (idle_bucket *b = wk->idle, *nb; b; b = nb) {
        nb = b->next;
        free(b);
    }
    ig_gw_config_release(wk->cfg);
    free(wk);
}
