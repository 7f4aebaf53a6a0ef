/* Outlier detection for upstream endpoints: passive ejection from the outcomes the data plane reports
 * (consecutive 5xx, consecutive connect failures; ejection time growing with repeated ejections) and
 * the thresholds that turn active health-check results into a healthy/unhealthy state.
 *
 * Thread rules: ig_gw_outlier_state lives inside an endpoint and is shared by every worker. Record and
 * availability checks are lock-free (atomics) and callable from any thread; the decision to eject is
 * taken by the pool under its mutex (it must count the pool's ejected endpoints first). The active
 * health counters have one writer, the health thread; their state is read by any thread. */
#ifndef IG_GATEWAY_OUTLIER_H
#define IG_GATEWAY_OUTLIER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/conf.h"

/* `outlier:` section. Zero thresholds disable that detector. Defaults are Envoy's. */
typedef struct ig_gw_outlier_conf {
    uint32_t consecutive_5xx;             /* 5 */
    uint32_t consecutive_connect_failure; /* 5 */
    int64_t base_ejection_ns;             /* 30 s; times the number of ejections */
    int64_t max_ejection_ns;              /* 300 s cap */
    uint32_t max_ejection_percent;        /* 10; at least one endpoint may always be ejected */
} ig_gw_outlier_conf;

#define IG_GW_HEALTH_MAX_MODELS 16

/* `health_check:` section; enabled only when the section is present. */
typedef struct ig_gw_health_conf {
    bool enabled;
    int64_t interval_ns;          /* 1 s */
    int64_t timeout_ns;           /* 500 ms, per request (connect + send + read) */
    uint32_t unhealthy_threshold; /* 2 consecutive failures */
    uint32_t healthy_threshold;   /* 2 consecutive passes */
    char path[256];               /* /v2/health/ready */
    size_t n_models;              /* GET /v2/models/<m>/ready for each */
    char models[IG_GW_HEALTH_MAX_MODELS][128];
} ig_gw_health_conf;

void ig_gw_outlier_conf_default(ig_gw_outlier_conf *o);
void ig_gw_health_conf_default(ig_gw_health_conf *h);
/* Parses the map (NULL = absent: defaults, health checks disabled). Unknown keys are errors. */
bool ig_gw_outlier_conf_parse(const ig_conf *c, const ig_conf_node *map, ig_gw_outlier_conf *out,
                              ig_error *err);
bool ig_gw_health_conf_parse(const ig_conf *c, const ig_conf_node *map, ig_gw_health_conf *out,
                             ig_error *err);

/* Per-endpoint outlier and health state. Embedded in ig_gw_endpoint; zero-initialised = healthy,
 * never ejected (endpoints start healthy so a gateway start never waits for a first check round). */
typedef struct ig_gw_outlier_state {
    _Atomic uint32_t consecutive_5xx;
    _Atomic uint32_t consecutive_connect_failure;
    _Atomic int64_t ejected_until_ns; /* 0 = never ejected; ejected while now < this */
    _Atomic uint32_t times_ejected;   /* multiplier of the ejection time; decays while not ejected */
    _Atomic uint64_t ejections_total; /* for metrics */
    _Atomic bool unhealthy;           /* active health state */
    uint32_t hc_passes, hc_failures;  /* health thread only */
} ig_gw_outlier_state;

/* Records one outcome: status 0 is a connect failure or a reset before any response byte, otherwise
 * the HTTP status. A connect failure also counts as a 5xx (Envoy's behaviour without split local
 * origin errors); any response resets the connect-failure run and a status < 500 resets both.
 * Returns true when a threshold is reached and the endpoint is not ejected now: the caller then
 * decides (max ejection percent) and calls ig_gw_outlier_eject. */
bool ig_gw_outlier_record(ig_gw_outlier_state *s, const ig_gw_outlier_conf *o, int status, int64_t now_ns);

/* Ejects until now + base * times (capped at max), where times is the previous count, decayed by one
 * for every base_ejection spent not ejected since the last ejection ended, plus one. Resets the
 * consecutive counters. Returns the ejection's length. */
int64_t ig_gw_outlier_eject(ig_gw_outlier_state *s, const ig_gw_outlier_conf *o, int64_t now_ns);

bool ig_gw_outlier_ejected(const ig_gw_outlier_state *s, int64_t now_ns);

/* How many of n endpoints may be ejected at once: max_ejection_percent of n, rounded down, but at
 * least one (Envoy's rule since 1.22; with the 50% panic threshold a small pool still serves). */
size_t ig_gw_outlier_max_ejected(const ig_gw_outlier_conf *o, size_t n);

/* Applies one active check result (health thread only). Returns true when the state flipped. */
bool ig_gw_outlier_health_report(ig_gw_outlier_state *s, const ig_gw_health_conf *h, bool pass);

#endif
