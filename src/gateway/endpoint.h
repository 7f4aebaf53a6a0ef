/* Upstream endpoints and pools: one endpoint per upstream address with lock-free live state
 * (outstanding requests, reported queue depth, outlier ejection, active health, slow start), and a
 * named pool of them with its balancer, circuit breakers and retry budget, read from `pools:` config.
 *
 * Thread rules. Endpoints are refcounted and shared by every worker; all their counters are atomics.
 * A pool's endpoint set is an immutable snapshot swapped atomically (DNS change, reload adoption);
 * pickers never lock: they enter a two-slot epoch (one atomic add), read the snapshot and leave, and a
 * writer frees the old snapshot only after the readers of its epoch left. Writers (health thread,
 * config loader) serialise on the pool's mutex, which also guards the rare ejection decision.
 * Everything in this header may be called from any thread, except creating and freeing a pool
 * (the config loader, when nothing uses it any more) and ig_gw_pool_adopt (before publishing `new`).
 *
 * A request's life on the data plane:
 *   if (!ig_gw_pool_acquire_request(p)) -> 503 + x-infergate-overloaded: true
 *   ep = ig_gw_pool_pick(p, hash, rand, NULL, now);       // counted as outstanding on ep
 *   ... response head: ig_gw_pool_record(p, ep, status, now); queue depth: ig_gw_endpoint_report_queue
 *   retry? if (ig_gw_pool_may_retry(p)) { ep2 = ig_gw_pool_pick(p, hash, rand2, ep, now); ...
 *                                          ig_gw_pool_retry_done(p); }
 *   ig_gw_endpoint_finish(ep); ig_gw_pool_release_request(p); */
#ifndef IG_GATEWAY_ENDPOINT_H
#define IG_GATEWAY_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/conf.h"
#include "gateway/outlier.h"
#include "gateway/tls.h"
#include "infergate/error.h"
#include "obs/metrics.h"

typedef struct ig_gw_endpoint ig_gw_endpoint;
typedef struct ig_gw_pool ig_gw_pool;

/* ---- endpoints ---- */

/* Splits "host:port" or "[v6]:port" into host (brackets dropped) and port; false when malformed. */
bool ig_gw_split_host_port(const char *s, char *host, size_t hostsz, char *port, size_t portsz);

/* An endpoint for "host:port" or "[v6]:port" (resolved now with getaddrinfo, first address), weight
 * >= 1, added at added_ns (slow start counts from there; 0 = present from the start). One reference. */
ig_gw_endpoint *ig_gw_endpoint_create(const char *address, uint32_t weight, int64_t added_ns, ig_error *err);
/* The same from a resolved address; the name becomes "ip:port". */
ig_gw_endpoint *ig_gw_endpoint_from_sockaddr(const struct sockaddr *sa, socklen_t len, uint32_t weight,
                                             int64_t added_ns);
ig_gw_endpoint *ig_gw_endpoint_ref(ig_gw_endpoint *ep);
void ig_gw_endpoint_release(ig_gw_endpoint *ep);
/* Ends a request started by ig_gw_pool_pick: outstanding - 1 and drops the pick's reference. */
void ig_gw_endpoint_finish(ig_gw_endpoint *ep);

/* Borrowed; valid while a reference is held. */
const char *ig_gw_endpoint_address(const ig_gw_endpoint *ep);
const struct sockaddr *ig_gw_endpoint_sockaddr(const ig_gw_endpoint *ep, socklen_t *len);
uint32_t ig_gw_endpoint_weight(const ig_gw_endpoint *ep);

/* The queue depth a response reported (header x-infergate-queue-depth); negative = unknown. */
void ig_gw_endpoint_report_queue(ig_gw_endpoint *ep, int64_t depth);
int64_t ig_gw_endpoint_queue_depth(const ig_gw_endpoint *ep);
int64_t ig_gw_endpoint_outstanding(const ig_gw_endpoint *ep);

/* Weight after slow start: ramps linearly from 10% to 100% over slow_start_ns after added_ns. */
double ig_gw_endpoint_effective_weight(const ig_gw_endpoint *ep, int64_t slow_start_ns, int64_t now_ns);
/* Healthy (active checks) and not ejected (passive). */
bool ig_gw_endpoint_available(const ig_gw_endpoint *ep, int64_t now_ns);
bool ig_gw_endpoint_healthy(const ig_gw_endpoint *ep);
bool ig_gw_endpoint_ejected(const ig_gw_endpoint *ep, int64_t now_ns);

/* The state inside, for outlier.c's functions and the health thread. */
ig_gw_outlier_state *ig_gw_endpoint_outlier(ig_gw_endpoint *ep);

/* Metrics. */
/* Response times of the tries an endpoint answered, microseconds (for the per-endpoint histogram). */
void ig_gw_endpoint_observe_latency(ig_gw_endpoint *ep, double us);
const ig_histogram *ig_gw_endpoint_latency(const ig_gw_endpoint *ep);
uint64_t ig_gw_endpoint_picked(const ig_gw_endpoint *ep);
uint64_t ig_gw_endpoint_ejections(const ig_gw_endpoint *ep);

/* ---- pools ---- */

typedef enum { IG_GW_LB_P2C, IG_GW_LB_ROUND_ROBIN, IG_GW_LB_RING_HASH, IG_GW_LB_MAGLEV } ig_gw_lb_kind;
/* What the pool's endpoints speak (`protocol:`): REST requests go only to http pools, gRPC calls only
 * to grpc pools. */
