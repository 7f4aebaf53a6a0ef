/* The gateway's gRPC front (see grpc_proxy.h). One completion queue serves both the accepted calls
 * and the calls to upstreams; every event's tag is a gp_tag embedded in its gp_call. A call holds one
 * reference per batch in flight and is freed (stats, endpoint, snapshot) when the last completes.
 * Unary calls go upstream as one batch, so a failed try can go again before the client saw anything;
 * streams are pumped message by message in both directions. A shadow copy of a unary ModelInfer
 * (gp_shadow) is a call of its own on the same queue, started once the client's answer is on its way;
 * it holds a config reference and is counted in `calls`, so shutdown waits for it (or cancels it). */
#include "gateway/grpc_proxy.h"
#include "net/grpc_core.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/clock.h"
#include "gateway/access_log.h"
#include "gateway/route_stats.h"
#include "gateway/shadow.h"

#define N_THREADS 2
#define N_REQUESTED 8
/* As the REST path: a primary answer above this is not shadowed, a shadow answer above it is an error. */
#define SHADOW_MAX_MESSAGE (8u << 20)

typedef struct gp_tag {
    void (*fn)(struct gp_tag *t, bool ok);
} gp_tag;

#define GP_OF(ptr, member) ((gp_call *)(void *)((char *)(ptr)-offsetof(gp_call, member)))

typedef struct gp_channel {
    struct gp_channel *next;
    uint64_t tls_key; /* ig_gw_upstream_tls_fingerprint, 0 for plain */
    char *addr;
    grpc_channel *ch;
} gp_channel;

struct ig_gw_grpc {
    ig_gw_shared *sh;
    grpc_server *server;
    grpc_completion_queue *cq;
    pthread_t threads[N_THREADS];
    int n_threads, port;
    atomic_bool shutting_down;
    atomic_bool shutdown_done;
    gp_tag shutdown_tag;
    atomic_long calls;  /* call structs alive (requested ones included) */
    atomic_long active; /* accepted and not finished */
    pthread_mutex_t ch_lock;
    gp_channel *channels;
    ig_grpc_tls_source tls;      /* the listener's certificate, when `tls:` is set */
    pthread_mutex_t shadow_lock; /* guards the list of shadow calls in flight (cancelled at free) */
    struct gp_shadow *shadows;
};

/* A shadow copy of a unary ModelInfer: fire and forget, compared with the primary's answer at the end. */
typedef struct gp_shadow {
    gp_tag tag; /* first: the queue hands this pointer back */
    ig_gw_grpc *g;
    struct gp_shadow *prev, *next;
    ig_gw_config *cfg; /* a reference the shadow releases */
    const ig_gw_route *route;
    int pool_index;
    ig_gw_endpoint *ep;
    grpc_call *call;
    grpc_metadata *md; /* copies (slice references) of the metadata the primary sent */
    size_t n_md;
    grpc_byte_buffer *request, *primary, *reply;
    grpc_metadata_array up_md, up_trailing;
    grpc_status_code status;
    grpc_slice details;
} gp_shadow;

typedef struct gp_call {
    ig_gw_grpc *g;
    pthread_mutex_t lock; /* recursive: a failed batch start runs its handler inline */
    atomic_int refs;
    gp_tag t_requested, t_closed, t_first, t_local, t_up, t_reply;
    /* streams */
    gp_tag t_up_sent, t_up_half, t_down_recv, t_up_md, t_down_md, t_up_msg, t_down_sent, t_up_status,
        t_status;
    /* the accepted call */
    grpc_call *down;
    grpc_call_details details;
    grpc_metadata_array down_md;
    grpc_metadata *fwd; /* down_md minus what must not travel on */
    size_t n_fwd;
    grpc_byte_buffer *first;
    int cancelled;
    bool accepted;
    ig_gw_grpc_method m;
    /* routing */
    ig_gw_config *cfg;
    const ig_gw_route *route;
    ig_gw_pool *pool;
    int pool_index;
    ig_gw_endpoint *ep;
    const ig_gw_endpoint *prev_ep; /* compared only */
    bool holds_request, holds_retry, recorded;
    bool answered;           /* the current try's endpoint answered (a message, or a status of its own) */
    uint64_t try_start_ns;   /* the current try's start, for the pool's and the endpoint's latency */
    int tries, final_status; /* final_status: HTTP-like, for the route's stats */
    int grpc_status;         /* the status sent to the client, for the access log; -1 before */
    int shadow_pool;         /* -1, or the pool a copy of a successful ModelInfer goes to */
    uint64_t bytes_in, bytes_out;
    bool have_peer;
    struct sockaddr_storage peer;
    char peer_ip[64], principal[128], up_addr[64];
    uint64_t start_ns;
    gpr_timespec deadline;
    char model[256], version[64];
    /* upstream */
    grpc_call *up;
    grpc_metadata_array up_md, up_trailing;
    grpc_byte_buffer *up_msg, *down_msg;
    /* A send takes the slices of its byte buffer: each try sends a copy (slice references) of
     * `first`, which stays whole for the next try and the shadow copy. */
    grpc_byte_buffer *try_msg;
    grpc_status_code up_status;
    grpc_slice up_details, local_details;
    bool has_local_details;
    bool down_done, status_got, status_sent;
} gp_call;

static void call_unref(gp_call *c);

static void start(gp_call *c, grpc_call *call, const grpc_op *ops, size_t n, gp_tag *tag)
{
    atomic_fetch_add(&c->refs, 1);
    if (grpc_call_start_batch(call, ops, n, tag, NULL) != GRPC_CALL_OK) tag->fn(tag, false);
}

static __thread uint64_t rng_state;

