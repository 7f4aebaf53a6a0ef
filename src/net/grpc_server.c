/* gRPC server lifecycle on gRPC core's C API: binding, method registration, completion-queue threads,
 * keeping requests for calls posted, and the unary call's life (close watch, one reply batch). */
#include "net/grpc_server.h"

#include <grpc/grpc_security.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "net/grpc_core.h"
#include "net/grpc_int.h"

static const char *const method_paths[IG__GRPC_N_METHODS] = {
    [IG__GRPC_SERVER_LIVE] = "/inference.GRPCInferenceService/ServerLive",
    [IG__GRPC_SERVER_READY] = "/inference.GRPCInferenceService/ServerReady",
    [IG__GRPC_MODEL_READY] = "/inference.GRPCInferenceService/ModelReady",
    [IG__GRPC_SERVER_METADATA] = "/inference.GRPCInferenceService/ServerMetadata",
    [IG__GRPC_MODEL_METADATA] = "/inference.GRPCInferenceService/ModelMetadata",
    [IG__GRPC_MODEL_INFER] = "/inference.GRPCInferenceService/ModelInfer",
    [IG__GRPC_MODEL_CONFIG] = "/inference.GRPCInferenceService/ModelConfig",
    [IG__GRPC_MODEL_STATISTICS] = "/inference.GRPCInferenceService/ModelStatistics",
    [IG__GRPC_REPOSITORY_INDEX] = "/inference.GRPCInferenceService/RepositoryIndex",
    [IG__GRPC_REPOSITORY_LOAD] = "/inference.GRPCInferenceService/RepositoryModelLoad",
    [IG__GRPC_REPOSITORY_UNLOAD] = "/inference.GRPCInferenceService/RepositoryModelUnload",
    [IG__GRPC_HEALTH_CHECK] = "/grpc.health.v1.Health/Check",
    [IG__GRPC_STREAM_INFER] = "/inference.GRPCInferenceService/ModelStreamInfer",
};

/* Requests kept posted per method: a call arriving with none posted waits in gRPC core's queue until
 * one is, so this sets how many calls are matched without that extra hop, not a limit. */
static int posted_per_method(int m)
{
    return m == IG__GRPC_MODEL_INFER ? 32 : m == IG__GRPC_STREAM_INFER ? 8 : 2;
}

grpc_byte_buffer *ig__grpc_pack(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(n ? n : 1);
    if (!p) return NULL;
    protobuf_c_message_pack(m, p);
    grpc_slice s = grpc_slice_new(p, n, free);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

bool ig__grpc_read(grpc_byte_buffer *bb, grpc_slice *out)
{
    grpc_byte_buffer_reader r;
    if (!bb || !grpc_byte_buffer_reader_init(&r, bb)) return false;
    *out = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return true;
}

bool ig__grpc_enter(ig_grpc_server *g)
{
    atomic_fetch_add(&g->active, 1);
    if (!atomic_load(&g->stopped)) return true;
    atomic_fetch_sub(&g->active, 1);
    return false;
}

void ig__grpc_leave(ig_grpc_server *g)
{
    atomic_fetch_sub(&g->active, 1);
}

/* ---- unary calls ---- */

static void call_free(ig__grpc_call *c)
{
    ig_grpc_server *g = c->g;
    grpc_metadata_array_destroy(&c->md);
    if (c->method == IG__GRPC_GENERIC) grpc_call_details_destroy(&c->details);
    if (c->payload) grpc_byte_buffer_destroy(c->payload);
    if (c->reply) grpc_byte_buffer_destroy(c->reply);
    if (c->has_details) grpc_slice_unref(c->status_details);
    if (c->call) grpc_call_unref(c->call);
    ig_arena_free(c->arena);
    free(c);
    atomic_fetch_sub(&g->calls, 1);
}

static void call_unref(ig__grpc_call *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1) call_free(c);
}

static void on_closed(ig__grpc_tag *t, bool ok)
{
    ig__grpc_call *c = IG__CONTAINER(t, ig__grpc_call, closed);
    ig_infer_request *req = atomic_load(&c->req);
    /* The client went away: a request not yet executing is dropped by the scheduler. */
    if (c->cancelled && req) atomic_store(&req->cancelled, true);
    (void)ok;
    call_unref(c);
}

