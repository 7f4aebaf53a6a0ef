/* Handlers of the unary RPCs of inference.GRPCInferenceService and grpc.health.v1.Health/Check.
 * ModelInfer goes down the same path as REST (ig_serving_infer); the others read the model manager. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/grpc_int.h"
#include "protocol/status.h"

static const char *const extensions[] = {"model_repository", "model_configuration", "statistics",
                                         "schedule_policy"};

#define UNPACK(type, c, buf, len)                                                                            \
    ({                                                                                                       \
        ProtobufCAllocator al_;                                                                              \
        ig_oip_pb_allocator((c)->arena, &al_);                                                               \
        type##__unpack(&al_, (len), (buf));                                                                  \
    })

static void malformed(ig__grpc_call *c, const char *what)
{
    char msg[128];
    snprintf(msg, sizeof msg, "malformed %s: the message is not valid protobuf", what);
    ig__grpc_finish(c, GRPC_STATUS_INVALID_ARGUMENT, msg, NULL);
}

static void fail(ig__grpc_call *c, const ig_error *err)
{
    ig__grpc_finish(c, ig_status_grpc(err->code), err->msg, NULL);
}

static bool server_ready(ig_grpc_server *g)
{
    return !atomic_load(&g->draining) && (!g->opts.strict_readiness || ig_mm_all_ready(g->sv->mm));
}

/* ---- inference ---- */

static void infer_done(ig_infer_request *req, ig_infer_response *resp, void *ctx)
{
    ig__grpc_call *c = ctx;
    ig_grpc_server *g = c->g;
    if (resp->status) {
        ig__grpc_finish(c, ig_status_grpc(resp->status), resp->error, NULL);
    } else {
        Inference__ModelInferResponse m;
        ig_error err = {0};
        if (ig_oip_pb_encode_infer(req, resp, c->version, req->arena, &m, &err))
            fail(c, &err);
        else
            ig__grpc_finish(c, GRPC_STATUS_OK, NULL, &m.base);
    }
    atomic_fetch_sub(&g->in_flight, 1);
}

static void model_infer(ig__grpc_call *c, const uint8_t *buf, size_t len)
{
    ig_grpc_server *g = c->g;
    if (atomic_load(&g->draining)) {
        ig__grpc_finish(c, GRPC_STATUS_UNAVAILABLE, "Server is shutting down", NULL);
        return;
    }
    ig_error err = {0};
    ig_infer_request *req = ig_arena_alloc(c->arena, sizeof(*req), 8);
    if (!req) {
        ig__grpc_finish(c, GRPC_STATUS_INTERNAL, "out of memory", NULL);
        return;
    }
    if (ig_oip_pb_decode_infer(buf, len, c->arena, req, &err)) {
        fail(c, &err);
        return;
    }
    req->t_received_ns = c->t0;
    atomic_store(&c->req, req);
    atomic_fetch_add(&g->in_flight, 1);
    ig_serving_infer(g->sv, req, c->version, infer_done, c);
}

/* ---- model endpoints ---- */

static void model_ready(ig__grpc_call *c, const uint8_t *buf, size_t len)
{
    Inference__ModelReadyRequest *q = UNPACK(inference__model_ready_request, c, buf, len);
    if (!q) return malformed(c, "ModelReadyRequest");
    ig_error err = {0};
    ig_served *s = ig_mm_acquire(c->g->sv->mm, q->name, q->version, &err);
    if (s) ig_mm_release(c->g->sv->mm, s);
    Inference__ModelReadyResponse r = INFERENCE__MODEL_READY_RESPONSE__INIT;
    r.ready = s != NULL;
    ig__grpc_finish(c, GRPC_STATUS_OK, NULL, &r.base);
}

