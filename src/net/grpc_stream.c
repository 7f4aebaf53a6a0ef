/* ModelStreamInfer: a bidirectional stream where every request is answered when it completes, errors
 * as error_message without closing the stream. One receive and one send are outstanding at a time
 * (gRPC's rule); finished responses queue behind the send. Requests received and not yet answered
 * are bounded per stream: past the bound the stream stops reading, and HTTP/2 flow control pushes
 * back on the client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "net/grpc_int.h"

enum { MAX_OUTSTANDING = 2048 };

typedef struct out_msg {
    struct out_msg *next;
    grpc_byte_buffer *bb;
} out_msg;

/* Owned jointly by the completion-queue and scheduler threads; every field below mu is under mu. */
typedef struct stream {
    ig__grpc_tag recv_tag, send_tag, close_tag, status_tag;
    ig_grpc_server *g;
    grpc_call *call;
    int cancelled;
    /* The close and status batches, and each handler running: the status can go out (and its
     * completion free the stream on another thread) while a handler is still on its way out. */
    atomic_int refs;
    grpc_byte_buffer *recv_buf;
    pthread_mutex_t mu;
    out_msg *head, *tail;
    grpc_byte_buffer *sending;
    bool md_sent, read_done, recv_posted, status_sent, broken;
    int outstanding;      /* requests received whose response is not sent yet */
    ig__grpc_creds creds; /* read once at the start; each message is checked with its model */
} stream;

/* One request of the stream, in its own arena. */
typedef struct stream_req {
    stream *s;
    char version[24];
} stream_req;

static void stream_ref(stream *s)
{
    atomic_fetch_add(&s->refs, 1);
}

static void stream_unref(stream *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1) return;
    ig_grpc_server *g = s->g;
    grpc_call_unref(s->call);
    pthread_mutex_destroy(&s->mu);
    ig__grpc_creds_free(&s->creds);
    free(s);
    atomic_fetch_sub(&g->calls, 1);
}

static void post_recv_locked(stream *s)
{
    s->recv_posted = true;
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    op.data.recv_message.recv_message = &s->recv_buf;
    if (grpc_call_start_batch(s->call, &op, 1, &s->recv_tag, NULL) != GRPC_CALL_OK) {
        s->recv_posted = false;
        s->read_done = true;
    }
}

/* Sends the status once the client has stopped sending and every response went out. */
static void maybe_finish_locked(stream *s)
{
    if (!s->read_done || s->outstanding || s->sending || s->status_sent || s->recv_posted) return;
    s->status_sent = true;
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (!s->md_sent) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    s->md_sent = true;
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n++].data.send_status_from_server.status = GRPC_STATUS_OK;
    if (grpc_call_start_batch(s->call, ops, n, &s->status_tag, NULL) != GRPC_CALL_OK)
        atomic_fetch_sub(&s->refs, 1); /* never the last ref: close is still pending or done first */
}

static void start_send_locked(stream *s)
{
    out_msg *m = s->head;
    s->head = m->next;
    if (!s->head) s->tail = NULL;
    s->sending = m->bb;
    free(m);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (!s->md_sent) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    s->md_sent = true;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = s->sending;
    if (grpc_call_start_batch(s->call, ops, n, &s->send_tag, NULL) != GRPC_CALL_OK) {
        /* Treated as a failed send: the stream is dead for sending. */
        grpc_byte_buffer_destroy(s->sending);
        s->sending = NULL;
        s->broken = true;
        s->outstanding--;
        for (out_msg *q; (q = s->head);) {
            s->head = q->next;
            grpc_byte_buffer_destroy(q->bb);
            free(q);
            s->outstanding--;
        }
        s->tail = NULL;
    }
}

/* Queues one response (bb NULL: it could not be built) and starts sending if idle. Safe to enter: the
 * response is counted in `outstanding`, so the status (and with it the last reference) waits for it. */
