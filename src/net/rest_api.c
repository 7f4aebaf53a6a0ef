/* REST routes of the Open Inference Protocol (see rest_api.h). Paths follow Triton's:
 * /v2/health/{live,ready}, /v2, /v2/models/M[/versions/V][/ready|/config|/stats|/infer],
 * /v2/models/stats, /v2/repository/index, /v2/repository/models/M/{load,unload}. */
#include "base/clock.h"
#include "net/rest_api.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obs/metrics.h"
#include "protocol/json.h"
#include "protocol/oip.h"
#include "protocol/status.h"

struct ig_rest {
    ig_serving *sv;
    ig_rest_options opts;
    atomic_bool draining;
    atomic_long in_flight;
};

static const char *const extensions[] = {"binary_tensor_data",  "parameters", "model_repository",
                                         "model_configuration", "statistics", "schedule_policy"};

ig_rest *ig_rest_create(ig_serving *sv, const ig_rest_options *opts)
{
    ig_rest *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->sv = sv;
    r->opts = *opts;
    return r;
}

void ig_rest_free(ig_rest *r)
{
    free(r);
}

void ig_rest_set_draining(ig_rest *r, bool draining)
{
    atomic_store(&r->draining, draining);
}

long ig_rest_in_flight(const ig_rest *r)
{
    return atomic_load(&((ig_rest *)r)->in_flight);
}

long ig_rest_queue_depth(const ig_rest *r)
{
    long n = ig_rest_in_flight(r);
    if (r->opts.other_in_flight) n += r->opts.other_in_flight(r->opts.other_ctx);
    return n < 0 ? 0 : n;
}

/* ---- replies ---- */

static void access_log(ig_rest *r, ig_http_req *req, int status, size_t bytes_out, uint64_t t0,
                       const char *model, const char *version, const char *id)
{
    FILE *f = r->opts.access_log;
    if (!f) return;
    char path[512], m[256], v[64], i[256];
    ig_prom_escape(ig_http_req_path(req), path, sizeof(path)); /* JSON and label escaping agree here */
    ig_prom_escape(model ? model : "", m, sizeof(m));
    ig_prom_escape(version ? version : "", v, sizeof(v));
    ig_prom_escape(id ? id : "", i, sizeof(i));
    size_t in_len = 0;
    ig_http_req_body(req, &in_len);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    fprintf(f,
            "{\"ts\":%lld.%03ld,\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"duration_us\":%llu,"
            "\"bytes_in\":%zu,\"bytes_out\":%zu,\"model\":\"%s\",\"version\":\"%s\",\"id\":\"%s\"}\n",
            (long long)wall.tv_sec, wall.tv_nsec / 1000000, ig_http_req_method(req), path, status,
            (unsigned long long)((ig_now_ns() - t0) / 1000), in_len, bytes_out, m, v, i);
    fflush(f);
}

typedef struct call {
    ig_rest *rest;
    ig_http_req *http;
    ig_infer_request *req;
    char version[24];
    uint64_t t0;
} call;

/* Every reply of the inference port goes out here. It is logged first: once replied, the request
 * may be gone. While draining, each reply also closes its connection, so keep-alive clients
 * reconnect elsewhere instead of finding the socket gone. c is the inference call, or NULL. */
static int send_reply(ig_rest *r, ig_http_req *req, int status, const ig_http_header *headers, int n_headers,
                      const struct iovec *body, int n_parts, uint64_t t0, const call *c)
{
    size_t bytes = 0;
    for (int i = 0; i < n_parts; i++) bytes += body[i].iov_len;
    access_log(r, req, status, bytes, t0, c ? c->req->model_name : NULL, c ? c->version : NULL,
               c ? c->req->id : NULL);
    ig_http_header h[8];
    int n = 0;
    for (int i = 0; i < n_headers && n < 7; i++) h[n++] = headers[i];
    if (atomic_load(&r->draining)) h[n++] = (ig_http_header){"Connection", "close"};
    return ig_http_reply(req, status, h, n, body, n_parts);
}

