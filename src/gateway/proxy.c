/* The worker's connections (see proxy.h). A client connection reads one request head, routes it,
 * and relays it to an upstream connection; the request's bytes stay in the client's buffer until the
 * response head arrives, so a failed try can be sent again to another endpoint. Response bytes are
 * relayed as they come, chunk framing and all. */
#define _GNU_SOURCE /* accept4 */
#include "gateway/proxy.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/clock.h"
#include "gateway/http1.h"
#include "gateway/loop.h"
#include "gateway/mirror.h"
#include "gateway/response_cache.h"
#include "gateway/route_stats.h"
#include "protocol/oip.h"
#include "protocol/status.h"
#include "gateway/tls.h"

enum {
    IN_INITIAL = 16 * 1024,
    IN_KEEP = 256 * 1024,         /* larger buffers are given back between requests */
    OUT_HIGH_WATER = 1024 * 1024, /* stop reading the upstream while the client lags this much */
    UPSTREAM_IDLE_MS = 30 * 1000, /* below the upstreams' own keep-alive timeouts */
    MAX_IDLE_PER_ENDPOINT = 256,
    MAX_CERT_SANS = 8, /* subjectAltNames of a client certificate offered to auth rules */
};

#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

typedef struct gw_upstream gw_upstream;
typedef struct gw_client gw_client;

typedef struct {
    char *data;
    size_t len, cap, off; /* off: bytes already written (output) */
} gw_bytes;

/* Idle keep-alive connections to one address. */
typedef struct idle_bucket {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    gw_upstream *head;
    int count;
    struct idle_bucket *next;
} idle_bucket;

struct ig_gw_worker {
    ig_gw_shared *sh;
    int id;
    ig_gw_loop *loop;
    pthread_t thread;
    bool started;
    ig_gw_watch listen_w, admin_w;
    ig_gw_config *cfg; /* this worker's reference to the current snapshot */
    uint64_t cfg_gen;
    idle_bucket *idle;
    uint64_t rng;
    atomic_int_fast64_t in_flight;
};

enum { AWAIT_NONE, AWAIT_LIMITS, AWAIT_CACHE };

typedef struct {
    ig_gw_config *cfg;
    const ig_gw_route *route;
    ig_gw_pool *pool;
    ig_gw_endpoint *ep; /* the current try's endpoint */
    bool holds_request; /* circuit-breaker slot */
    bool holds_retry;   /* retry-budget slot */
    char model[256], version[64], request_id[40], traceparent[64];
    char principal[128];
    char rl_headers[384]; /* rate-limit headers for the response */
    int pool_index;       /* for the rollout's bookkeeping */
    int shadow_pool;      /* -1, or the pool a copy goes to once the response is complete */
    gw_bytes capture;     /* the primary's response body (dechunked), for the shadow comparison */
    size_t capture_json_len;
    bool capture_overflow;
    int awaiting; /* AWAIT_*: the request waits for its whole body before this step */
    bool cache_lookup, cache_store, has_cache_key;
    ig_cache_key cache_key;
    ig_gw_slice resp_ctype, resp_ihcl; /* copies in resp_hdrs, for the cache entry */
    char resp_hdrs[192];
    uint64_t start_ns, deadline_ns, try_start_ns;
    int tries;
    int status;
    bool response_started; /* a byte of the response head went to the client's buffer */
    gw_bytes up_head;      /* the head as sent upstream (kept for retries) */
    size_t bytes_out;
    const ig_gw_endpoint *prev_ep; /* excluded on retry */
    char prev_addr[64];
} gw_request;

struct gw_client {
    ig_gw_watch w;
    ig_gw_worker *wk;
    bool admin;
    struct sockaddr_storage peer;
    char peer_ip[INET6_ADDRSTRLEN];
    gw_bytes in;
    ig_http1_msg req;
    size_t body_len; /* delimited body bytes of the current request */
    enum { C_IDLE, C_BUSY, C_DONE } state;
    gw_bytes out;
    bool close_after_write;
    gw_request rq;
    gw_upstream *up;
    SSL *ssl;             /* NULL: plain HTTP */
    bool tls_wants_out;   /* reading waits for the socket to be writable (handshake, alerts) */
    struct gw_cert *cert; /* the client certificate, read at the first request that needs it */
};

/* A TLS client's certificate as auth rules see it. */
typedef struct gw_cert {
    char subject[512];
    char sans[MAX_CERT_SANS][256];
    const char *san_ptrs[MAX_CERT_SANS];
    size_t n_sans;
} gw_cert;

struct gw_upstream {
    ig_gw_watch w;
    ig_gw_worker *wk;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    gw_client *client; /* NULL while idle */
    bool connecting, reused, got_bytes, paused;
    /* The pool whose connection limit this connection counts against (with a reference on its
     * snapshot, so a reload cannot free the pool under it), and whose pending limit while connecting. */
    ig_gw_config *charged_cfg;
    ig_gw_pool *charged_pool;
    bool pending;
    size_t head_off, body_off;
    gw_bytes in;
    ig_http1_msg resp;
    gw_upstream *idle_next;
};

/* ---- byte buffers ---- */

static bool bytes_reserve(gw_bytes *b, size_t extra)
{
    if (b->cap - b->len >= extra) return true;
    size_t cap = b->cap ? b->cap : IN_INITIAL;
    while (cap - b->len < extra) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return false;
    b->data = d;
    b->cap = cap;
    return true;
}

