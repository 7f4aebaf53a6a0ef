/* Internals shared by the gRPC server's files: the server, the completion-queue tags, unary calls
 * (grpc_server.c), their handlers (grpc_api.c) and bidirectional inference streams (grpc_stream.c). */
#ifndef IG_NET_GRPC_INT_H
#define IG_NET_GRPC_INT_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>

#include "net/grpc_core.h"
#include "net/grpc_server.h"
#include "policy/access.h"
#include "protocol/oip_pb.h"

enum {
    IG__GRPC_SERVER_LIVE,
    IG__GRPC_SERVER_READY,
    IG__GRPC_MODEL_READY,
    IG__GRPC_SERVER_METADATA,
    IG__GRPC_MODEL_METADATA,
    IG__GRPC_MODEL_INFER,
    IG__GRPC_MODEL_CONFIG,
    IG__GRPC_MODEL_STATISTICS,
    IG__GRPC_REPOSITORY_INDEX,
    IG__GRPC_REPOSITORY_LOAD,
    IG__GRPC_REPOSITORY_UNLOAD,
    IG__GRPC_HEALTH_CHECK,
    IG__GRPC_STREAM_INFER, /* the only streaming method: registered without reading a payload */
    IG__GRPC_N_METHODS,
    IG__GRPC_GENERIC = -1, /* any other method: UNIMPLEMENTED */
};

/* What a completion-queue event's tag points at: the function that handles the event. Embedded in
 * the call or stream it belongs to. */
typedef struct ig__grpc_tag {
    void (*fn)(struct ig__grpc_tag *t, bool ok);
} ig__grpc_tag;

#define IG__CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct ig_grpc_server {
    ig_serving *sv;
    ig_grpc_options opts;
    grpc_server *server;
    grpc_completion_queue *cq;
    void *methods[IG__GRPC_N_METHODS];
    pthread_t threads[16];
    int n_threads;
    int port;
    atomic_bool draining, stopped;
    atomic_long in_flight; /* inference requests accepted, not answered */
    atomic_long active;    /* handlers running that may use the serving layer */
    atomic_long calls;     /* calls and streams alive, requested ones included */
    ig__grpc_tag shutdown_tag;
    atomic_bool shutdown_done;
    ig_grpc_tls_source tls; /* the TLS store, as gRPC core's certificate source */
};

/* One unary call, from the request for it to its last completion. Owned by whichever thread holds
 * the event being handled; refs counts the batches still to complete (close watch, reply) and the
 * receiving thread while its handler runs. */
typedef struct ig__grpc_call {
    ig__grpc_tag requested, closed, sent;
    ig_grpc_server *g;
    int method;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_call_details details; /* generic calls */
    grpc_byte_buffer *payload, *reply;
    grpc_slice status_details;
    bool has_details;
    int cancelled; /* RECV_CLOSE_ON_SERVER's answer */
    /* Who posts RECV_CLOSE_ON_SERVER: a reply started while the handler still runs on the receiving
     * thread (cheap requests run inline) carries it in its own batch, one completion instead of two;
     * a handler that returns without having answered posts it alone, so that a cancel reaches a
     * queued request. CLOSE_* below; claimed by compare-and-swap from CLOSE_OPEN. */
    atomic_int close_state;
    atomic_int refs;
    ig_arena *arena;                 /* per-call memory, freed with the call */
    _Atomic(ig_infer_request *) req; /* ModelInfer in flight, so that a cancel reaches it */
    char version[24];
    uint64_t t0;
} ig__grpc_call;

/* What a call presents to the access policy, copied out of its metadata and TLS auth context. */
typedef struct ig__grpc_creds {
    char *authorization, *api_key;
    ig_grpc_cert cert;
    struct sockaddr_storage peer;
    bool has_peer;
} ig__grpc_creds;

/* Fills cr from call and its metadata (grpc_access.c); free with ig__grpc_creds_free. */
void ig__grpc_creds_read(grpc_call *call, const grpc_metadata_array *md, ig__grpc_creds *cr);
void ig__grpc_creds_free(ig__grpc_creds *cr);
/* GRPC_STATUS_OK, or UNAUTHENTICATED / PERMISSION_DENIED / RESOURCE_EXHAUSTED with msg. */
int ig__grpc_access_check(ig_grpc_server *g, const ig__grpc_creds *cr, const char *model, bool need_admin,
                          char *msg, size_t len);
/* The string field `field` of a top-level protobuf message, without decoding the rest ("" when absent).
 * false when the wire bytes are malformed or the value does not fit. */
bool ig__grpc_peek_string(const uint8_t *buf, size_t len, uint32_t field, char *out, size_t out_len);
enum { IG__CLOSE_OPEN, IG__CLOSE_IN_REPLY, IG__CLOSE_ALONE };

/* Serialises a message into a new byte buffer; NULL on OOM. */
grpc_byte_buffer *ig__grpc_pack(const ProtobufCMessage *m);
/* Reads a received message into one slice (decompressing); false when it cannot be read. */
bool ig__grpc_read(grpc_byte_buffer *bb, grpc_slice *out);
/* Answers a unary call: the reply (when code is 0) and the status. Once per call, from any thread. */
void ig__grpc_finish(ig__grpc_call *c, int code, const char *msg, const ProtobufCMessage *reply);
/* Runs a unary method's handler on a received request message (grpc_api.c). */
void ig__grpc_handle(ig__grpc_call *c, const uint8_t *buf, size_t len);
/* Takes over an accepted ModelStreamInfer call (grpc_stream.c). */
void ig__grpc_stream_begin(ig_grpc_server *g, grpc_call *call, const grpc_metadata_array *md);
/* Handler guard: true when the serving layer may be used; pair with ig__grpc_leave. */
bool ig__grpc_enter(ig_grpc_server *g);
void ig__grpc_leave(ig_grpc_server *g);

#endif
