/* HTTP/1.1 server glue over libmicrohttpd: request assembly with limits checked before the body is
 * read, handler dispatch, replies from any thread (suspend/resume), completion and graceful stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "net/http_int.h"

static const char *status_reason(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    default:
        return "Error";
    }
}

static void server_release(ig_http_server *srv)
{
    if (atomic_fetch_sub_explicit(&srv->refs, 1, memory_order_acq_rel) != 1) return;
    pthread_mutex_destroy(&srv->lock);
    pthread_mutex_destroy(&srv->handoff_lock);
    pthread_cond_destroy(&srv->idle);
    free(srv);
}

void ig__http_req_release(ig_http_req *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
    ig_http_server *srv = r->srv;
    if (r->resp) MHD_destroy_response(r->resp);
    ig_tls_peer_unref(r->cert);
    free(r->uri);
    free(r->block);
    free(r->body);
    free(r);
    server_release(srv);
}

ig_http_close_cb ig__http_mark_gone(ig_http_req *r, void **arg)
{
    if (r->gone) return NULL;
    r->gone = true;
    if (r->watched) ig__http_watch_del(r->srv, r);
    if (r->replied) return NULL;
    *arg = r->on_close_arg;
    return r->on_close;
}

/* Error replies the server makes itself: small JSON like every other error of ours. */
static enum MHD_Result send_error(ig_http_req *r, struct MHD_Connection *conn, int status)
{
    char body[96];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", status_reason(status));
    struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    /* The body may still be on the wire: the connection cannot be reused. */
    MHD_add_response_header(resp, "Connection", "close");
    if (r) r->error_sent = true;
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    ig_http_server *srv = cls;
    ig_http_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->uri = strdup(uri);
    if (!r->uri) {
        free(r);
        return NULL;
    }
    atomic_fetch_add_explicit(&srv->refs, 1, memory_order_relaxed);
    r->srv = srv;
    r->conn = conn;
    atomic_init(&r->refs, 1);
    if (srv->front) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) r->cert = ig_tls_front_peer(srv->front, ci->connect_fd);
    }
    pthread_mutex_lock(&srv->lock);
    srv->active++;
    pthread_mutex_unlock(&srv->lock);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    ig_http_server *srv = cls;
    ig_http_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    void *arg = NULL;
    ig_http_close_cb cb = NULL;
    pthread_mutex_lock(&srv->lock);
    if (code != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        cb = ig__http_mark_gone(r, &arg);
    else if (r->watched)
        ig__http_watch_del(srv, r);
    r->conn = NULL;
    if (--srv->active == 0 && srv->draining) pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->lock);
    if (cb) cb(r, arg);
    ig__http_req_release(r);
}

static size_t copy_len(const char *s)
{
    return s ? strlen(s) + 1 : 1;
}

/* Fixed per-header limits (reliability anchor H1): many tiny headers or one huge line stay under
 * the byte total but still cost a table entry or a line buffer each. */
enum { max_header_count = 100, max_header_line = 8 << 10 };

struct hdr_walk {
    ig_http_req *r;
    size_t bytes;
    size_t longest; /* longest "name: value" line */
    int n;
    char *p;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    struct hdr_walk *w = cls;
    w->n++;
    size_t line = copy_len(k) + copy_len(v);
    w->bytes += line;
    if (line > w->longest) w->longest = line;
    return MHD_YES;
}

static char *put_str(char **p, const char *s)
{
    char *d = *p;
    size_t n = copy_len(s);
    if (s)
        memcpy(d, s, n);
    else
        d[0] = '\0';
    *p += n;
    return d;
}

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    struct hdr_walk *w = cls;
    ig_http_header *h = &w->r->headers[w->n++];
    h->name = put_str(&w->p, k);
    h->value = put_str(&w->p, v);
    return MHD_YES;
}

/* Headers and method move into one block owned by the request: libmicrohttpd's copies live in the
 * connection, which can be gone while a deferred request is still held. Returns 431/400/0. */
static int take_headers(ig_http_req *r, struct MHD_Connection *conn, const char *method, const char *url)
{
    struct hdr_walk w = {.r = r};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &w);
    size_t need = (size_t)w.n * sizeof(ig_http_header) + w.bytes + copy_len(method) + copy_len(url);
    r->block = malloc(need);
    if (!r->block) return 500;
    r->headers = (ig_http_header *)(void *)r->block;
    w.p = r->block + (size_t)w.n * sizeof(ig_http_header);
    w.n = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, copy_header, &w);
    r->n_headers = w.n;
    r->method = put_str(&w.p, method);
    r->path = put_str(&w.p, url);
    const char *q = strchr(r->uri, '?');
    r->query = q ? q + 1 : "";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        r->peer_len =
            ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        memcpy(&r->peer, ci->client_addr, r->peer_len);
    }
    return 0;
}

