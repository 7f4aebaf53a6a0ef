/* Passive outlier ejection (consecutive 5xx / connect failures, growing ejection time, max ejection
 * percent) and active health-check thresholds, plus the parsers of their config sections. */
#include "gateway/outlier.h"

#include <stdio.h>
#include <string.h>

#define MS 1000000LL

void ig_gw_outlier_conf_default(ig_gw_outlier_conf *o)
{
    o->consecutive_5xx = 5;
    o->consecutive_connect_failure = 5;
    o->base_ejection_ns = 30000 * MS;
    o->max_ejection_ns = 300000 * MS;
    o->max_ejection_percent = 10;
}

void ig_gw_health_conf_default(ig_gw_health_conf *h)
{
    memset(h, 0, sizeof(*h));
    h->interval_ns = 1000 * MS;
    h->timeout_ns = 500 * MS;
    h->unhealthy_threshold = 2;
    h->healthy_threshold = 2;
    snprintf(h->path, sizeof(h->path), "/v2/health/ready");
}

bool ig_gw_outlier_conf_parse(const ig_conf *c, const ig_conf_node *map, ig_gw_outlier_conf *out,
                              ig_error *err)
{
    ig_gw_outlier_conf_default(out);
    if (!map) return true;
    if (!ig_conf_expect(c, map, IG_CONF_MAP, err)) return false;
    int64_t c5, cc, base, max, pct;
    if (!ig_conf_int(c, map, "consecutive_5xx", 0, 1000000, 5, &c5, err) ||
        !ig_conf_int(c, map, "consecutive_connect_failure", 0, 1000000, 5, &cc, err) ||
        !ig_conf_duration_ms(c, map, "base_ejection", 30000, &base, err) ||
        !ig_conf_duration_ms(c, map, "max_ejection", 300000, &max, err) ||
        !ig_conf_int(c, map, "max_ejection_percent", 0, 100, 10, &pct, err))
        return false;
    if (base <= 0)
        return ig_conf_fail(c, ig_conf_get(map, "base_ejection"), err, "base_ejection must be > 0");
    if (max < base)
        return ig_conf_fail(c, ig_conf_get(map, "max_ejection"), err,
                            "max_ejection must be >= base_ejection");
    out->consecutive_5xx = (uint32_t)c5;
    out->consecutive_connect_failure = (uint32_t)cc;
    out->base_ejection_ns = base * MS;
    out->max_ejection_ns = max * MS;
    out->max_ejection_percent = (uint32_t)pct;
    return ig_conf_no_unknown(c, map, err);
}

/* Model names go into a URL path: only unreserved characters, so nothing needs escaping. */
static bool model_name_ok(const char *s)
{
    if (!*s) return false;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.' || ch == '~'))
            return false;
    }
    return true;
}

bool ig_gw_health_conf_parse(const ig_conf *c, const ig_conf_node *map, ig_gw_health_conf *out, ig_error *err)
{
    ig_gw_health_conf_default(out);
    if (!map) return true;
    if (!ig_conf_expect(c, map, IG_CONF_MAP, err)) return false;
    int64_t interval, timeout, unh, hl;
    const char *path;
    if (!ig_conf_duration_ms(c, map, "interval", 1000, &interval, err) ||
        !ig_conf_duration_ms(c, map, "timeout", 500, &timeout, err) ||
        !ig_conf_int(c, map, "unhealthy_threshold", 1, 1000, 2, &unh, err) ||
        !ig_conf_int(c, map, "healthy_threshold", 1, 1000, 2, &hl, err) ||
        !ig_conf_str(c, map, "path", "/v2/health/ready", &path, err))
        return false;
    if (interval <= 0) return ig_conf_fail(c, ig_conf_get(map, "interval"), err, "interval must be > 0");
    if (timeout <= 0) return ig_conf_fail(c, ig_conf_get(map, "timeout"), err, "timeout must be > 0");
    if (path[0] != '/' || strlen(path) >= sizeof(out->path) || strpbrk(path, " \r\n\t"))
        return ig_conf_fail(c, ig_conf_get(map, "path"), err, "path must start with '/', without spaces");
    const ig_conf_node *models = ig_conf_get(map, "models");
    if (models) {
        if (!ig_conf_expect(c, models, IG_CONF_SEQ, err)) return false;
        for (const ig_conf_node *m = models->child; m; m = m->next) {
            if (m->kind != IG_CONF_SCALAR || !model_name_ok(m->value) ||
                strlen(m->value) >= sizeof(out->models[0]))
                return ig_conf_fail(c, m, err, "models: expected model names ([A-Za-z0-9._~-])");
            if (out->n_models == IG_GW_HEALTH_MAX_MODELS)
                return ig_conf_fail(c, m, err, "models: at most %d", IG_GW_HEALTH_MAX_MODELS);
            snprintf(out->models[out->n_models++], sizeof(out->models[0]), "%s", m->value);
        }
    }
    out->enabled = true;
    out->interval_ns = interval * MS;
    out->timeout_ns = timeout * MS;
    out->unhealthy_threshold = (uint32_t)unh;
    out->healthy_threshold = (uint32_t)hl;
    snprintf(out->path, sizeof(out->path), "%s", path);
    return ig_conf_no_unknown(c, map, err);
}

