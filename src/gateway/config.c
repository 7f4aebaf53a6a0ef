/* Gateway config loading (see config.h). Each module reads its own section of the tree. */
#include "gateway/config.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/route_stats.h"

static void config_free(ig_gw_config *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n_pools; i++) ig_gw_pool_free(g->pools[i]);
    free(g->pools);
    free(g->pool_stats);
    ig_ratelimit_free(g->rate_limit);
    ig_auth_free(g->auth);
    ig_gw_tls_free(g->tls);
    for (size_t i = 0; i < g->n_routes; i++) {
        ig_rollout_free(g->routes[i].rollout);
        free(g->routes[i].header_names);
        free(g->routes[i].header_values);
    }
    free(g->routes);
    ig_conf_free(g->conf);
    free(g->dir);
    free(g);
}

static bool load_pools(ig_gw_config *g, const ig_conf_node *root, ig_error *err)
{
    const ig_conf_node *pools = ig_conf_require(g->conf, root, "pools", IG_CONF_SEQ, err);
    if (!pools) return false;
    if (pools->count == 0) return ig_conf_fail(g->conf, pools, err, "pools: at least one pool is needed");
    g->pools = calloc(pools->count, sizeof *g->pools);
    g->pool_stats = calloc(pools->count, sizeof *g->pool_stats);
    if (!g->pools || !g->pool_stats) return ig_conf_fail(g->conf, pools, err, "out of memory");
    for (const ig_conf_node *p = pools->child; p; p = p->next) {
        ig_gw_pool *pool = ig_gw_pool_from_conf(g->conf, p, g->dir, err);
        if (!pool) return false;
        g->pool_stats[g->n_pools] = ig_gw_stats_get(IG_GW_STATS_POOL, ig_gw_pool_name(pool));
        g->pools[g->n_pools++] = pool;
        if (!g->pool_stats[g->n_pools - 1]) return ig_conf_fail(g->conf, p, err, "out of memory");
        for (size_t i = 0; i + 1 < g->n_pools; i++)
            if (!strcmp(ig_gw_pool_name(g->pools[i]), ig_gw_pool_name(pool)))
                return ig_conf_fail(g->conf, p, err, "duplicate pool name '%s'", ig_gw_pool_name(pool));
    }
    return true;
}

static int resolve_pool(void *ctx, const char *name)
{
    const ig_gw_config *g = ctx;
    for (size_t i = 0; i < g->n_pools; i++)
        if (!strcmp(ig_gw_pool_name(g->pools[i]), name)) return (int)i;
    return -1;
}

static const char *protocol_name(ig_gw_protocol p)
{
    return p == IG_GW_PROTO_GRPC ? "grpc" : "http";
}

typedef struct {
    const ig_conf_node *v; /* the pool name's node */
    const char *role;
} named_pool;

/* Every pool a route names (its pool, split, canary and shadow) speaks one protocol: a request comes in
 * on one front, REST or gRPC, and could neither be sent nor copied to a pool of the other. The first
 * pool named is the reference; the first of another protocol is refused at its line. Runs after the
 * rollout resolved every name, so each is a known pool. */
