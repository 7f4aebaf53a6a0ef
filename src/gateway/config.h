/* The gateway's configuration snapshot: listeners, pools, routes and policies read from one YAML
 * file. A snapshot is immutable once published and refcounted: each request holds it from its first
 * byte to its last, so a reload never changes the rules under a request in flight. */
#ifndef IG_GATEWAY_CONFIG_H
#define IG_GATEWAY_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"
#include "gateway/endpoint.h"
#include "gateway/route.h"
#include "gateway/tls.h"
#include "infergate/error.h"
#include "policy/auth.h"
#include "policy/rate_limit.h"

typedef struct ig_gw_config {
    atomic_int refs;
    ig_conf *conf; /* the tree; strings below are borrowed from it */
    char *dir;     /* the file's folder, for relative paths */
    /* process settings (a reload that changes them is refused: they need a restart) */
    const char *listen, *admin_listen;
    const char *grpc_listen; /* gRPC front (gateway/grpc_proxy.h); NULL = none */
    int workers;
    /* connection limits and timeouts */
    int64_t header_timeout_ms, idle_timeout_ms, connect_timeout_ms;
    int64_t max_request_bytes;
    int64_t cache_max_bytes; /* cache.max_bytes; 0 = no cache (read at start only) */
    const char *access_log;  /* path, "-" for stdout, NULL for none */
    ig_gw_pool **pools;
    ig_gw_route_stats **pool_stats; /* parallel to pools; shared across reloads by pool name */
    size_t n_pools;
    ig_gw_route *routes;
    size_t n_routes;
    ig_ratelimit *rate_limit;   /* never NULL: no rules allows everything */
    bool limits_count_elements; /* a rule charges tensor elements: requests are held whole first */
    ig_auth *auth;              /* NULL: no authentication (the admin listener is then open too) */
    ig_gw_tls *tls;             /* NULL: the client listener speaks plain HTTP (the admin one always does) */
    /* where rollout decisions go (set before load; the gateway's log) */
    ig_rollout_log_fn decision_log;
    void *decision_log_ctx;
} ig_gw_config;

/* Loads and validates FILE; NULL with "FILE:LINE: reason" in err. */
ig_gw_config *ig_gw_config_load(const char *path, ig_rollout_log_fn decision_log, void *log_ctx,
                                ig_error *err);
/* Carries runtime state (endpoint health and ejections, canary progress, rate-limit buckets) from
 * the snapshot being replaced into the new one, before the new one is published. */
void ig_gw_config_adopt(ig_gw_config *next, ig_gw_config *prev, int64_t now_ns);
ig_gw_config *ig_gw_config_ref(ig_gw_config *c);
void ig_gw_config_release(ig_gw_config *c);

#endif
