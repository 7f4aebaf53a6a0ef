/* Shadow traffic: a copy of a request sent to another pool once the primary's response is complete.
 * The shadow's response is read whole, compared with the primary's (ig_shadow_compare) and
 * discarded; the result feeds the rollout's disagreement share and the route's shadow counters.
 * Runs on the worker loop that served the primary; nothing of it reaches the client. */
#ifndef IG_GATEWAY_MIRROR_H
#define IG_GATEWAY_MIRROR_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/config.h"
#include "net/loop.h"

typedef struct ig_gw_mirror_job {
    ig_gw_config *cfg;        /* a reference the job releases */
    const ig_gw_route *route; /* of cfg */
    int shadow_pool;          /* index into cfg->pools */
    char *request;            /* the request as sent upstream: head (asking to close) + whole body; owned */
    size_t request_len;
    char *primary; /* the primary response body (dechunked); owned */
    size_t primary_len, primary_json_len;
    uint64_t deadline_ns;
} ig_gw_mirror_job;

/* Starts the exchange; takes ownership of job (also on failure, which is counted as an error). */
void ig_gw_mirror_start(ig_loop *loop, ig_gw_mirror_job *job, uint64_t rnd);

#endif