static bool bytes_append(gw_bytes *b, const void *p, size_t n)
{
    if (!bytes_reserve(b, n)) return false;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

static bool bytes_printf(gw_bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool bytes_printf(gw_bytes *b, const char *fmt, ...)
{
    for (int pass = 0; pass < 2; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return false;
        if (b->data && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return true;
        }
        if (!bytes_reserve(b, (size_t)n + 1)) return false;
    }
    return false;
}

/* Drops the first n bytes. */
static void bytes_consume(gw_bytes *b, size_t n)
{
    if (n >= b->len) {
        b->len = b->off = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static void bytes_free(gw_bytes *b)
{
    free(b->data);
    *b = (gw_bytes){0};
}

/* ---- helpers ---- */

static uint64_t next_rand(ig_gw_worker *w)
{
    /* xorshift64*: fast, and good enough to pick endpoints and split traffic */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 0x2545F4914F6CDD1DULL;
}

static ig_gw_config *worker_config(ig_gw_worker *w)
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

static int set_nonblocking_socket_opts(int fd)
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

static void client_close(gw_client *c);
static void client_process(gw_client *c);
static void upstream_close(gw_upstream *u);
static void upstream_write(gw_upstream *u);
static void upstream_read(gw_upstream *u);
static void try_upstream(gw_client *c);

static void client_update_events(gw_client *c)
{
    uint32_t ev = EPOLLIN | EPOLLRDHUP;
    if (c->out.off < c->out.len || c->tls_wants_out) ev |= EPOLLOUT;
    ig_gw_loop_set(c->wk->loop, &c->w, ev);
}

/* The client socket's bytes, through TLS when the listener has it. -1 with errno EAGAIN: wait for the
 * socket (a TLS write that waits for input needs nothing more: the client is always polled for input). */
static ssize_t client_recv(gw_client *c, void *buf, size_t len)
{
    if (!c->ssl) return read(c->w.fd, buf, len);
    return ig_gw_tls_read(c->ssl, buf, len, &c->tls_wants_out);
}

static ssize_t client_send(gw_client *c, const void *buf, size_t len)
{
    if (!c->ssl) return write(c->w.fd, buf, len);
    return ig_gw_tls_write(c->ssl, buf, len, NULL);
}

/* Writes what is pending. Returns false when the connection was closed. */
static bool client_flush(gw_client *c)
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
        client_close(c);
        return false;
    }
    c->out.len = c->out.off = 0;
    if (c->close_after_write && c->state != C_BUSY) {
        client_close(c);
        return false;
    }
    client_update_events(c);
    /* The upstream was paused while the client lagged. */
    if (c->up && c->up->paused) {
        c->up->paused = false;
        ig_gw_loop_set(c->wk->loop, &c->up->w, EPOLLIN | EPOLLRDHUP);
        upstream_read(c->up);
    }
    return true;
}

/* Appends a complete local response. extra: header lines each ending CRLF, or "". */
static void client_local_response(gw_client *c, int status, const char *ctype, const char *body,
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
static void client_error(gw_client *c, int status, const char *msg, const char *extra, bool close)
{
    char body[600];
    size_t n = 0;
    n += (size_t)snprintf(body, sizeof body, "{\"error\":\"");
    for (const char *p = msg; *p && n < sizeof body - 8; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\')
            body[n++] = '\\', body[n++] = (char)ch;
        else if (ch < 0x20)
            n += (size_t)snprintf(body + n, sizeof body - n, "\\u%04x", ch);
        else
            body[n++] = (char)ch;
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "\"}");
    client_local_response(c, status, "application/json", body, n, extra ? extra : "", close);
}

/* ---- request lifecycle ---- */

static void log_access(gw_client *c)
{
    FILE *f = c->wk->sh->access_log;
    if (!f) return;
    gw_request *rq = &c->rq;
    char line[1400];
    uint64_t now = ig_gw_loop_now(c->wk->loop);
    int n = snprintf(
        line, sizeof line,
        "{\"ts_ms\":%llu,\"request_id\":\"%s\",\"client\":\"%s\",\"method\":\"%s\",\"path\":\"%.*s\","
        "\"model\":\"%s\",\"version\":\"%s\",\"route\":\"%s\",\"upstream\":\"%s\",\"status\":%d,"
        "\"tries\":%d,\"bytes_in\":%zu,\"bytes_out\":%zu,\"duration_us\":%llu}\n",
        (unsigned long long)ig_wall_ms(), rq->request_id, c->peer_ip,
        http_method_str((enum http_method)c->req.parser.method),
        (int)(c->req.url_len > 256 ? 256 : c->req.url_len), c->req.url ? c->req.url : "", rq->model,
        rq->version, rq->route ? rq->route->name : "", rq->prev_addr, rq->status, rq->tries,
        c->req.head_len + c->body_len, rq->bytes_out, (unsigned long long)((now - rq->start_ns) / 1000));
    if (n <= 0) return;
    /* Paths and names are logged as sent, except that quotes and control bytes would break the
     * line: they were checked by the parser (no control bytes) and quotes are replaced here. */
    for (int i = 0; i < n - 1; i++)
        if ((unsigned char)line[i] < 0x20) line[i] = ' ';
    pthread_mutex_lock(&c->wk->sh->log_lock);
    fwrite(line, 1, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1), f);
    pthread_mutex_unlock(&c->wk->sh->log_lock);
}

static void release_endpoint(gw_request *rq)
{
    if (rq->ep) {
        if (rq->status && rq->response_started)
            ig_gw_endpoint_observe_latency(rq->ep, (double)(ig_now_ns() - rq->try_start_ns) / 1000.0);
        ig_gw_endpoint_finish(rq->ep);
        rq->ep = NULL;
    }
    if (rq->holds_retry) {
        ig_gw_pool_retry_done(rq->pool);
        rq->holds_retry = false;
    }
}

/* Ends the current request: stats, log, slots; the connection goes on with the next request. */
static void request_end(gw_client *c)
{
    gw_request *rq = &c->rq;
    if (rq->route) {
        ig_gw_route_stats *s = rq->route->stats;
        int cls = rq->status / 100;
        atomic_fetch_add_explicit(cls == 2   ? &s->responses_2xx
                                  : cls == 4 ? &s->responses_4xx
                                             : &s->responses_5xx,
                                  1, memory_order_relaxed);
        ig_histogram_observe(&s->latency_us, (double)(ig_gw_loop_now(c->wk->loop) - rq->start_ns) / 1000.0);
    }
    if (rq->tries) {
        /* The last try's outcome for its pool (earlier tries count as its retries). */
        ig_gw_route_stats *p = rq->cfg->pool_stats[rq->pool_index];
        int cls = rq->status / 100;
        atomic_fetch_add_explicit(cls == 2   ? &p->responses_2xx
                                  : cls == 4 ? &p->responses_4xx
                                             : &p->responses_5xx,
                                  1, memory_order_relaxed);
        ig_histogram_observe(&p->latency_us,
                             (double)(ig_gw_loop_now(c->wk->loop) - rq->try_start_ns) / 1000.0);
    }
    log_access(c);
    release_endpoint(rq);
    if (rq->holds_request) ig_gw_pool_release_request(rq->pool);
    if (rq->cfg) {
        ig_gw_config_release(rq->cfg);
        atomic_fetch_sub_explicit(&c->wk->in_flight, 1, memory_order_relaxed);
    }
    bytes_free(&rq->capture);
    if (rq->has_cache_key) ig_cache_key_free(&rq->cache_key);
    gw_bytes keep = rq->up_head;
    keep.len = keep.off = 0;
    memset(rq, 0, sizeof *rq);
    rq->up_head = keep;
    /* Next request: drop this one's bytes; give back a big buffer. */
    size_t used = c->req.head_len + c->body_len;
    bool complete = c->req.done || c->state == C_IDLE;
    c->state = C_IDLE;
    c->body_len = 0;
    if (!complete) {
        /* The response came before the whole request did: its rest cannot be told from a next
         * request, so the connection ends after the response. */
        c->close_after_write = true;
        c->in.len = 0;
    } else {
        bytes_consume(&c->in, used);
    }
    if (c->in.cap > IN_KEEP && c->in.len < IN_INITIAL) {
        char *d = malloc(IN_INITIAL);
        if (d) {
            memcpy(d, c->in.data, c->in.len);
            free(c->in.data);
            c->in.data = d;
            c->in.cap = IN_INITIAL;
        }
    }
    ig_http1_begin(&c->req, true);
    c->w.deadline_ns =
        ig_gw_loop_now(c->wk->loop) + (uint64_t)(c->wk->cfg ? c->wk->cfg->idle_timeout_ms : 60000) * 1000000u;
}

/* A request that never reaches an upstream: answered here, then the next one. */
static void request_local_end(gw_client *c)
{
    request_end(c);
    if (!client_flush(c)) return;
    if (c->in.len && !c->close_after_write) client_process(c);
}

static void fmt_hex(char *out, const unsigned char *b, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Request id and trace context: kept when the client sent them (X-Request-Id up to 36 safe
 * characters; a valid W3C traceparent gets a new span id under the same trace), else made here. */
static void make_ids(gw_client *c)
{
    gw_request *rq = &c->rq;
    size_t len;
    const char *id = ig_http1_find(&c->req, "X-Request-Id", &len);
    bool ok = id && len > 0 && len < sizeof rq->request_id;
    for (size_t i = 0; ok && i < len; i++)
        ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
             (id[i] >= 'A' && id[i] <= 'Z') || id[i] == '-' || id[i] == '_' || id[i] == '.';
    unsigned char r[24];
    for (size_t i = 0; i < sizeof r; i += 8) {
        uint64_t v = next_rand(c->wk);
        memcpy(r + i, &v, 8);
    }
    if (ok) {
        memcpy(rq->request_id, id, len);
        rq->request_id[len] = '\0';
    } else {
        fmt_hex(rq->request_id, r, 16);
    }
    char span[17];
    fmt_hex(span, r + 16, 8);
    const char *tp = ig_http1_find(&c->req, "traceparent", &len);
    if (tp && len == 55 && !memcmp(tp, "00-", 3) && tp[35] == '-' && tp[52] == '-')
        snprintf(rq->traceparent, sizeof rq->traceparent, "00-%.32s-%s-%.2s", tp + 3, span, tp + 53);
    else {
        char trace[33];
        fmt_hex(trace, r, 16);
        snprintf(rq->traceparent, sizeof rq->traceparent, "00-%s-%s-01", trace, span);
    }
}

/* The head sent upstream: the request line, the client's end-to-end headers, and ours. */
static bool build_upstream_head(gw_client *c)
{
    gw_request *rq = &c->rq;
    ig_http1_msg *m = &c->req;
    gw_bytes *h = &rq->up_head;
    h->len = h->off = 0;
    bool ok = bytes_printf(h, "%s %.*s HTTP/1.1\r\n", http_method_str((enum http_method)m->parser.method),
                           (int)m->url_len, m->url);
    size_t xff_len = 0;
    const char *xff = NULL;
    for (size_t i = 0; ok && i < m->n_headers; i++) {
        const ig_http1_header *hd = &m->headers[i];
        if (ig_http1_is_hop(m, hd)) continue;
#define IS(lit) (hd->name_len == sizeof(lit) - 1 && !strncasecmp(hd->name, lit, sizeof(lit) - 1))
        if (IS("Expect") || IS("X-Request-Id") || IS("traceparent")) continue;
        if (IS("X-Forwarded-For")) {
            xff = hd->value;
            xff_len = hd->value_len;
            continue;
        }
#undef IS
        ok = bytes_append(h, hd->name, hd->name_len) && bytes_append(h, ": ", 2) &&
             bytes_append(h, hd->value, hd->value_len) && bytes_append(h, "\r\n", 2);
    }
    if (!ok) return false;
    if (m->chunked && !bytes_printf(h, "Transfer-Encoding: chunked\r\n")) return false;
    return bytes_printf(h, "X-Request-Id: %s\r\ntraceparent: %s\r\nX-Forwarded-For: %.*s%s%s\r\n\r\n",
                        rq->request_id, rq->traceparent, (int)xff_len, xff ? xff : "", xff ? ", " : "",
                        c->peer_ip);
}

static const char *route_header(void *ctx, const char *name, size_t *len)
{
    return ig_http1_find(ctx, name, len);
}

static void handle_admin(gw_client *c);

/* A NUL-terminated copy of a header's value, or NULL when absent or longer than the buffer. */
static const char *header_copy(const ig_http1_msg *m, const char *name, char *buf, size_t cap)
{
    size_t len;
    const char *v = name ? ig_http1_find(m, name, &len) : NULL;
    if (!v || len >= cap) return NULL;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

/* Fills the client certificate's subject and SANs into ar. They are read once per connection:
 * renegotiation is refused, so the certificate cannot change after the handshake. */
static void client_cert(gw_client *c, ig_auth_request *ar)
{
    if (!c->cert && (c->cert = calloc(1, sizeof *c->cert))) {
        gw_cert *k = c->cert;
        k->n_sans = ig_gw_tls_peer(c->ssl, k->subject, sizeof k->subject, k->sans, MAX_CERT_SANS);
        for (size_t i = 0; i < k->n_sans; i++) k->san_ptrs[i] = k->sans[i];
    }
    if (!c->cert) return; /* out of memory: no certificate, so mTLS rules do not match */
    ar->cert_subject = c->cert->subject[0] ? c->cert->subject : NULL;
    ar->cert_sans = c->cert->san_ptrs;
    ar->n_cert_sans = c->cert->n_sans;
}

/* Authentication and authorization. false: a 401/403 is queued. */
static bool request_authenticated(gw_client *c, bool need_admin)
{
    gw_request *rq = &c->rq;
    const ig_gw_config *cfg = rq->cfg;
    snprintf(rq->principal, sizeof rq->principal, "%s", c->peer_ip);
    if (cfg->auth) {
        /* Tokens over 8 KiB are refused by the verifier; the buffer holds a little more so they reach it. */
        char authz[8448], key[512], why[160];
        ig_auth_request ar = {
            .authorization = header_copy(&c->req, "Authorization", authz, sizeof authz),
            .api_key = header_copy(&c->req, "x-api-key", key, sizeof key),
            .peer = (const struct sockaddr *)&c->peer,
            .now_s = (int64_t)(ig_wall_ms() / 1000),
        };
        if (c->ssl) client_cert(c, &ar);
        if (!ar.authorization && ig_http1_find(&c->req, "Authorization", NULL)) {
            client_error(c, 401, "credentials too large", "WWW-Authenticate: Bearer\r\n", !c->req.done);
            return false;
        }
        ig_auth_identity id;
        ig_auth_result r =
            ig_auth_check(cfg->auth, &ar, rq->model[0] ? rq->model : NULL, need_admin, &id, why, sizeof why);
        if (r != IG_AUTH_ALLOW) {
            client_error(c, (int)r, why, r == IG_AUTH_UNAUTHENTICATED ? "WWW-Authenticate: Bearer\r\n" : NULL,
                         !c->req.done);
            return false;
        }
        if (strcmp(id.method, "none")) snprintf(rq->principal, sizeof rq->principal, "%s", id.principal);
    }
    return true;
}

/* Rate limits, charged to the principal (or client address) and the model; in tensor elements when a
 * rule counts them (the body is whole by then). false: a 429 is queued. */
static bool request_within_limits(gw_client *c)
{
    gw_request *rq = &c->rq;
    const ig_gw_config *cfg = rq->cfg;
    ig_rl_request lr = {.key = rq->principal, .model = rq->model[0] ? rq->model : NULL};
    if (ig_ratelimit_counts_elements(cfg->rate_limit) && c->req.done) {
        size_t hlen;
        const char *h = ig_http1_find(&c->req, "Inference-Header-Content-Length", &hlen);
        size_t json_len = c->body_len;
        if (h) {
            json_len = 0;
            for (size_t i = 0; i < hlen && h[i] >= '0' && h[i] <= '9' && json_len <= c->body_len; i++)
                json_len = json_len * 10 + (size_t)(h[i] - '0');
        }
        /* A body that is not an inference request counts 0 elements; the upstream judges it. */
        if (!c->req.chunked && json_len <= c->body_len)
            ig_oip_count_elements(c->in.data + c->req.head_len, json_len, &lr.elements);
    }
    ig_rl_decision d;
    ig_ratelimit_check(cfg->rate_limit, &lr, (int64_t)ig_gw_loop_now(c->wk->loop), &d);
    if (!d.allowed) {
        client_error(c, 429, "rate limit exceeded", d.headers, !c->req.done);
        return false;
    }
    snprintf(rq->rl_headers, sizeof rq->rl_headers, "%s", d.headers);
    return true;
}

/* ---- response cache (routes with `cache: true`, see response_cache.h) ---- */

static void request_dispatch(gw_client *c);
static void request_continue(gw_client *c);
static void await_body(gw_client *c, int step);

static ig_gw_slice header_slice(const ig_http1_msg *m, const char *name)
{
    size_t len = 0;
    const char *v = ig_http1_find(m, name, &len);
    return (ig_gw_slice){v, v ? len : 0};
}

static bool cache_applies(gw_client *c)
{
    gw_request *rq = &c->rq;
    if (!rq->route->cache || !c->wk->sh->cache || c->req.parser.method != HTTP_POST || !rq->model[0])
        return false;
    ig_gw_slice cc = header_slice(&c->req, "Cache-Control");
    rq->cache_store = !ig_gw_cache_control_has(cc.ptr, cc.len, "no-store");
    rq->cache_lookup = rq->cache_store && !ig_gw_cache_control_has(cc.ptr, cc.len, "no-cache");
    return true;
}

/* Looks the whole request up; true when a cached response was queued. */
static bool cache_answer(gw_client *c)
{
    gw_request *rq = &c->rq;
    ig_cache_key k = {0};
    const char *path = c->req.url;
    size_t path_len = c->req.url_len;
    if (ig_gw_cache_key(&k, rq->model, rq->version, (ig_gw_slice){path, path_len},
                        header_slice(&c->req, "Content-Type"),
                        header_slice(&c->req, "Inference-Header-Content-Length"),
                        (ig_gw_slice){c->in.data + c->req.head_len, c->body_len})) {
        ig_cache_key_free(&k);
        rq->cache_store = false;
        return false;
    }
    ig_cache_entry *e = rq->cache_lookup ? ig_cache_get(c->wk->sh->cache, &k) : NULL;
    ig_gw_cached hit;
    if (e && ig_gw_cache_decode(e, &hit)) {
        char extra[160];
        snprintf(extra, sizeof extra, "X-Infergate-Cache: hit\r\n%s%.*s%s%s",
                 hit.header_length.len ? "Inference-Header-Content-Length: " : "", (int)hit.header_length.len,
                 hit.header_length.ptr ? hit.header_length.ptr : "", hit.header_length.len ? "\r\n" : "",
                 rq->rl_headers);
        char ctype[128];
        snprintf(ctype, sizeof ctype, "%.*s", (int)hit.content_type.len,
                 hit.content_type.ptr ? hit.content_type.ptr : "");
        client_local_response(c, 200, ctype[0] ? ctype : "application/json", hit.body.ptr, hit.body.len,
                              extra, false);
        ig_cache_entry_release(e);
        ig_cache_key_free(&k);
        request_local_end(c);
        return true;
    }
    if (e) ig_cache_entry_release(e);
    rq->cache_key = k; /* kept to store the response under */
    rq->has_cache_key = true;
    return false;
}

/* Stores a complete 200 response of a cached route. */
static void cache_store(gw_client *c, const ig_http1_msg *resp)
{
    gw_request *rq = &c->rq;
    if (!rq->has_cache_key || !rq->cache_store || rq->status != 200 || rq->capture_overflow) return;
    ig_gw_slice cc = header_slice(resp, "Cache-Control");
    if (ig_gw_cache_control_has(cc.ptr, cc.len, "no-store") ||
        ig_gw_cache_control_has(cc.ptr, cc.len, "private"))
        return;
    ig_gw_cached r = {
        .content_type = rq->resp_ctype,
        .header_length = rq->resp_ihcl,
        .body = {rq->capture.data, rq->capture.len},
    };
    ig_gw_cache_store(c->wk->sh->cache, &rq->cache_key, &r);
}

/* A request head is complete: route it and send it on its way. */
static void request_start(gw_client *c)
{
    ig_gw_worker *wk = c->wk;
    gw_request *rq = &c->rq;
    rq->start_ns = ig_gw_loop_now(wk->loop);
    rq->cfg = ig_gw_config_ref(worker_config(wk));
    atomic_fetch_add_explicit(&wk->in_flight, 1, memory_order_relaxed);
    c->state = C_BUSY;
    make_ids(c);
    if (c->req.content_length > rq->cfg->max_request_bytes) {
        client_error(c, 413, "request body too large", NULL, true);
        return request_local_end(c);
    }
    if (c->admin) return handle_admin(c);
    if (atomic_load_explicit(&wk->sh->draining, memory_order_relaxed)) c->close_after_write = true;
    ig_gw_route_input in = {
        .path = c->req.url, .path_len = c->req.url_len, .header = route_header, .ctx = &c->req};
    if (ig_gw_route_parse_model_path(c->req.url, c->req.url_len, rq->model, sizeof rq->model, rq->version,
                                     sizeof rq->version)) {
        in.model = rq->model;
        in.version = rq->version[0] ? rq->version : NULL;
    }
    rq->route = ig_gw_route_match(rq->cfg->routes, rq->cfg->n_routes, &in);
    if (!rq->route) {
        client_error(c, 404, "no route matches this request", NULL, !c->req.done);
        return request_local_end(c);
    }
    atomic_fetch_add_explicit(&rq->route->stats->requests, 1, memory_order_relaxed);
    rq->deadline_ns = rq->start_ns + (uint64_t)rq->route->timeout_ms * 1000000u;
    size_t tlen;
    const char *t = ig_http1_find(&c->req, "x-request-timeout-ms", &tlen);
    if (t) {
        char tb[24];
        if (tlen < sizeof tb) {
            memcpy(tb, t, tlen);
            tb[tlen] = '\0';
            char *end;
            long long ms = strtoll(tb, &end, 10);
            if (*end == '\0' && ms > 0 && rq->start_ns + (uint64_t)ms * 1000000u < rq->deadline_ns)
                rq->deadline_ns = rq->start_ns + (uint64_t)ms * 1000000u;
        }
    }
    c->w.deadline_ns = rq->deadline_ns;
    if (!request_authenticated(c, false)) return request_local_end(c);
    /* Limits that charge tensor elements read them from the body: it is held whole first. */
    if (ig_ratelimit_counts_elements(rq->cfg->rate_limit) && !c->req.done) return await_body(c, AWAIT_LIMITS);
    request_continue(c);
}

/* Holds the request until its body is whole, then goes on from `step` (client_process calls back). */
static void await_body(gw_client *c, int step)
{
    c->rq.awaiting = step;
    if (ig_http1_find(&c->req, "Expect", NULL)) bytes_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* Limits, rollout, cache; then the upstream. */
static void request_continue(gw_client *c)
{
    gw_request *rq = &c->rq;
    if (!request_within_limits(c)) return request_local_end(c);
    rq->pool_index = (int)rq->route->pool;
    rq->shadow_pool = -1;
    if (rq->route->rollout) {
        ig_rollout_pick pick;
        ig_rollout *ro = rq->route->rollout;
        char pin[128], sticky[256], cookie[4096];
        ig_rollout_choose(ro, header_copy(&c->req, ig_rollout_pin_header(ro), pin, sizeof pin),
                          header_copy(&c->req, "Cookie", cookie, sizeof cookie),
                          header_copy(&c->req, ig_rollout_sticky_header(ro), sticky, sizeof sticky),
                          next_rand(c->wk), &pick);
        if (pick.pool >= 0) rq->pool_index = pick.pool;
        rq->shadow_pool = pick.shadow_pool;
    }
    rq->pool = rq->cfg->pools[rq->pool_index];
    if (ig_gw_pool_protocol(rq->pool) == IG_GW_PROTO_GRPC) {
        client_error(c, 502, "route's pool speaks gRPC", NULL, !c->req.done);
        return request_local_end(c);
    }
    if (cache_applies(c)) {
        /* The body is part of the key: the request is held whole before anything else happens. */
        if (!c->req.done) return await_body(c, AWAIT_CACHE);
        if (cache_answer(c)) return;
    }
    request_dispatch(c);
}

/* Circuit breaker, upstream head, first try. */
static void request_dispatch(gw_client *c)
{
    gw_request *rq = &c->rq;
    if (!ig_gw_pool_acquire_request(rq->pool)) {
        client_error(c, 503, "upstream pool is at its request limit", "x-infergate-overloaded: true\r\n",
                     !c->req.done);
        return request_local_end(c);
    }
    rq->holds_request = true;
    if (!build_upstream_head(c)) {
        client_error(c, 503, "out of memory", NULL, true);
        return request_local_end(c);
    }
    const char *expect = ig_http1_find(&c->req, "Expect", NULL);
    if (expect && !c->req.done) bytes_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    try_upstream(c);
}

/* ---- upstream connections ---- */

static idle_bucket *bucket_for(ig_gw_worker *w, const struct sockaddr *sa, socklen_t len, bool create)
{
    for (idle_bucket *b = w->idle; b; b = b->next)
        if (b->addrlen == len && !memcmp(&b->addr, sa, len)) return b;
    if (!create) return NULL;
    idle_bucket *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    memcpy(&b->addr, sa, len);
    b->addrlen = len;
    b->next = w->idle;
    w->idle = b;
    return b;
}

static void idle_remove(gw_upstream *u)
{
    idle_bucket *b = bucket_for(u->wk, (struct sockaddr *)&u->addr, u->addrlen, false);
    if (!b) return;
    for (gw_upstream **p = &b->head; *p; p = &(*p)->idle_next)
        if (*p == u) {
            *p = u->idle_next;
            b->count--;
            return;
        }
}

static void upstream_release_mem(ig_gw_watch *w)
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

static void upstream_close(gw_upstream *u)
{
    upstream_uncharge(u);
    if (!u->client)
        idle_remove(u);
    else if (u->client->up == u)
        u->client->up = NULL;
    u->client = NULL;
    close(u->w.fd);
    ig_gw_loop_retire(u->wk->loop, &u->w, upstream_release_mem);
}

static void upstream_idle_deadline(ig_gw_watch *w, uint64_t now)
{
    (void)now;
    upstream_close(container_of(w, gw_upstream, w));
}

static void upstream_failed(gw_upstream *u, const char *why);
static void upstream_on_io(ig_gw_watch *w, uint32_t events);

static void upstream_deadline(ig_gw_watch *w, uint64_t now)
{
    (void)now;
    gw_upstream *u = container_of(w, gw_upstream, w);
    upstream_failed(u, "connect timeout");
}

/* Puts a connection whose exchange ended cleanly back for reuse. */
static void upstream_park(gw_upstream *u)
{
    idle_bucket *b = bucket_for(u->wk, (struct sockaddr *)&u->addr, u->addrlen, true);
    if (u->client && u->client->up == u) u->client->up = NULL;
    u->client = NULL;
    if (!b || b->count >= MAX_IDLE_PER_ENDPOINT || u->in.len) {
        upstream_close(u);
        return;
    }
    u->idle_next = b->head;
    b->head = u;
    b->count++;
    u->w.on_deadline = upstream_idle_deadline;
    u->w.deadline_ns = ig_gw_loop_now(u->wk->loop) + UPSTREAM_IDLE_MS * 1000000ull;
    ig_gw_loop_set(u->wk->loop, &u->w, EPOLLIN | EPOLLRDHUP);
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
    idle_bucket *b = bucket_for(wk, sa, len, false);
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
        set_nonblocking_socket_opts(fd);
        u->wk = wk;
        u->w.fd = fd;
        u->w.on_io = upstream_on_io;
        memcpy(&u->addr, sa, len);
        u->addrlen = len;
        int rc = connect(fd, sa, len);
        if ((rc < 0 && errno != EINPROGRESS) ||
            ig_gw_loop_add(wk->loop, &u->w, EPOLLIN | EPOLLOUT | EPOLLRDHUP)) {
            upstream_uncharge(u);
            close(fd);
            free(u);
            return NULL;
        }
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
    u->resp.no_body = c->req.parser.method == HTTP_HEAD;
    ig_http1_begin(&u->resp, false);
    if (c->rq.shadow_pool >= 0 || c->rq.has_cache_key) {
        c->rq.capture.len = 0;
        c->rq.capture_overflow = false;
        u->resp.on_body = capture_body;
        u->resp.body_ctx = &c->rq;
    }
    u->w.on_deadline = upstream_deadline;
    u->w.deadline_ns =
        u->connecting ? ig_gw_loop_now(wk->loop) + (uint64_t)c->rq.cfg->connect_timeout_ms * 1000000u : 0;
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

static void try_upstream(gw_client *c)
{
    gw_request *rq = &c->rq;
    uint64_t now = ig_gw_loop_now(c->wk->loop);
    rq->tries++;
    rq->try_start_ns = now;
    ig_gw_route_stats *ps = rq->cfg->pool_stats[rq->pool_index];
    atomic_fetch_add_explicit(rq->tries > 1 ? &ps->retries : &ps->requests, 1, memory_order_relaxed);
    rq->ep = ig_gw_pool_pick(rq->pool, hash_key(c), next_rand(c->wk), rq->prev_ep, (int64_t)now);
    if (!rq->ep) {
        client_error(c, 503, "no upstream endpoint is available", NULL, !c->req.done);
        return request_local_end(c);
    }
    snprintf(rq->prev_addr, sizeof rq->prev_addr, "%s", ig_gw_endpoint_address(rq->ep));
    socklen_t len;
    const struct sockaddr *sa = ig_gw_endpoint_sockaddr(rq->ep, &len);
    bool overflow = false;
    gw_upstream *u = upstream_get(c, sa, len, &overflow);
    if (!u && overflow) {
        client_error(c, 503, "upstream pool is at its connection limit", "x-infergate-overloaded: true\r\n",
                     !c->req.done);
        return request_local_end(c);
    }
    if (!u) {
        ig_gw_pool_record(rq->pool, rq->ep, 0, (int64_t)now);
        client_error(c, 502, "cannot open a connection to the upstream", NULL, !c->req.done);
        return request_local_end(c);
    }
    if (!u->connecting) upstream_write(u);
}

static void upstream_write(gw_upstream *u)
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
            ig_gw_loop_set(u->wk->loop, &u->w, u->paused ? 0 : EPOLLIN | EPOLLRDHUP);
            return;
        }
        ssize_t w = writev(u->w.fd, iov, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ig_gw_loop_set(u->wk->loop, &u->w, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
            return;
        }
        if (w < 0) {
            upstream_failed(u, "write to upstream failed");
            return;
        }
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
        upstream_close(u);
        return;
    }
    gw_request *rq = &c->rq;
    uint64_t now = ig_gw_loop_now(c->wk->loop);
    /* A reused keep-alive connection the upstream had closed is not the endpoint's failure, and
     * the request is sent again at once on a new connection. */
    bool stale = u->reused && !u->got_bytes;
    if (rq->response_started) {
        upstream_close(u);
        c->close_after_write = true;
        rq->status = rq->status ? rq->status : 502;
        request_end(c);
        client_flush(c);
        return;
    }
    if (!stale) ig_gw_pool_record(rq->pool, rq->ep, 0, (int64_t)now);
    upstream_close(u);
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
        try_upstream(c);
        return;
    }
    if (rq->route->rollout) ig_rollout_record(rq->route->rollout, rq->pool_index, true, -1, (int64_t)now);
    char msg[160];
    snprintf(msg, sizeof msg, "upstream %s: %s", rq->prev_addr, why);
    client_error(c, 502, msg, NULL, !c->req.done);
    request_local_end(c);
}

/* The response head arrived: retry a 503, else start relaying. Returns false when u was closed. */
static bool on_response_head(gw_upstream *u)
{
    gw_client *c = u->client;
    gw_request *rq = &c->rq;
    ig_http1_msg *r = &u->resp;
    uint64_t now = ig_gw_loop_now(c->wk->loop);
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
        upstream_close(u);
        rq->prev_ep = rq->ep;
        ig_gw_endpoint_finish(rq->ep);
        rq->ep = NULL;
        try_upstream(c);
        return false;
    }
    rq->status = r->status;
    rq->response_started = true;
    if (rq->has_cache_key) {
        /* Two headers of the response go into the entry; copied, as the head's buffer moves. */
        ig_gw_slice ct = header_slice(r, "Content-Type"),
                    hl = header_slice(r, "Inference-Header-Content-Length");
        if (ct.len + hl.len <= sizeof rq->resp_hdrs) {
            if (ct.len) memcpy(rq->resp_hdrs, ct.ptr, ct.len);
            if (hl.len) memcpy(rq->resp_hdrs + ct.len, hl.ptr, hl.len);
            rq->resp_ctype = (ig_gw_slice){rq->resp_hdrs, ct.len};
            rq->resp_ihcl = (ig_gw_slice){rq->resp_hdrs + ct.len, hl.len};
        } else {
            rq->cache_store = false;
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
        upstream_close(u);
        client_close(c);
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
    job->deadline_ns = ig_gw_loop_now(c->wk->loop) + (uint64_t)rq->route->timeout_ms * 1000000u;
    ig_gw_mirror_start(c->wk->loop, job, next_rand(c->wk));
}

/* The exchange is over: the upstream connection goes back to the pool (or closes). */
static void response_done(gw_upstream *u, bool reusable)
{
    gw_client *c = u->client;
    cache_store(c, &u->resp);
    start_mirror(c);
    if (reusable && u->resp.keep_alive && u->body_off == c->body_len && c->req.done)
        upstream_park(u);
    else
        upstream_close(u);
    request_end(c);
    if (!client_flush(c)) return;
    if (c->in.len && !c->close_after_write) client_process(c);
}

static void upstream_read(gw_upstream *u)
{
    for (;;) {
        gw_client *c = u->client;
        if (!c) {
            /* idle: any byte or close means the connection is no longer usable */
            upstream_close(u);
            return;
        }
        if (u->paused) return;
        if (!bytes_reserve(&u->in, 16 * 1024)) {
            upstream_failed(u, "out of memory");
            return;
        }
        ssize_t n = read(u->w.fd, u->in.data + u->in.len, u->in.cap - u->in.len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            if (u->resp.head_done && u->in.len == 0 && ig_http1_eof(&u->resp)) {
                response_done(u, false);
                return;
            }
            if (!u->resp.head_done)
                upstream_failed(u, n == 0 ? "connection closed before a response" : strerror(errno));
            else {
                /* truncated body: the client cannot be told other than by closing */
                c->close_after_write = true;
                upstream_close(u);
                request_end(c);
                client_flush(c);
            }
            return;
        }
        u->got_bytes = true;
        u->in.len += (size_t)n;
        if (!u->resp.head_done) {
            int r = ig_http1_head(&u->resp, u->in.data, u->in.len);
            if (r == 0) continue;
            if (r < 0) {
                ig_gw_pool_record(c->rq.pool, c->rq.ep, 502, (int64_t)ig_gw_loop_now(c->wk->loop));
                upstream_close(u);
                client_error(c, 502, "malformed response from the upstream", NULL, true);
                request_local_end(c);
                return;
            }
            if (!on_response_head(u)) return;
        }
        if (u->in.len) {
            ptrdiff_t used = ig_http1_body(&u->resp, u->in.data, u->in.len);
            if (used < 0) {
                c->close_after_write = true;
                upstream_close(u);
                request_end(c);
                client_flush(c);
                return;
            }
            if (!bytes_append(&c->out, u->in.data, (size_t)used)) {
                upstream_close(u);
                client_close(c);
                return;
            }
            c->rq.bytes_out += (size_t)used;
            bytes_consume(&u->in, (size_t)used);
        }
        if (u->resp.done) {
            response_done(u, u->in.len == 0);
            return;
        }
        if (!client_flush(c)) return;
        if (c->out.len - c->out.off > OUT_HIGH_WATER) {
            u->paused = true;
            ig_gw_loop_set(u->wk->loop, &u->w, 0);
            return;
        }
    }
}

static void upstream_on_io(ig_gw_watch *w, uint32_t events)
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
    if (events & EPOLLOUT) {
        upstream_write(u);
        if (u->w.retired) return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) upstream_read(u);
}

/* ---- client connections ---- */

static void client_release_mem(ig_gw_watch *w)
{
    gw_client *c = container_of(w, gw_client, w);
    bytes_free(&c->in);
    bytes_free(&c->out);
    bytes_free(&c->rq.up_head);
    free(c->cert);
    free(c);
}

static void client_close(gw_client *c)
{
    if (c->state == C_DONE) return;
    if (c->up) upstream_close(c->up);
    if (c->rq.cfg) {
        c->rq.status = c->rq.status ? c->rq.status : 499; /* client went away */
        request_end(c);
    }
    c->state = C_DONE;
    ig_gw_tls_close(c->ssl);
    c->ssl = NULL;
    close(c->w.fd);
    ig_gw_loop_retire(c->wk->loop, &c->w, client_release_mem);
}

static void client_shutdown(ig_gw_watch *w)
{
    client_close(container_of(w, gw_client, w));
}

static void client_deadline(ig_gw_watch *w, uint64_t now)
{
    gw_client *c = container_of(w, gw_client, w);
    if (c->state == C_IDLE) {
        if (c->in.len) {
            c->rq.status = 408;
            client_error(c, 408, "request head not received in time", NULL, true);
            client_flush(c);
        } else {
            client_close(c);
        }
        return;
    }
    if (c->state == C_BUSY && !c->rq.response_started) {
        if (c->up) upstream_close(c->up);
        client_error(c, 504, "upstream did not answer in time", NULL, !c->req.done);
        request_local_end(c);
        return;
    }
    client_close(c);
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

static void client_process(gw_client *c)
{
    if (c->state == C_IDLE) {
        if (c->in.len == 0) return;
        int r = ig_http1_head(&c->req, c->in.data, c->in.len);
        if (r == 0) {
            if (!c->w.deadline_ns ||
                c->w.deadline_ns > ig_gw_loop_now(c->wk->loop) +
                                       (uint64_t)worker_config(c->wk)->header_timeout_ms * 1000000u)
                c->w.deadline_ns = ig_gw_loop_now(c->wk->loop) +
                                   (uint64_t)worker_config(c->wk)->header_timeout_ms * 1000000u;
            return;
        }
        if (r < 0) {
            client_error(c, c->req.error_status, c->req.error, NULL, true);
            client_flush(c);
            return;
        }
        c->body_len = 0;
        if (!client_feed_body(c)) {
            client_error(c, 400, c->req.error ? c->req.error : "malformed body", NULL, true);
            client_flush(c);
            return;
        }
        request_start(c);
        return;
    }
    if (c->state == C_BUSY) {
        if (!client_feed_body(c)) {
            if (c->up) upstream_close(c->up);
            if (!c->rq.response_started) {
                client_error(c, 400, c->req.error ? c->req.error : "malformed body", NULL, true);
                request_local_end(c);
            } else {
                client_close(c);
            }
            return;
        }
        if (c->req.head_len + c->body_len > (size_t)c->rq.cfg->max_request_bytes && !c->rq.response_started) {
            if (c->up) upstream_close(c->up);
            client_error(c, 413, "request body too large", NULL, true);
            request_local_end(c);
            return;
        }
        if (c->rq.awaiting) {
            if (!c->req.done) return;
            int step = c->rq.awaiting;
            c->rq.awaiting = AWAIT_NONE;
            if (step == AWAIT_LIMITS)
                request_continue(c);
            else if (!cache_answer(c))
                request_dispatch(c);
            return;
        }
        if (c->up) upstream_write(c->up);
    }
}

static void client_on_io(ig_gw_watch *w, uint32_t events)
{
    gw_client *c = container_of(w, gw_client, w);
    if (events & EPOLLOUT) {
        if (!client_flush(c)) return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) && !c->tls_wants_out) return;
    for (;;) {
        /* While a request is in flight, its bytes are kept; the limit applies to them. */
        if (!bytes_reserve(&c->in, 8192)) {
            client_close(c);
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
                ig_gw_loop_set(c->wk->loop, &c->w, c->out.off < c->out.len ? EPOLLOUT : 0);
                return;
            }
            client_close(c);
            return;
        }
        c->in.len += (size_t)n;
        /* short read: drained (TLS: unless a decrypted record is still buffered) */
        if ((size_t)n < c->in.cap - c->in.len + (size_t)n && !(c->ssl && ig_gw_tls_pending(c->ssl))) break;
    }
    client_process(c);
    if (c->state != C_DONE && c->out.off < c->out.len) client_flush(c);
}

static void accept_clients(ig_gw_worker *wk, int lfd, bool admin)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
        set_nonblocking_socket_opts(fd);
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
        ig_http1_begin(&c->req, true);
        ig_gw_config *cfg = worker_config(wk);
        /* The header timeout also bounds the TLS handshake. */
        c->w.deadline_ns = ig_gw_loop_now(wk->loop) + (uint64_t)cfg->header_timeout_ms * 1000000u;
        if ((!admin && cfg->tls && !(c->ssl = ig_gw_tls_accept(cfg->tls, fd))) ||
            ig_gw_loop_add(wk->loop, &c->w, EPOLLIN | EPOLLRDHUP)) {
            ig_gw_tls_close(c->ssl);
            close(fd);
            free(c);
        }
    }
}

