/* The Open Inference Protocol over HTTP: routes requests of the inference port to the serving layer
 * and the protocol codec, and serves /metrics on the metrics port. Runs on the HTTP server's I/O
 * threads; inference replies are sent from scheduler threads when requests complete. */
#ifndef IG_NET_REST_API_H
#define IG_NET_REST_API_H

#include <stdbool.h>
#include <stdio.h>

#include "net/http_server.h"
#include "policy/access.h"
#include "serving/infer.h"

typedef struct ig_rest ig_rest;

typedef struct ig_rest_options {
    bool strict_readiness; /* ready only when every model is ready */
    bool explicit_control; /* the repository load/unload API is allowed */
    FILE *access_log;      /* one JSON line per request, or NULL */
    /* Auth and rate limits for every path except /v2/health/{live,ready} (borrowed; NULL or a holder
     * without a policy: everything allowed). Denials count in the metrics port's output. */
    ig_access *access;
    /* Requests in flight elsewhere in the process (gRPC), added to the REST count in the
     * x-infergate-queue-depth header; NULL: none. */
    long (*other_in_flight)(void *ctx);
    void *other_ctx;
} ig_rest_options;

ig_rest *ig_rest_create(ig_serving *sv, const ig_rest_options *opts);
void ig_rest_free(ig_rest *r);

/* Draining: readiness answers 503 and new inference requests are refused with 503, while requests
 * already accepted complete. */
void ig_rest_set_draining(ig_rest *r, bool draining);
/* Requests accepted and not yet answered. */
long ig_rest_in_flight(const ig_rest *r);
/* What x-infergate-queue-depth reports: inference requests accepted over REST and gRPC and not yet
 * answered (queued, executing or being encoded), two atomic reads. */
long ig_rest_queue_depth(const ig_rest *r);

/* ig_http_handler for the inference port (ctx = the ig_rest). */
void ig_rest_handle(ig_http_req *req, void *ctx);
/* ig_http_handler for the metrics port: GET /metrics. */
void ig_rest_handle_metrics(ig_http_req *req, void *ctx);

#endif