typedef enum { IG_GW_PROTO_HTTP, IG_GW_PROTO_GRPC } ig_gw_protocol;

/* Builds a pool from one item of `pools:` (see docs/design/gateway.md). Endpoints given by name are
 * resolved now (a failure is a config error); a `dns:` pool is resolved now too, and an empty pool is
 * kept when that fails (the health thread tries again every `resolve:`). */
ig_gw_pool *ig_gw_pool_from_conf(const ig_conf *c, const ig_conf_node *pool_map, const char *base_dir,
                                 ig_error *err);
void ig_gw_pool_free(ig_gw_pool *p);

/* Carries live state from the pool `old` (same name, previous config) into `new` before `new` is
 * published: endpoints whose address stays are the old objects (outstanding counts, ejection, health,
 * slow start go on) when their weight is unchanged, or new objects that copy the old state; a `dns:`
 * pool with the same name and port takes the old resolved set. Endpoints new to the pool start their
 * slow start at now_ns. */
void ig_gw_pool_adopt(ig_gw_pool *new_pool, ig_gw_pool *old, int64_t now_ns);

/* Replaces the endpoint set (takes a reference on each of eps[0..n)); rebuilds the balancer.
 * Returns 0 or IG_ENOMEM (the old set stays). */
int ig_gw_pool_set_endpoints(ig_gw_pool *p, ig_gw_endpoint *const *eps, size_t n);
/* A referenced copy of the current set (*out malloc'd; release with ig_gw_endpoints_release). */
int ig_gw_pool_snapshot(ig_gw_pool *p, ig_gw_endpoint ***out, size_t *n);
void ig_gw_endpoints_release(ig_gw_endpoint **eps, size_t n);

/* Picks an endpoint: skips ejected and unhealthy ones unless fewer than half are available (panic:
 * all are candidates, as Envoy's 50% panic threshold), prefers one other than `exclude` (the previous
 * try) but returns `exclude` when it is the only candidate. hash_key is used by ring_hash and maglev,
 * rnd by p2c. Returns a referenced endpoint with its outstanding count raised (end with
 * ig_gw_endpoint_finish), or NULL when the pool is empty. */
ig_gw_endpoint *ig_gw_pool_pick(ig_gw_pool *p, uint64_t hash_key, uint64_t rnd, const ig_gw_endpoint *exclude,
                                int64_t now_ns);

/* Reports a try's outcome (status 0 = connect failure or reset before a response) for outlier
 * ejection; ejects when a threshold is reached and max_ejection_percent allows. Returns true when
 * this call ejected ep. */
bool ig_gw_pool_record(ig_gw_pool *p, ig_gw_endpoint *ep, int status, int64_t now_ns);

/* Circuit breakers: acquire returns false (and counts an overflow) when the pool is at its limit;
 * each successful acquire is paired with one release. */
bool ig_gw_pool_acquire_request(ig_gw_pool *p);
void ig_gw_pool_release_request(ig_gw_pool *p);
bool ig_gw_pool_acquire_connection(ig_gw_pool *p);
void ig_gw_pool_release_connection(ig_gw_pool *p);
bool ig_gw_pool_acquire_pending(ig_gw_pool *p);
void ig_gw_pool_release_pending(ig_gw_pool *p);

/* Retry budget: true (and counts one retry in flight, end it with ig_gw_pool_retry_done) when retries
 * in flight < max(min_retries, percent of the requests in flight); false counts a retry overflow. */
bool ig_gw_pool_may_retry(ig_gw_pool *p);
void ig_gw_pool_retry_done(ig_gw_pool *p);

/* Accessors. The strings and structs are borrowed for the pool's life. */
const char *ig_gw_pool_name(const ig_gw_pool *p);
ig_gw_lb_kind ig_gw_pool_lb(const ig_gw_pool *p);
ig_gw_protocol ig_gw_pool_protocol(const ig_gw_pool *p);
const ig_gw_health_conf *ig_gw_pool_health_conf(const ig_gw_pool *p);
/* TLS towards the pool's endpoints (`tls:`), or NULL for plain connections. */
const ig_gw_upstream_tls *ig_gw_pool_tls(const ig_gw_pool *p);
/* The `dns:` host and port and the re-resolution interval; false for a static pool. */
bool ig_gw_pool_dns(const ig_gw_pool *p, const char **host, const char **port, int64_t *resolve_ns);
/* Resolves a `dns:` pool now and swaps in the new set when the addresses changed (endpoints whose
 * address stays are kept; new ones start slow start at now_ns). 0, or IG_EUNAVAILABLE with err when
 * resolution failed (the set is kept), IG_EINVAL for a static pool. Health thread / loader. */
int ig_gw_pool_resolve(ig_gw_pool *p, int64_t now_ns, ig_error *err);

/* Metrics. */
uint64_t ig_gw_pool_overflows(const ig_gw_pool *p); /* circuit-breaker refusals, all kinds */
uint64_t ig_gw_pool_retries(const ig_gw_pool *p);   /* retries allowed */
uint64_t ig_gw_pool_retry_overflows(const ig_gw_pool *p);
int64_t ig_gw_pool_requests_active(const ig_gw_pool *p);
int64_t ig_gw_pool_connections_active(const ig_gw_pool *p);
int64_t ig_gw_pool_pending_active(const ig_gw_pool *p);
size_t ig_gw_pool_size(ig_gw_pool *p);

#endif