static void listener_on_io(ig_gw_watch *w, uint32_t events)
{
    (void)events;
    ig_gw_worker *wk = container_of(w, ig_gw_worker, listen_w);
    accept_clients(wk, w->fd, false);
}

static void admin_on_io(ig_gw_watch *w, uint32_t events)
{
    (void)events;
    ig_gw_worker *wk = container_of(w, ig_gw_worker, admin_w);
    accept_clients(wk, w->fd, true);
}

/* ---- admin endpoints (served on the admin listener only) ---- */

/* GET /admin/routes/NAME: the rollout's state; POST .../promote or .../rollback: manual decisions.
 * Needs an admin credential when the config has an auth section. */
static void admin_rollout(gw_client *c, char *rest, bool get)
{
    gw_request *rq = &c->rq;
    if (!request_authenticated(c, true)) return;
    char *action = strchr(rest, '/');
    if (action) *action++ = '\0';
    const ig_gw_route *route = NULL;
    for (size_t i = 0; i < rq->cfg->n_routes; i++)
        if (!strcmp(rq->cfg->routes[i].name, rest)) route = &rq->cfg->routes[i];
    if (!route || !route->rollout) {
        client_error(c, 404, "no route with a rollout by that name", NULL, !c->req.done);
        return;
    }
    int64_t now = (int64_t)ig_gw_loop_now(c->wk->loop);
    if (get && !action) {
        char *json = ig_rollout_status_json(route->rollout);
        if (!json)
            client_error(c, 503, "out of memory", NULL, false);
        else
            client_local_response(c, 200, "application/json", json, strlen(json), "", !c->req.done);
        free(json);
    } else if (c->req.parser.method == HTTP_POST && action &&
               (!strcmp(action, "promote") || !strcmp(action, "rollback"))) {
        int rc = !strcmp(action, "promote") ? ig_rollout_promote(route->rollout, rq->principal, now)
                                            : ig_rollout_rollback(route->rollout, rq->principal, now);
        if (rc)
            client_error(c, 409, "the route has no canary to decide", NULL, !c->req.done);
        else
            client_local_response(c, 200, "application/json", "{\"ok\":true}", 11, "", !c->req.done);
    } else {
        client_error(c, 405, "use GET /admin/routes/NAME or POST /admin/routes/NAME/promote|rollback", NULL,
                     !c->req.done);
    }
}