static void on_sent(ig__grpc_tag *t, bool ok)
{
    (void)ok;
    call_unref(IG__CONTAINER(t, ig__grpc_call, sent));
}

void ig__grpc_finish(ig__grpc_call *c, int code, const char *msg, const ProtobufCMessage *reply)
{
    if (code == GRPC_STATUS_OK && reply && !(c->reply = ig__grpc_pack(reply))) {
        code = GRPC_STATUS_INTERNAL;
        msg = "out of memory";
    }
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->reply) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->reply;
    }
    if (code || msg) {
        c->status_details = grpc_slice_from_copied_string(msg ? msg : "");
        c->has_details = true;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)code;
    ops[n++].data.send_status_from_server.status_details = code ? &c->status_details : NULL;
    int open = IG__CLOSE_OPEN;
    if (atomic_compare_exchange_strong(&c->close_state, &open, IG__CLOSE_IN_REPLY)) {
        /* Answered before the close watch was posted: one batch, one completion; the close watch's
         * reference goes with it. */
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
        atomic_fetch_sub(&c->refs, 1);
        /* The reply is packed and no close watch can look at the request: its memory goes now,
         * on the thread that took it, rather than at the send's completion. Per-call arenas living
         * until then piled up on the polling threads' malloc heaps, and each trim of those heaps
         * (madvise, a TLB shootdown on every core) cost more than the call. */
        atomic_store(&c->req, NULL);
        ig_arena_free(c->arena);
        c->arena = NULL;
    }
    if (grpc_call_start_batch(c->call, ops, n, &c->sent, NULL) != GRPC_CALL_OK) on_sent(&c->sent, false);
}

static void request_call(ig_grpc_server *g, int method);

/* Auth and rate limits of a unary call before its message is decoded. false: answered already. Health
 * (ServerLive, ServerReady, Health/Check) stays open for probes. */
static bool call_allowed(ig__grpc_call *c, const uint8_t *buf, size_t len)
{
    ig_grpc_server *g = c->g;
    if (!ig_access_enabled(g->opts.access)) return true;
    bool admin = false, scoped = false;
    switch (c->method) {
    case IG__GRPC_SERVER_LIVE:
    case IG__GRPC_SERVER_READY:
    case IG__GRPC_HEALTH_CHECK:
        return true;
    case IG__GRPC_MODEL_READY:
    case IG__GRPC_MODEL_METADATA:
    case IG__GRPC_MODEL_CONFIG:
    case IG__GRPC_MODEL_INFER:
    case IG__GRPC_MODEL_STATISTICS: /* name is field 1 of each request; empty statistics = all models */
        scoped = true;
        break;
    case IG__GRPC_REPOSITORY_LOAD:
    case IG__GRPC_REPOSITORY_UNLOAD:
        admin = true;
        break;
    default:
        break;
    }
    char model[256] = "";
    if (scoped && !ig__grpc_peek_string(buf, len, 1, model, sizeof(model))) {
        ig__grpc_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed request message", NULL);
        return false;
    }
    ig__grpc_creds cr;
    ig__grpc_creds_read(c->call, &c->md, &cr);
    char msg[160];
    int code = ig__grpc_access_check(g, &cr, model, admin, msg, sizeof(msg));
    ig__grpc_creds_free(&cr);
    if (code == GRPC_STATUS_OK) return true;
    ig__grpc_finish(c, code, msg, NULL);
    return false;
}

