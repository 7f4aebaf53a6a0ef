/* Counters that outlive config reloads, per route and per upstream pool: a series stays in /metrics
 * as long as the process runs, and a reload that keeps a name keeps counting. Process-wide, created
 * on first use, never freed. */
#ifndef IG_GATEWAY_ROUTE_STATS_H
#define IG_GATEWAY_ROUTE_STATS_H

#include "gateway/route.h"
#include "obs/metrics.h"

typedef enum { IG_GW_STATS_ROUTE, IG_GW_STATS_POOL } ig_gw_stats_kind;

/* The stats of the route or pool named `name` (created zeroed the first time); NULL on OOM. */
ig_gw_route_stats *ig_gw_stats_get(ig_gw_stats_kind kind, const char *name);
/* One try of a request on a pool starts: the first counts in requests, later ones in retries. */
void ig_gw_stats_try(ig_gw_route_stats *s, int try_no);
/* A finished request (route) or its last try (pool): one response of HTTP status `status` by class
 * (2xx, 4xx, anything else 5xx, so 0 for "no answer" too) and its duration. REST statuses count as
 * sent; a gRPC status goes through ig_gw_grpc_http_status first. */
void ig_gw_stats_response(ig_gw_route_stats *s, int status, double duration_us);
/* Appends every route's and pool's series to a Prometheus exposition: infergate_gateway_* with a
 * route label, infergate_gateway_upstream_* with a pool label. */
void ig_gw_stats_expose(ig_buf *b);

#endif
