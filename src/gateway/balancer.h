/* Load-balancing policies behind one vtable: p2c (power of two choices, least outstanding requests
 * per unit of weight, optionally plus the reported queue depth), smooth weighted round robin (nginx),
 * ring hash (ketama-style, xxhash) and Maglev (65537-entry lookup table).
 *
 * Thread rules: a policy's state is built once per endpoint set (when the set changes) by the pool's
 * writer and is then read by every worker at once. p2c, ring hash and Maglev pick without locks or
 * writes; round robin keeps its smooth-WRR counters under a short mutex (the algorithm is inherently
 * sequential). Slow start (effective weights) applies to p2c and round robin only: hash policies must
 * keep their table stable, as in Envoy. */
#ifndef IG_GATEWAY_BALANCER_H
#define IG_GATEWAY_BALANCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/endpoint.h"

#define IG_GW_MAGLEV_SIZE 65537u

/* What a pick sees: the set, the clock, whether the pool is in panic, what to avoid. */
typedef struct ig_gw_lb_ctx {
    ig_gw_endpoint *const *eps;
    size_t n;
    const ig_gw_endpoint *exclude; /* NULL or an endpoint not to pick */
    int64_t now_ns;
    int64_t slow_start_ns;      /* 0 = off */
    bool panic;                 /* every endpoint but `exclude` is a candidate */
    bool weight_by_queue_depth; /* p2c: the reported queue depth adds to the load */
} ig_gw_lb_ctx;

/* A candidate: not excluded and (panic or available). */
bool ig_gw_lb_usable(const ig_gw_lb_ctx *c, size_t i);
/* p2c's load per unit of weight of endpoint i. */
double ig_gw_lb_load(const ig_gw_lb_ctx *c, size_t i);

typedef struct ig_gw_lb_ops {
    const char *name;
    /* State for the set eps[0..n) (n may be 0); NULL on OOM. */
    void *(*build)(ig_gw_endpoint *const *eps, size_t n);
    void (*destroy)(void *state);
    /* An index among the usable endpoints, or -1 when none is usable. */
    long (*pick)(void *state, const ig_gw_lb_ctx *c, uint64_t hash_key, uint64_t rnd);
} ig_gw_lb_ops;

extern const ig_gw_lb_ops ig_gw_lb_p2c, ig_gw_lb_round_robin, ig_gw_lb_ring_hash, ig_gw_lb_maglev;

const ig_gw_lb_ops *ig_gw_lb_ops_of(ig_gw_lb_kind kind);
/* "p2c", "round_robin", "ring_hash", "maglev" -> kind; false when unknown. */
bool ig_gw_lb_parse(const char *name, ig_gw_lb_kind *out);

/* Maglev's lookup table (IG_GW_MAGLEV_SIZE endpoint indexes, or NULL for an empty set); for tests. */
const uint32_t *ig_gw_lb_maglev_table(const void *state);

/* A 64-bit mixing step (splitmix64), for spreading caller keys and deriving random streams. */
uint64_t ig_gw_lb_mix(uint64_t x);

#endif
