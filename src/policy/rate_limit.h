/* Rate limits for serve and the gateway: GCRA (generic cell rate algorithm, as redis-cell) buckets per
 * principal, model, principal+model or globally, charged in requests or tensor elements, kept in a
 * bounded local table or in Redis (shared by gateway replicas), with RateLimit-Policy / RateLimit /
 * Retry-After response headers (draft-ietf-httpapi-ratelimit-headers). All functions except
 * from_conf/free/adopt are thread-safe; ig_ratelimit_check may be called from any thread. */
#ifndef IG_POLICY_RATE_LIMIT_H
#define IG_POLICY_RATE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"
#include "infergate/error.h"

/* GCRA of one rule "N per P, burst B": emission interval T = P/N, tolerance tau = B*T. A bucket keeps
 * its theoretical arrival time TAT (a fresh bucket has TAT <= now). A request of cost n at time now:
 *     tat' = max(TAT, now) + n*T;   allowed iff tat' - tau <= now  (then TAT = tat')
 * so a fresh bucket passes exactly B requests at once and then one every T. Reported values:
 *     remaining   = floor((now + tau - tat') / T)   requests of cost 1 still allowed now (>= 0)
 *     reset       = tat' - now                      time until the bucket is full again
 *     retry_after = tat' - tau - now                when denied: earliest time the same request passes
 * A request whose cost exceeds B can never pass; it is denied with retry_after_ms = -1.
 * Defaults: burst = N (one period's worth, so "100/s" allows 100 at once, then 1 every 10 ms).
 * Precision: locally n*T is rounded down to whole ns per request; in Redis times are microsecond doubles.
 *
 * Config (every key optional except a rule's name and rate):
 *   rate_limits:
 *     backend: local             # or redis
 *     max_keys: 100000           # local buckets per rule; past it, expired then nearest-full ones go
 *     redis:
 *       address: 127.0.0.1:6379  # HOST:PORT, [V6]:PORT or unix:/PATH
 *       timeout: 50ms            # connect and per command
 *       on_error: allow          # allow (fail open) or deny; counted in redis_errors either way
 *       prefix: "infergate:rl:"  # keys are PREFIX RULE ":" PARTITION
 *       clock: server            # server (Redis TIME) or caller (now_ns as given; tests)
 *     rules:
 *       - name: per-key          # letters, digits, - _ . (up to 64)
 *         per: key               # key | model | key_model | global
 *         rate: 100/s            # N/s, N/m, N/h, N/d
 *         burst: 20              # default N
 *         cost: requests         # or elements (rule skipped when the element count is unknown)
 *         models: ["mlp*"]       # fnmatch globs; a request without a model never matches
 *         keys: ["team-a"]       # fnmatch globs on the key
 */

typedef struct ig_ratelimit ig_ratelimit;

/* Builds a limiter from the `rate_limits:` section (a map; NULL gives a limiter without rules that
 * allows everything). On a bad section returns NULL with err "FILE:LINE: reason". The Redis backend
 * connects lazily: an unreachable server is not a config error. */
ig_ratelimit *ig_ratelimit_from_conf(const ig_conf *c, const ig_conf_node *section, ig_error *err);
/* Frees rl; no check may be running on it. */
void ig_ratelimit_free(ig_ratelimit *rl);
/* Copies the local bucket state of each rule of prev into the rule of next with the same name and the
 * same per/rate/burst/cost, so a config reload keeps counting. Also carries those rules' counters.
 * next must not be in use yet; prev may be (concurrent checks on prev are not carried). No-op for
 * Redis (its state lives in Redis). */
void ig_ratelimit_adopt(ig_ratelimit *next, ig_ratelimit *prev);

typedef struct {
    const char *key;   /* authenticated principal, or the client IP string when unauthenticated */
    const char *model; /* requested model, or NULL (then model filters do not match) */
    uint64_t elements; /* tensor elements of the request when known, else 0 (rules with
                          `cost: elements` do not apply to such requests) */
} ig_rl_request;

typedef struct {
    bool allowed;
    bool backend_error;     /* Redis failed; allowed follows `on_error` and no rule decided */
    int64_t retry_after_ms; /* when denied: > 0, rounded up; -1 when the cost exceeds a rule's burst */
    const char *rule;       /* the tightest matching rule (borrowed; valid while rl lives), or NULL */
    int64_t limit;          /* of that rule: its burst (quota), */
    int64_t remaining;      /* units still allowed now, */
    int64_t reset_s;        /* seconds (rounded up) until its bucket is full again */
    /* Ready-to-send header lines, each ending CRLF, empty when no rule applied:
     *   RateLimit-Policy: "NAME";q=LIMIT;w=WINDOW_S
     *   RateLimit: "NAME";r=REMAINING;t=RESET_S
     *   Retry-After: N            (denied only; seconds rounded up, >= 1) */
    char headers[384];
} ig_rl_decision;

/* Checks every rule matching rq at now_ns (CLOCK_MONOTONIC, or whatever clock the caller uses
 * consistently; the Redis backend's clock is its own, see `redis.clock`). Allowed only if every rule
 * allows; a denial consumes nothing from any rule. The tightest rule is, when denied, the denying
 * rule with the longest retry_after; when allowed, the rule with the smallest remaining share of
 * its limit (earlier rule on ties). */
void ig_ratelimit_check(ig_ratelimit *rl, const ig_rl_request *rq, int64_t now_ns, ig_rl_decision *out);

typedef struct {
    const char *name;      /* borrowed; valid while rl lives */
    uint64_t allowed;      /* matching requests that went through (all rules allowed) */
    uint64_t denied;       /* requests this rule denied */
    uint64_t redis_errors; /* matching requests decided by `on_error` because Redis failed */
    uint64_t buckets;      /* local buckets held now (0 for Redis) */
} ig_rl_stats;

/* Number of rules, in config order. */
size_t ig_ratelimit_rule_count(const ig_ratelimit *rl);
/* True when a rule charges tensor elements: the caller must then count them (the request's body). */
bool ig_ratelimit_counts_elements(const ig_ratelimit *rl);
/* Counters of rule i; false when i is out of range. */
bool ig_ratelimit_stats(ig_ratelimit *rl, size_t i, ig_rl_stats *out);

/* ---- internal: shared by rate_limit.c and rate_limit_redis.c ---- */

typedef struct ig__rl_redis ig__rl_redis;

/* One matching rule of a check, as the backends see it. */
typedef struct {
    const char *bucket; /* full bucket key: "RULE:KEY" */
    int64_t period_ns, rate, burst;
    uint64_t cost;
    /* results */
    bool allowed;
    int64_t retry_ns, remaining, reset_ns;
} ig__rl_item;

/* Parses the `redis:` map; NULL with err on a bad one. */
ig__rl_redis *ig__rl_redis_from_conf(const ig_conf *c, const ig_conf_node *map, ig_error *err);
void ig__rl_redis_free(ig__rl_redis *r);
/* Runs GCRA for items atomically in Redis. Returns 0, or < 0 on a Redis failure (items untouched). */
int ig__rl_redis_check(ig__rl_redis *r, ig__rl_item *items, size_t n, int64_t now_ns);
/* on_error: true = allow. */
bool ig__rl_redis_fail_open(const ig__rl_redis *r);

#endif