static void handle_admin(gw_client *c)
{
    char path[256];
    size_t n = c->req.url_len < sizeof path - 1 ? c->req.url_len : sizeof path - 1;
    memcpy(path, c->req.url, n);
    path[n] = '\0';
    char *q = strchr(path, '?');
    if (q) *q = '\0';
    bool get = c->req.parser.method == HTTP_GET;
    if (get && !strcmp(path, "/metrics")) {
        ig_buf b = {0};
        ig_gw_stats_expose(&b);
        if (c->wk->sh->expose) c->wk->sh->expose(c->wk->sh->expose_ctx, &b);
        if (b.oom)
            client_error(c, 503, "out of memory", NULL, false);
        else
            client_local_response(c, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len, "",
                                  false);
        ig_buf_free(&b);
    } else if (get && (!strcmp(path, "/ready") || !strcmp(path, "/live"))) {
        bool draining = atomic_load_explicit(&c->wk->sh->draining, memory_order_relaxed);
        if (draining && !strcmp(path, "/ready"))
            client_error(c, 503, "draining", NULL, false);
        else
            client_local_response(c, 200, "text/plain", "ok\n", 3, "", false);
    } else if (!strncmp(path, "/admin/routes/", 14)) {
        admin_rollout(c, path + 14, get);
    } else {
        client_error(c, 404, "unknown admin path", NULL, !c->req.done);
    }
    request_local_end(c);
}

