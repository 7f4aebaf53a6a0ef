/* The data plane: worker threads, each with an event loop, that accept client connections, route
 * each request, and relay it to an upstream endpoint over a pool of keep-alive connections.
 * The gateway (gateway.c) creates the workers and publishes config snapshots; everything else
 * about a connection happens on the worker that accepted it. */
#ifndef IG_GATEWAY_PROXY_H
#define IG_GATEWAY_PROXY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>

#include "gateway/config.h"
#include "obs/metrics.h"
#include "policy/cache.h"

typedef struct ig_gw_worker ig_gw_worker;

/* What the workers share with the gateway. */
typedef struct ig_gw_shared {
    pthread_mutex_t lock;            /* guards `config` swaps and reads of the pointer */
    ig_gw_config *config;            /* current snapshot (one reference held here) */
    atomic_uint_fast64_t generation; /* bumped on every swap, so workers notice cheaply */
    atomic_bool draining;            /* stop accepting; answer with Connection: close */
    ig_cache *cache;                 /* the response cache (NULL: off); sized at start */
    FILE *access_log;                /* NULL = off; lines are written whole under the log lock */
    pthread_mutex_t log_lock;
    /* extra exposition appended to /metrics by the gateway (pools, endpoints, policies) */
    void (*expose)(void *ctx, ig_buf *b);
    void *expose_ctx;
} ig_gw_shared;

/* Creates a worker listening on `listen` ("host:port"; SO_REUSEPORT, so every worker binds the
 * same) and, when admin is non-NULL, on the admin address. NULL with err on failure. */
ig_gw_worker *ig_gw_worker_create(ig_gw_shared *sh, int id, const char *listen, const char *admin,
                                  ig_error *err);
/* Runs the worker's loop on a new thread. */
int ig_gw_worker_start(ig_gw_worker *w);
/* Asks the loop to finish (in-flight requests are abandoned; drain first) and joins it. */
void ig_gw_worker_stop(ig_gw_worker *w);
void ig_gw_worker_free(ig_gw_worker *w);
/* Makes the worker notice a change (drain) now rather than at its next tick. */
void ig_loop_wake_worker(ig_gw_worker *w);
/* Requests in flight on this worker (read from any thread, for drain). */
int64_t ig_gw_worker_in_flight(const ig_gw_worker *w);

#endif
