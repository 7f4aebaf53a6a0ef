/* A route's rollout: weighted splits over named upstream pools, header/cookie pins, sticky keys,
 * shadow mirroring and the progressive canary (gateway/canary.h), with a decision log. Built from the
 * route's YAML map at load; the pick path is lock-free and callable from every worker thread. */
#ifndef IG_GATEWAY_ROLLOUT_H
#define IG_GATEWAY_ROLLOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/conf.h"
#include "gateway/canary.h"
#include "infergate/error.h"

typedef struct ig_rollout ig_rollout;

/* Receives each decision as one JSON line (no newline). Called from whichever thread decided. */
typedef void (*ig_rollout_log_fn)(void *ctx, const char *line);

/* Reads the route map's `split`, `pin`, `sticky`, `shadow` and `canary` keys (marking them used);
 * pool names go through resolve. Returns NULL with err untouched when the route has none of them,
 * NULL with a "FILE:LINE: reason" err on bad config. log may be NULL (set later). */
ig_rollout *ig_rollout_from_conf(const ig_conf *c, const ig_conf_node *route_map,
                                 ig_rollout_resolve_fn resolve, void *ctx, ig_rollout_log_fn log,
                                 void *log_ctx, ig_error *err);
void ig_rollout_free(ig_rollout *r);
/* Before the rollout is shared. name (copied) labels decision lines, e.g. the route's model. */
void ig_rollout_set_logger(ig_rollout *r, ig_rollout_log_fn log, void *log_ctx);
void ig_rollout_set_name(ig_rollout *r, const char *name);
/* Config reload: next (not yet shared) keeps prev's canary progress when the canary spec is the same,
 * and its decision counters and recent decisions in any case. */
void ig_rollout_adopt(ig_rollout *next, const ig_rollout *prev);

typedef struct {
    int pool;        /* pool index; -1 when the rollout has no split (the route's own pool applies) */
    int shadow_pool; /* -1 = no shadow for this request */
    bool canary;     /* pool is the canary */
    bool pinned;     /* chosen by a pin */
} ig_rollout_pick;

/* pin_header: the value of the pin header or NULL; cookie_header: the raw Cookie header or NULL;
 * sticky_value: the value of the sticky header or NULL; rand: 64 random bits. Lock-free. */
void ig_rollout_choose(const ig_rollout *r, const char *pin_header, const char *cookie_header,
                       const char *sticky_value, uint64_t rand, ig_rollout_pick *out);
/* Which headers the data plane should pass (lower case), NULL when not configured. Borrowed. */
const char *ig_rollout_pin_header(const ig_rollout *r);
const char *ig_rollout_sticky_header(const ig_rollout *r);
/* The shadow's tolerances for ig_shadow_compare. */
void ig_rollout_shadow_tolerance(const ig_rollout *r, double *atol, double *rtol);

/* Every primary response (failed: 5xx or connect failure; latency_us < 0: no latency sample). */
void ig_rollout_record(ig_rollout *r, int pool, bool failed, int64_t latency_us, int64_t now_ns);
/* Every shadow comparison (ig_shadow_compare's result; negative when not comparable). */
void ig_rollout_record_shadow(ig_rollout *r, int shadow_pool, int compare_result, int64_t now_ns);
/* Judges the canary when a time window has closed; returns the ig_canary_kind taken (logged). */
int ig_rollout_tick(ig_rollout *r, int64_t now_ns);
/* Manual actions (admin API): all traffic to the canary / to the rest of the split. 0, or
 * IG_ENOTFOUND when the route has no canary. */
int ig_rollout_promote(ig_rollout *r, const char *actor, int64_t now_ns);
int ig_rollout_rollback(ig_rollout *r, const char *actor, int64_t now_ns);

/* Decisions taken so far, by ig_canary_kind (for metrics). */
uint64_t ig_rollout_decisions(const ig_rollout *r, int kind);
/* The canary's current share in percent, or -1 when the route has no canary. */
int ig_rollout_canary_weight(const ig_rollout *r);
/* Split, pins, sticky, shadow, canary state/weight/step/window and recent decisions. malloc'ed. */
char *ig_rollout_status_json(const ig_rollout *r);

#endif