static bool check_protocols(ig_gw_config *g, const ig_gw_route *route, const ig_conf_node *r, ig_error *err)
{
    named_pool named[40]; /* the rollout refused more than 32 split pools already */
    size_t n = 0;
    const ig_conf_node *v, *split = ig_conf_get(r, "split"), *canary = ig_conf_get(r, "canary"),
                           *shadow = ig_conf_get(r, "shadow");
    if ((v = ig_conf_get(r, "pool"))) named[n++] = (named_pool){v, "pool"};
    if (split && split->kind == IG_CONF_SEQ)
        for (const ig_conf_node *it = split->child; it && n < 33; it = it->next)
            if ((v = ig_conf_get(it, "pool"))) named[n++] = (named_pool){v, "split pool"};
    if (canary && (v = ig_conf_get(canary, "baseline"))) named[n++] = (named_pool){v, "canary baseline"};
    if (canary && (v = ig_conf_get(canary, "canary"))) named[n++] = (named_pool){v, "canary pool"};
    if (shadow && (v = ig_conf_get(shadow, "pool"))) named[n++] = (named_pool){v, "shadow pool"};
    size_t ref = n;
    int ref_pool = -1;
    for (size_t i = 0; i < n; i++) {
        int p = named[i].v->kind == IG_CONF_SCALAR ? resolve_pool(g, named[i].v->value) : -1;
        if (p < 0) continue;
        if (ref_pool < 0) {
            ref = i;
            ref_pool = p;
            continue;
        }
        ig_gw_protocol want = ig_gw_pool_protocol(g->pools[ref_pool]), got = ig_gw_pool_protocol(g->pools[p]);
        if (got != want)
            return ig_conf_fail(
                g->conf, named[i].v, err,
                "route '%s': %s '%s' has protocol: %s but %s '%s' has protocol: %s; every pool "
                "of a route (split, canary and shadow too) needs the same protocol",
                route->name, named[i].role, named[i].v->value, protocol_name(got), named[ref].role,
                named[ref].v->value, protocol_name(want));
    }
    return true;
}

static bool load_route(ig_gw_config *g, const ig_conf_node *r, const char *const *names, ig_error *err)
{
    ig_gw_route *route = &g->routes[g->n_routes];
    if (!ig_gw_route_from_conf(g->conf, r, names, g->n_pools, route, err)) goto fail;
    if (err) err->code = 0;
    route->rollout =
        ig_rollout_from_conf(g->conf, r, resolve_pool, g, g->decision_log, g->decision_log_ctx, err);
    if (!route->rollout && err && err->code) goto fail;
    if (route->rollout) ig_rollout_set_name(route->rollout, route->name);
    if (route->pool == SIZE_MAX) {
        /* Without a pool of its own, the route's rollout must split (a shadow alone picks nothing). */
        ig_rollout_pick pick;
        if (route->rollout) ig_rollout_choose(route->rollout, NULL, NULL, NULL, 0, &pick);
        if (!route->rollout || pick.pool < 0) {
            ig_conf_fail(g->conf, r, err, "route needs a pool or a split");
            goto fail;
        }
    }
    if (!check_protocols(g, route, r, err) || !ig_conf_no_unknown(g->conf, r, err)) goto fail;
    g->n_routes++;
    route->stats = ig_gw_stats_get(IG_GW_STATS_ROUTE, route->name);
    if (!route->stats) return ig_conf_fail(g->conf, r, err, "out of memory");
    return true;
fail:
    ig_rollout_free(route->rollout);
    free(route->header_names);
    free(route->header_values);
    memset(route, 0, sizeof *route);
    return false;
}

static bool load_routes(ig_gw_config *g, const ig_conf_node *root, ig_error *err)
{
    const ig_conf_node *routes = ig_conf_require(g->conf, root, "routes", IG_CONF_SEQ, err);
    if (!routes) return false;
    if (routes->count == 0) return ig_conf_fail(g->conf, routes, err, "routes: at least one route is needed");
    const char **names = calloc(g->n_pools, sizeof *names);
    g->routes = calloc(routes->count, sizeof *g->routes);
    if (!names || !g->routes) {
        free(names);
        return ig_conf_fail(g->conf, routes, err, "out of memory");
    }
    for (size_t i = 0; i < g->n_pools; i++) names[i] = ig_gw_pool_name(g->pools[i]);
    bool ok = true;
    for (const ig_conf_node *r = routes->child; ok && r; r = r->next) ok = load_route(g, r, names, err);
    free(names);
    return ok;
}