/* ---- worker ---- */

static void worker_tick(void *arg, uint64_t now)
{
    ig_gw_worker *wk = arg;
    ig_gw_config *cfg = worker_config(wk); /* drop an old snapshot soon after a reload, even when idle */
    /* Canary windows that close on time are judged by one worker. */
    if (wk->id == 0)
        for (size_t i = 0; i < cfg->n_routes; i++)
            if (cfg->routes[i].rollout) ig_rollout_tick(cfg->routes[i].rollout, (int64_t)now);
    if (atomic_load_explicit(&wk->sh->draining, memory_order_relaxed) && wk->listen_w.linked) {
        ig_gw_loop_del(wk->loop, &wk->listen_w);
        close(wk->listen_w.fd);
        wk->listen_w.fd = -1;
    }
}

static void *worker_main(void *arg)
{
    ig_gw_worker *wk = arg;
    ig_gw_loop_run(wk->loop, worker_tick, wk);
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
    if (!(wk->loop = ig_gw_loop_create())) {
        ig_error_set(err, IG_EIO, "cannot create an event loop: %s", strerror(errno));
        goto fail;
    }
    if ((wk->listen_w.fd = open_listener(listen, err)) < 0) goto fail;
    wk->listen_w.on_io = listener_on_io;
    if (ig_gw_loop_add(wk->loop, &wk->listen_w, EPOLLIN)) goto fail;
    if (admin) {
        if ((wk->admin_w.fd = open_listener(admin, err)) < 0) goto fail;
        wk->admin_w.on_io = admin_on_io;
        if (ig_gw_loop_add(wk->loop, &wk->admin_w, EPOLLIN)) goto fail;
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
    ig_gw_loop_stop(wk->loop);
    pthread_join(wk->thread, NULL);
    wk->started = false;
}

void ig_gw_loop_wake_worker(ig_gw_worker *wk)
{
    ig_gw_loop_wake(wk->loop);
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
        while (b->head) upstream_close(b->head);
    /* Connections still open (a drain that timed out) end here, with their requests. */
    ig_gw_loop_free(wk->loop);
    for (idle_bucket *b = wk->idle, *nb; b; b = nb) {
        nb = b->next;
        free(b);
    }
    ig_gw_config_release(wk->cfg);
    free(wk);
}
