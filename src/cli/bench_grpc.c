/* `infergate bench --protocol grpc`: the closed loop over the GRPCInferenceService with gRPC core's C
 * API. Setup reads ModelMetadata and ModelConfig and packs one ModelInferRequest with random
 * raw_input_contents; each level then keeps C unary ModelInfer calls outstanding, or (--streaming)
 * C requests in flight on one ModelStreamInfer stream per channel. One channel and completion queue
 * per load thread; each channel has its own TCP connection (local subchannel pool). */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli/bench_int.h"
#include "grpc_service.pb-c.h"

#define SETUP_TIMEOUT_MS 10000
#define MAX_MSG (1 << 30)

struct ig__bench_grpc {
    char target[300];
    char model[256];
    char version[64];
    grpc_slice body; /* packed ModelInferRequest without id */
};

static gpr_timespec deadline_ms(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static grpc_channel *open_channel(const char *target)
{
    grpc_arg args[3] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = MAX_MSG},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, .value.integer = MAX_MSG},
    };
    grpc_channel_args ca = {.num_args = 3, .args = args};
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(target, cr, &ca);
    grpc_channel_credentials_release(cr);
    return ch;
}

static char *buffer_bytes(grpc_byte_buffer *bb, size_t *len)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb)) return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(s);
    char *out = malloc(*len ? *len : 1);
    if (out) memcpy(out, GRPC_SLICE_START_PTR(s), *len);
    grpc_slice_unref(s);
    return out;
}

/* One blocking unary call for setup: returns the response bytes (malloc'ed) or an error. */
static int unary(grpc_channel *ch, const char *method, const void *req, size_t req_len, char **resp,
                 size_t *resp_len, ig_error *err)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    grpc_slice m = grpc_slice_from_static_string(method);
    grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                               deadline_ms(SETUP_TIMEOUT_MS), NULL);
    grpc_slice rs = grpc_slice_from_copied_buffer(req, req_len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&rs, 1), *recv = NULL;
    grpc_slice_unref(rs);
    grpc_metadata_array md0, md1;
    grpc_metadata_array_init(&md0);
    grpc_metadata_array_init(&md1);
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &md0;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &md1;
    ops[5].data.recv_status_on_client.status = &st;
    ops[5].data.recv_status_on_client.status_details = &details;
    int rc = 0;
    if (grpc_call_start_batch(call, ops, 6, call, NULL) != GRPC_CALL_OK) {
        rc = ig_error_set(err, IG_EIO, "%s: cannot start the call", method);
    } else {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
            rc = ig_error_set(err, IG_EIO, "%s: call failed", method);
        } else if (st != GRPC_STATUS_OK) {
            char *d = grpc_slice_to_c_string(details);
            rc = ig_error_set(err, st == GRPC_STATUS_NOT_FOUND ? IG_ENOTFOUND : IG_EIO,
                              "%s: gRPC status %d: %s", method, (int)st, d);
            gpr_free(d);
        } else if (!recv || !(*resp = buffer_bytes(recv, resp_len))) {
            rc = ig_error_set(err, IG_EIO, "%s: no response message", method);
        }
    }
    if (recv) grpc_byte_buffer_destroy(recv);
    grpc_byte_buffer_destroy(send);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&md0);
    grpc_metadata_array_destroy(&md1);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    return rc;
}

static int dtype_size(const char *dt)
{
    static const struct {
        const char *name;
        int size;
    } t[] = {{"BOOL", 1},   {"UINT8", 1}, {"INT8", 1},   {"UINT16", 2}, {"INT16", 2},
             {"FP16", 2},   {"BF16", 2},  {"UINT32", 4}, {"INT32", 4},  {"FP32", 4},
             {"UINT64", 8}, {"INT64", 8}, {"FP64", 8},   {"BYTES", 0}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (!strcmp(dt, t[i].name)) return t[i].size;
    return -1;
}

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Deterministic random values of the datatype, as the HTTP path makes them. */
static void fill(const char *dt, int size, unsigned char *p, int64_t n, uint32_t *seed)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t r = next_rand(seed);
        if (!strcmp(dt, "BYTES")) {
            uint32_t len = 16;
            memcpy(p, &len, 4);
            for (int k = 0; k < 16; k++) p[4 + k] = (unsigned char)('a' + next_rand(seed) % 26);
            p += 20;
            continue;
        }
        double f = (double)(r % 2000000) / 1000000.0 - 1.0;
        uint64_t u = !strcmp(dt, "BOOL") ? r % 2 : size == 1 ? r % 100 : r % 1000;
        if (!strcmp(dt, "FP32")) {
            float v = (float)f;
            memcpy(p, &v, 4);
        } else if (!strcmp(dt, "FP64")) {
            memcpy(p, &f, 8);
        } else if (!strcmp(dt, "FP16")) {
            uint16_t h = (uint16_t)(0x3800 | (r & 0x3ff) | (r & 0x400 ? 0x8000 : 0)); /* +-[0.5,1) */
            memcpy(p, &h, 2);
        } else if (!strcmp(dt, "BF16")) {
            float v = (float)f;
            uint32_t b;
            memcpy(&b, &v, 4);
            uint16_t h = (uint16_t)(b >> 16);
            memcpy(p, &h, 2);
        } else {
            memcpy(p, &u, (size_t)size); /* little-endian */
        }
        p += size;
    }
}

