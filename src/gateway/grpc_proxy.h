/* The gateway's gRPC front: a gRPC core server on `grpc_listen` that takes every method generically,
 * routes each call like a REST request (model and version from the first request message, route,
 * auth, rate limits, rollout, pool pick) and relays it to a `protocol: grpc` pool over cached
 * channels: unary calls with retries on UNAVAILABLE, streams (ModelStreamInfer) pumped both ways.
 * Every finished call writes an access-log line; a share of successful unary ModelInfer calls of a
 * route with `shadow:` is copied to the shadow pool and the answers compared (never streams). */
#ifndef IG_GATEWAY_GRPC_PROXY_H
#define IG_GATEWAY_GRPC_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gateway/proxy.h"
#include "infergate/error.h"

typedef struct ig_gw_grpc ig_gw_grpc;

/* Listens on `listen` ("host:port") and serves with completion-queue threads; each call reads the
 * current snapshot of sh. max_message_bytes bounds a request message. NULL with err on failure. */
ig_gw_grpc *ig_gw_grpc_start(ig_gw_shared *sh, const char *listen, int64_t max_message_bytes, ig_error *err);
/* The bound port. */
int ig_gw_grpc_port(const ig_gw_grpc *g);
/* Stops taking new calls; calls in flight go on (grpc_server_shutdown_and_notify). */
void ig_gw_grpc_drain(ig_gw_grpc *g);
/* Calls accepted and not yet finished. */
int64_t ig_gw_grpc_in_flight(const ig_gw_grpc *g);
/* Cancels what is left, joins the threads, closes the upstream channels. NULL is a no-op. */
void ig_gw_grpc_free(ig_gw_grpc *g);

/* ---- pure helpers (tested on their own) ---- */

typedef struct {
    bool known;                     /* a method of inference.GRPCInferenceService */
    bool streaming;                 /* relayed as a stream (ModelStreamInfer and every unknown method) */
    int model_field, version_field; /* protobuf field numbers in the request; 0 = none */
    bool shadowable;                /* unary ModelInfer: copied to a route's shadow pool */
} ig_gw_grpc_method;

/* Classifies a method path such as "/inference.GRPCInferenceService/ModelInfer". */
ig_gw_grpc_method ig_gw_grpc_method_info(const char *path, size_t len);
/* Reads the string fields model_field and version_field of a serialized message into the buffers
 * (empty when absent; a value too long for its buffer is an error). false on a malformed message. */
bool ig_gw_grpc_read_model(const uint8_t *msg, size_t len, int model_field, int version_field, char *model,
                           size_t model_cap, char *version, size_t version_cap);
/* An HTTP-like status for a gRPC status code, as REST would count it (OK 200, INVALID_ARGUMENT 400,
 * UNAUTHENTICATED 401, ..., INTERNAL/UNKNOWN 500, UNAVAILABLE 503). */
int ig_gw_grpc_http_status(int grpc_status);
/* Parses grpc_call_get_peer's "ipv4:1.2.3.4:5" / "ipv6:[::1]:5" (brackets may be %5B %5D) into an
 * address and its IP text. false for anything else (unix sockets). */
bool ig_gw_grpc_parse_peer(const char *peer, struct sockaddr_storage *ss, char *ip, size_t ip_cap);

#endif
