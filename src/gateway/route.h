/* Routes: which requests go where. A route matches on the model name (glob), the version, a path
 * prefix and header values, and sends to one pool (or to a rollout's split between pools) with its
 * own timeout, retry count and cache switch. The first matching route in file order wins. */
#ifndef IG_GATEWAY_ROUTE_H
#define IG_GATEWAY_ROUTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"
#include "gateway/endpoint.h"
#include "gateway/rollout.h"
#include "obs/metrics.h"

typedef struct ig_gw_route_stats {
    atomic_uint_fast64_t requests, responses_2xx, responses_4xx, responses_5xx, retries;
    atomic_uint_fast64_t shadow_same, shadow_differ, shadow_error; /* shadow comparisons */
    ig_histogram latency_us;
} ig_gw_route_stats;

typedef struct ig_gw_route {
    const char *name;
    /* match; NULL = any */
    const char *model_glob, *version, *path_prefix;
    size_t n_headers;
    const char **header_names, **header_values;
    /* action */
    size_t pool;         /* index into the config's pools; SIZE_MAX when only the rollout picks */
    ig_rollout *rollout; /* split, pins, sticky keys, shadow, canary; NULL for none */
    int64_t timeout_ms;  /* whole request, all tries */
    int retries;         /* extra tries after the first */
    bool cache;
    ig_gw_route_stats *stats; /* shared across reloads by route name */
} ig_gw_route;

/* What a request offers to matching. model/version NULL when the path names none. */
typedef struct ig_gw_route_input {
    const char *path;
    size_t path_len;
    const char *model, *version;
    /* header lookup: value (not NUL-terminated) or NULL */
    const char *(*header)(void *ctx, const char *name, size_t *len);
    void *ctx;
} ig_gw_route_input;

/* Parses model and version from an Open Inference Protocol path
 * (/v2/models/{m}[/versions/{v}][/...]) into the given buffers (percent-decoding is not applied:
 * names are matched as sent). Returns true when the path names a model. */
bool ig_gw_route_parse_model_path(const char *path, size_t len, char *model, size_t model_cap, char *version,
                                  size_t version_cap);

/* Reads one entry of `routes:`; pool names resolve through names[0..n_pools). */
bool ig_gw_route_from_conf(const ig_conf *c, const ig_conf_node *map, const char *const *pool_names,
                           size_t n_pools, ig_gw_route *out, ig_error *err);
const ig_gw_route *ig_gw_route_match(const ig_gw_route *routes, size_t n, const ig_gw_route_input *in);

#endif