static uint64_t next_rand(void)
{
    if (!rng_state) rng_state = ig_now_ns() ^ (uint64_t)(uintptr_t)&rng_state ^ 0x9E3779B97F4A7C15ULL;
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* The one batch of a unary call to an upstream: metadata and message out, half-close, and the
 * answer's metadata, message and status in. */
static void unary_ops(grpc_op ops[6], grpc_metadata *md, size_t n_md, grpc_byte_buffer *msg,
                      grpc_metadata_array *up_md, grpc_byte_buffer **reply, grpc_metadata_array *trailing,
                      grpc_status_code *status, grpc_slice *details)
{
    static const grpc_op_type types[6] = {GRPC_OP_SEND_INITIAL_METADATA,  GRPC_OP_SEND_MESSAGE,
                                          GRPC_OP_SEND_CLOSE_FROM_CLIENT, GRPC_OP_RECV_INITIAL_METADATA,
                                          GRPC_OP_RECV_MESSAGE,           GRPC_OP_RECV_STATUS_ON_CLIENT};
    memset(ops, 0, 6 * sizeof *ops);
    for (int i = 0; i < 6; i++) ops[i].op = types[i];
    ops[0].data.send_initial_metadata.count = n_md;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].data.send_message.send_message = msg;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = up_md;
    ops[4].data.recv_message.recv_message = reply;
    ops[5].data.recv_status_on_client.trailing_metadata = trailing;
    ops[5].data.recv_status_on_client.status = status;
    ops[5].data.recv_status_on_client.status_details = details;
}

/* ---- upstream channels: one per endpoint address and TLS settings, kept for the process's life ---- */

static grpc_channel_credentials *channel_credentials(const ig_gw_upstream_tls *tls)
{
    if (!tls) return grpc_insecure_credentials_create();
    grpc_ssl_pem_key_cert_pair pair = {ig_gw_upstream_tls_key(tls), ig_gw_upstream_tls_cert(tls)};
    /* No CA text: gRPC core's default roots (the system's, as for REST pools). */
    return grpc_ssl_credentials_create(ig_gw_upstream_tls_ca(tls), pair.cert_chain ? &pair : NULL, NULL,
                                       NULL);
}

static grpc_channel *channel_for(ig_gw_grpc *g, const char *addr, const ig_gw_upstream_tls *tls)
{
    uint64_t tls_key = ig_gw_upstream_tls_fingerprint(tls);
    pthread_mutex_lock(&g->ch_lock);
    gp_channel *e = g->channels;
    while (e && (e->tls_key != tls_key || strcmp(e->addr, addr))) e = e->next;
    if (!e && (e = calloc(1, sizeof *e)) && (e->addr = strdup(addr))) {
        /* Our own retries decide where a failed call goes; reconnects are quick so a replica that
         * comes back is used again soon after outlier ejection ends. */
        const char *name = tls ? ig_gw_upstream_tls_server_name(tls) : NULL;
        grpc_arg args[] = {
            {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = -1}},
            {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = -1}},
            {GRPC_ARG_INTEGER, GRPC_ARG_ENABLE_RETRIES, {.integer = 0}},
            {GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = 200}},
            {GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, {.integer = 200}},
            {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = 2000}},
            /* the name the upstream's certificate must carry, when it is not the address's host */
            {GRPC_ARG_STRING, GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, {.string = (char *)name}},
        };
        grpc_channel_args ca = {sizeof args / sizeof args[0] - (name ? 0 : 1), args};
        grpc_channel_credentials *creds = channel_credentials(tls);
        e->ch = creds ? grpc_channel_create(addr, creds, &ca) : NULL;
        grpc_channel_credentials_release(creds);
        e->tls_key = tls_key;
        e->next = g->channels;
        g->channels = e;
    } else if (e && !e->addr) {
        free(e);
        e = NULL;
    }
    pthread_mutex_unlock(&g->ch_lock);
    return e ? e->ch : NULL;
}

/* ---- call life ---- */

static const char *md_find(const grpc_metadata_array *a, const char *key, char *buf, size_t cap)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < a->count; i++) {
        const grpc_slice *k = &a->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) != kl || strncasecmp((const char *)GRPC_SLICE_START_PTR(*k), key, kl))
            continue;
        size_t vl = GRPC_SLICE_LENGTH(a->metadata[i].value);
        if (vl >= cap) return NULL;
        memcpy(buf, GRPC_SLICE_START_PTR(a->metadata[i].value), vl);
        buf[vl] = '\0';
        return buf;
    }
    return NULL;
}

static const char *route_header(void *ctx, const char *name, size_t *len)
{
    const grpc_metadata_array *a = ctx;
    size_t kl = strlen(name);
    for (size_t i = 0; i < a->count; i++) {
        const grpc_slice *k = &a->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == kl && !strncasecmp((const char *)GRPC_SLICE_START_PTR(*k), name, kl)) {
            if (len) *len = GRPC_SLICE_LENGTH(a->metadata[i].value);
            return (const char *)GRPC_SLICE_START_PTR(a->metadata[i].value);
        }
    }
    return NULL;
}

/* The outcome of a try, for outlier ejection and the canary (once per try that reached an endpoint). */
static void record_try(gp_call *c, grpc_status_code st)
{
    int http = st == GRPC_STATUS_UNAVAILABLE ? 0 : ig_gw_grpc_http_status(st);
    ig_gw_pool_record(c->pool, c->ep, http, (int64_t)ig_now_ns());
}

static void record_final(gp_call *c, grpc_status_code st)
{
    if (c->recorded || !c->route || !c->route->rollout) return;
    c->recorded = true;
    int http = ig_gw_grpc_http_status(st);
    uint64_t now = ig_now_ns();
    bool failed = st == GRPC_STATUS_UNAVAILABLE || http >= 500;
    ig_rollout_record(c->route->rollout, c->pool_index, failed,
                      failed ? -1 : (int64_t)(now - c->start_ns) / 1000, (int64_t)now);
}

static void up_reset(gp_call *c)
{
    if (c->up) grpc_call_unref(c->up);
    c->up = NULL;
    grpc_metadata_array_destroy(&c->up_md);
    grpc_metadata_array_destroy(&c->up_trailing);
    grpc_metadata_array_init(&c->up_md);
    grpc_metadata_array_init(&c->up_trailing);
    if (c->up_msg) grpc_byte_buffer_destroy(c->up_msg);
    c->up_msg = NULL;
    if (c->try_msg) grpc_byte_buffer_destroy(c->try_msg);
    c->try_msg = NULL;
    grpc_slice_unref(c->up_details);
    c->up_details = grpc_empty_slice();
}

/* As REST counts a response head: a status that only says the endpoint was not reached or not waited
 * for is no answer of its endpoint. */
static bool endpoint_answered(gp_call *c)
{
    return c->up_msg || (c->up_status != GRPC_STATUS_UNAVAILABLE && c->up_status != GRPC_STATUS_CANCELLED &&
                         c->up_status != GRPC_STATUS_DEADLINE_EXCEEDED);
}