static void reply_json(ig_rest *r, ig_http_req *req, int status, char *json, size_t len, uint64_t t0)
{
    ig_http_header h[] = {{"Content-Type", "application/json"}};
    struct iovec body = {json, len};
    send_reply(r, req, status, h, 1, &body, json ? 1 : 0, t0, NULL);
    free(json);
}

static void reply_error(ig_rest *r, ig_http_req *req, int status, const char *msg, uint64_t t0)
{
    size_t len;
    char *json = ig_oip_error_json(msg, &len);
    reply_json(r, req, status, json, json ? len : 0, t0);
}

/* Health answers carry no body, as Triton's: clients read the status only. */
static void reply_empty(ig_rest *r, ig_http_req *req, int status, uint64_t t0)
{
    send_reply(r, req, status, NULL, 0, NULL, 0, t0, NULL);
}

/* ---- inference ---- */

static void client_gone(ig_http_req *http, void *arg)
{
    call *c = arg;
    atomic_store(&c->req->cancelled, true);
    (void)http;
}

/* After the reply: the call is over. */
static void finish(call *c)
{
    atomic_fetch_sub(&c->rest->in_flight, 1);
    ig_arena_free(c->req->arena);
}

static void infer_done(ig_infer_request *req, ig_infer_response *resp, void *ctx)
{
    call *c = ctx;
    /* The load the gateway balances on, without this request (still counted until finish). */
    char depth[24];
    snprintf(depth, sizeof(depth), "%ld",
             ig_rest_queue_depth(c->rest) > 0 ? ig_rest_queue_depth(c->rest) - 1 : 0);
    if (resp->status) {
        int http = ig_status_http(resp->status);
        size_t len;
        char *json = ig_oip_error_json(resp->error, &len);
        ig_http_header h[] = {
            {"Content-Type", "application/json"}, {"x-infergate-queue-depth", depth}, {"Retry-After", "1"}};
        struct iovec body = {json, json ? len : 0};
        send_reply(c->rest, c->http, http, h, http == 503 ? 3 : 2, &body, json ? 1 : 0, c->t0, c);
        free(json);
        finish(c);
        return;
    }
    ig_oip_body out = {0};
    ig_error err = {0};
    if (ig_oip_encode_infer(req, resp, c->version, &out, &err)) {
        size_t len;
        char *json = ig_oip_error_json(err.msg, &len);
        struct iovec body = {json, json ? len : 0};
        send_reply(
            c->rest, c->http, 500,
            (ig_http_header[]){{"Content-Type", "application/json"}, {"x-infergate-queue-depth", depth}}, 2,
            &body, json ? 1 : 0, c->t0, c);
        free(json);
        finish(c);
        return;
    }
    enum { max_parts = 64 };
    struct iovec iov[max_parts + 1];
    int n = 0;
    iov[n++] = (struct iovec){out.json, out.json_len};
    char hlen[32];
    ig_http_header h[4];
    int nh = 0;
    h[nh++] = (ig_http_header){"Content-Type", out.n_parts ? "application/octet-stream" : "application/json"};
    if (out.n_parts) {
        snprintf(hlen, sizeof(hlen), "%zu", out.json_len);
        h[nh++] = (ig_http_header){"Inference-Header-Content-Length", hlen};
    }
    h[nh++] = (ig_http_header){"X-Cache", resp->cache_hit ? "HIT" : "MISS"};
    h[nh++] = (ig_http_header){"x-infergate-queue-depth", depth};
    bool fits = out.n_parts <= max_parts;
    for (int i = 0; i < out.n_parts && fits; i++)
        iov[n++] = (struct iovec){(void *)out.parts[i].ptr, out.parts[i].len};
    if (fits) {
        send_reply(c->rest, c->http, 200, h, nh, iov, n, c->t0, c);
    } else {
        /* More outputs than iovecs: one contiguous copy. */
        size_t total = out.json_len + out.binary_len;
        char *flat = malloc(total ? total : 1);
        if (flat) {
            memcpy(flat, out.json, out.json_len);
            size_t o = out.json_len;
            for (int i = 0; i < out.n_parts; i++)
                memcpy(flat + o, out.parts[i].ptr, out.parts[i].len), o += out.parts[i].len;
        }
        struct iovec one = {flat, total};
        send_reply(c->rest, c->http, flat ? 200 : 500, h, nh, &one, flat ? 1 : 0, c->t0, c);
        free(flat);
    }
    ig_oip_body_free(&out);
    finish(c);
}

