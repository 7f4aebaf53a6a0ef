/* The gateway process (see gateway.h): one shared snapshot pointer, N workers, one health thread
 * per snapshot's pools, and a metrics exposition over all of them. */
#include "gateway/gateway.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "gateway/config.h"
#include "gateway/grpc_proxy.h"
#include "gateway/health_check.h"
#include "gateway/proxy.h"

struct ig_gateway {
    char *path;
    struct stat seen; /* of the last load attempt */
    ig_gw_shared sh;
    ig_gw_worker **workers;
    int n_workers;
    ig_gw_health *health;
    ig_gw_grpc *grpc; /* NULL without grpc_listen */
    pthread_mutex_t reload_lock;
};

static void decision_log(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

int ig_gateway_check(const char *config_path, ig_error *err)
{
    ig_gw_config *c = ig_gw_config_load(config_path, decision_log, NULL, err);
    if (!c) return err ? err->code : IG_EINVAL;
    ig_gw_config_release(c);
    return 0;
}

static void remember_file(ig_gateway *g)
{
    if (stat(g->path, &g->seen)) memset(&g->seen, 0, sizeof g->seen);
}

bool ig_gateway_file_changed(ig_gateway *g)
{
    struct stat st;
    if (stat(g->path, &st)) return false;
    return st.st_mtim.tv_sec != g->seen.st_mtim.tv_sec || st.st_mtim.tv_nsec != g->seen.st_mtim.tv_nsec ||
           st.st_size != g->seen.st_size || st.st_ino != g->seen.st_ino;
}

static void expose_pools(void *ctx, ig_buf *b)
{
    ig_gateway *g = ctx;
    pthread_mutex_lock(&g->sh.lock);
    ig_gw_config *c = ig_gw_config_ref(g->sh.config);
    pthread_mutex_unlock(&g->sh.lock);
    /* Each family's samples are one group in the exposition: a pass over the endpoints per family. */
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"infergate_gateway_endpoint_outstanding", "gauge", "Requests in flight to the endpoint."},
        {"infergate_gateway_endpoint_healthy", "gauge", "1 when active checks pass and not ejected."},
        {"infergate_gateway_endpoint_picks_total", "counter", "Times the balancer chose the endpoint."},
        {"infergate_gateway_endpoint_ejections_total", "counter", "Outlier ejections of the endpoint."},
        {"infergate_gateway_endpoint_request_duration_us", "histogram",
         "From a try's start on the endpoint to its response's last byte, microseconds."},
    };
    int64_t now = (int64_t)ig_now_ns();
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        ig_prom_family(b, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < c->n_pools; i++) {
            ig_gw_endpoint **eps;
            size_t n;
            if (ig_gw_pool_snapshot(c->pools[i], &eps, &n)) continue;
            char pool[200];
            ig_prom_escape(ig_gw_pool_name(c->pools[i]), pool, sizeof pool);
            for (size_t k = 0; k < n; k++) {
                char addr[200], labels[440];
                ig_prom_escape(ig_gw_endpoint_address(eps[k]), addr, sizeof addr);
                snprintf(labels, sizeof labels, "pool=\"%s\",endpoint=\"%s\"", pool, addr);
                const ig_gw_endpoint *ep = eps[k];
                switch (f) {
                case 0:
                    ig_prom_value(b, fams[f].name, labels, (double)ig_gw_endpoint_outstanding(ep));
                    break;
                case 1:
                    ig_prom_value(b, fams[f].name, labels, ig_gw_endpoint_available(ep, now) ? 1 : 0);
                    break;
                case 2:
                    ig_prom_value(b, fams[f].name, labels, (double)ig_gw_endpoint_picked(ep));
                    break;
                case 3:
                    ig_prom_value(b, fams[f].name, labels, (double)ig_gw_endpoint_ejections(ep));
                    break;
                default:
                    ig_prom_histogram(b, fams[f].name, labels, ig_gw_endpoint_latency(ep));
                    break;
                }
            }
            ig_gw_endpoints_release(eps, n);
        }
    }
    ig_prom_family(b, "infergate_gateway_pool_overflows_total", "counter",
                   "Requests refused by circuit breakers.");
    for (size_t i = 0; i < c->n_pools; i++) {
        char pool[200], labels[220];
        ig_prom_escape(ig_gw_pool_name(c->pools[i]), pool, sizeof pool);
        snprintf(labels, sizeof labels, "pool=\"%s\"", pool);
        ig_prom_value(b, "infergate_gateway_pool_overflows_total", labels,
                      (double)ig_gw_pool_overflows(c->pools[i]));
    }
    ig_prom_family(b, "infergate_gateway_rate_limit_decisions_total", "counter",
                   "Rate-limit decisions by rule.");
    for (size_t i = 0; i < ig_ratelimit_rule_count(c->rate_limit); i++) {
        ig_rl_stats s;
        if (!ig_ratelimit_stats(c->rate_limit, i, &s)) continue;
        char rule[200], labels[240];
        ig_prom_escape(s.name, rule, sizeof rule);
        snprintf(labels, sizeof labels, "rule=\"%s\",decision=\"allowed\"", rule);
        ig_prom_value(b, "infergate_gateway_rate_limit_decisions_total", labels, (double)s.allowed);
        snprintf(labels, sizeof labels, "rule=\"%s\",decision=\"denied\"", rule);
        ig_prom_value(b, "infergate_gateway_rate_limit_decisions_total", labels, (double)s.denied);
    }
    if (g->sh.cache) {
        ig_cache_counters cc;
        ig_cache_counters_read(g->sh.cache, &cc);
        ig_prom_family(b, "infergate_gateway_cache_hits_total", "counter",
                       "Responses answered from the cache.");
        ig_prom_value(b, "infergate_gateway_cache_hits_total", "", (double)cc.hits);
        ig_prom_family(b, "infergate_gateway_cache_misses_total", "counter",
                       "Cache lookups that went upstream.");
        ig_prom_value(b, "infergate_gateway_cache_misses_total", "", (double)cc.misses);
        ig_prom_family(b, "infergate_gateway_cache_bytes", "gauge", "Bytes held by the response cache.");
        ig_prom_value(b, "infergate_gateway_cache_bytes", "", (double)cc.bytes);
    }
    static const char *const kinds[] = {"none", "advance", "promote", "rollback"};
    ig_prom_family(b, "infergate_gateway_canary_decisions_total", "counter", "Canary decisions by kind.");
    for (size_t i = 0; i < c->n_routes; i++) {
        if (!c->routes[i].rollout) continue;
        char route[200], labels[240];
        ig_prom_escape(c->routes[i].name, route, sizeof route);
        for (int k = 1; k < 4; k++) {
            snprintf(labels, sizeof labels, "route=\"%s\",decision=\"%s\"", route, kinds[k]);
            ig_prom_value(b, "infergate_gateway_canary_decisions_total", labels,
                          (double)ig_rollout_decisions(c->routes[i].rollout, k));
        }
    }
    ig_prom_family(b, "infergate_gateway_canary_weight_percent", "gauge",
                   "The canary's current traffic share.");
    for (size_t i = 0; i < c->n_routes; i++) {
        int w = c->routes[i].rollout ? ig_rollout_canary_weight(c->routes[i].rollout) : -1;
        if (w < 0) continue;
        char route[200], labels[220];
        ig_prom_escape(c->routes[i].name, route, sizeof route);
        snprintf(labels, sizeof labels, "route=\"%s\"", route);
        ig_prom_value(b, "infergate_gateway_canary_weight_percent", labels, w);
    }
    ig_gw_config_release(c);
}

