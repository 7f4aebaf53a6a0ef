/* A request between its head and its first try, and at its end: request ids and trace context, the
 * head sent upstream, routing, auth, rate limits, the rollout's choice, the response cache; then
 * statistics, the access log and the slots it held. */
#include "gateway/access_log.h"
#include "gateway/proxy_int.h"

/* ---- request lifecycle ---- */

static void log_access(gw_client *c)
{
    gw_request *rq = &c->rq;
    /* Paths and names are logged as sent; the writer escapes them, so the line stays one JSON object. */
    ig_gw_access_entry e = {
        .request_id = rq->request_id,
        .traceparent = rq->traceparent,
        .client = c->peer_ip,
        .principal = rq->principal,
        .method = http_method_str((enum http_method)c->req.parser.method),
        .path = c->req.url ? c->req.url : "",
        .path_len = c->req.url ? (c->req.url_len > 1024 ? 1024 : c->req.url_len) : 0,
        .model = rq->model,
        .version = rq->version,
        .route = rq->route ? rq->route->name : "",
        .pool = rq->pool ? ig_gw_pool_name(rq->pool) : NULL,
        .upstream = rq->prev_addr,
        .status = rq->status,
        .grpc_status = -1,
        .tries = (uint64_t)rq->tries,
        .bytes_in = c->req.head_len + c->body_len,
        .bytes_out = rq->bytes_out,
        .duration_us = (ig_loop_now(c->wk->loop) - rq->start_ns) / 1000,
    };
    ig_gw_access_log_write(c->wk->sh, &e);
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
void ig__gw_request_end(gw_client *c)
{
    gw_request *rq = &c->rq;
    if (rq->route)
        ig_gw_stats_response(rq->route->stats, rq->status,
                             (double)(ig_loop_now(c->wk->loop) - rq->start_ns) / 1000.0);
    /* The last try's outcome for its pool (earlier tries count as its retries). */
    if (rq->tries)
        ig_gw_stats_response(rq->cfg->pool_stats[rq->pool_index], rq->status,
                             (double)(ig_loop_now(c->wk->loop) - rq->try_start_ns) / 1000.0);
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
    ig_http1_begin(&c->req, IG_HTTP1_REQUEST);
    c->w.deadline_ns =
        ig_loop_now(c->wk->loop) + (uint64_t)(c->wk->cfg ? c->wk->cfg->idle_timeout_ms : 60000) * 1000000u;
}

/* A request that never reaches an upstream: answered here, then the next one. */
void ig__gw_request_local_end(gw_client *c)
{
    ig__gw_request_end(c);
    if (!ig__gw_client_flush(c)) return;
    if (c->in.len && !c->close_after_write) ig__gw_client_process(c);
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
        uint64_t v = ig__gw_next_rand(c->wk);
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
    if (!c->cert && (c->cert = calloc(1, sizeof *c->cert))) ig_ssl_identity_read(c->ssl, c->cert);
    if (!c->cert) return; /* out of memory: no certificate, so mTLS rules do not match */
    ar->cert_subject = c->cert->subject[0] ? c->cert->subject : NULL;
    ar->cert_sans = c->cert->san_ptrs;
    ar->n_cert_sans = c->cert->n_sans;
}

/* Authentication and authorization. false: a 401/403 is queued. */
bool ig__gw_request_authenticated(gw_client *c, bool need_admin)
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
            ig__gw_client_error(c, 401, "credentials too large", "WWW-Authenticate: Bearer\r\n",
                                !c->req.done);
            return false;
        }
        ig_auth_identity id;
        ig_auth_result r =
            ig_auth_check(cfg->auth, &ar, rq->model[0] ? rq->model : NULL, need_admin, &id, why, sizeof why);
        if (r != IG_AUTH_ALLOW) {
            ig__gw_client_error(c, (int)r, why,
                                r == IG_AUTH_UNAUTHENTICATED ? "WWW-Authenticate: Bearer\r\n" : NULL,
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
    if (cfg->limits_count_elements && c->req.done) {
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
    ig_ratelimit_check(cfg->rate_limit, &lr, (int64_t)ig_loop_now(c->wk->loop), &d);
    if (!d.allowed) {
        ig__gw_client_error(c, 429, "rate limit exceeded", d.headers, !c->req.done);
        return false;
    }
    snprintf(rq->rl_headers, sizeof rq->rl_headers, "%s", d.headers);
    return true;
}

/* ---- response cache (routes with `cache: true`, see response_cache.h) ---- */

static void request_dispatch(gw_client *c);
static void request_continue(gw_client *c);
static void await_body(gw_client *c, int step);

ig_gw_slice ig__gw_header_slice(const ig_http1_msg *m, const char *name)
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
    ig_gw_slice cc = ig__gw_header_slice(&c->req, "Cache-Control");
    rq->ig__gw_cache_store = !ig_gw_cache_control_has(cc.ptr, cc.len, "no-store");
    rq->cache_lookup = rq->ig__gw_cache_store && !ig_gw_cache_control_has(cc.ptr, cc.len, "no-cache");
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
                        ig__gw_header_slice(&c->req, "Content-Type"),
                        ig__gw_header_slice(&c->req, "Inference-Header-Content-Length"),
                        (ig_gw_slice){c->in.data + c->req.head_len, c->body_len})) {
        ig_cache_key_free(&k);
        rq->ig__gw_cache_store = false;
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
        ig__gw_client_local_response(c, 200, ctype[0] ? ctype : "application/json", hit.body.ptr,
                                     hit.body.len, extra, false);
        ig_cache_entry_release(e);
        ig_cache_key_free(&k);
        ig__gw_request_local_end(c);
        return true;
    }
    if (e) ig_cache_entry_release(e);
    rq->cache_key = k; /* kept to store the response under */
    rq->has_cache_key = true;
    return false;
}