/* A raw binary request (Inference-Header-Content-Length: 0) is the body of the model's one input. */
static int decode_raw(ig_rest *r, const void *body, size_t len, const char *model, const char *version,
                      ig_arena *arena, ig_infer_request *out, ig_error *err)
{
    ig_served *s = ig_mm_acquire(r->sv->mm, model, version, err);
    if (!s) return err->code;
    const ig_model_config *cfg = s->cfg;
    int rc;
    if (cfg->n_inputs != 1) {
        rc = ig_error_set(err, IG_EINVAL, "raw binary request needs a model with one input; '%s' has %d",
                          model, cfg->n_inputs);
    } else {
        const ig_cfg_tensor *t = &cfg->inputs[0];
        ig_oip_raw_input in = {.name = t->name, .dtype = ig_cfg_dtype_to_engine(t->data_type)};
        if (cfg->max_batch_size > 0) in.dims[in.ndim++] = 1; /* treated as batch 1 */
        for (int k = 0; k < t->n_dims && in.ndim < IG_MAX_DIMS; k++) in.dims[in.ndim++] = t->dims[k];
        rc = ig_oip_decode_raw(body, len, &in, model, version, arena, out, err);
    }
    ig_mm_release(r->sv->mm, s);
    return rc;
}

static void handle_infer(ig_rest *r, ig_http_req *http, const char *model, const char *version, uint64_t t0)
{
    if (atomic_load(&r->draining)) {
        reply_error(r, http, 503, "Server is shutting down", t0);
        return;
    }
    size_t len;
    const void *body = ig_http_req_body(http, &len);
    size_t json_len = SIZE_MAX;
    const char *hl = ig_http_req_header(http, "Inference-Header-Content-Length");
    if (hl) {
        char *end;
        unsigned long long v = strtoull(hl, &end, 10);
        if (!*hl || *end || v > len) {
            reply_error(r, http, 400,
                        "Inference-Header-Content-Length must be a number no larger than the body", t0);
            return;
        }
        json_len = (size_t)v;
    }
    ig_arena *arena = ig_arena_create(16 * 1024);
    ig_infer_request *req = arena ? ig_arena_alloc(arena, sizeof(*req), 8) : NULL;
    call *c = req ? ig_arena_alloc(arena, sizeof(*c), 8) : NULL;
    if (!c) {
        ig_arena_free(arena);
        reply_error(r, http, 500, "out of memory", t0);
        return;
    }
    /* The names outlive this handler: the request keeps them until it completes. */
    model = ig_arena_strdup(arena, model);
    version = ig_arena_strdup(arena, version);
    ig_error err = {0};
    int rc = !model || !version ? ig_error_set(&err, IG_ENOMEM, "out of memory")
             : json_len == 0    ? decode_raw(r, body, len, model, version, arena, req, &err)
                                : ig_oip_decode_infer(body, len, json_len, model, version, arena, req, &err);
    if (rc) {
        ig_arena_free(arena);
        reply_error(r, http, ig_status_http(rc), err.msg, t0);
        return;
    }
    req->arena = arena;
    req->t_received_ns = t0;
    *c = (call){.rest = r, .http = http, .req = req, .t0 = t0};
    atomic_fetch_add(&r->in_flight, 1);
    ig_http_req_on_close(http, client_gone, c);
    ig_serving_infer(r->sv, req, c->version, infer_done, c);
}

/* ---- model endpoints ---- */