struct frame_walk {
    int n_cl, n_te;
    const char *te;
    bool malformed;
};

/* RFC 9110 token characters: a header name with a space or a control byte is not a header. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *k, size_t k_len,
                                     const char *v, size_t v_len)
{
    struct frame_walk *f = cls;
    if (!k_len || (v && memchr(v, '\0', v_len))) f->malformed = true; /* NUL: strlen would cut the value */
    for (size_t i = 0; i < k_len; i++)
        if (!is_tchar((unsigned char)k[i])) f->malformed = true;
    if (!strcasecmp(k, "Content-Length")) f->n_cl++;
    if (!strcasecmp(k, "Transfer-Encoding")) f->n_te++, f->te = v ? v : "";
    return MHD_YES;
}

/* Message framing (anchor H3): one unambiguous way to find the end of the body, else 400 (501 for an
 * unknown coding) and close. libmicrohttpd takes the first of two Content-Lengths and lets
 * Transfer-Encoding win over Content-Length silently, which is how a proxy in front and this server
 * could disagree on where the next request starts. */
static int check_framing(struct MHD_Connection *conn, const char *version)
{
    struct frame_walk f = {0};
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_framing, &f);
    if (f.malformed || f.n_cl > 1 || f.n_te > 1 || (f.n_cl && f.n_te)) return 400;
    if (f.te && version && !strcmp(version, "HTTP/1.0")) return 400;
    if (f.te && strcasecmp(f.te, "chunked")) return 501;
    return 0;
}

/* First call (headers only): limits that must answer before any body byte is read. */
static int check_head(ig_http_req *r, struct MHD_Connection *conn, const char *version)
{
    const ig_http_config *cfg = &r->srv->cfg;
    if (strlen(r->uri) > cfg->max_uri_bytes) return 414;
    /* %00 decodes to a NUL that would cut the path short ("/v2/models/a%00/x" read as model a) */
    if (strstr(r->uri, "%00")) return 400;
    int fr = check_framing(conn, version);
    if (fr) return fr;
    struct hdr_walk w = {.r = r};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &w);
    /* w.bytes counts a NUL after each name and value: "name: value" is one byte more per header */
    if (w.bytes + (size_t)w.n > cfg->max_header_bytes) return 431;
    if (w.n > max_header_count || w.longest > max_header_line) return 431;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || end == cl || *end || cl[0] == '-') return 400;
        if (v > cfg->max_body_bytes) return 413;
        if (v) {
            r->body = malloc((size_t)v);
            if (!r->body) return 413;
            r->body_cap = (size_t)v;
        }
    }
    return 0;
}