static void release_endpoint(gp_call *c, uint64_t now)
{
    if (c->ep && c->answered) ig_gw_endpoint_observe_latency(c->ep, (double)(now - c->try_start_ns) / 1000.0);
    if (c->ep) ig_gw_endpoint_finish(c->ep);
    c->ep = NULL;
    if (c->holds_retry) ig_gw_pool_retry_done(c->pool);
    c->holds_retry = false;
}

static void log_call(gp_call *c)
{
    char rid[40], tp[64];
    const char *id = md_find(&c->down_md, "x-request-id", rid, sizeof rid);
    const char *trace = md_find(&c->down_md, "traceparent", tp, sizeof tp);
    char method[256];
    snprintf(method, sizeof method, "%.*s", (int)GRPC_SLICE_LENGTH(c->details.method),
             (const char *)GRPC_SLICE_START_PTR(c->details.method));
    ig_gw_access_entry e = {
        .protocol = "grpc",
        .request_id = id,
        .traceparent = trace,
        .client = c->peer_ip,
        .principal = c->principal,
        .method = method,
        .model = c->model,
        .version = c->version,
        .route = c->route && c->route->name ? c->route->name : "",
        .pool = c->pool ? ig_gw_pool_name(c->pool) : NULL,
        .upstream = c->up_addr,
        .status = -1,
        /* every end sets it; a call that ended otherwise is logged UNKNOWN */
        .grpc_status = c->grpc_status >= 0 ? c->grpc_status : GRPC_STATUS_UNKNOWN,
        .tries = (uint64_t)c->tries,
        .bytes_in = c->bytes_in,
        .bytes_out = c->bytes_out,
        .duration_us = (ig_now_ns() - c->start_ns) / 1000,
    };
    ig_gw_access_log_write(c->g->sh, &e);
}

static void call_free(gp_call *c)
{
    ig_gw_grpc *g = c->g;
    uint64_t now = ig_now_ns();
    if (c->accepted) log_call(c);
    /* Counted as REST counts a request (proxy_request.c): the route its whole call, the pool its last
     * try (earlier tries count as the pool's retries). */
    if (c->route && c->accepted)
        ig_gw_stats_response(c->route->stats, c->final_status, (double)(now - c->start_ns) / 1000.0);
    if (c->tries && c->accepted)
        ig_gw_stats_response(c->cfg->pool_stats[c->pool_index], c->final_status,
                             (double)(now - c->try_start_ns) / 1000.0);
    release_endpoint(c, now);
    if (c->holds_request) ig_gw_pool_release_request(c->pool);
    up_reset(c);
    grpc_metadata_array_destroy(&c->up_md);
    grpc_metadata_array_destroy(&c->up_trailing);
    if (c->down_msg) grpc_byte_buffer_destroy(c->down_msg);
    if (c->first) grpc_byte_buffer_destroy(c->first);
    if (c->has_local_details) grpc_slice_unref(c->local_details);
    free(c->fwd);
    grpc_metadata_array_destroy(&c->down_md);
    grpc_call_details_destroy(&c->details);
    if (c->down) grpc_call_unref(c->down);
    ig_gw_config_release(c->cfg);
    pthread_mutex_destroy(&c->lock);
    if (c->accepted) atomic_fetch_sub(&g->active, 1);
    free(c);
    atomic_fetch_sub(&g->calls, 1);
}

static void call_unref(gp_call *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1) call_free(c);
}

/* Completions that only end their batch. */
static void on_up_half(gp_tag *t, bool ok)
{
    (void)ok;
    call_unref(GP_OF(t, t_up_half));
}

static void on_down_md(gp_tag *t, bool ok)
{
    (void)ok;
    call_unref(GP_OF(t, t_down_md));
}

static void on_status(gp_tag *t, bool ok)
{
    (void)ok;
    call_unref(GP_OF(t, t_status));
}

/* Answers the client from the gateway itself (no upstream was reached, or none is usable). */
static void finish_local(gp_call *c, grpc_status_code code, const char *msg)
{
    c->final_status = ig_gw_grpc_http_status(code);
    c->grpc_status = (int)code;
    if (c->has_local_details) grpc_slice_unref(c->local_details);
    c->local_details = grpc_slice_from_copied_string(msg);
    c->has_local_details = true;
    grpc_op ops[2] = {{.op = GRPC_OP_SEND_INITIAL_METADATA}, {.op = GRPC_OP_SEND_STATUS_FROM_SERVER}};
    ops[1].data.send_status_from_server.status = code;
    ops[1].data.send_status_from_server.status_details = &c->local_details;
    start(c, c->down, ops, 2, &c->t_local);
}

static void on_local(gp_tag *t, bool ok)
{
    (void)ok;
    call_unref(GP_OF(t, t_local));
}

/* Metadata that travels upstream: everything the client sent except transport and gRPC-reserved keys. */
static bool build_forward(gp_call *c)
{
    c->fwd = calloc(c->down_md.count + 1, sizeof *c->fwd);
    if (!c->fwd) return false;
    for (size_t i = 0; i < c->down_md.count; i++) {
        const grpc_slice *k = &c->down_md.metadata[i].key;
        const char *ks = (const char *)GRPC_SLICE_START_PTR(*k);
        size_t kl = GRPC_SLICE_LENGTH(*k);
#define IS(lit) (kl == sizeof(lit) - 1 && !strncasecmp(ks, lit, kl))
        if (kl == 0 || ks[0] == ':' || (kl >= 5 && !strncasecmp(ks, "grpc-", 5)) || IS("te") ||
            IS("content-type") || IS("user-agent") || IS("host") || IS("connection"))
            continue;
#undef IS
        c->fwd[c->n_fwd++] = c->down_md.metadata[i];
    }
    return true;
}

/* ---- shadow copies of unary ModelInfer ---- */