/* /v2/models/M[/versions/V]: metadata from the version that would serve a request. */
static void handle_model(ig_rest *r, ig_http_req *http, const char *model, const char *version,
                         const char *what, uint64_t t0)
{
    ig_error err = {0};
    if (!strcmp(what, "ready")) {
        ig_served *s = ig_mm_acquire(r->sv->mm, model, version, &err);
        if (s) ig_mm_release(r->sv->mm, s);
        if (s)
            reply_empty(r, http, 200, t0);
        else
            reply_error(r, http, 400, err.msg, t0);
        return;
    }
    ig_served *s = ig_mm_acquire(r->sv->mm, model, version, &err);
    if (!s) {
        reply_error(r, http, ig_status_http(err.code), err.msg, t0);
        return;
    }
    char *json = NULL;
    size_t len = 0;
    if (!strcmp(what, "")) {
        int64_t v = s->version;
        json = ig_oip_model_metadata_json(s->cfg, &v, 1, &len);
    } else if (!strcmp(what, "config")) {
        json = ig_config_to_json(s->cfg);
        len = json ? strlen(json) : 0;
    } else {
        ig_oip_stats_entry e = {.name = s->name, .version = s->version_str, .stats = &s->stats};
        json = ig_oip_model_stats_json(&e, 1, &len);
    }
    ig_mm_release(r->sv->mm, s);
    if (json)
        reply_json(r, http, 200, json, len, t0);
    else
        reply_error(r, http, 500, "out of memory", t0);
}

typedef struct rendered {
    char *json;
    size_t len;
    const char *only_model; /* stats of one model, or all */
    bool ready_only;
} rendered;

static void stats_rows(const ig_mm_row *rows, int n, void *ctx)
{
    rendered *out = ctx;
    ig_oip_stats_entry *e = calloc((size_t)n + 1, sizeof(*e));
    int k = 0;
    for (int i = 0; i < n && e; i++)
        if (rows[i].s && (!out->only_model || !strcmp(rows[i].name, out->only_model)))
            e[k++] = (ig_oip_stats_entry){
                .name = rows[i].name, .version = rows[i].version_str, .stats = &rows[i].s->stats};
    out->json = e ? ig_oip_model_stats_json(e, k, &out->len) : NULL;
    free(e);
}

static void index_rows(const ig_mm_row *rows, int n, void *ctx)
{
    rendered *out = ctx;
    ig_oip_repo_entry *e = calloc((size_t)n + 1, sizeof(*e));
    int k = 0;
    for (int i = 0; i < n && e; i++) {
        if (out->ready_only && rows[i].state != IG_STATE_READY) continue;
        e[k++] = (ig_oip_repo_entry){.name = rows[i].name,
                                     .version = rows[i].version_str,
                                     .state = ig_version_state_name(rows[i].state),
                                     .reason = rows[i].reason};
    }
    out->json = e ? ig_oip_repo_index_json(e, k, &out->len) : NULL;
    free(e);
}

static void metrics_rows(const ig_mm_row *rows, int n, void *ctx)
{
    ig_buf *b = ctx;
    ig_stats_model_ref *refs = calloc((size_t)n + 1, sizeof(*refs));
    if (!refs) return;
    for (int i = 0; i < n; i++)
        refs[i] = (ig_stats_model_ref){.name = rows[i].name,
                                       .version = rows[i].version_str,
                                       .state = ig_version_state_name(rows[i].state),
                                       .stats = rows[i].s ? &rows[i].s->stats : NULL};
    ig_stats_prometheus(b, refs, (size_t)n, NULL);
    free(refs);
}

/* The index request's optional body {"ready": bool}. */
static int index_ready_only(const char *body, size_t len, bool *ready, ig_error *err)
{
    *ready = false;
    if (!len) return 0;
    ig_arena *a = ig_arena_create(1024);
    if (!a) return ig_error_set(err, IG_ENOMEM, "out of memory");
    ig_json_reader jr;
    ig_json_init(&jr, body, len, a, err);
    int rc = ig_json_obj_begin(&jr);
    ig_string key;
    while (!rc && (rc = ig_json_obj_next(&jr, &key)) > 0) {
        rc = key.len == 5 && !memcmp(key.ptr, "ready", 5) ? ig_json_bool(&jr, ready) : ig_json_skip(&jr);
    }
    if (rc >= 0) rc = ig_json_finish(&jr);
    ig_arena_free(a);
    return rc < 0 ? rc : 0;
}