static int append_body(ig_http_req *r, const char *data, size_t n)
{
    size_t max = r->srv->cfg.max_body_bytes;
    if (n > max - r->body_len) return 413;
    if (r->body_len + n > r->body_cap) { /* chunked, or more than Content-Length said */
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n) cap = cap > max / 2 ? max : cap * 2;
        char *b = realloc(r->body, cap);
        if (!b) return 413;
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    return 0;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *data, size_t *data_size, void **con_cls)
{
    ig_http_server *srv = cls;
    ig_http_req *r = *con_cls;
    if (!r) return send_error(NULL, conn, 400); /* URI callback out of memory */
    if (r->error_sent) {
        *data_size = 0;
        return MHD_YES;
    }
    if (r->state == IG__REQ_READING) {
        if (!r->block) { /* first call: headers complete, no body byte read yet */
            /* Second line of defence for mTLS: no verified certificate on record, no request. */
            if (srv->front && ig_tls_store_client_auth(srv->cfg.tls) && !r->cert) return MHD_NO;
            int st = check_head(r, conn, version);
            if (!st) st = take_headers(r, conn, method, url);
            if (st) return send_error(r, conn, st == 500 ? 413 : st);
            return MHD_YES; /* libmicrohttpd sends 100 Continue now if asked */
        }
        if (*data_size) {
            /* Past the limit (chunked, or more than Content-Length said): libmicrohttpd takes no
             * reply in the middle of a body, so the rest is discarded, with a bound, and the 413 goes
             * out after it. */
            if (!r->too_big && append_body(r, data, *data_size)) r->too_big = true;
            if (r->too_big && (r->discarded += *data_size) > r->srv->cfg.max_body_bytes) return MHD_NO;
            *data_size = 0;
            return MHD_YES;
        }
        if (r->too_big) return send_error(r, conn, 413);
        r->state = IG__REQ_IN_HANDLER;
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed); /* the owed reply */
        srv->handler(r, srv->ctx);
        pthread_mutex_lock(&srv->lock);
        struct MHD_Response *resp = r->resp;
        bool replied = r->replied;
        r->resp = NULL;
        if (!replied) {
            r->state = IG__REQ_SUSPENDED;
            MHD_suspend_connection(conn);
            ig__http_watch_add(srv, r);
        } else {
            r->state = IG__REQ_RESUMED;
        }
        int status = r->status;
        pthread_mutex_unlock(&srv->lock);
        if (!replied) return MHD_YES;
        if (!resp) return MHD_NO; /* the reply could not be built: close */
        enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    /* resumed: the reply is waiting, or the client is gone */
    pthread_mutex_lock(&srv->lock);
    struct MHD_Response *resp = r->gone ? NULL : r->resp;
    r->resp = NULL;
    int status = r->status;
    pthread_mutex_unlock(&srv->lock);
    if (!resp) return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static bool skip_header(const char *name)
{
    return !strcasecmp(name, "Content-Length") || !strcasecmp(name, "Transfer-Encoding");
}

static struct MHD_Response *build_reply(ig_http_server *srv, const ig_http_header *h, int nh,
                                        const struct iovec *body, int np, int *rc)
{
    size_t total = 0;
    for (int i = 0; i < np; i++) {
        if (body[i].iov_len && !body[i].iov_base) return *rc = IG_EINVAL, NULL;
        if (body[i].iov_len > SIZE_MAX - total) return *rc = IG_EOVERFLOW, NULL;
        total += body[i].iov_len;
    }
    struct MHD_Response *resp;
    if (total == 0) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        char *buf = malloc(total), *p = buf;
        if (!buf) return *rc = IG_ENOMEM, NULL;
        for (int i = 0; i < np; i++) {
            if (body[i].iov_len) memcpy(p, body[i].iov_base, body[i].iov_len);
            p += body[i].iov_len;
        }
        resp = MHD_create_response_from_buffer(total, buf, MHD_RESPMEM_MUST_FREE);
        if (!resp) free(buf);
    }
    if (!resp) return *rc = IG_ENOMEM, NULL;
    for (int i = 0; i < nh; i++) {
        if (!h[i].name || !h[i].value || skip_header(h[i].name)) continue;
        if (MHD_add_response_header(resp, h[i].name, h[i].value) != MHD_YES) { /* CR/LF inside */
            MHD_destroy_response(resp);
            return *rc = IG_EINVAL, NULL;
        }
    }
    if (srv->draining) MHD_add_response_header(resp, "Connection", "close");
    return resp;
}

int ig_http_reply(ig_http_req *r, int status, const ig_http_header *headers, int n_headers,
                  const struct iovec *body, int n_parts)
{
    ig_http_server *srv = r->srv;
    int rc = 0;
    struct MHD_Response *resp = NULL;
    if (status < 100 || status > 599 || n_headers < 0 || n_parts < 0 || (n_headers && !headers) ||
        (n_parts && !body))
        rc = IG_EINVAL;
    else
        resp = build_reply(srv, headers, n_headers, body, n_parts, &rc);
    pthread_mutex_lock(&srv->lock);
    r->replied = true;
    if (r->gone) {
        if (resp) MHD_destroy_response(resp);
    } else {
        r->resp = resp; /* NULL: the connection is closed instead */
        r->status = status;
        if (r->state == IG__REQ_SUSPENDED) {
            r->state = IG__REQ_RESUMED;
            if (r->watched) ig__http_watch_del(srv, r);
            MHD_resume_connection(r->conn);
        }
    }
    pthread_mutex_unlock(&srv->lock);
    ig__http_req_release(r);
    return rc;
}

const char *ig_http_req_method(const ig_http_req *r)
{
    return r->method;
}

const char *ig_http_req_path(const ig_http_req *r)
{
    return r->path;
}

const char *ig_http_req_query(const ig_http_req *r)
{
    return r->query;
}

