/* Per-route counters that outlive config reloads: a route keeps its series in /metrics as long as a
 * route of that name exists in any snapshot. Process-wide, created on first use, never freed. */
#ifndef IG_GATEWAY_ROUTE_STATS_H
#define IG_GATEWAY_ROUTE_STATS_H

#include "gateway/route.h"
#include "obs/metrics.h"

/* The stats of the route named `name` (created zeroed the first time); NULL on OOM. Thread-safe. */
ig_gw_route_stats *ig_gw_route_stats_get(const char *name);
/* Appends every route's series to a Prometheus exposition. */
void ig_gw_route_stats_expose(ig_buf *b);

#endif