static void handle_repository(ig_rest *r, ig_http_req *http, const char *rest, uint64_t t0)
{
    if (!strcmp(rest, "index")) {
        size_t len;
        const char *body = ig_http_req_body(http, &len);
        rendered out = {0};
        ig_error err = {0};
        if (index_ready_only(body, len, &out.ready_only, &err)) {
            reply_error(r, http, 400, err.msg, t0);
            return;
        }
        ig_mm_snapshot(r->sv->mm, index_rows, &out);
        if (out.json)
            reply_json(r, http, 200, out.json, out.len, t0);
        else
            reply_error(r, http, 500, "out of memory", t0);
        return;
    }
    /* models/M/load | models/M/unload */
    char model[256];
    const char *slash = strncmp(rest, "models/", 7) ? NULL : strrchr(rest + 7, '/');
    if (!slash || (size_t)(slash - (rest + 7)) >= sizeof(model) || slash == rest + 7) {
        reply_error(r, http, 404, "Not Found", t0);
        return;
    }
    memcpy(model, rest + 7, (size_t)(slash - (rest + 7)));
    model[slash - (rest + 7)] = 0;
    bool load = !strcmp(slash + 1, "load");
    if (!load && strcmp(slash + 1, "unload")) {
        reply_error(r, http, 404, "Not Found", t0);
        return;
    }
    if (!r->opts.explicit_control) {
        reply_error(r, http, 400,
                    "explicit model load / unload is not allowed unless --model-control-mode=explicit", t0);
        return;
    }
    ig_error err = {0};
    int rc = load ? ig_mm_load(r->sv->mm, model, &err) : ig_mm_unload(r->sv->mm, model, &err);
    if (rc)
        reply_error(r, http, 400, err.msg, t0);
    else
        reply_json(r, http, 200, NULL, 0, t0);
}

/* Auth and rate limits before anything of the request is decoded. true: go on; false: answered with
 * 401 (WWW-Authenticate: Bearer), 403 or 429 (Retry-After and RateLimit headers) and an OIP error. */
static bool access_allowed(ig_rest *r, ig_http_req *http, const char *model, bool need_admin, uint64_t t0)
{
    if (!ig_access_enabled(r->opts.access)) return true;
    socklen_t alen = 0;
    const ig_ssl_identity *cert = ig_http_req_client_cert(http);
    ig_access_request rq = {.authorization = ig_http_req_header(http, "Authorization"),
                            .api_key = ig_http_req_header(http, "x-api-key"),
                            .peer = ig_http_req_client_addr(http, &alen),
                            .cert_subject = cert && cert->subject[0] ? cert->subject : NULL,
                            .cert_sans = cert ? cert->san_ptrs : NULL,
                            .n_cert_sans = cert ? cert->n_sans : 0,
                            .model = model,
                            .need_admin = need_admin};
    ig_access_decision d;
    ig_access_check(r->opts.access, &rq, (int64_t)t0, (int64_t)time(NULL), &d);
    if (!d.code) return true;
    char hbuf[sizeof(d.headers)];
    memcpy(hbuf, d.headers, sizeof(hbuf));
    ig_http_header h[6];
    const char *names[4], *values[4];
    int n = 0;
    h[n++] = (ig_http_header){"Content-Type", "application/json"};
    if (d.code == 401) h[n++] = (ig_http_header){"WWW-Authenticate", "Bearer"};
    int k = ig_access_split_headers(hbuf, names, values, 4);
    for (int i = 0; i < k; i++) h[n++] = (ig_http_header){names[i], values[i]};
    size_t len = 0;
    char *json = ig_oip_error_json(d.why[0] ? d.why : "access denied", &len);
    struct iovec body = {json, json ? len : 0};
    send_reply(r, http, d.code, h, n, &body, json ? 1 : 0, t0, NULL);
    free(json);
    return false;
}