const char *ig_http_req_header(const ig_http_req *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

const void *ig_http_req_body(const ig_http_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body_len ? r->body : NULL;
}

const ig_ssl_identity *ig_http_req_client_cert(const ig_http_req *req)
{
    return req->cert ? &req->cert->id : NULL;
}

const struct sockaddr *ig_http_req_client_addr(const ig_http_req *r, socklen_t *len)
{
    if (len) *len = r->peer_len;
    return (const struct sockaddr *)&r->peer;
}

bool ig_http_req_client_gone(const ig_http_req *r)
{
    ig_http_server *srv = r->srv;
    pthread_mutex_lock(&srv->lock);
    bool gone = r->gone;
    pthread_mutex_unlock(&srv->lock);
    return gone;
}

void ig_http_req_on_close(ig_http_req *r, ig_http_close_cb cb, void *arg)
{
    ig_http_server *srv = r->srv;
    pthread_mutex_lock(&srv->lock);
    bool now = r->gone && !r->replied;
    r->on_close = now ? NULL : cb;
    r->on_close_arg = arg;
    pthread_mutex_unlock(&srv->lock);
    if (now && cb) cb(r, arg);
}

int ig_http_server_create(const ig_http_config *cfg, ig_http_handler handler, void *ctx, ig_http_server **out,
                          ig_error *err)
{
    *out = NULL;
    if (!cfg || !handler) return ig_error_set(err, IG_EINVAL, "http server: config and handler are required");
    if (cfg->port < 0 || cfg->port > 65535)
        return ig_error_set(err, IG_EINVAL, "http server: port %d out of range", cfg->port);
    if (cfg->io_threads < 0 || cfg->io_threads > 256)
        return ig_error_set(err, IG_EINVAL, "http server: io_threads %d out of range 1..256",
                            cfg->io_threads);
    const char *addr = cfg->bind_address && cfg->bind_address[0] ? cfg->bind_address : "0.0.0.0";
    ig_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) return ig_error_set(err, IG_ENOMEM, "http server: out of memory");
    if (strlen(addr) >= sizeof srv->bind_address) {
        free(srv);
        return ig_error_set(err, IG_EINVAL, "http server: bind address '%.64s...' too long", addr);
    }
    strcpy(srv->bind_address, addr);
    srv->cfg = *cfg;
    srv->cfg.bind_address = srv->bind_address;
    if (!srv->cfg.io_threads) srv->cfg.io_threads = 2;
    if (!srv->cfg.max_body_bytes) srv->cfg.max_body_bytes = (size_t)64 << 20;
    if (!srv->cfg.max_header_bytes) srv->cfg.max_header_bytes = 16 << 10;
    if (!srv->cfg.max_uri_bytes) srv->cfg.max_uri_bytes = 8 << 10;
    if (!srv->cfg.idle_timeout_ms) srv->cfg.idle_timeout_ms = 60000;
    if (!srv->cfg.max_connections) srv->cfg.max_connections = 4096;
    if (!srv->cfg.drain_timeout_ms) srv->cfg.drain_timeout_ms = 30000;
    srv->handler = handler;
    srv->ctx = ctx;
    srv->epfd = srv->wakefd = -1;
    atomic_init(&srv->refs, 1);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->handoff_lock, NULL);
    pthread_cond_init(&srv->idle, NULL);
    *out = srv;
    return 0;
}

/* A decrypted connection from the TLS front becomes one of the daemon's, unless it is stopping. */
static int take_connection(void *ctx, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    ig_http_server *srv = ctx;
    pthread_mutex_lock(&srv->handoff_lock);
    bool open = !srv->stopping && srv->daemon;
    bool ok =
        open && MHD_add_connection(srv->daemon, fd, addr, addrlen) == MHD_YES; /* closes fd on failure */
    if (!open) close(fd);
    pthread_mutex_unlock(&srv->handoff_lock);
    return ok ? 0 : -1;
}

static int start_front(ig_http_server *srv, const struct sockaddr_storage *ss, ig_error *err)
{
    unsigned hs_ms = srv->cfg.idle_timeout_ms < 10000 ? srv->cfg.idle_timeout_ms : 10000;
    ig_tls_front_config fc = {.addr = (const struct sockaddr *)ss,
                              .addrlen = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                   : sizeof(struct sockaddr_in),
                              .tls = srv->cfg.tls,
                              .threads = srv->cfg.io_threads,
                              .handshake_timeout_ms = hs_ms,
                              .max_connections = srv->cfg.max_connections,
                              .handoff = take_connection,
                              .ctx = srv};
    ig_error ferr;
    if (ig_tls_front_start(&fc, &srv->front, &ferr)) {
        MHD_stop_daemon(srv->daemon);
        srv->daemon = NULL;
        ig__http_watch_stop(srv);
        return ig_error_set(err, IG_EIO, "http server: cannot listen on %s port %d: %s", srv->bind_address,
                            srv->cfg.port, ferr.msg);
    }
    srv->port = ig_tls_front_port(srv->front);
    return 0;
}