static void model_metadata(ig__grpc_call *c, const uint8_t *buf, size_t len, bool config)
{
    Inference__ModelMetadataRequest *q = UNPACK(inference__model_metadata_request, c, buf, len);
    if (!q) return malformed(c, config ? "ModelConfigRequest" : "ModelMetadataRequest");
    /* ModelConfigRequest has the same fields (name = 1, version = 2). */
    ig_error err = {0};
    ig_served *s = ig_mm_acquire(c->g->sv->mm, q->name, q->version, &err);
    if (!s) return fail(c, &err);
    const ProtobufCMessage *r =
        config ? (ProtobufCMessage *)ig_oip_pb_model_config(s->cfg, c->arena)
               : (ProtobufCMessage *)ig_oip_pb_model_metadata(s->cfg, s->version_str, c->arena);
    ig_mm_release(c->g->sv->mm, s);
    if (!r) return ig__grpc_finish(c, GRPC_STATUS_INTERNAL, "out of memory", NULL);
    ig__grpc_finish(c, GRPC_STATUS_OK, NULL, r);
}

typedef struct rows_ctx {
    ig_arena *arena;
    const char *model, *version; /* filters; "" = all */
    bool ready_only;
    ProtobufCMessage *out;
} rows_ctx;

static void stats_rows(const ig_mm_row *rows, int n, void *arg)
{
    rows_ctx *x = arg;
    ig_oip_stats_entry *e = ig_arena_array(x->arena, (size_t)n + 1, sizeof *e, 8);
    int k = 0;
    for (int i = 0; i < n && e; i++)
        if (rows[i].s && (!*x->model || !strcmp(rows[i].name, x->model)) &&
            (!*x->version || !strcmp(rows[i].version_str, x->version)))
            e[k++] = (ig_oip_stats_entry){
                .name = rows[i].name, .version = rows[i].version_str, .stats = &rows[i].s->stats};
    /* Built under the manager's lock: the names are copied by value below only where needed. */
    Inference__ModelStatisticsResponse *r = e ? ig_oip_pb_model_stats(e, k, x->arena) : NULL;
    for (int i = 0; r && i < k; i++) {
        r->model_stats[i]->name = ig_arena_strdup(x->arena, e[i].name);
        r->model_stats[i]->version = ig_arena_strdup(x->arena, e[i].version);
        if (!r->model_stats[i]->name || !r->model_stats[i]->version) r = NULL;
    }
    x->out = r ? &r->base : NULL;
}

static void model_statistics(ig__grpc_call *c, const uint8_t *buf, size_t len)
{
    Inference__ModelStatisticsRequest *q = UNPACK(inference__model_statistics_request, c, buf, len);
    if (!q) return malformed(c, "ModelStatisticsRequest");
    if (*q->name) { /* a named model must exist, as Triton answers */
        ig_error err = {0};
        ig_served *s = ig_mm_acquire(c->g->sv->mm, q->name, q->version, &err);
        if (!s) return fail(c, &err);
        ig_mm_release(c->g->sv->mm, s);
    }
    rows_ctx x = {.arena = c->arena, .model = q->name, .version = q->version};
    ig_mm_snapshot(c->g->sv->mm, stats_rows, &x);
    if (!x.out) return ig__grpc_finish(c, GRPC_STATUS_INTERNAL, "out of memory", NULL);
    ig__grpc_finish(c, GRPC_STATUS_OK, NULL, x.out);
}

static void index_rows(const ig_mm_row *rows, int n, void *arg)
{
    rows_ctx *x = arg;
    ig_oip_repo_entry *e = ig_arena_array(x->arena, (size_t)n + 1, sizeof *e, 8);
    int k = 0;
    for (int i = 0; i < n && e; i++) {
        if (x->ready_only && rows[i].state != IG_STATE_READY) continue;
        e[k++] = (ig_oip_repo_entry){.name = rows[i].name,
                                     .version = rows[i].version_str,
                                     .state = ig_version_state_name(rows[i].state),
                                     .reason = rows[i].reason};
    }
    Inference__RepositoryIndexResponse *r = e ? ig_oip_pb_repo_index(e, k, x->arena) : NULL;
    x->out = r ? &r->base : NULL;
}

static void repository_index(ig__grpc_call *c, const uint8_t *buf, size_t len)
{
    Inference__RepositoryIndexRequest *q = UNPACK(inference__repository_index_request, c, buf, len);
    if (!q) return malformed(c, "RepositoryIndexRequest");
    rows_ctx x = {.arena = c->arena, .ready_only = q->ready};
    ig_mm_snapshot(c->g->sv->mm, index_rows, &x);
    if (!x.out) return ig__grpc_finish(c, GRPC_STATUS_INTERNAL, "out of memory", NULL);
    ig__grpc_finish(c, GRPC_STATUS_OK, NULL, x.out);
}