static void shadow_free(gp_shadow *s)
{
    ig_gw_grpc *g = s->g;
    pthread_mutex_lock(&g->shadow_lock);
    if (s->prev)
        s->prev->next = s->next;
    else if (g->shadows == s)
        g->shadows = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&g->shadow_lock);
    if (s->ep) ig_gw_endpoint_finish(s->ep);
    if (s->call) grpc_call_unref(s->call);
    for (size_t i = 0; i < s->n_md; i++) {
        grpc_slice_unref(s->md[i].key);
        grpc_slice_unref(s->md[i].value);
    }
    free(s->md);
    if (s->request) grpc_byte_buffer_destroy(s->request);
    if (s->primary) grpc_byte_buffer_destroy(s->primary);
    if (s->reply) grpc_byte_buffer_destroy(s->reply);
    grpc_metadata_array_destroy(&s->up_md);
    grpc_metadata_array_destroy(&s->up_trailing);
    grpc_slice_unref(s->details);
    ig_gw_config_release(s->cfg);
    free(s);
    atomic_fetch_sub(&g->calls, 1);
}

/* result: 0 same, 1 differ, negative not comparable; counted as the REST shadow counts (mirror.c). */
static void shadow_finish(gp_shadow *s, int result)
{
    ig_gw_route_stats *st = s->route->stats;
    atomic_fetch_add_explicit(result == 0   ? &st->shadow_same
                              : result == 1 ? &st->shadow_differ
                                            : &st->shadow_error,
                              1, memory_order_relaxed);
    if (s->route->rollout)
        ig_rollout_record_shadow(s->route->rollout, s->pool_index, result, (int64_t)ig_now_ns());
    shadow_free(s);
}

static grpc_slice read_all(grpc_byte_buffer *b)
{
    grpc_byte_buffer_reader r;
    if (!b || !grpc_byte_buffer_reader_init(&r, b)) return grpc_empty_slice();
    grpc_slice out = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return out;
}

static void on_shadow_done(gp_tag *t, bool ok)
{
    gp_shadow *s = (gp_shadow *)(void *)t;
    if (!ok) s->status = GRPC_STATUS_UNAVAILABLE;
    if (s->ep) {
        ig_gw_pool_record(s->cfg->pools[s->pool_index], s->ep,
                          s->status == GRPC_STATUS_UNAVAILABLE ? 0 : ig_gw_grpc_http_status(s->status),
                          (int64_t)ig_now_ns());
    }
    int result = -1;
    if (s->status == GRPC_STATUS_OK && s->reply && grpc_byte_buffer_length(s->reply) <= SHADOW_MAX_MESSAGE) {
        double atol = 1e-5, rtol = 1e-4;
        if (s->route->rollout) ig_rollout_shadow_tolerance(s->route->rollout, &atol, &rtol);
        grpc_slice a = read_all(s->primary), b = read_all(s->reply);
        result = ig_shadow_compare_pb(GRPC_SLICE_START_PTR(a), GRPC_SLICE_LENGTH(a), GRPC_SLICE_START_PTR(b),
                                      GRPC_SLICE_LENGTH(b), atol, rtol);
        grpc_slice_unref(a);
        grpc_slice_unref(b);
    }
    shadow_finish(s, result);
}

/* Copies the call's request to its shadow pool; the primary answered OK with `primary` (taken over,
 * also on failure). Whatever fails here is counted as a shadow error; nothing reaches the client. */
static void shadow_start(gp_call *c, grpc_byte_buffer *primary)
{
    ig_gw_grpc *g = c->g;
    gp_shadow *s = atomic_load(&g->shutting_down) ? NULL : calloc(1, sizeof *s);
    if (!s) {
        grpc_byte_buffer_destroy(primary);
        return;
    }
    atomic_fetch_add(&g->calls, 1);
    s->tag.fn = on_shadow_done;
    s->g = g;
    s->cfg = ig_gw_config_ref(c->cfg);
    s->route = c->route;
    s->pool_index = c->shadow_pool;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->up_md);
    grpc_metadata_array_init(&s->up_trailing);
    s->primary = primary;
    ig_gw_pool *pool = s->cfg->pools[s->pool_index];
    /* Config load refuses a REST shadow pool on a gRPC route; should one come, it is an error. */
    if (ig_gw_pool_protocol(pool) != IG_GW_PROTO_GRPC) return shadow_finish(s, -1);
    s->request = grpc_byte_buffer_copy(c->first);
    s->md = calloc(c->n_fwd + 1, sizeof *s->md);
    if (!s->request || !s->md) return shadow_finish(s, -1);
    for (; s->n_md < c->n_fwd; s->n_md++) {
        s->md[s->n_md].key = grpc_slice_ref(c->fwd[s->n_md].key);
        s->md[s->n_md].value = grpc_slice_ref(c->fwd[s->n_md].value);
    }
    uint64_t rnd = next_rand();
    s->ep = ig_gw_pool_pick(pool, rnd, rnd, NULL, (int64_t)ig_now_ns());
    grpc_channel *ch = s->ep ? channel_for(g, ig_gw_endpoint_address(s->ep), ig_gw_pool_tls(pool)) : NULL;
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(c->route->timeout_ms, GPR_TIMESPAN));
    /* No parent: the copy outlives the client's call, which may end before it. */
    if (ch)
        s->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq, c->details.method, NULL,
                                           deadline, NULL);
    if (!s->call) return shadow_finish(s, -1);
    /* Listed before its batch starts, unless shutdown began: ig_gw_grpc_free cancels what is listed. */
    pthread_mutex_lock(&g->shadow_lock);
    bool stopping = atomic_load(&g->shutting_down);
    if (!stopping) {
        s->next = g->shadows;
        if (g->shadows) g->shadows->prev = s;
        g->shadows = s;
    }
    pthread_mutex_unlock(&g->shadow_lock);
    if (stopping) return shadow_finish(s, -1);
    grpc_op ops[6];
    unary_ops(ops, s->md, s->n_md, s->request, &s->up_md, &s->reply, &s->up_trailing, &s->status,
              &s->details);
    if (grpc_call_start_batch(s->call, ops, 6, &s->tag, NULL) != GRPC_CALL_OK) on_shadow_done(&s->tag, false);
}

/* ---- unary calls ---- */

static void try_unary(gp_call *c);