/* "NAME=d0,d1" for this input, or 0 dims when no --shape names it. */
static int shape_opt(const ig__bench_body_opts *o, const char *name, int64_t *dims, ig_error *err)
{
    size_t nl = strlen(name);
    for (int i = 0; i < o->n_shapes; i++) {
        const char *s = o->shapes[i];
        if (strncmp(s, name, nl) || s[nl] != '=') continue;
        int n = 0;
        const char *p = s + nl + 1;
        while (*p) {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p || v < 1 || v > (1 << 30) || (*end && *end != ',') || n == 16)
                return ig_error_set(err, IG_EINVAL, "--shape '%s': expected NAME=d0,d1,... with dims >= 1",
                                    s);
            dims[n++] = v;
            p = *end ? end + 1 : end;
        }
        return n;
    }
    return 0;
}

static int build_request(ig__bench_grpc *g, const ig__bench_body_opts *o, grpc_channel *ch, FILE *info,
                         ig_error *err)
{
    Inference__ModelMetadataRequest mreq = INFERENCE__MODEL_METADATA_REQUEST__INIT;
    mreq.name = g->model;
    mreq.version = g->version;
    size_t n = inference__model_metadata_request__get_packed_size(&mreq), rlen = 0;
    unsigned char *buf = malloc(n + 1);
    char *resp = NULL;
    if (!buf) return ig_error_set(err, IG_ENOMEM, "out of memory");
    inference__model_metadata_request__pack(&mreq, buf);
    int rc = unary(ch, "/inference.GRPCInferenceService/ModelMetadata", buf, n, &resp, &rlen, err);
    free(buf);
    if (rc) return rc;
    Inference__ModelMetadataResponse *meta =
        inference__model_metadata_response__unpack(NULL, rlen, (const uint8_t *)resp);
    free(resp);
    if (!meta) return ig_error_set(err, IG_EIO, "ModelMetadata: malformed response");

    long mbs = 0;
    Inference__ModelConfigRequest creq = INFERENCE__MODEL_CONFIG_REQUEST__INIT;
    creq.name = g->model;
    creq.version = g->version;
    n = inference__model_config_request__get_packed_size(&creq);
    buf = malloc(n + 1);
    ig_error cerr = {0};
    if (buf) {
        inference__model_config_request__pack(&creq, buf);
        if (!unary(ch, "/inference.GRPCInferenceService/ModelConfig", buf, n, &resp, &rlen, &cerr)) {
            Inference__ModelConfigResponse *cfg =
                inference__model_config_response__unpack(NULL, rlen, (const uint8_t *)resp);
            if (cfg && cfg->config) mbs = cfg->config->max_batch_size;
            if (cfg) inference__model_config_response__free_unpacked(cfg, NULL);
            free(resp);
        } else if (info) {
            fprintf(info, "note: no model config (%s); treating the model as non-batching\n", cerr.msg);
        }
        free(buf);
    }
    if (o->batch > 1 && mbs < o->batch) {
        inference__model_metadata_response__free_unpacked(meta, NULL);
        return ig_error_set(err, IG_EINVAL, "--batch %ld needs max_batch_size >= %ld, the model has %ld",
                            o->batch, o->batch, mbs);
    }

    size_t ni = meta->n_inputs;
    Inference__ModelInferRequest req = INFERENCE__MODEL_INFER_REQUEST__INIT;
    Inference__ModelInferRequest__InferInputTensor *ts = calloc(ni ? ni : 1, sizeof(*ts));
    Inference__ModelInferRequest__InferInputTensor **tp = calloc(ni ? ni : 1, sizeof(*tp));
    ProtobufCBinaryData *raw = calloc(ni ? ni : 1, sizeof(*raw));
    int64_t *shapes = calloc((ni ? ni : 1) * 17, sizeof(int64_t));
    uint32_t seed = 12345;
    if (!ts || !tp || !raw || !shapes) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ni && !rc; i++) {
        const Inference__ModelMetadataResponse__TensorMetadata *m = meta->inputs[i];
        int size = dtype_size(m->datatype);
        if (size < 0) {
            rc = ig_error_set(err, IG_EINVAL, "input '%s': unknown datatype '%s'", m->name, m->datatype);
            break;
        }
        int64_t *dims = shapes + i * 17, given[16];
        int ng = shape_opt(o, m->name, given, err);
        if (ng < 0) {
            rc = ng;
            break;
        }
        size_t skip = mbs > 0 ? 1 : 0, nd = 0;
        if (m->n_shape > 16 || (skip && !m->n_shape)) {
            rc = ig_error_set(err, IG_EINVAL, "input '%s': unsupported shape", m->name);
            break;
        }
        if (skip) dims[nd++] = o->batch;
        if (ng && (size_t)ng != m->n_shape - skip) {
            rc = ig_error_set(err, IG_EINVAL, "--shape for '%s' has %d dims, the model's input has %zu",
                              m->name, ng, m->n_shape - skip);
            break;
        }
        int64_t numel = skip ? o->batch : 1;
        for (size_t d = skip; d < m->n_shape; d++) {
            int64_t v = ng ? given[d - skip] : m->shape[d];
            if (v < 0) {
                rc = ig_error_set(err, IG_EINVAL,
                                  "input '%s' has a variable dim %zu: give it with --shape %s=...", m->name,
                                  d - skip, m->name);
                break;
            }
            dims[nd++] = v;
            numel *= v;
        }
        if (rc) break;
        size_t bytes = (size_t)numel * (size_t)(size ? size : 20);
        if (numel > (1 << 28) || !(raw[i].data = malloc(bytes ? bytes : 1))) {
            rc = ig_error_set(err, IG_ENOMEM, "input '%s': %lld elements is too large", m->name,
                              (long long)numel);
            break;
        }
        fill(m->datatype, size, raw[i].data, numel, &seed);
        raw[i].len = bytes;
        ts[i] = (Inference__ModelInferRequest__InferInputTensor)
            INFERENCE__MODEL_INFER_REQUEST__INFER_INPUT_TENSOR__INIT;
        ts[i].name = m->name;
        ts[i].datatype = m->datatype;
        ts[i].n_shape = nd;
        ts[i].shape = dims;
        tp[i] = &ts[i];
        if (info) {
            fprintf(info, "input %s %s [", m->name, m->datatype);
            for (size_t d = 0; d < nd; d++) fprintf(info, "%s%lld", d ? "," : "", (long long)dims[d]);
            fprintf(info, "]\n");
        }
    }
    if (!rc) {
        req.model_name = g->model;
        req.model_version = g->version;
        req.n_inputs = ni;
        req.inputs = tp;
        req.n_raw_input_contents = ni;
        req.raw_input_contents = raw;
        n = inference__model_infer_request__get_packed_size(&req);
        g->body = grpc_slice_malloc(n);
        inference__model_infer_request__pack(&req, GRPC_SLICE_START_PTR(g->body));
        if (info) fprintf(info, "gRPC %s, max_batch_size %ld, request %zu bytes\n", g->target, mbs, n);
    }