/* Reads the request message and runs the method's handler, which answers now or later. */
static void handle(ig_grpc_server *g, ig__grpc_call *c)
{
    grpc_slice s;
    if (!ig__grpc_read(c->payload, &s)) {
        ig__grpc_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "missing or unreadable request message", NULL);
        return;
    }
    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    if (!call_allowed(c, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s))) {
        grpc_slice_unref(s);
        return;
    }
    if (!(c->arena = ig_arena_create(16 * 1024))) {
        grpc_slice_unref(s);
        ig__grpc_finish(c, GRPC_STATUS_INTERNAL, "out of memory", NULL);
        return;
    }
    if (!ig__grpc_enter(g)) {
        ig__grpc_finish(c, GRPC_STATUS_UNAVAILABLE, "Server is shutting down", NULL);
    } else {
        ig__grpc_handle(c, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
        ig__grpc_leave(g);
    }
    grpc_slice_unref(s);
}

static void on_requested(ig__grpc_tag *t, bool ok)
{
    ig__grpc_call *c = IG__CONTAINER(t, ig__grpc_call, requested);
    ig_grpc_server *g = c->g;
    if (!ok) { /* the server is shutting down */
        call_free(c);
        return;
    }
    request_call(g, c->method); /* keep one posted in its place */
    if (c->method == IG__GRPC_STREAM_INFER) {
        ig__grpc_stream_begin(g, c->call, &c->md);
        c->call = NULL;
        call_free(c);
        return;
    }
    c->t0 = ig_now_ns();
    atomic_store(&c->refs, 3); /* the close watch, the reply, and this function until it returns */
    atomic_store(&c->close_state, IG__CLOSE_OPEN);
    c->closed.fn = on_closed;
    c->sent.fn = on_sent;
    if (c->method == IG__GRPC_GENERIC) {
        ig__grpc_finish(c, GRPC_STATUS_UNIMPLEMENTED, "method not implemented", NULL);
    } else {
        handle(g, c);
    }
    /* Not answered yet (queued): watch for the client's close alone, so that a cancel reaches it. */
    int open = IG__CLOSE_OPEN;
    if (atomic_compare_exchange_strong(&c->close_state, &open, IG__CLOSE_ALONE)) {
        grpc_op close = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
        close.data.recv_close_on_server.cancelled = &c->cancelled;
        if (grpc_call_start_batch(c->call, &close, 1, &c->closed, NULL) != GRPC_CALL_OK) call_unref(c);
    }
    call_unref(c);
}

static void request_call(ig_grpc_server *g, int method)
{
    if (atomic_load(&g->stopped)) return;
    ig__grpc_call *c = calloc(1, sizeof(*c));
    if (!c) return; /* the other posted requests keep the method served */
    c->g = g;
    c->method = method;
    c->requested.fn = on_requested;
    grpc_metadata_array_init(&c->md);
    atomic_fetch_add(&g->calls, 1);
    grpc_call_error e;
    if (method == IG__GRPC_GENERIC) {
        grpc_call_details_init(&c->details);
        e = grpc_server_request_call(g->server, &c->call, &c->details, &c->md, g->cq, g->cq, &c->requested);
    } else {
        e = grpc_server_request_registered_call(g->server, g->methods[method], &c->call, &c->deadline, &c->md,
                                                method == IG__GRPC_STREAM_INFER ? NULL : &c->payload, g->cq,
                                                g->cq, &c->requested);
    }
    if (e != GRPC_CALL_OK) call_free(c);
}

/* ---- server ---- */

static void *poll_loop(void *arg)
{
    ig_grpc_server *g = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
        if (ev.type == GRPC_OP_COMPLETE) {
            ig__grpc_tag *t = ev.tag;
            t->fn(t, ev.success != 0);
        }
    }
    return NULL;
}

static void on_shutdown(ig__grpc_tag *t, bool ok)
{
    (void)ok;
    atomic_store(&IG__CONTAINER(t, ig_grpc_server, shutdown_tag)->shutdown_done, true);
}

/* The TLS store as gRPC core's certificate source: a reload of the store reaches the next handshake. */
static unsigned long store_generation(void *store)
{
    return ig_tls_store_generation(store);
}

static unsigned long store_get(void *store, ig_tls_pem *out)
{
    return ig_tls_store_get(store, out);
}