static bool pick(gp_call *c)
{
    uint64_t hash;
    size_t hl;
    const char *hk = route_header(&c->down_md, "x-infergate-hash-key", &hl);
    hash = hk ? XXH3_64bits(hk, hl) : XXH3_64bits(c->model, strlen(c->model));
    c->tries++;
    c->try_start_ns = ig_now_ns();
    c->answered = false;
    ig_gw_stats_try(c->cfg->pool_stats[c->pool_index], c->tries);
    c->ep = ig_gw_pool_pick(c->pool, hash, next_rand(), c->prev_ep, (int64_t)c->try_start_ns);
    if (!c->ep) return false;
    snprintf(c->up_addr, sizeof c->up_addr, "%s", ig_gw_endpoint_address(c->ep));
    grpc_channel *ch = channel_for(c->g, ig_gw_endpoint_address(c->ep), ig_gw_pool_tls(c->pool));
    if (!ch) return false;
    c->up = grpc_channel_create_call(ch, c->down, GRPC_PROPAGATE_DEFAULTS, c->g->cq, c->details.method, NULL,
                                     c->deadline, NULL);
    return c->up != NULL;
}

static void send_reply(gp_call *c)
{
    grpc_op ops[3];
    size_t n = 0;
    ops[n] = (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA};
    ops[n].data.send_initial_metadata.count = c->up_md.count;
    ops[n++].data.send_initial_metadata.metadata = c->up_md.metadata;
    if (c->up_msg) {
        ops[n] = (grpc_op){.op = GRPC_OP_SEND_MESSAGE};
        ops[n++].data.send_message.send_message = c->up_msg;
    }
    ops[n] = (grpc_op){.op = GRPC_OP_SEND_STATUS_FROM_SERVER};
    ops[n].data.send_status_from_server.trailing_metadata_count = c->up_trailing.count;
    ops[n].data.send_status_from_server.trailing_metadata = c->up_trailing.metadata;
    ops[n].data.send_status_from_server.status = c->up_status;
    ops[n++].data.send_status_from_server.status_details = &c->up_details;
    c->final_status = ig_gw_grpc_http_status(c->up_status);
    c->grpc_status = (int)c->up_status;
    if (c->up_msg) c->bytes_out = grpc_byte_buffer_length(c->up_msg);
    start(c, c->down, ops, n, &c->t_reply);
}

static void on_reply(gp_tag *t, bool ok)
{
    (void)ok;
    call_unref(GP_OF(t, t_reply));
}

static void on_up_done(gp_tag *t, bool ok)
{
    gp_call *c = GP_OF(t, t_up);
    pthread_mutex_lock(&c->lock);
    if (!ok) c->up_status = GRPC_STATUS_UNAVAILABLE;
    record_try(c, c->up_status);
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    bool again = c->up_status == GRPC_STATUS_UNAVAILABLE && !c->up_msg && !c->cancelled &&
                 c->tries <= c->route->retries &&
                 gpr_time_cmp(now, gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC)) < 0 &&
                 ig_gw_pool_may_retry(c->pool);
    if (again) {
        if (c->holds_retry) ig_gw_pool_retry_done(c->pool);
        c->holds_retry = true;
        atomic_fetch_add_explicit(&c->route->stats->retries, 1, memory_order_relaxed);
        c->prev_ep = c->ep;
        ig_gw_endpoint_finish(c->ep);
        c->ep = NULL;
        up_reset(c);
        try_unary(c);
    } else {
        c->answered = endpoint_answered(c);
        record_final(c, c->up_status);
        /* The answer is copied before the reply takes its slices; the shadow call starts after the
         * reply batch, so the client never waits for it. */
        grpc_byte_buffer *primary = NULL;
        if (c->shadow_pool >= 0 && c->m.shadowable && c->up_status == GRPC_STATUS_OK && c->up_msg &&
            grpc_byte_buffer_length(c->up_msg) <= SHADOW_MAX_MESSAGE)
            primary = grpc_byte_buffer_copy(c->up_msg);
        send_reply(c);
        if (primary) shadow_start(c, primary);
    }
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

/* Picks an endpoint and its channel; when there is none, the call is finished UNAVAILABLE. */
static bool pick_or_finish(gp_call *c)
{
    if (pick(c)) return true;
    if (c->ep) record_try(c, GRPC_STATUS_UNAVAILABLE);
    record_final(c, GRPC_STATUS_UNAVAILABLE);
    finish_local(c, GRPC_STATUS_UNAVAILABLE,
                 c->ep ? "cannot open a channel to the upstream" : "no upstream endpoint is available");
    return false;
}

