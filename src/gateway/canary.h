/* The progressive canary controller: a canary pool's traffic share walks through configured steps;
 * at the end of each window (time and/or canary requests) the canary is judged against its baseline
 * on error rate, p99 latency (fixed log-spaced histogram) and shadow disagreement, then advanced,
 * promoted or rolled back. Any thread: counters behind one short mutex, the weight an atomic. */
#ifndef IG_GATEWAY_CANARY_H
#define IG_GATEWAY_CANARY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/conf.h"
#include "infergate/error.h"

/* Resolves an upstream pool name to the data plane's index, or -1 when there is no such pool. */
typedef int (*ig_rollout_resolve_fn)(void *ctx, const char *pool_name);

typedef enum { IG_CANARY_RUNNING, IG_CANARY_PROMOTED, IG_CANARY_ROLLED_BACK } ig_canary_state;

/* Decision kinds, also the index of the per-kind counters. */
typedef enum {
    IG_CANARY_NONE,
    IG_CANARY_ADVANCE,
    IG_CANARY_PROMOTE,
    IG_CANARY_ROLLBACK,
    IG_CANARY_NKINDS
} ig_canary_kind;

#define IG_CANARY_MAX_STEPS 16

typedef struct ig_canary ig_canary;

/* The numbers of one side (canary or baseline) of a judged window. */
typedef struct {
    uint64_t requests, failures;
    double error_rate;
    double p99_ms; /* 0 when there were no latency samples */
} ig_canary_side_stats;

/* One decision with the numbers that drove it. */
typedef struct {
    int kind; /* ig_canary_kind */
    char actor[64];
    int64_t now_ns;
    int state; /* after the decision */
    int from_step, to_step;
    int from_weight, to_weight;
    ig_canary_side_stats canary, baseline;
    uint64_t compared, disagreed;
    char reason[160];
} ig_canary_decision;

/* Parses a route's `canary:` map (the node itself). NULL with a line-numbered err on bad config. */
ig_canary *ig_canary_from_conf(const ig_conf *c, const ig_conf_node *n, ig_rollout_resolve_fn resolve,
                               void *ctx, ig_error *err);
void ig_canary_free(ig_canary *k);

int ig_canary_baseline_pool(const ig_canary *k);
int ig_canary_canary_pool(const ig_canary *k);
const char *ig_canary_baseline_name(const ig_canary *k); /* Borrowed; valid until free */
const char *ig_canary_canary_name(const ig_canary *k);
/* The canary's share of traffic in percent now (lock-free; for the pick path). */
int ig_canary_weight(const ig_canary *k);
ig_canary_state ig_canary_get_state(const ig_canary *k);

/* The same specification (pool names, steps, window and thresholds). */
bool ig_canary_same_spec(const ig_canary *a, const ig_canary *b);
/* Copies prev's state, step and open window into next (a freshly loaded, not yet shared one). */
void ig_canary_adopt(ig_canary *next, const ig_canary *prev);

/* Every primary response of the baseline (is_canary false) or the canary. A window that closes on
 * its request count is judged here; returns the decision kind and fills *d when not NONE. */
int ig_canary_record(ig_canary *k, bool is_canary, bool failed, int64_t latency_us, int64_t now_ns,
                     ig_canary_decision *d);
/* A shadow comparison of the canary's response (0 same, 1 differ, negative: not comparable). */
void ig_canary_record_shadow(ig_canary *k, int compare_result, int64_t now_ns);
/* Judges the window when its time is up. */
int ig_canary_tick(ig_canary *k, int64_t now_ns, ig_canary_decision *d);
/* Manual actions: all traffic to the canary / none. Always return the kind and fill *d. */
int ig_canary_promote(ig_canary *k, const char *actor, int64_t now_ns, ig_canary_decision *d);
int ig_canary_rollback(ig_canary *k, const char *actor, int64_t now_ns, ig_canary_decision *d);

const char *ig_canary_kind_name(int kind);
const char *ig_canary_state_name(int state);
/* One JSON line (no newline) for a decision; route may be NULL. malloc'ed, NULL on OOM. */
char *ig_canary_decision_json(const ig_canary_decision *d, const char *route);
/* The controller's state, weight, steps, thresholds and open window as a JSON object. malloc'ed. */
char *ig_canary_status_json(const ig_canary *k);

/* p99 (or any quantile) of latencies in microseconds through the same histogram the judge uses; for
 * tests. samples: n values. */
double ig_canary_hist_quantile_us(const int64_t *samples, int n, double q);

#endif
