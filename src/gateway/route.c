/* Route parsing and matching (see route.h). */
#include "gateway/route.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool ig_gw_route_parse_model_path(const char *path, size_t len, char *model, size_t model_cap, char *version,
                                  size_t version_cap)
{
    static const char prefix[] = "/v2/models/";
    const size_t plen = sizeof prefix - 1;
    model[0] = version[0] = '\0';
    if (len <= plen || memcmp(path, prefix, plen)) return false;
    const char *p = path + plen, *end = path + len;
    const char *q = memchr(path, '?', len);
    if (q) end = q;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    size_t mlen = (size_t)((slash ? slash : end) - p);
    if (mlen == 0 || mlen >= model_cap) return false;
    memcpy(model, p, mlen);
    model[mlen] = '\0';
    if (slash && (size_t)(end - slash) > 10 && !memcmp(slash, "/versions/", 10)) {
        const char *v = slash + 10;
        const char *vend = memchr(v, '/', (size_t)(end - v));
        size_t vlen = (size_t)((vend ? vend : end) - v);
        if (vlen < version_cap) {
            memcpy(version, v, vlen);
            version[vlen] = '\0';
        }
    }
    return true;
}

bool ig_gw_route_from_conf(const ig_conf *c, const ig_conf_node *map, const char *const *pool_names,
                           size_t n_pools, ig_gw_route *out, ig_error *err)
{
    memset(out, 0, sizeof *out);
    if (!ig_conf_expect(c, map, IG_CONF_MAP, err)) return false;
    if (!ig_conf_str(c, map, "name", NULL, &out->name, err)) return false;
    const ig_conf_node *match = ig_conf_get(map, "match");
    if (match) {
        if (!ig_conf_expect(c, match, IG_CONF_MAP, err) ||
            !ig_conf_str(c, match, "model", NULL, &out->model_glob, err) ||
            !ig_conf_str(c, match, "version", NULL, &out->version, err) ||
            !ig_conf_str(c, match, "path_prefix", NULL, &out->path_prefix, err))
            return false;
        const ig_conf_node *h = ig_conf_get(match, "headers");
        if (h) {
            if (!ig_conf_expect(c, h, IG_CONF_MAP, err)) return false;
            out->n_headers = h->count;
            /* The names and values are the tree's strings; only the arrays are ours. */
            out->header_names = calloc(h->count ? h->count : 1, sizeof *out->header_names);
            out->header_values = calloc(h->count ? h->count : 1, sizeof *out->header_values);
            if (!out->header_names || !out->header_values) return ig_conf_fail(c, h, err, "out of memory");
            size_t i = 0;
            for (const ig_conf_node *m = h->child; m; m = m->next, i++) {
                if (!ig_conf_expect(c, m, IG_CONF_SCALAR, err)) return false;
                out->header_names[i] = m->key;
                out->header_values[i] = m->value;
            }
        }
        if (!ig_conf_no_unknown(c, match, err)) return false;
    }
    const char *pool;
    if (!ig_conf_str(c, map, "pool", NULL, &pool, err)) return false;
    out->pool = SIZE_MAX;
    if (pool) {
        size_t i = 0;
        while (i < n_pools && strcmp(pool_names[i], pool)) i++;
        if (i == n_pools) return ig_conf_fail(c, ig_conf_get(map, "pool"), err, "unknown pool '%s'", pool);
        out->pool = i;
    }
    int64_t retries;
    if (!ig_conf_duration_ms(c, map, "timeout", 15000, &out->timeout_ms, err) ||
        !ig_conf_int(c, map, "retries", 0, 5, 2, &retries, err) ||
        !ig_conf_bool(c, map, "cache", false, &out->cache, err))
        return false;
    if (out->timeout_ms == 0)
        return ig_conf_fail(c, ig_conf_get(map, "timeout"), err, "timeout must be above 0");
    out->retries = (int)retries;
    if (!out->name)
        out->name = out->model_glob ? out->model_glob : out->path_prefix ? out->path_prefix : "default";
    return true;
}

static bool header_matches(const ig_gw_route *r, const ig_gw_route_input *in)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        size_t len;
        const char *v = in->header ? in->header(in->ctx, r->header_names[i], &len) : NULL;
        if (!v || len != strlen(r->header_values[i]) || memcmp(v, r->header_values[i], len)) return false;
    }
    return true;
}

const ig_gw_route *ig_gw_route_match(const ig_gw_route *routes, size_t n, const ig_gw_route_input *in)
{
    for (size_t i = 0; i < n; i++) {
        const ig_gw_route *r = &routes[i];
        if (r->model_glob && (!in->model || fnmatch(r->model_glob, in->model, 0))) continue;
        if (r->version && (!in->version || strcmp(r->version, in->version))) continue;
        if (r->path_prefix) {
            size_t pl = strlen(r->path_prefix);
            if (in->path_len < pl || memcmp(in->path, r->path_prefix, pl)) continue;
        }
        if (!header_matches(r, in)) continue;
        return r;
    }
    return NULL;
}