static void enqueue(stream *s, grpc_byte_buffer *bb)
{
    out_msg *m = bb ? malloc(sizeof *m) : NULL;
    stream_ref(s);
    pthread_mutex_lock(&s->mu);
    if (!m || s->broken) {
        if (bb) grpc_byte_buffer_destroy(bb);
        free(m);
        s->outstanding--;
    } else {
        *m = (out_msg){NULL, bb};
        if (s->tail)
            s->tail->next = m;
        else
            s->head = m;
        s->tail = m;
        if (!s->sending) start_send_locked(s);
    }
    if (!s->read_done && !s->recv_posted && s->outstanding < MAX_OUTSTANDING) post_recv_locked(s);
    maybe_finish_locked(s);
    pthread_mutex_unlock(&s->mu);
    stream_unref(s);
}

static grpc_byte_buffer *error_reply(const char *model, const char *version, const char *id, const char *msg)
{
    Inference__ModelInferResponse r = INFERENCE__MODEL_INFER_RESPONSE__INIT;
    r.model_name = (char *)(model ? model : "");
    r.model_version = (char *)(version ? version : "");
    r.id = (char *)(id ? id : "");
    Inference__ModelStreamInferResponse m = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
    m.error_message = (char *)msg;
    m.infer_response = &r;
    return ig__grpc_pack(&m.base);
}

static void stream_done(ig_infer_request *req, ig_infer_response *resp, void *ctx)
{
    stream_req *sr = ctx;
    stream *s = sr->s;
    grpc_byte_buffer *bb;
    if (resp->status) {
        bb = error_reply(req->model_name, sr->version, req->id, resp->error);
    } else {
        Inference__ModelInferResponse r;
        ig_error err = {0};
        if (ig_oip_pb_encode_infer(req, resp, sr->version, req->arena, &r, &err)) {
            bb = error_reply(req->model_name, sr->version, req->id, err.msg);
        } else {
            Inference__ModelStreamInferResponse m = INFERENCE__MODEL_STREAM_INFER_RESPONSE__INIT;
            m.infer_response = &r;
            bb = ig__grpc_pack(&m.base);
        }
    }
    atomic_fetch_sub(&s->g->in_flight, 1);
    ig_arena_free(req->arena);
    enqueue(s, bb);
}

/* Decodes one request and submits it; failures are answered on the stream at once. */
static void submit(stream *s, const uint8_t *buf, size_t len, uint64_t t0)
{
    ig_grpc_server *g = s->g;
    if (atomic_load(&g->draining))
        return enqueue(s, error_reply(NULL, NULL, NULL, "Server is shutting down"));
    if (ig_access_enabled(g->opts.access)) {
        /* A refused message is answered on the stream like any failed request (the stream stays open);
         * its error_message starts with the status name. */
        char model[256], msg[160], text[200];
        if (!ig__grpc_peek_string(buf, len, 1, model, sizeof(model)))
            return enqueue(s, error_reply(NULL, NULL, NULL, "malformed request message"));
        int code = ig__grpc_access_check(g, &s->creds, model, false, msg, sizeof(msg));
        if (code != GRPC_STATUS_OK) {
            snprintf(text, sizeof(text), "%s: %s",
                     code == GRPC_STATUS_UNAUTHENTICATED     ? "UNAUTHENTICATED"
                     : code == GRPC_STATUS_PERMISSION_DENIED ? "PERMISSION_DENIED"
                                                             : "RESOURCE_EXHAUSTED",
                     msg);
            return enqueue(s, error_reply(model, NULL, NULL, text));
        }
    }
    ig_arena *a = ig_arena_create(16 * 1024);
    ig_infer_request *req = a ? ig_arena_alloc(a, sizeof *req, 8) : NULL;
    stream_req *sr = req ? ig_arena_alloc(a, sizeof *sr, 8) : NULL;
    if (!sr) {
        ig_arena_free(a);
        return enqueue(s, error_reply(NULL, NULL, NULL, "out of memory"));
    }
    ig_error err = {0};
    if (ig_oip_pb_decode_infer(buf, len, a, req, &err)) {
        grpc_byte_buffer *bb = error_reply(req->model_name, NULL, req->id, err.msg);
        ig_arena_free(a);
        return enqueue(s, bb);
    }
    sr->s = s;
    req->t_received_ns = t0;
    atomic_fetch_add(&g->in_flight, 1);
    ig_serving_infer(g->sv, req, sr->version, stream_done, sr);
}

/* Entered while the stream is alive (a posted receive holds the status back); the responses it makes
 * may let the status go out before it returns, hence its own reference. */
