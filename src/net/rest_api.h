/* The Open Inference Protocol over HTTP: routes requests of the inference port to the serving layer
 * and the protocol codec, and serves /metrics on the metrics port. Runs on the HTTP server's I/O
 * threads; inference replies are sent from scheduler threads when requests complete. */
#ifndef IG_NET_REST_API_H
#define IG_NET_REST_API_H

#include <stdbool.h>
#include <stdio.h>

#include "net/http_server.h"
#include "serving/infer.h"

typedef struct ig_rest ig_rest;

typedef struct ig_rest_options {
    bool strict_readiness;  /* ready only when every model is ready */
    bool explicit_control;  /* the repository load/unload API is allowed */
    FILE *access_log;       /* one JSON line per request, or NULL */
} ig_rest_options;

ig_rest *ig_rest_create(ig_serving *sv, const ig_rest_options *opts);
void ig_rest_free(ig_rest *r);

/* Draining: readiness answers 503 and new inference requests are refused with 503, while requests
 * already accepted complete. */
void ig_rest_set_draining(ig_rest *r, bool draining);
/* Requests accepted and not yet answered. */
long ig_rest_in_flight(const ig_rest *r);

/* ig_http_handler for the inference port (ctx = the ig_rest). */
void ig_rest_handle(ig_http_req *req, void *ctx);
/* ig_http_handler for the metrics port: GET /metrics. */
void ig_rest_handle_metrics(ig_http_req *req, void *ctx);

#endif