ig_gw_config *ig_gw_config_load(const char *path, ig_rollout_log_fn decision_log, void *log_ctx,
                                ig_error *err)
{
    ig_gw_config *g = calloc(1, sizeof *g);
    if (!g) {
        ig_error_set(err, IG_ENOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&g->refs, 1);
    g->decision_log = decision_log;
    g->decision_log_ctx = log_ctx;
    char *copy = strdup(path);
    g->dir = copy ? strdup(dirname(copy)) : NULL;
    free(copy);
    if (!g->dir || !(g->conf = ig_conf_load_file(path, err))) goto fail;
    const ig_conf *c = g->conf;
    const ig_conf_node *root = ig_conf_root(c);
    int64_t workers;
    if (!ig_conf_str(c, root, "listen", "127.0.0.1:8080", &g->listen, err) ||
        !ig_conf_str(c, root, "admin_listen", NULL, &g->admin_listen, err) ||
        !ig_conf_str(c, root, "grpc_listen", NULL, &g->grpc_listen, err) ||
        !ig_conf_int(c, root, "workers", 0, 64, 0, &workers, err) ||
        !ig_conf_str(c, root, "access_log", NULL, &g->access_log, err))
        goto fail;
    g->workers = (int)workers;
    const ig_conf_node *lim = ig_conf_get(root, "limits");
    if (lim && !ig_conf_expect(c, lim, IG_CONF_MAP, err)) goto fail;
    int64_t max_req;
    if (!ig_conf_duration_ms(c, lim, "header_timeout", 10000, &g->header_timeout_ms, err) ||
        !ig_conf_duration_ms(c, lim, "idle_timeout", 60000, &g->idle_timeout_ms, err) ||
        !ig_conf_duration_ms(c, lim, "connect_timeout", 1000, &g->connect_timeout_ms, err) ||
        !ig_conf_int(c, lim, "max_request_bytes", 1024, (int64_t)1 << 34, 64 << 20, &max_req, err) ||
        !ig_conf_no_unknown(c, lim, err))
        goto fail;
    g->max_request_bytes = max_req;
    const ig_conf_node *cache = ig_conf_get(root, "cache");
    if (cache &&
        (!ig_conf_expect(c, cache, IG_CONF_MAP, err) ||
         !ig_conf_int(c, cache, "max_bytes", 0, (int64_t)1 << 40, 64 << 20, &g->cache_max_bytes, err) ||
         !ig_conf_no_unknown(c, cache, err)))
        goto fail;
    if (!load_pools(g, root, err) || !load_routes(g, root, err)) goto fail;
    if (!(g->rate_limit = ig_ratelimit_from_conf(c, ig_conf_get(root, "rate_limits"), err))) goto fail;
    g->limits_count_elements = ig_ratelimit_counts_elements(g->rate_limit);
    const ig_conf_node *auth = ig_conf_get(root, "auth");
    if (auth && !(g->auth = ig_auth_from_conf(c, auth, g->dir, err))) goto fail;
    const ig_conf_node *tls = ig_conf_get(root, "tls");
    if (tls && !(g->tls = ig_gw_tls_from_conf(c, tls, g->dir, err))) goto fail;
    if (!ig_conf_no_unknown(c, root, err)) goto fail;
    return g;
fail:
    config_free(g);
    return NULL;
}

void ig_gw_config_adopt(ig_gw_config *next, ig_gw_config *prev, int64_t now_ns)
{
    for (size_t i = 0; i < next->n_pools; i++)
        for (size_t j = 0; j < prev->n_pools; j++)
            if (!strcmp(ig_gw_pool_name(next->pools[i]), ig_gw_pool_name(prev->pools[j])))
                ig_gw_pool_adopt(next->pools[i], prev->pools[j], now_ns);
    for (size_t i = 0; i < next->n_routes; i++)
        for (size_t j = 0; j < prev->n_routes; j++)
            if (next->routes[i].rollout && prev->routes[j].rollout &&
                !strcmp(next->routes[i].name, prev->routes[j].name))
                ig_rollout_adopt(next->routes[i].rollout, prev->routes[j].rollout);
    ig_ratelimit_adopt(next->rate_limit, prev->rate_limit);
}

ig_gw_config *ig_gw_config_ref(ig_gw_config *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void ig_gw_config_release(ig_gw_config *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) config_free(c);
}