static void on_recv(ig__grpc_tag *t, bool ok)
{
    stream *s = IG__CONTAINER(t, stream, recv_tag);
    stream_ref(s);
    pthread_mutex_lock(&s->mu);
    s->recv_posted = false;
    grpc_byte_buffer *bb = s->recv_buf;
    s->recv_buf = NULL;
    if (!ok || !bb) { /* half-closed by the client, or the call ended */
        s->read_done = true;
        if (bb) grpc_byte_buffer_destroy(bb);
        maybe_finish_locked(s);
        pthread_mutex_unlock(&s->mu);
        stream_unref(s);
        return;
    }
    s->outstanding++;
    pthread_mutex_unlock(&s->mu);

    uint64_t t0 = ig_now_ns();
    grpc_slice sl;
    bool read = ig__grpc_read(bb, &sl);
    grpc_byte_buffer_destroy(bb);
    if (!read) {
        enqueue(s, error_reply(NULL, NULL, NULL, "unreadable request message"));
    } else if (!ig__grpc_enter(s->g)) {
        grpc_slice_unref(sl);
        enqueue(s, error_reply(NULL, NULL, NULL, "Server is shutting down"));
    } else {
        submit(s, GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl), t0);
        ig__grpc_leave(s->g);
        grpc_slice_unref(sl);
    }
    pthread_mutex_lock(&s->mu);
    if (!s->read_done && !s->recv_posted && s->outstanding < MAX_OUTSTANDING) post_recv_locked(s);
    maybe_finish_locked(s);
    pthread_mutex_unlock(&s->mu);
    stream_unref(s);
}

/* Entered while alive (a send in flight holds the status back); may start the status itself. */
static void on_send(ig__grpc_tag *t, bool ok)
{
    stream *s = IG__CONTAINER(t, stream, send_tag);
    stream_ref(s);
    pthread_mutex_lock(&s->mu);
    grpc_byte_buffer_destroy(s->sending);
    s->sending = NULL;
    s->outstanding--;
    if (!ok) { /* the call is gone: drop what is queued, keep counting what completes later */
        s->broken = true;
        for (out_msg *q; (q = s->head);) {
            s->head = q->next;
            grpc_byte_buffer_destroy(q->bb);
            free(q);
            s->outstanding--;
        }
        s->tail = NULL;
    } else if (s->head) {
        start_send_locked(s);
    }
    if (!s->read_done && !s->recv_posted && s->outstanding < MAX_OUTSTANDING) post_recv_locked(s);
    maybe_finish_locked(s);
    pthread_mutex_unlock(&s->mu);
    stream_unref(s);
}

static void on_close(ig__grpc_tag *t, bool ok)
{
    (void)ok;
    stream_unref(IG__CONTAINER(t, stream, close_tag));
}

static void on_status(ig__grpc_tag *t, bool ok)
{
    (void)ok;
    stream_unref(IG__CONTAINER(t, stream, status_tag));
}

void ig__grpc_stream_begin(ig_grpc_server *g, grpc_call *call, const grpc_metadata_array *md)
{
    stream *s = calloc(1, sizeof *s);
    if (!s) {
        grpc_call_cancel_with_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL);
        grpc_call_unref(call);
        return;
    }
    atomic_fetch_add(&g->calls, 1);
    s->g = g;
    s->call = call;
    if (ig_access_enabled(g->opts.access)) ig__grpc_creds_read(call, md, &s->creds);
    s->recv_tag.fn = on_recv;
    s->send_tag.fn = on_send;
    s->close_tag.fn = on_close;
    s->status_tag.fn = on_status;
    atomic_store(&s->refs, 3); /* close, status, and this function until it returns */
    pthread_mutex_init(&s->mu, NULL);
    grpc_op close = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    close.data.recv_close_on_server.cancelled = &s->cancelled;
    if (grpc_call_start_batch(call, &close, 1, &s->close_tag, NULL) != GRPC_CALL_OK)
        atomic_fetch_sub(&s->refs, 1);
    pthread_mutex_lock(&s->mu);
    post_recv_locked(s);
    maybe_finish_locked(s);
    pthread_mutex_unlock(&s->mu);
    stream_unref(s);
}
