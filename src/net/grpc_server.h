/* The Open Inference Protocol over gRPC: inference.GRPCInferenceService and grpc.health.v1.Health on
 * gRPC core's C API (plain or TLS port), sharing the serving layer with REST. Completion-queue threads
 * decode requests and answer the metadata RPCs; inference replies are started from scheduler threads
 * when requests complete (gRPC core accepts batches from any thread). */
#ifndef IG_NET_GRPC_SERVER_H
#define IG_NET_GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "infergate/error.h"
#include "net/tls.h"
#include "policy/access.h"
#include "serving/infer.h"

typedef struct ig_grpc_server ig_grpc_server;

typedef struct ig_grpc_options {
    const char *bind_address; /* NULL = 0.0.0.0 */
    int port;                 /* 0 = any free port (see ig_grpc_server_port) */
    int threads;              /* completion-queue threads; 0 = 2 */
    size_t max_message_bytes; /* larger requests fail with RESOURCE_EXHAUSTED; 0 = 64 MiB */
    bool strict_readiness;    /* ServerReady only when every model is ready */
    bool explicit_control;    /* RepositoryModelLoad/Unload allowed */
    /* NULL: plaintext. Else TLS (gRPC core's TLS stack; its minimum, TLS 1.2) with the store's current
     * material, fetched again at the next handshake after a reload (open connections keep theirs);
     * borrowed until destroy. With a client CA a client certificate signed by it is required and
     * verified at the handshake. */
    ig_tls_store *tls;
    /* Auth and rate limits on every method except ServerLive, ServerReady and Health/Check, before the
     * request message is decoded (borrowed; NULL or without a policy: everything allowed). */
    ig_access *access;
} ig_grpc_options;

/* Binds, registers the methods and starts serving. sv is borrowed until ig_grpc_server_destroy. */
int ig_grpc_server_start(ig_serving *sv, const ig_grpc_options *opts, ig_grpc_server **out, ig_error *err);
int ig_grpc_server_port(const ig_grpc_server *g);

/* Draining: ServerReady and health say not ready, new inference requests fail with UNAVAILABLE. */
void ig_grpc_server_set_draining(ig_grpc_server *g, bool draining);
/* Inference requests accepted and not yet answered. */
long ig_grpc_server_in_flight(const ig_grpc_server *g);

/* Stops accepting calls, cancels open ones and waits until no handler uses the serving layer. Call
 * before the model manager is freed; replies of requests still queued are dropped safely. */
void ig_grpc_server_shutdown(ig_grpc_server *g);
/* Frees everything; call after the schedulers have drained (ig_mm_free). NULL is fine. */
void ig_grpc_server_destroy(ig_grpc_server *g);

#endif