bool ig_gw_outlier_ejected(const ig_gw_outlier_state *s, int64_t now_ns)
{
    return now_ns < atomic_load_explicit(&s->ejected_until_ns, memory_order_acquire);
}

bool ig_gw_outlier_record(ig_gw_outlier_state *s, const ig_gw_outlier_conf *o, int status, int64_t now_ns)
{
    uint32_t c5 = 0, cc = 0;
    if (status == 0) {
        cc = atomic_fetch_add_explicit(&s->consecutive_connect_failure, 1, memory_order_relaxed) + 1;
        c5 = atomic_fetch_add_explicit(&s->consecutive_5xx, 1, memory_order_relaxed) + 1;
    } else {
        /* Stores only when needed: the common success path then leaves the cache line shared. */
        if (atomic_load_explicit(&s->consecutive_connect_failure, memory_order_relaxed))
            atomic_store_explicit(&s->consecutive_connect_failure, 0, memory_order_relaxed);
        if (status >= 500) {
            c5 = atomic_fetch_add_explicit(&s->consecutive_5xx, 1, memory_order_relaxed) + 1;
        } else if (atomic_load_explicit(&s->consecutive_5xx, memory_order_relaxed)) {
            atomic_store_explicit(&s->consecutive_5xx, 0, memory_order_relaxed);
        }
    }
    bool hit = (o->consecutive_5xx && c5 >= o->consecutive_5xx) ||
               (o->consecutive_connect_failure && cc >= o->consecutive_connect_failure);
    return hit && !ig_gw_outlier_ejected(s, now_ns);
}

int64_t ig_gw_outlier_eject(ig_gw_outlier_state *s, const ig_gw_outlier_conf *o, int64_t now_ns)
{
    int64_t prev_until = atomic_load(&s->ejected_until_ns);
    uint32_t times = atomic_load(&s->times_ejected);
    if (prev_until > 0 && now_ns > prev_until && o->base_ejection_ns > 0) {
        int64_t decay = (now_ns - prev_until) / o->base_ejection_ns;
        times = decay >= (int64_t)times ? 0 : times - (uint32_t)decay;
    }
    times++;
    int64_t len = o->base_ejection_ns;
    if (times > 1 && len > 0 && o->max_ejection_ns / len < (int64_t)times) {
        len = o->max_ejection_ns;
    } else {
        len *= times;
        if (len > o->max_ejection_ns) len = o->max_ejection_ns;
    }
    atomic_store(&s->times_ejected, times);
    atomic_store(&s->consecutive_5xx, 0);
    atomic_store(&s->consecutive_connect_failure, 0);
    atomic_fetch_add(&s->ejections_total, 1);
    atomic_store_explicit(&s->ejected_until_ns, now_ns + len, memory_order_release);
    return len;
}

size_t ig_gw_outlier_max_ejected(const ig_gw_outlier_conf *o, size_t n)
{
    size_t m = n * o->max_ejection_percent / 100;
    return m < 1 ? 1 : m;
}

bool ig_gw_outlier_health_report(ig_gw_outlier_state *s, const ig_gw_health_conf *h, bool pass)
{
    bool unhealthy = atomic_load_explicit(&s->unhealthy, memory_order_relaxed);
    if (pass) {
        s->hc_failures = 0;
        if (!unhealthy) return false;
        if (++s->hc_passes < h->healthy_threshold) return false;
        s->hc_passes = 0;
        atomic_store_explicit(&s->unhealthy, false, memory_order_release);
        return true;
    }
    s->hc_passes = 0;
    if (unhealthy) return false;
    if (++s->hc_failures < h->unhealthy_threshold) return false;
    s->hc_failures = 0;
    atomic_store_explicit(&s->unhealthy, true, memory_order_release);
    return true;
}