static void repository_load(ig__grpc_call *c, const uint8_t *buf, size_t len, bool load)
{
    Inference__RepositoryModelLoadRequest *q = UNPACK(inference__repository_model_load_request, c, buf, len);
    if (!q) return malformed(c, load ? "RepositoryModelLoadRequest" : "RepositoryModelUnloadRequest");
    /* The unload request has the same fields as the load request. */
    if (!c->g->opts.explicit_control)
        return ig__grpc_finish(
            c, GRPC_STATUS_UNAVAILABLE,
            "explicit model load / unload is not allowed unless --model-control-mode=explicit", NULL);
    if (q->n_parameters)
        return ig__grpc_finish(c, GRPC_STATUS_UNIMPLEMENTED,
                               "load parameters (config, files) are not supported", NULL);
    ig_error err = {0};
    int rc = load ? ig_mm_load(c->g->sv->mm, q->model_name, &err)
                  : ig_mm_unload(c->g->sv->mm, q->model_name, &err);
    if (rc) return ig__grpc_finish(c, GRPC_STATUS_INVALID_ARGUMENT, err.msg, NULL);
    Inference__RepositoryModelLoadResponse r = INFERENCE__REPOSITORY_MODEL_LOAD_RESPONSE__INIT;
    ig__grpc_finish(c, GRPC_STATUS_OK, NULL, &r.base);
}

static void health_check(ig__grpc_call *c, const uint8_t *buf, size_t len)
{
    Grpc__Health__V1__HealthCheckRequest *q = UNPACK(grpc__health__v1__health_check_request, c, buf, len);
    if (!q) return malformed(c, "HealthCheckRequest");
    if (*q->service && strcmp(q->service, "inference.GRPCInferenceService"))
        return ig__grpc_finish(c, GRPC_STATUS_NOT_FOUND, "unknown service", NULL);
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = server_ready(c->g) ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                  : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    ig__grpc_finish(c, GRPC_STATUS_OK, NULL, &r.base);
}

void ig__grpc_handle(ig__grpc_call *c, const uint8_t *buf, size_t len)
{
    switch (c->method) {
    case IG__GRPC_SERVER_LIVE: {
        Inference__ServerLiveResponse r = INFERENCE__SERVER_LIVE_RESPONSE__INIT;
        r.live = true;
        return ig__grpc_finish(c, GRPC_STATUS_OK, NULL, &r.base);
    }
    case IG__GRPC_SERVER_READY: {
        Inference__ServerReadyResponse r = INFERENCE__SERVER_READY_RESPONSE__INIT;
        r.ready = server_ready(c->g);
        return ig__grpc_finish(c, GRPC_STATUS_OK, NULL, &r.base);
    }
    case IG__GRPC_SERVER_METADATA: {
        Inference__ServerMetadataResponse r = INFERENCE__SERVER_METADATA_RESPONSE__INIT;
        r.name = "infergate";
        r.version = "0.1.0";
        r.n_extensions = sizeof extensions / sizeof extensions[0];
        r.extensions = (char **)extensions;
        return ig__grpc_finish(c, GRPC_STATUS_OK, NULL, &r.base);
    }
    case IG__GRPC_MODEL_READY:
        return model_ready(c, buf, len);
    case IG__GRPC_MODEL_METADATA:
        return model_metadata(c, buf, len, false);
    case IG__GRPC_MODEL_CONFIG:
        return model_metadata(c, buf, len, true);
    case IG__GRPC_MODEL_INFER:
        return model_infer(c, buf, len);
    case IG__GRPC_MODEL_STATISTICS:
        return model_statistics(c, buf, len);
    case IG__GRPC_REPOSITORY_INDEX:
        return repository_index(c, buf, len);
    case IG__GRPC_REPOSITORY_LOAD:
        return repository_load(c, buf, len, true);
    case IG__GRPC_REPOSITORY_UNLOAD:
        return repository_load(c, buf, len, false);
    case IG__GRPC_HEALTH_CHECK:
        return health_check(c, buf, len);
    default:
        return ig__grpc_finish(c, GRPC_STATUS_UNIMPLEMENTED, "method not implemented", NULL);
    }
}