int ig_grpc_server_start(ig_serving *sv, const ig_grpc_options *opts, ig_grpc_server **out, ig_error *err)
{
    *out = NULL;
    ig_grpc_server *g = calloc(1, sizeof(*g));
    if (!g) return ig_error_set(err, IG_ENOMEM, "out of memory");
    g->sv = sv;
    g->opts = *opts;
    if (!g->opts.threads) g->opts.threads = 2;
    if (g->opts.threads > 16) g->opts.threads = 16;
    if (!g->opts.max_message_bytes) g->opts.max_message_bytes = 64u << 20;
    if (g->opts.max_message_bytes > INT32_MAX) g->opts.max_message_bytes = INT32_MAX;
    g->shutdown_tag.fn = on_shutdown;
    grpc_init();

    g->server = ig_grpc_core_server(g->opts.max_message_bytes, &g->cq);
    for (int m = 0; m < IG__GRPC_N_METHODS; m++)
        g->methods[m] = grpc_server_register_method(
            g->server, method_paths[m], NULL,
            m == IG__GRPC_STREAM_INFER ? GRPC_SRM_PAYLOAD_NONE : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
            0);
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", opts->bind_address ? opts->bind_address : "0.0.0.0", opts->port);
    grpc_server_credentials *creds;
    if (opts->tls) {
        g->tls = (ig_grpc_tls_source){.generation = store_generation, .get = store_get, .arg = opts->tls};
        creds = ig_grpc_core_tls_credentials(&g->tls, ig_tls_store_client_auth(opts->tls));
    } else {
        creds = grpc_insecure_server_credentials_create();
    }
    g->port = creds ? grpc_server_add_http2_port(g->server, addr, creds) : 0;
    if (creds) grpc_server_credentials_release(creds);
    if (g->port <= 0) {
        ig_error_set(err, IG_EIO, "gRPC: cannot listen on %s%s", addr,
                     opts->tls ? " (or the TLS certificate/key was refused)" : "");
        ig_grpc_core_server_discard(g->server, g->cq);
        grpc_shutdown();
        free(g);
        return err->code;
    }
    grpc_server_start(g->server);
    for (int m = 0; m < IG__GRPC_N_METHODS; m++)
        for (int k = 0; k < posted_per_method(m); k++) request_call(g, m);
    for (int k = 0; k < 2; k++) request_call(g, IG__GRPC_GENERIC);
    for (int i = 0; i < g->opts.threads; i++)
        if (!pthread_create(&g->threads[g->n_threads], NULL, poll_loop, g)) g->n_threads++;
    if (!g->n_threads) {
        ig_grpc_server_shutdown(g);
        ig_grpc_server_destroy(g);
        return ig_error_set(err, IG_ENOMEM, "gRPC: cannot start threads");
    }
    *out = g;
    return 0;
}

int ig_grpc_server_port(const ig_grpc_server *g)
{
    return g->port;
}

void ig_grpc_server_set_draining(ig_grpc_server *g, bool draining)
{
    atomic_store(&g->draining, draining);
}

long ig_grpc_server_in_flight(const ig_grpc_server *g)
{
    return atomic_load(&((ig_grpc_server *)g)->in_flight);
}

void ig_grpc_server_shutdown(ig_grpc_server *g)
{
    if (!g || atomic_exchange(&g->stopped, true)) return;
    grpc_server_shutdown_and_notify(g->server, g->cq, &g->shutdown_tag);
    grpc_server_cancel_all_calls(g->server);
    while (atomic_load(&g->active) > 0) usleep(1000);
}

void ig_grpc_server_destroy(ig_grpc_server *g)
{
    if (!g) return;
    ig_grpc_server_shutdown(g);
    /* Calls finish once their last batches complete on the polling threads; bounded wait. */
    for (int waited = 0; waited < 10000 && (!atomic_load(&g->shutdown_done) || atomic_load(&g->calls) > 0);
         waited += 5)
        usleep(5000);
    grpc_completion_queue_shutdown(g->cq);
    for (int i = 0; i < g->n_threads; i++) pthread_join(g->threads[i], NULL);
    if (!g->n_threads) {
        while (grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
    }
    grpc_server_destroy(g->server);
    grpc_completion_queue_destroy(g->cq);
    grpc_shutdown();
    free(g);
}