static void try_unary(gp_call *c)
{
    if (c->try_msg) grpc_byte_buffer_destroy(c->try_msg);
    if (!(c->try_msg = grpc_byte_buffer_copy(c->first))) {
        record_final(c, GRPC_STATUS_RESOURCE_EXHAUSTED);
        finish_local(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (!pick_or_finish(c)) return;
    grpc_op ops[6];
    unary_ops(ops, c->fwd, c->n_fwd, c->try_msg, &c->up_md, &c->up_msg, &c->up_trailing, &c->up_status,
              &c->up_details);
    start(c, c->up, ops, 6, &c->t_up);
}

/* ---- streams: client -> upstream ---- */

static void read_down(gp_call *c)
{
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    op.data.recv_message.recv_message = &c->down_msg;
    start(c, c->down, &op, 1, &c->t_down_recv);
}

static void on_up_sent(gp_tag *t, bool ok)
{
    gp_call *c = GP_OF(t, t_up_sent);
    pthread_mutex_lock(&c->lock);
    if (c->down_msg) grpc_byte_buffer_destroy(c->down_msg);
    c->down_msg = NULL;
    if (ok) read_down(c); /* else the upstream call is over; its status comes on t_up_status */
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

static void on_down_recv(gp_tag *t, bool ok)
{
    gp_call *c = GP_OF(t, t_down_recv);
    pthread_mutex_lock(&c->lock);
    if (ok && c->down_msg) {
        c->bytes_in += grpc_byte_buffer_length(c->down_msg);
        grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
        op.data.send_message.send_message = c->down_msg;
        start(c, c->up, &op, 1, &c->t_up_sent);
    } else {
        grpc_op op = {.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT};
        start(c, c->up, &op, 1, &c->t_up_half);
    }
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

/* ---- streams: upstream -> client ---- */

static void maybe_send_status(gp_call *c)
{
    if (c->status_sent || !c->status_got || !c->down_done) return;
    c->status_sent = true;
    c->answered |= endpoint_answered(c);
    record_try(c, c->up_status);
    record_final(c, c->up_status);
    c->final_status = ig_gw_grpc_http_status(c->up_status);
    c->grpc_status = (int)c->up_status;
    grpc_op op = {.op = GRPC_OP_SEND_STATUS_FROM_SERVER};
    op.data.send_status_from_server.trailing_metadata_count = c->up_trailing.count;
    op.data.send_status_from_server.trailing_metadata = c->up_trailing.metadata;
    op.data.send_status_from_server.status = c->up_status;
    op.data.send_status_from_server.status_details = &c->up_details;
    start(c, c->down, &op, 1, &c->t_status);
}

static void read_up(gp_call *c)
{
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    op.data.recv_message.recv_message = &c->up_msg;
    start(c, c->up, &op, 1, &c->t_up_msg);
}

static void on_up_md(gp_tag *t, bool ok)
{
    (void)ok;
    gp_call *c = GP_OF(t, t_up_md);
    pthread_mutex_lock(&c->lock);
    grpc_op op = {.op = GRPC_OP_SEND_INITIAL_METADATA};
    op.data.send_initial_metadata.count = c->up_md.count;
    op.data.send_initial_metadata.metadata = c->up_md.metadata;
    start(c, c->down, &op, 1, &c->t_down_md);
    read_up(c); /* started after the initial metadata, so messages follow it */
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

static void on_down_sent(gp_tag *t, bool ok)
{
    gp_call *c = GP_OF(t, t_down_sent);
    pthread_mutex_lock(&c->lock);
    if (c->up_msg) grpc_byte_buffer_destroy(c->up_msg);
    c->up_msg = NULL;
    if (!ok) grpc_call_cancel(c->up, NULL); /* the client is gone */
    read_up(c);
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

static void on_up_msg(gp_tag *t, bool ok)
{
    gp_call *c = GP_OF(t, t_up_msg);
    pthread_mutex_lock(&c->lock);
    if (ok && c->up_msg) {
        c->answered = true;
        c->bytes_out += grpc_byte_buffer_length(c->up_msg);
        grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
        op.data.send_message.send_message = c->up_msg;
        start(c, c->down, &op, 1, &c->t_down_sent);
    } else {
        c->down_done = true;
        maybe_send_status(c);
    }
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

static void on_up_status(gp_tag *t, bool ok)
{
    gp_call *c = GP_OF(t, t_up_status);
    pthread_mutex_lock(&c->lock);
    if (!ok) c->up_status = GRPC_STATUS_UNAVAILABLE;
    c->status_got = true;
    maybe_send_status(c);
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

static void start_stream(gp_call *c)
{
    if (!pick_or_finish(c)) return;
    pthread_mutex_lock(&c->lock);
    grpc_op st = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    st.data.recv_status_on_client.trailing_metadata = &c->up_trailing;
    st.data.recv_status_on_client.status = &c->up_status;
    st.data.recv_status_on_client.status_details = &c->up_details;
    start(c, c->up, &st, 1, &c->t_up_status);
    grpc_op md = {.op = GRPC_OP_RECV_INITIAL_METADATA};
    md.data.recv_initial_metadata.recv_initial_metadata = &c->up_md;
    start(c, c->up, &md, 1, &c->t_up_md);
    grpc_op ops[2] = {{.op = GRPC_OP_SEND_INITIAL_METADATA}};
    ops[0].data.send_initial_metadata.count = c->n_fwd;
    ops[0].data.send_initial_metadata.metadata = c->fwd;
    if (c->first) {
        /* the first message is sent and the client's next one read, as for every later message */
        c->down_msg = c->first;
        c->first = NULL;
        ops[1] = (grpc_op){.op = GRPC_OP_SEND_MESSAGE};
        ops[1].data.send_message.send_message = c->down_msg;
        start(c, c->up, ops, 2, &c->t_up_sent);
    } else {
        ops[1] = (grpc_op){.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT};
        start(c, c->up, ops, 2, &c->t_up_half);
    }
    pthread_mutex_unlock(&c->lock);
}

/* ---- routing ---- */

/* Route, auth, limits, rollout and pool for the call; false when it was answered here. */
static bool route_call(gp_call *c)
{
    ig_gw_grpc *g = c->g;
    const char *path = (const char *)GRPC_SLICE_START_PTR(c->details.method);
    size_t path_len = GRPC_SLICE_LENGTH(c->details.method);
    if (c->m.model_field && c->first) {
        grpc_byte_buffer_reader r;
        bool good = false;
        if (grpc_byte_buffer_reader_init(&r, c->first)) {
            grpc_slice s = grpc_byte_buffer_reader_readall(&r);
            grpc_byte_buffer_reader_destroy(&r);
            good = ig_gw_grpc_read_model(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), c->m.model_field,
                                         c->m.version_field, c->model, sizeof c->model, c->version,
                                         sizeof c->version);
            grpc_slice_unref(s);
        }
        if (!good) {
            finish_local(c, GRPC_STATUS_INVALID_ARGUMENT, "unreadable request message");
            return false;
        }
    }
    char pathz[256];
    snprintf(pathz, sizeof pathz, "%.*s", (int)path_len, path);
    ig_gw_route_input in = {.path = path,
                            .path_len = path_len,
                            .model = c->model[0] ? c->model : NULL,
                            .version = c->version[0] ? c->version : NULL,
                            .header = route_header,
                            .ctx = &c->down_md};
    c->route = ig_gw_route_match(c->cfg->routes, c->cfg->n_routes, &in);
    if (!c->route) {
        finish_local(c, GRPC_STATUS_UNIMPLEMENTED, "no route matches this call");
        return false;
    }
    atomic_fetch_add_explicit(&c->route->stats->requests, 1, memory_order_relaxed);

    char *principal = c->principal; /* the peer address unless a credential names someone */
    snprintf(principal, sizeof c->principal, "%s", c->peer_ip);
    if (c->cfg->auth) {
        char authz[8448], key[512], why[160];
        ig_grpc_cert cert; /* verified at the handshake when the listener asks for client certificates */
        ig_grpc_cert_read(c->down, &cert);
        ig_auth_request ar = {.authorization = md_find(&c->down_md, "authorization", authz, sizeof authz),
                              .api_key = md_find(&c->down_md, "x-api-key", key, sizeof key),
                              .peer = c->have_peer ? (const struct sockaddr *)&c->peer : NULL,
                              .cert_subject = cert.subject,
                              .cert_sans = (const char *const *)cert.sans,
                              .n_cert_sans = cert.n_sans,
                              .now_s = (int64_t)(ig_wall_ms() / 1000)};
        ig_auth_identity id;
        ig_auth_result r =
            ig_auth_check(c->cfg->auth, &ar, c->model[0] ? c->model : NULL, false, &id, why, sizeof why);
        ig_grpc_cert_free(&cert);
        if (r != IG_AUTH_ALLOW) {
            finish_local(
                c, r == IG_AUTH_UNAUTHENTICATED ? GRPC_STATUS_UNAUTHENTICATED : GRPC_STATUS_PERMISSION_DENIED,
                why);
            return false;
        }
        if (strcmp(id.method, "none")) snprintf(principal, sizeof c->principal, "%s", id.principal);
    }
    ig_rl_request lr = {.key = principal, .model = c->model[0] ? c->model : NULL};
    ig_rl_decision d;
    ig_ratelimit_check(c->cfg->rate_limit, &lr, (int64_t)ig_now_ns(), &d);
    if (!d.allowed) {
        finish_local(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "rate limit exceeded");
        return false;
    }
    c->pool_index = (int)c->route->pool;
    if (c->route->rollout) {
        ig_rollout *ro = c->route->rollout;
        const char *ph = ig_rollout_pin_header(ro), *sh = ig_rollout_sticky_header(ro);
        char pin[128], sticky[256];
        ig_rollout_pick pk;
        ig_rollout_choose(ro, ph ? md_find(&c->down_md, ph, pin, sizeof pin) : NULL, NULL,
                          sh ? md_find(&c->down_md, sh, sticky, sizeof sticky) : NULL, next_rand(), &pk);
        if (pk.pool >= 0) c->pool_index = pk.pool;
        c->shadow_pool = pk.shadow_pool;
    }
    c->pool = c->cfg->pools[c->pool_index];
    if (ig_gw_pool_protocol(c->pool) != IG_GW_PROTO_GRPC) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "route '%s' sends this call to pool '%s', which speaks REST (protocol: http); gRPC calls "
                 "need a pool with protocol: grpc",
                 c->route->name ? c->route->name : "", ig_gw_pool_name(c->pool));
        c->pool = NULL;
        finish_local(c, GRPC_STATUS_UNIMPLEMENTED, msg);
        return false;
    }
    if (!ig_gw_pool_acquire_request(c->pool)) {
        finish_local(c, GRPC_STATUS_UNAVAILABLE, "upstream pool is at its request limit");
        return false;
    }
    c->holds_request = true;
    (void)g;
    return true;
}

static void on_first(gp_tag *t, bool ok)
{
    gp_call *c = GP_OF(t, t_first);
    if (ok && c->first) c->bytes_in = grpc_byte_buffer_length(c->first);
    if (!ok) {
        finish_local(c, GRPC_STATUS_CANCELLED, "request message not received");
    } else if (!c->m.streaming && !c->first) {
        finish_local(c, GRPC_STATUS_INVALID_ARGUMENT, "missing request message");
    } else if (!build_forward(c)) {
        finish_local(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    } else if (route_call(c)) {
        if (c->m.streaming) {
            c->deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC); /* the client's deadline still applies */
            start_stream(c);
        } else {
            c->deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                       gpr_time_from_millis(c->route->timeout_ms, GPR_TIMESPAN));
            try_unary(c);
        }
    }
    call_unref(c);
}

static void on_closed(gp_tag *t, bool ok)
{
    (void)ok;
    gp_call *c = GP_OF(t, t_closed);
    pthread_mutex_lock(&c->lock);
    /* A cancelled client call cancels the upstream one through propagation; this only stops retries. */
    if (c->cancelled && c->up) grpc_call_cancel(c->up, NULL);
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

static void request_call(ig_gw_grpc *g);

static void on_requested(gp_tag *t, bool ok)
{
    gp_call *c = GP_OF(t, t_requested);
    ig_gw_grpc *g = c->g;
    if (!ok) { /* the server is shutting down */
        call_unref(c);
        return;
    }
    request_call(g);
    c->accepted = true;
    atomic_fetch_add(&g->active, 1);
    c->start_ns = ig_now_ns();
    pthread_mutex_lock(&g->sh->lock);
    c->cfg = ig_gw_config_ref(g->sh->config);
    pthread_mutex_unlock(&g->sh->lock);
    c->m = ig_gw_grpc_method_info((const char *)GRPC_SLICE_START_PTR(c->details.method),
                                  GRPC_SLICE_LENGTH(c->details.method));
    char *peer_s = grpc_call_get_peer(c->down);
    c->have_peer = ig_gw_grpc_parse_peer(peer_s, &c->peer, c->peer_ip, sizeof c->peer_ip);
    gpr_free(peer_s);
    grpc_op close = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    close.data.recv_close_on_server.cancelled = &c->cancelled;
    start(c, c->down, &close, 1, &c->t_closed);
    grpc_op rd = {.op = GRPC_OP_RECV_MESSAGE};
    rd.data.recv_message.recv_message = &c->first;
    start(c, c->down, &rd, 1, &c->t_first);
    call_unref(c);
}

static void request_call(ig_gw_grpc *g)
{
    if (atomic_load(&g->shutting_down)) return;
    gp_call *c = calloc(1, sizeof *c);
    if (!c) return;
    c->g = g;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&c->lock, &a);
    pthread_mutexattr_destroy(&a);
    atomic_init(&c->refs, 1);
    c->t_requested.fn = on_requested;
    c->t_closed.fn = on_closed;
    c->t_first.fn = on_first;
    c->t_local.fn = on_local;
    c->t_up.fn = on_up_done;
    c->t_reply.fn = on_reply;
    c->t_up_sent.fn = on_up_sent;
    c->t_down_recv.fn = on_down_recv;
    c->t_up_md.fn = on_up_md;
    c->t_up_msg.fn = on_up_msg;
    c->t_down_sent.fn = on_down_sent;
    c->t_up_status.fn = on_up_status;
    c->t_up_half.fn = on_up_half;
    c->t_down_md.fn = on_down_md;
    c->t_status.fn = on_status;
    c->up_details = grpc_empty_slice();
    c->prev_ep = NULL;
    c->grpc_status = -1;
    c->shadow_pool = -1;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->down_md);
    grpc_metadata_array_init(&c->up_md);
    grpc_metadata_array_init(&c->up_trailing);
    atomic_fetch_add(&g->calls, 1);
    if (grpc_server_request_call(g->server, &c->down, &c->details, &c->down_md, g->cq, g->cq,
                                 &c->t_requested) != GRPC_CALL_OK)
        call_unref(c);
}

static void *poll_loop(void *arg)
{
    ig_gw_grpc *g = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type == GRPC_OP_COMPLETE) ((gp_tag *)ev.tag)->fn(ev.tag, ev.success);
    }
    return NULL;
}

static void on_shutdown(gp_tag *t, bool ok)
{
    (void)ok;
    ig_gw_grpc *g = (ig_gw_grpc *)(void *)((char *)t - offsetof(ig_gw_grpc, shutdown_tag));
    atomic_store(&g->shutdown_done, true);
}

/* The current snapshot's `tls:` as gRPC core's certificate source: a reload that changes the files
 * reaches the next handshake. */
static unsigned long front_tls_generation(void *arg)
{
    ig_gw_shared *sh = arg;
    pthread_mutex_lock(&sh->lock);
    uint64_t fp = ig_gw_tls_fingerprint(sh->config->tls);
    pthread_mutex_unlock(&sh->lock);
    return fp ? (unsigned long)fp : 1;
}

static unsigned long front_tls_get(void *arg, ig_tls_pem *out)
{
    ig_gw_shared *sh = arg;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&sh->lock);
    const ig_gw_tls *t = sh->config->tls;
    bool ok = t && ig_tls_pem_copy(ig_gw_tls_pem(t), out);
    uint64_t fp = ig_gw_tls_fingerprint(t);
    pthread_mutex_unlock(&sh->lock);
    return ok ? (unsigned long)fp : 0;
}

