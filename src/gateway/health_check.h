/* The gateway's health thread: active HTTP/1.1 health checks of every endpoint of the pools that have
 * `health_check:` (server readiness plus each listed model's readiness; 200 = pass; the
 * x-infergate-queue-depth header feeds the balancer) and DNS re-resolution of `dns:` pools.
 *
 * Thread rules: one health thread per gateway. It borrows the pools: stop it before freeing them (on
 * a reload, start a new one for the new pools after adopting state, then stop the old one). Checks
 * are blocking and sequential, each request bounded by the pool's timeout; stop waits for at most the
 * check in progress. */
#ifndef IG_GATEWAY_HEALTH_CHECK_H
#define IG_GATEWAY_HEALTH_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/endpoint.h"
#include "gateway/outlier.h"

typedef struct ig_gw_health ig_gw_health;

/* Starts the thread over pools[0..n) (the array is copied, the pools borrowed). NULL with err on
 * failure. With no pool needing checks or resolution the thread just sleeps until stopped. */
ig_gw_health *ig_gw_health_start(ig_gw_pool *const *pools, size_t n, ig_error *err);
void ig_gw_health_stop(ig_gw_health *h);

/* Checks one endpoint of p now (blocking; over TLS when p has `tls:`): GET the pool's health path,
 * then GET /v2/models/<m>/ready for each model; true when every answer is 200. *queue_depth gets the
 * last x-infergate-queue-depth seen, or -1. */
bool ig_gw_health_check_endpoint(const ig_gw_pool *p, const ig_gw_endpoint *ep, int64_t *queue_depth);

/* Checks every endpoint of the pool and applies the thresholds, as one round of the thread does. */
void ig_gw_health_check_pool(ig_gw_pool *p);

/* Parses an HTTP/1.x response head: the status (0 when malformed) and the queue-depth header (-1
 * when absent or not a number). For the checker and its fuzz/unit tests. */
int ig_gw_health_parse_head(const char *buf, size_t len, int64_t *queue_depth);

#endif