int ig_http_server_start(ig_http_server *srv, ig_error *err)
{
    if (srv->daemon || srv->stopped) return ig_error_set(err, IG_EINVAL, "http server: already started");
    struct sockaddr_storage ss = {0};
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, srv->bind_address, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)srv->cfg.port);
    } else if (inet_pton(AF_INET6, srv->bind_address, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)srv->cfg.port);
        flags |= MHD_USE_IPv6;
    } else {
        return ig_error_set(err, IG_EINVAL,
                            "http server: bind address '%s' is not a numeric IPv4/IPv6 address",
                            srv->bind_address);
    }
    int rc = ig__http_watch_start(srv, err);
    if (rc) return rc;
    /* The connection pool holds the request line, the headers and the read buffer. */
    size_t pool = srv->cfg.max_header_bytes + srv->cfg.max_uri_bytes + (16 << 10);
    unsigned timeout_s = (srv->cfg.idle_timeout_ms + 999) / 1000;
    unsigned threads = (unsigned)srv->cfg.io_threads;
    /* With TLS the front listens and hands decrypted connections over; the daemon has no socket. */
    if (srv->cfg.tls) flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    errno = 0;
    srv->daemon =
        MHD_start_daemon(flags, (uint16_t)srv->cfg.port, NULL, NULL, on_access, srv, MHD_OPTION_SOCK_ADDR,
                         srv->cfg.tls ? NULL : (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                         threads > 1 ? threads : 0u, MHD_OPTION_CONNECTION_LIMIT, srv->cfg.max_connections,
                         MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
                         MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
    if (!srv->daemon) {
        int e = errno;
        ig__http_watch_stop(srv);
        return ig_error_set(err, IG_EIO, "http server: cannot listen on %s port %d: %s", srv->bind_address,
                            srv->cfg.port, e ? strerror(e) : "libmicrohttpd refused to start");
    }
    if (srv->cfg.tls) return start_front(srv, &ss, err);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : srv->cfg.port;
    return 0;
}

int ig_http_server_port(const ig_http_server *srv)
{
    return srv->daemon ? srv->port : 0;
}

void ig_http_server_stop(ig_http_server *srv, bool graceful)
{
    if (!srv->daemon) return;
    if (graceful) {
        pthread_mutex_lock(&srv->lock);
        srv->draining = true;
        pthread_mutex_unlock(&srv->lock);
        if (srv->front) {
            ig_tls_front_quiesce(srv->front);
        } else {
            MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
            if (lfd != MHD_INVALID_SOCKET) close(lfd);
        }
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += srv->cfg.drain_timeout_ms / 1000;
        dl.tv_nsec += (long)(srv->cfg.drain_timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
        pthread_mutex_lock(&srv->lock);
        while (srv->active > 0)
            if (pthread_cond_timedwait(&srv->idle, &srv->lock, &dl) == ETIMEDOUT) break;
        pthread_mutex_unlock(&srv->lock);
        /* Connections accepted just before the listener closed may not have sent their request yet:
         * closing them now would reset a client in the middle of writing. Give them a moment to be
         * answered (and closed, as replies say while draining). */
        for (int waited = 0; waited < 250; waited += 5) {
            const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
            if (!info || info->num_connections == 0) break;
            usleep(5000);
        }
    }
    pthread_mutex_lock(&srv->handoff_lock);
    srv->stopping = true; /* handshakes finishing now are refused */
    pthread_mutex_unlock(&srv->handoff_lock);
    MHD_stop_daemon(srv->daemon); /* closes every connection; completion marks open requests gone */
    srv->daemon = NULL;
    /* The relays deliver what the daemon wrote before it closed their ends. */
    ig_tls_front_free(srv->front, graceful ? 1000 : 0);
    srv->front = NULL;
    ig__http_watch_stop(srv);
    srv->stopped = true;
}

void ig_http_server_destroy(ig_http_server *srv)
{
    if (!srv) return;
    ig_http_server_stop(srv, false);
    server_release(srv); /* requests still owed a reply keep it alive */
}