ig_gw_grpc *ig_gw_grpc_start(ig_gw_shared *sh, const char *listen, int64_t max_message_bytes, ig_error *err)
{
    ig_gw_grpc *g = calloc(1, sizeof *g);
    if (!g) {
        ig_error_set(err, IG_ENOMEM, "out of memory");
        return NULL;
    }
    g->sh = sh;
    g->shutdown_tag.fn = on_shutdown;
    pthread_mutex_init(&g->ch_lock, NULL);
    pthread_mutex_init(&g->shadow_lock, NULL);
    grpc_init();
    if (max_message_bytes <= 0) max_message_bytes = INT32_MAX;
    g->server = ig_grpc_core_server((size_t)max_message_bytes, &g->cq);
    /* The listener's `tls:` serves gRPC too; whether there is one cannot change without a restart. */
    pthread_mutex_lock(&sh->lock);
    const ig_gw_tls *tls = sh->config->tls;
    bool client_certs = ig_gw_tls_requires_client_cert(tls);
    pthread_mutex_unlock(&sh->lock);
    g->tls = (ig_grpc_tls_source){.generation = front_tls_generation, .get = front_tls_get, .arg = sh};
    grpc_server_credentials *creds =
        tls ? ig_grpc_core_tls_credentials(&g->tls, client_certs) : grpc_insecure_server_credentials_create();
    g->port = creds ? grpc_server_add_http2_port(g->server, listen, creds) : 0;
    if (creds) grpc_server_credentials_release(creds);
    if (g->port <= 0) {
        ig_error_set(err, IG_EIO, "gRPC: cannot listen on %s", listen);
        ig_grpc_core_server_discard(g->server, g->cq);
        grpc_shutdown();
        pthread_mutex_destroy(&g->ch_lock);
        pthread_mutex_destroy(&g->shadow_lock);
        free(g);
        return NULL;
    }
    grpc_server_start(g->server);
    for (int i = 0; i < N_REQUESTED; i++) request_call(g);
    for (int i = 0; i < N_THREADS; i++)
        if (!pthread_create(&g->threads[g->n_threads], NULL, poll_loop, g)) g->n_threads++;
    if (!g->n_threads) {
        ig_gw_grpc_free(g);
        ig_error_set(err, IG_ENOMEM, "gRPC: cannot start threads");
        return NULL;
    }
    return g;
}

