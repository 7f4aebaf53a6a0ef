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
/* Appends every route's and pool's series to a Prometheus exposition: infergate_gateway_* with a
 * route label, infergate_gateway_upstream_* with a pool label. */
void ig_gw_stats_expose(ig_buf *b);

#endif