/* Stores a complete 200 response of a cached route. */
void ig__gw_cache_store(gw_client *c, const ig_http1_msg *resp)
{
    gw_request *rq = &c->rq;
    if (!rq->has_cache_key || !rq->ig__gw_cache_store || rq->status != 200 || rq->capture_overflow) return;
    ig_gw_slice cc = ig__gw_header_slice(resp, "Cache-Control");
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
void ig__gw_request_start(gw_client *c)
{
    ig_gw_worker *wk = c->wk;
    gw_request *rq = &c->rq;
    rq->start_ns = ig_loop_now(wk->loop);
    rq->cfg = ig_gw_config_ref(ig__gw_worker_config(wk));
    atomic_fetch_add_explicit(&wk->in_flight, 1, memory_order_relaxed);
    c->state = C_BUSY;
    make_ids(c);
    if (c->req.content_length > rq->cfg->max_request_bytes) {
        ig__gw_client_error(c, 413, "request body too large", NULL, true);
        return ig__gw_request_local_end(c);
    }
    if (c->admin) return ig__gw_handle_admin(c);
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
        ig__gw_client_error(c, 404, "no route matches this request", NULL, !c->req.done);
        return ig__gw_request_local_end(c);
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
    if (!ig__gw_request_authenticated(c, false)) return ig__gw_request_local_end(c);
    /* Limits that charge tensor elements read them from the body: it is held whole first. */
    if (rq->cfg->limits_count_elements && !c->req.done) return await_body(c, AWAIT_LIMITS);
    request_continue(c);
}

/* Holds the request until its body is whole, then goes on from `step` (ig__gw_client_process calls back). */
static void await_body(gw_client *c, int step)
{
    c->rq.awaiting = step;
    if (ig_http1_find(&c->req, "Expect", NULL)) bytes_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* Limits, rollout, cache; then the upstream. */
static void request_continue(gw_client *c)
{
    gw_request *rq = &c->rq;
    if (!request_within_limits(c)) return ig__gw_request_local_end(c);
    rq->pool_index = (int)rq->route->pool;
    rq->shadow_pool = -1;
    if (rq->route->rollout) {
        ig_rollout_pick pick;
        ig_rollout *ro = rq->route->rollout;
        char pin[128], sticky[256], cookie[4096];
        ig_rollout_choose(ro, header_copy(&c->req, ig_rollout_pin_header(ro), pin, sizeof pin),
                          header_copy(&c->req, "Cookie", cookie, sizeof cookie),
                          header_copy(&c->req, ig_rollout_sticky_header(ro), sticky, sizeof sticky),
                          ig__gw_next_rand(c->wk), &pick);
        if (pick.pool >= 0) rq->pool_index = pick.pool;
        rq->shadow_pool = pick.shadow_pool;
    }
    rq->pool = rq->cfg->pools[rq->pool_index];
    if (ig_gw_pool_protocol(rq->pool) == IG_GW_PROTO_GRPC) {
        ig__gw_client_error(c, 502, "route's pool speaks gRPC", NULL, !c->req.done);
        return ig__gw_request_local_end(c);
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
        ig__gw_client_error(c, 503, "upstream pool is at its request limit",
                            "x-infergate-overloaded: true\r\n", !c->req.done);
        return ig__gw_request_local_end(c);
    }
    rq->holds_request = true;
    if (!build_upstream_head(c)) {
        ig__gw_client_error(c, 503, "out of memory", NULL, true);
        return ig__gw_request_local_end(c);
    }
    const char *expect = ig_http1_find(&c->req, "Expect", NULL);
    if (expect && !c->req.done) bytes_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    ig__gw_try_upstream(c);
}

void ig__gw_request_resume(gw_client *c)
{
    int step = c->rq.awaiting;
    c->rq.awaiting = AWAIT_NONE;
    if (step == AWAIT_LIMITS)
        request_continue(c);
    else if (!cache_answer(c))
        request_dispatch(c);
}