/* Publishes c (taking the caller's reference) and restarts health checking on its pools. */
static int publish(ig_gateway *g, ig_gw_config *c, ig_error *err)
{
    ig_gw_health *h = ig_gw_health_start(c->pools, c->n_pools, err);
    if (!h) return err ? err->code : IG_EIO;
    pthread_mutex_lock(&g->sh.lock);
    ig_gw_config *old = g->sh.config;
    if (old) ig_gw_config_adopt(c, old, (int64_t)ig_now_ns());
    g->sh.config = c;
    atomic_fetch_add_explicit(&g->sh.generation, 1, memory_order_release);
    pthread_mutex_unlock(&g->sh.lock);
    if (g->health) ig_gw_health_stop(g->health);
    g->health = h;
    ig_gw_config_release(old);
    return 0;
}

ig_gateway *ig_gateway_start(const char *config_path, ig_error *err)
{
    ig_gateway *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(config_path))) {
        free(g);
        ig_error_set(err, IG_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&g->sh.lock, NULL);
    pthread_mutex_init(&g->sh.log_lock, NULL);
    pthread_mutex_init(&g->reload_lock, NULL);
    g->sh.expose = expose_pools;
    g->sh.expose_ctx = g;
    remember_file(g);
    ig_gw_config *c = ig_gw_config_load(config_path, decision_log, NULL, err);
    if (!c) goto fail;
    if (c->access_log) {
        g->sh.access_log = !strcmp(c->access_log, "-") ? stdout : fopen(c->access_log, "a");
        if (!g->sh.access_log) {
            ig_error_set(err, IG_EIO, "cannot open access log %s", c->access_log);
            ig_gw_config_release(c);
            goto fail;
        }
        setvbuf(g->sh.access_log, NULL, _IOLBF, 0);
    }
    if (c->cache_max_bytes > 0 && !(g->sh.cache = ig_cache_create((size_t)c->cache_max_bytes))) {
        ig_error_set(err, IG_ENOMEM, "cannot create a response cache of %lld bytes",
                     (long long)c->cache_max_bytes);
        ig_gw_config_release(c);
        goto fail;
    }
    const char *listen = c->listen, *admin = c->admin_listen, *grpc_listen = c->grpc_listen;
    int64_t max_message = c->max_request_bytes;
    int n = c->workers > 0 ? c->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (publish(g, c, err)) {
        ig_gw_config_release(c);
        goto fail;
    }
    g->workers = calloc((size_t)n, sizeof *g->workers);
    if (!g->workers) goto fail;
    for (int i = 0; i < n; i++) {
        /* The admin listener lives on the first worker: it is light traffic. */
        g->workers[i] = ig_gw_worker_create(&g->sh, i, listen, i == 0 ? admin : NULL, err);
        if (!g->workers[i]) goto fail;
        g->n_workers++;
    }
    /* The gRPC front listens before the workers run, so a passing /ready means every listener is up. */
    if (grpc_listen && !(g->grpc = ig_gw_grpc_start(&g->sh, grpc_listen, max_message, err))) goto fail;
    for (int i = 0; i < n; i++)
        if (ig_gw_worker_start(g->workers[i])) {
            ig_error_set(err, IG_EIO, "cannot start worker threads");
            goto fail;
        }
    return g;
fail:
    ig_gateway_free(g);
    return NULL;
}