out:
    for (size_t i = 0; raw && i < ni; i++) free(raw[i].data);
    free(ts);
    free(tp);
    free(raw);
    free(shapes);
    inference__model_metadata_response__free_unpacked(meta, NULL);
    return rc;
}

int ig__bench_grpc_setup(const char *url, const ig__bench_body_opts *o, FILE *info, ig__bench_grpc **out,
                         ig_error *err)
{
    if (o->json || o->input_data)
        return ig_error_set(err, IG_EINVAL,
                            "--protocol grpc sends random raw_input_contents only "
                            "(--json and --input-data are HTTP-only)");
    const char *t = url;
    if (!strncmp(t, "grpc://", 7))
        t += 7;
    else if (!strncmp(t, "http://", 7))
        t += 7;
    size_t tl = strcspn(t, "/");
    ig__bench_grpc *g = calloc(1, sizeof(*g));
    if (!g) return ig_error_set(err, IG_ENOMEM, "out of memory");
    if (!tl || tl >= sizeof(g->target) || strlen(o->model) >= sizeof(g->model) ||
        (o->version && strlen(o->version) >= sizeof(g->version))) {
        free(g);
        return ig_error_set(err, IG_EINVAL, "--url '%s': expected [grpc://]HOST:PORT", url);
    }
    memcpy(g->target, t, tl);
    strcpy(g->model, o->model);
    if (o->version) strcpy(g->version, o->version);
    grpc_init();
    grpc_channel *ch = open_channel(g->target);
    int rc = build_request(g, o, ch, info, err);
    grpc_channel_destroy(ch);
    if (rc) {
        ig__bench_grpc_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

void ig__bench_grpc_free(ig__bench_grpc *g)
{
    if (!g) return;
    grpc_slice_unref(g->body);
    free(g);
    grpc_shutdown();
}

/* ---- load ---- */

enum { S_IDLE, S_BUSY, S_RETRY };

/* One outstanding unary call, or one request slot of a stream. */
typedef struct slot {
    int state;
    grpc_call *call;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array md0, md1;
    grpc_status_code st;
    grpc_slice details;
    uint64_t start_ns, retry_at_ns, backoff_ns;
} slot;

/* Tags for the stream's own batches (distinct addresses). */
enum { T_START, T_SEND, T_RECV, T_STATUS, T_N };

typedef struct gworker {
    ig__bench_grpc *g;
    bool streaming;
    grpc_channel *ch;
    void *method; /* registered with the channel, as gRPC's C++ stubs do: no path lookup per call */
    grpc_completion_queue *cq;
    slot *slots;
    int n;
    uint64_t t_measure, t_end;
    ig__bench_level res;
    int rc;
    ig_error err;
    /* streaming */
    grpc_call *stream;
    int stream_ops; /* batches outstanding on the stream */
    bool stream_dead, sending;
    int *sendq, sq_head, sq_len; /* slots waiting to be written */
    grpc_byte_buffer *ssend, *srecv;
    grpc_metadata_array smd0, smd1;
    grpc_status_code sst;
    grpc_slice sdetails;
    uint64_t stream_retry_at, stream_backoff;
    char tags[T_N];
} gworker;

static bool measuring(const gworker *w, uint64_t now)
{
    return now >= w->t_measure && now < w->t_end;
}

static void count_fail(gworker *w, bool conn, int status, const char *why)
{
    if (!measuring(w, ig_now_ns())) return;
    w->res.errors++;
    if (conn) {
        w->res.conn_errors++;
    } else {
        w->res.status_errors++;
        w->res.last_status = status;
    }
    snprintf(w->res.last_error, sizeof(w->res.last_error), "%s", why);
}

static void count_ok(gworker *w, uint64_t start_ns)
{
    uint64_t now = ig_now_ns();
    if (!measuring(w, now)) return;
    w->res.requests++;
    ig__bench_hist_add(&w->res.hist, now - start_ns);
}

static grpc_byte_buffer *body_buffer(gworker *w)
{
    return grpc_raw_byte_buffer_create(&w->g->body, 1); /* refs the slice, no copy */
}

static void unary_start(gworker *w, slot *s)
{
    s->call = grpc_channel_create_registered_call(w->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq, w->method,
                                                  gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    s->send = body_buffer(w);
    s->recv = NULL;
    grpc_metadata_array_init(&s->md0);
    grpc_metadata_array_init(&s->md1);
    s->details = grpc_empty_slice();
    s->st = GRPC_STATUS_UNKNOWN;
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->md0;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->md1;
    ops[5].data.recv_status_on_client.status = &s->st;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    s->start_ns = ig_now_ns();
    s->state = S_BUSY;
    if (grpc_call_start_batch(s->call, ops, 6, s, NULL) != GRPC_CALL_OK) {
        w->rc = ig_error_set(&w->err, IG_EIO, "grpc_call_start_batch failed");
        s->state = S_IDLE;
    }
}

static void unary_done(gworker *w, slot *s, bool ok)
{
    bool good = ok && s->st == GRPC_STATUS_OK && s->recv;
    if (good) {
        count_ok(w, s->start_ns);
        s->backoff_ns = 0;
    } else {
        char *d = grpc_slice_to_c_string(s->details);
        char why[160];
        snprintf(why, sizeof(why), "gRPC status %d: %s", (int)s->st, d);
        gpr_free(d);
        count_fail(w, !ok || s->st == GRPC_STATUS_UNAVAILABLE, (int)s->st, why);
        /* Back off (1 ms doubling to 200 ms) so that a refusing server is not spun on. */
        s->backoff_ns = s->backoff_ns ? s->backoff_ns * 2 : 1000000;
        if (s->backoff_ns > 200000000) s->backoff_ns = 200000000;
        s->retry_at_ns = ig_now_ns() + s->backoff_ns;
    }
    if (s->recv) grpc_byte_buffer_destroy(s->recv);
    grpc_byte_buffer_destroy(s->send);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->md0);
    grpc_metadata_array_destroy(&s->md1);
    grpc_call_unref(s->call);
    s->call = NULL;
    s->state = good ? S_IDLE : S_RETRY;
    if (good && w->t_end) unary_start(w, s);
}

/* ---- streaming: one ModelStreamInfer call; requests carry their slot index as id ---- */

static void stream_batch(gworker *w, grpc_op *ops, size_t n, int tag)
{
    if (grpc_call_start_batch(w->stream, ops, n, &w->tags[tag], NULL) != GRPC_CALL_OK) {
        w->rc = ig_error_set(&w->err, IG_EIO, "grpc_call_start_batch on the stream failed");
        return;
    }
    w->stream_ops++;
}

static void stream_recv(gworker *w)
{
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    w->srecv = NULL;
    op.data.recv_message.recv_message = &w->srecv;
    stream_batch(w, &op, 1, T_RECV);
}

/* Writes the next queued slot's request: id field (3) then the shared body; protobuf merges them. */
static void stream_send_next(gworker *w)
{
    if (w->sending || !w->sq_len || w->stream_dead) return;
    int i = w->sendq[w->sq_head];
    w->sq_head = (w->sq_head + 1) % w->n;
    w->sq_len--;
    unsigned char idb[16];
    int idl = snprintf((char *)idb + 2, sizeof(idb) - 2, "%d", i);
    idb[0] = 0x1a; /* field 3, length-delimited */
    idb[1] = (unsigned char)idl;
    grpc_slice parts[2] = {grpc_slice_from_copied_buffer((const char *)idb, (size_t)idl + 2), w->g->body};
    w->ssend = grpc_raw_byte_buffer_create(parts, 2);
    grpc_slice_unref(parts[0]);
    grpc_op op = {.op = GRPC_OP_SEND_MESSAGE};
    op.data.send_message.send_message = w->ssend;
    w->slots[i].start_ns = ig_now_ns();
    w->slots[i].state = S_BUSY;
    w->sending = true;
    stream_batch(w, &op, 1, T_SEND);
}

static void stream_queue(gworker *w, int i)
{
    w->sendq[(w->sq_head + w->sq_len) % w->n] = i;
    w->sq_len++;
    w->slots[i].state = S_IDLE;
}

static void stream_open(gworker *w)
{
    w->stream = grpc_channel_create_registered_call(w->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq, w->method,
                                                    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    w->stream_dead = false;
    w->sending = false;
    w->sq_head = w->sq_len = 0;
    for (int i = 0; i < w->n; i++) stream_queue(w, i);
    grpc_metadata_array_init(&w->smd0);
    grpc_metadata_array_init(&w->smd1);
    w->sdetails = grpc_empty_slice();
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &w->smd0;
    stream_batch(w, ops, 2, T_START);
    grpc_op st = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    st.data.recv_status_on_client.trailing_metadata = &w->smd1;
    st.data.recv_status_on_client.status = &w->sst;
    st.data.recv_status_on_client.status_details = &w->sdetails;
    stream_batch(w, &st, 1, T_STATUS);
    stream_recv(w);
    stream_send_next(w);
}

static void stream_close(gworker *w)
{
    grpc_metadata_array_destroy(&w->smd0);
    grpc_metadata_array_destroy(&w->smd1);
    grpc_slice_unref(w->sdetails);
    grpc_call_unref(w->stream);
    w->stream = NULL;
    w->stream_backoff = w->stream_backoff ? w->stream_backoff * 2 : 1000000;
    if (w->stream_backoff > 200000000) w->stream_backoff = 200000000;
    w->stream_retry_at = ig_now_ns() + w->stream_backoff;
}

static void stream_response(gworker *w)
{
    size_t len = 0;
    char *bytes = buffer_bytes(w->srecv, &len);
    grpc_byte_buffer_destroy(w->srecv);
    w->srecv = NULL;
    Inference__ModelStreamInferResponse *r =
        bytes ? inference__model_stream_infer_response__unpack(NULL, len, (const uint8_t *)bytes) : NULL;
    free(bytes);
    char *end = NULL;
    const char *id = r && r->infer_response ? r->infer_response->id : NULL;
    long i = id && *id ? strtol(id, &end, 10) : -1;
    if (!r || i < 0 || i >= w->n || *end || w->slots[i].state != S_BUSY) {
        /* Without a usable id the request it answers is unknown: count it and start over. */
        count_fail(w, false, 0,
                   r && r->error_message && *r->error_message ? r->error_message
                                                              : "stream response without a known id");
        if (r) inference__model_stream_infer_response__free_unpacked(r, NULL);
        w->stream_dead = true;
        grpc_call_cancel(w->stream, NULL);
        return;
    }
    if (r->error_message && *r->error_message)
        count_fail(w, false, 0, r->error_message);
    else
        count_ok(w, w->slots[i].start_ns);
    w->stream_backoff = 0;
    inference__model_stream_infer_response__free_unpacked(r, NULL);
    stream_queue(w, (int)i);
    stream_send_next(w);
}

static void stream_event(gworker *w, int tag, bool ok)
{
    w->stream_ops--;
    if (tag == T_SEND) {
        grpc_byte_buffer_destroy(w->ssend);
        w->sending = false;
        if (ok)
            stream_send_next(w);
        else
            w->stream_dead = true;
    } else if (tag == T_RECV) {
        if (ok && w->srecv) {
            stream_response(w);
            if (!w->stream_dead) stream_recv(w);
        } else {
            if (w->srecv) grpc_byte_buffer_destroy(w->srecv);
            w->srecv = NULL;
            w->stream_dead = true;
        }
    } else if (tag == T_STATUS) {
        if (w->sst != GRPC_STATUS_CANCELLED) {
            char *d = grpc_slice_to_c_string(w->sdetails);
            char why[160];
            snprintf(why, sizeof(why), "stream ended: gRPC status %d: %s", (int)w->sst, d);
            gpr_free(d);
            count_fail(w, true, 0, why);
        }
        w->stream_dead = true;
    }
    /* A dead stream is cancelled so that its outstanding batches complete, then released. */
    if (w->stream_dead && w->stream_ops) grpc_call_cancel(w->stream, NULL);
    if (w->stream_ops == 0) stream_close(w);
}

static void *gworker_main(void *arg)
{
    gworker *w = arg;
    if (w->streaming)
        stream_open(w);
    else
        for (int i = 0; i < w->n && !w->rc; i++) unary_start(w, &w->slots[i]);
    uint64_t now;
    while (!w->rc && (now = ig_now_ns()) < w->t_end) {
        uint64_t wake = w->t_end;
        if (w->streaming && !w->stream) {
            if (w->stream_retry_at <= now)
                stream_open(w);
            else
                wake = w->stream_retry_at;
        }
        for (int i = 0; !w->streaming && i < w->n; i++) {
            slot *s = &w->slots[i];
            if (s->state != S_RETRY) continue;
            if (s->retry_at_ns <= now)
                unary_start(w, s);
            else if (s->retry_at_ns < wake)
                wake = s->retry_at_ns;
        }
        uint64_t wait = wake > now ? wake - now : 0;
        if (wait > 100000000) wait = 100000000;
        grpc_event ev = grpc_completion_queue_next(
            w->cq,
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos((int64_t)wait, GPR_TIMESPAN)),
            NULL);
        if (ev.type != GRPC_OP_COMPLETE) continue;
        char *tag = ev.tag;
        if (w->streaming && tag >= w->tags && tag < w->tags + T_N)
            stream_event(w, (int)(tag - w->tags), ev.success);
        else
            unary_done(w, (slot *)ev.tag, ev.success);
    }
    /* Cancel what is in flight and drain the queue so that every call is released. */
    int left = 0;
    if (w->streaming && w->stream) {
        grpc_call_cancel(w->stream, NULL);
        left = 1;
    }
    for (int i = 0; !w->streaming && i < w->n; i++)
        if (w->slots[i].state == S_BUSY) {
            grpc_call_cancel(w->slots[i].call, NULL);
            left++;
        }
    uint64_t t_end = w->t_end;
    w->t_end = 0; /* nothing more is counted */
    while (left) {
        grpc_event ev = grpc_completion_queue_next(w->cq, deadline_ms(5000), NULL);
        if (ev.type != GRPC_OP_COMPLETE) break;
        char *tag = ev.tag;
        if (w->streaming && tag >= w->tags && tag < w->tags + T_N) {
            stream_event(w, (int)(tag - w->tags), ev.success);
            if (!w->stream) left = 0;
        } else {
            unary_done(w, (slot *)ev.tag, ev.success);
            left--;
        }
    }
    w->t_end = t_end;
    return NULL;
}

int ig__bench_grpc_run_level(ig__bench_grpc *g, const ig__bench_load_opts *o, bool streaming,
                             ig__bench_level *out, ig_error *err)
{
    int nt = o->threads < 1 ? 1 : o->threads > o->concurrency ? o->concurrency : o->threads;
    int rc = 0, started = 0;
    gworker *ws = calloc((size_t)nt, sizeof(*ws));
    slot *slots = calloc((size_t)o->concurrency, sizeof(*slots));
    int *sendq = calloc((size_t)o->concurrency, sizeof(int));
    pthread_t *tids = calloc((size_t)nt, sizeof(*tids));
    memset(out, 0, sizeof(*out));
    out->concurrency = o->concurrency;
    out->window_s = o->duration_s;
    if (!ws || !slots || !sendq || !tids) {
        rc = ig_error_set(err, IG_ENOMEM, "out of memory for %d calls", o->concurrency);
        goto out;
    }
    uint64_t t0 = ig_now_ns();
    uint64_t t_measure = t0 + (uint64_t)(o->warmup_s * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(o->duration_s * 1e9);
    for (int i = 0; i < nt; i++) {
        gworker *w = &ws[i];
        int lo = (int)((long)o->concurrency * i / nt), hi = (int)((long)o->concurrency * (i + 1) / nt);
        w->g = g;
        w->streaming = streaming;
        w->slots = slots + lo;
        w->sendq = sendq + lo;
        w->n = hi - lo;
        w->t_measure = t_measure;
        w->t_end = t_end;
        w->ch = open_channel(g->target);
        w->method = grpc_channel_register_call(w->ch,
                                               streaming ? "/inference.GRPCInferenceService/ModelStreamInfer"
                                                         : "/inference.GRPCInferenceService/ModelInfer",
                                               NULL, NULL);
        w->cq = grpc_completion_queue_create_for_next(NULL);
    }
    for (; started < nt; started++)
        if (pthread_create(&tids[started], NULL, gworker_main, &ws[started])) {
            rc = ig_error_set(err, IG_EIO, "cannot start a load thread");
            break;
        }
    for (int i = 0; i < started; i++) pthread_join(tids[i], NULL);
    for (int i = 0; i < nt; i++) {
        gworker *w = &ws[i];
        if (w->rc && !rc) rc = ig_error_set(err, w->rc, "%s", w->err.msg);
        out->requests += w->res.requests;
        out->errors += w->res.errors;
        out->status_errors += w->res.status_errors;
        out->conn_errors += w->res.conn_errors;
        out->proto_errors += w->res.proto_errors;
        if (w->res.last_status) out->last_status = w->res.last_status;
        if (w->res.last_error[0]) memcpy(out->last_error, w->res.last_error, sizeof(out->last_error));
        ig__bench_hist_merge(&out->hist, &w->res.hist);
        if (w->cq) {
            grpc_completion_queue_shutdown(w->cq);
            while (grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
                   GRPC_QUEUE_SHUTDOWN) {
            }
            grpc_completion_queue_destroy(w->cq);
        }
        if (w->ch) grpc_channel_destroy(w->ch);
    }
out:
    free(ws);
    free(slots);
    free(sendq);
    free(tids);
    return rc;
}