int ig_gw_grpc_port(const ig_gw_grpc *g)
{
    return g->port;
}

void ig_gw_grpc_drain(ig_gw_grpc *g)
{
    if (!g || atomic_exchange(&g->shutting_down, true)) return;
    grpc_server_shutdown_and_notify(g->server, g->cq, &g->shutdown_tag);
}

int64_t ig_gw_grpc_in_flight(const ig_gw_grpc *g)
{
    return g ? atomic_load(&((ig_gw_grpc *)g)->active) : 0;
}

void ig_gw_grpc_free(ig_gw_grpc *g)
{
    if (!g) return;
    ig_gw_grpc_drain(g);
    grpc_server_cancel_all_calls(g->server);
    /* Shadow copies are client calls of ours: nothing waits for their answers any more. */
    pthread_mutex_lock(&g->shadow_lock);
    for (gp_shadow *s = g->shadows; s; s = s->next)
        if (s->call) grpc_call_cancel(s->call, NULL);
    pthread_mutex_unlock(&g->shadow_lock);
    /* Calls end once their last batches complete on the polling threads; bounded wait. */
    for (int waited = 0;
         g->n_threads && waited < 10000 && (!atomic_load(&g->shutdown_done) || atomic_load(&g->calls) > 0);
         waited += 5)
        usleep(5000);
    grpc_completion_queue_shutdown(g->cq);
    for (int i = 0; i < g->n_threads; i++) pthread_join(g->threads[i], NULL);
    if (!g->n_threads)
        while (grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
    for (gp_channel *e = g->channels, *next; e; e = next) {
        next = e->next;
        grpc_channel_destroy(e->ch);
        free(e->addr);
        free(e);
    }
    grpc_server_destroy(g->server);
    grpc_completion_queue_destroy(g->cq);
    grpc_shutdown();
    pthread_mutex_destroy(&g->ch_lock);
    pthread_mutex_destroy(&g->shadow_lock);
    free(g);
}