int ig_gateway_reload(ig_gateway *g, ig_error *err)
{
    pthread_mutex_lock(&g->reload_lock);
    remember_file(g);
    int rc = 0;
    ig_gw_config *c = ig_gw_config_load(g->path, decision_log, NULL, err);
    if (!c) {
        rc = err ? err->code : IG_EINVAL;
    } else {
        const ig_gw_config *cur = g->sh.config;
        bool same_listeners =
            !strcmp(c->listen, cur->listen) && c->workers == cur->workers &&
            !!c->grpc_listen == !!cur->grpc_listen &&
            (!c->grpc_listen || !strcmp(c->grpc_listen, cur->grpc_listen)) &&
            ((!c->admin_listen && !cur->admin_listen) ||
             (c->admin_listen && cur->admin_listen && !strcmp(c->admin_listen, cur->admin_listen))) &&
            !c->tls == !cur->tls; /* clients expect the scheme they connected with */
        if (!same_listeners) {
            rc = ig_error_set(
                err, IG_EINVAL,
                "%s: listen, admin_listen, grpc_listen, workers and turning tls on or off change "
                "only with a restart",
                g->path);
            ig_gw_config_release(c);
        } else if ((rc = publish(g, c, err))) {
            ig_gw_config_release(c);
        }
    }
    pthread_mutex_unlock(&g->reload_lock);
    return rc;
}

void ig_gateway_drain(ig_gateway *g, int64_t timeout_ms)
{
    atomic_store(&g->sh.draining, true);
    for (int i = 0; i < g->n_workers; i++) ig_loop_wake_worker(g->workers[i]);
    ig_gw_grpc_drain(g->grpc);
    uint64_t end = ig_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        int64_t busy = ig_gw_grpc_in_flight(g->grpc);
        for (int i = 0; i < g->n_workers; i++) busy += ig_gw_worker_in_flight(g->workers[i]);
        if (busy == 0 || ig_now_ns() >= end) break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

void ig_gateway_free(ig_gateway *g)
{
    if (!g) return;
    ig_gw_grpc_free(g->grpc); /* cancels calls still running after the drain */
    for (int i = 0; i < g->n_workers; i++) ig_gw_worker_free(g->workers[i]);
    free(g->workers);
    if (g->health) ig_gw_health_stop(g->health);
    ig_gw_config_release(g->sh.config);
    ig_cache_free(g->sh.cache);
    if (g->sh.access_log && g->sh.access_log != stdout) fclose(g->sh.access_log);
    pthread_mutex_destroy(&g->sh.lock);
    pthread_mutex_destroy(&g->sh.log_lock);
    pthread_mutex_destroy(&g->reload_lock);
    free(g->path);
    free(g);
}