/* Splits "M[/versions/V][/what]" into its parts; false when the path has another shape. */
static bool parse_model_path(const char *p, char *model, size_t ml, char *version, size_t vl,
                             const char **what)
{
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 0 || n >= ml) return false;
    memcpy(model, p, n);
    model[n] = 0;
    version[0] = 0;
    *what = "";
    if (!end) return true;
    p = end + 1;
    if (!strncmp(p, "versions/", 9)) {
        p += 9;
        end = strchr(p, '/');
        n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || n >= vl) return false;
        for (size_t i = 0; i < n; i++)
            if (p[i] < '0' || p[i] > '9') return false;
        memcpy(version, p, n);
        version[n] = 0;
        if (!end) return true;
        p = end + 1;
    }
    *what = p;
    return !strcmp(p, "ready") || !strcmp(p, "config") || !strcmp(p, "stats") || !strcmp(p, "infer");
}

void ig_rest_handle(ig_http_req *http, void *ctx)
{
    ig_rest *r = ctx;
    uint64_t t0 = ig_now_ns();
    const char *m = ig_http_req_method(http), *p = ig_http_req_path(http);
    bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    if (!strcmp(p, "/v2/health/live")) {
        if (!get) goto not_allowed;
        reply_empty(r, http, 200, t0);
    } else if (!strcmp(p, "/v2/health/ready")) {
        if (!get) goto not_allowed;
        bool ready = !atomic_load(&r->draining) && (!r->opts.strict_readiness || ig_mm_all_ready(r->sv->mm));
        char depth[24];
        snprintf(depth, sizeof(depth), "%ld", ig_rest_queue_depth(r));
        ig_http_header h[] = {{"x-infergate-queue-depth", depth}};
        send_reply(r, http, ready ? 200 : 503, h, 1, NULL, 0, t0, NULL);
    } else if (!strcmp(p, "/v2")) {
        if (!get) goto not_allowed;
        if (!access_allowed(r, http, NULL, false, t0)) return;
        size_t len;
        char *json = ig_oip_server_metadata_json("infergate", "0.1.0", extensions,
                                                 (int)(sizeof(extensions) / sizeof(extensions[0])), &len);
        reply_json(r, http, 200, json, json ? len : 0, t0);
    } else if (!strcmp(p, "/v2/models/stats")) {
        if (!get) goto not_allowed;
        if (!access_allowed(r, http, NULL, false, t0)) return;
        rendered out = {0};
        ig_mm_snapshot(r->sv->mm, stats_rows, &out);
        reply_json(r, http, out.json ? 200 : 500, out.json, out.len, t0);
    } else if (!strncmp(p, "/v2/repository/", 15)) {
        if (!post) goto not_allowed;
        /* load/unload change what is served: admin only. The index is read-only. */
        if (!access_allowed(r, http, NULL, !!strncmp(p + 15, "index", 6), t0)) return;
        handle_repository(r, http, p + 15, t0);
    } else if (!strncmp(p, "/v2/models/", 11)) {
        char model[256], version[24];
        const char *what;
        if (!parse_model_path(p + 11, model, sizeof(model), version, sizeof(version), &what)) goto not_found;
        bool is_infer = !strcmp(what, "infer");
        if (is_infer ? !post : !get) goto not_allowed;
        if (!access_allowed(r, http, model, false, t0)) return;
        if (is_infer)
            handle_infer(r, http, model, version, t0);
        else
            handle_model(r, http, model, version, what, t0);
    } else {
        goto not_found;
    }
    return;
not_found:
    reply_error(r, http, 404, "Not Found", t0);
    return;
not_allowed:
    reply_error(r, http, 405, "Method Not Allowed", t0);
}

void ig_rest_handle_metrics(ig_http_req *http, void *ctx)
{
    ig_rest *r = ctx;
    uint64_t t0 = ig_now_ns();
    if (strcmp(ig_http_req_path(http), "/metrics")) {
        reply_error(r, http, 404, "Not Found", t0);
        return;
    }
    ig_buf b = {0};
    ig_mm_snapshot(r->sv->mm, metrics_rows, &b);
    if (ig_access_enabled(r->opts.access)) ig_access_prometheus(r->opts.access, &b);
    ig_http_header h[] = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
    struct iovec body = {b.data, b.len};
    ig_http_reply(http, b.oom ? 500 : 200, h, 1, &body, 1);
    ig_buf_free(&b);
}
