/* Rollout: parses a route's split/pin/sticky/shadow/canary keys, picks a pool per request (pins, then
 * a sticky hash or the request's random bits mapped into the weight space) and routes responses and
 * shadow verdicts to the canary controller. Decisions are counted, kept in a small ring and logged. */
#include "gateway/rollout.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPLIT 32
#define RECENT 16
#define PPM 1000000u

typedef struct {
    char *name;
    int pool;
    int64_t weight;
} entry;

struct ig_rollout {
    /* immutable after load */
    int n;
    entry split[MAX_SPLIT];
    bool has_split; /* n > 0: either configured or implied by the canary's baseline */
    int64_t total;
    char *pin_header, *pin_cookie, *sticky_header;
    char *shadow_name;
    int shadow_pool;
    uint32_t shadow_ppm;
    double atol, rtol;
    ig_canary *canary;
    char *name;
    ig_rollout_log_fn log;
    void *log_ctx;

    _Atomic uint64_t counts[IG_CANARY_NKINDS];
    pthread_mutex_t log_mu;
    char *recent[RECENT]; /* ring of decision lines, under log_mu */
    int recent_next, recent_n;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *dup_lower(const char *s)
{
    char *d = dup_str(s);
    for (char *p = d; p && *p; p++) *p = (char)tolower((unsigned char)*p);
    return d;
}

void ig_rollout_free(ig_rollout *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) free(r->split[i].name);
    free(r->pin_header);
    free(r->pin_cookie);
    free(r->sticky_header);
    free(r->shadow_name);
    free(r->name);
    ig_canary_free(r->canary);
    for (int i = 0; i < RECENT; i++) free(r->recent[i]);
    pthread_mutex_destroy(&r->log_mu);
    free(r);
}

static bool resolve_name(const ig_conf *c, const ig_conf_node *v, ig_rollout_resolve_fn resolve, void *ctx,
                         int *index, ig_error *err)
{
    if (!*v->value) return ig_conf_fail(c, v, err, "empty pool name");
    *index = resolve ? resolve(ctx, v->value) : -1;
    if (*index < 0) return ig_conf_fail(c, v, err, "unknown pool '%s'", v->value);
    return true;
}

static bool parse_split(ig_rollout *r, const ig_conf *c, const ig_conf_node *n, ig_rollout_resolve_fn resolve,
                        void *ctx, ig_error *err)
{
    if (!ig_conf_expect(c, n, IG_CONF_SEQ, err)) return false;
    if (n->count < 1 || n->count > MAX_SPLIT)
        return ig_conf_fail(c, n, err, "split: expected 1 to %d pools", MAX_SPLIT);
    for (const ig_conf_node *it = n->child; it; it = it->next) {
        if (!ig_conf_expect(c, it, IG_CONF_MAP, err)) return false;
        const ig_conf_node *pv = ig_conf_require(c, it, "pool", IG_CONF_SCALAR, err);
        entry *e = &r->split[r->n];
        if (!pv || !resolve_name(c, pv, resolve, ctx, &e->pool, err)) return false;
        for (int i = 0; i < r->n; i++)
            if (!strcmp(r->split[i].name, pv->value))
                return ig_conf_fail(c, pv, err, "pool '%s' appears twice in the split", pv->value);
        if (!ig_conf_require(c, it, "weight", IG_CONF_SCALAR, err) ||
            !ig_conf_int(c, it, "weight", 0, 1000000, 0, &e->weight, err) || !ig_conf_no_unknown(c, it, err))
            return false;
        if (!(e->name = dup_str(pv->value))) return ig_conf_fail(c, pv, err, "out of memory");
        r->total += e->weight;
        r->n++;
    }
    if (r->total <= 0) return ig_conf_fail(c, n, err, "split: the weights must add up to more than zero");
    return true;
}

/* HTTP header names compare case-insensitively, so they are kept in lower case; cookie names are
 * case-sensitive and kept as written. */
static bool parse_header_name(const ig_conf *c, const ig_conf_node *map, const char *key, bool required,
                              bool lower, char **out, ig_error *err)
{
    const char *v;
    if (required && !ig_conf_require(c, map, key, IG_CONF_SCALAR, err)) return false;
    if (!ig_conf_str(c, map, key, NULL, &v, err)) return false;
    if (!v) return true;
    if (!*v) return ig_conf_fail(c, ig_conf_get(map, key), err, "%s: empty name", key);
    if (!(*out = lower ? dup_lower(v) : dup_str(v))) return ig_conf_fail(c, map, err, "out of memory");
    return true;
}

static bool parse(ig_rollout *r, const ig_conf *c, const ig_conf_node *rm, const ig_conf_node *split,
                  const ig_conf_node *pin, const ig_conf_node *sticky, const ig_conf_node *shadow,
                  const ig_conf_node *canary, ig_rollout_resolve_fn resolve, void *ctx, ig_error *err)
{
    if (split && !parse_split(r, c, split, resolve, ctx, err)) return false;
    if (canary && !(r->canary = ig_canary_from_conf(c, canary, resolve, ctx, err))) return false;
    if (r->canary) {
        const char *base = ig_canary_baseline_name(r->canary);
        if (!split) {
            /* No split: the baseline takes whatever the canary does not. */
            r->split[0].name = dup_str(base);
            if (!r->split[0].name) return ig_conf_fail(c, canary, err, "out of memory");
            r->split[0].pool = ig_canary_baseline_pool(r->canary);
            r->split[0].weight = 1;
            r->total = 1;
            r->n = 1;
        } else {
            bool found = false;
            for (int i = 0; i < r->n; i++) found |= !strcmp(r->split[i].name, base);
            if (!found)
                return ig_conf_fail(c, canary, err, "canary: baseline '%s' is not in the split", base);
        }
    }
    r->has_split = r->n > 0;
    if (pin) {
        if (!ig_conf_expect(c, pin, IG_CONF_MAP, err) ||
            !parse_header_name(c, pin, "header", false, true, &r->pin_header, err) ||
            !parse_header_name(c, pin, "cookie", false, false, &r->pin_cookie, err) ||
            !ig_conf_no_unknown(c, pin, err))
            return false;
        if (!r->pin_header && !r->pin_cookie)
            return ig_conf_fail(c, pin, err, "pin: needs a header or a cookie");
    }
    if (sticky && (!ig_conf_expect(c, sticky, IG_CONF_MAP, err) ||
                   !parse_header_name(c, sticky, "header", true, true, &r->sticky_header, err) ||
                   !ig_conf_no_unknown(c, sticky, err)))
        return false;
    if ((pin || sticky) && !r->has_split)
        return ig_conf_fail(c, pin ? pin : sticky, err, "%s: needs a split or a canary",
                            pin ? "pin" : "sticky");
    if (shadow) {
        double pct;
        if (!ig_conf_expect(c, shadow, IG_CONF_MAP, err)) return false;
        const ig_conf_node *pv = ig_conf_require(c, shadow, "pool", IG_CONF_SCALAR, err);
        if (!pv || !resolve_name(c, pv, resolve, ctx, &r->shadow_pool, err)) return false;
        if (!(r->shadow_name = dup_str(pv->value))) return ig_conf_fail(c, pv, err, "out of memory");
        if (!ig_conf_double(c, shadow, "percent", 0, 100, 100, &pct, err) ||
            !ig_conf_double(c, shadow, "atol", 0, 1e300, 1e-5, &r->atol, err) ||
            !ig_conf_double(c, shadow, "rtol", 0, 1e300, 1e-4, &r->rtol, err) ||
            !ig_conf_no_unknown(c, shadow, err))
            return false;
        r->shadow_ppm = (uint32_t)(pct * 10000 + 0.5);
    }
    (void)rm;
    return true;
}

ig_rollout *ig_rollout_from_conf(const ig_conf *c, const ig_conf_node *route_map,
                                 ig_rollout_resolve_fn resolve, void *ctx, ig_rollout_log_fn log,
                                 void *log_ctx, ig_error *err)
{
    if (!route_map || route_map->kind != IG_CONF_MAP) return NULL;
    const ig_conf_node *split = ig_conf_get(route_map, "split"), *pin = ig_conf_get(route_map, "pin"),
                       *sticky = ig_conf_get(route_map, "sticky"), *shadow = ig_conf_get(route_map, "shadow"),
                       *canary = ig_conf_get(route_map, "canary");
    if (!split && !pin && !sticky && !shadow && !canary) return NULL;
    ig_rollout *r = calloc(1, sizeof(*r));
    if (!r) {
        ig_conf_fail(c, route_map, err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->log_mu, NULL);
    r->shadow_pool = -1;
    r->log = log;
    r->log_ctx = log_ctx;
    if (!parse(r, c, route_map, split, pin, sticky, shadow, canary, resolve, ctx, err)) {
        ig_rollout_free(r);
        return NULL;
    }
    return r;
}

void ig_rollout_set_logger(ig_rollout *r, ig_rollout_log_fn log, void *log_ctx)
{
    r->log = log;
    r->log_ctx = log_ctx;
}

void ig_rollout_set_name(ig_rollout *r, const char *name)
{
    free(r->name);
    r->name = name ? dup_str(name) : NULL;
}

void ig_rollout_adopt(ig_rollout *next, const ig_rollout *prev)
{
    if (!next || !prev) return;
    if (next->canary && prev->canary && ig_canary_same_spec(next->canary, prev->canary))
        ig_canary_adopt(next->canary, prev->canary);
    for (int k = 0; k < IG_CANARY_NKINDS; k++)
        atomic_store(&next->counts[k], atomic_load(&((ig_rollout *)prev)->counts[k]));
    pthread_mutex_lock(&((ig_rollout *)prev)->log_mu);
    for (int i = 0; i < RECENT; i++) {
        free(next->recent[i]);
        next->recent[i] = prev->recent[i] ? dup_str(prev->recent[i]) : NULL;
    }
    next->recent_next = prev->recent_next;
    next->recent_n = prev->recent_n;
    pthread_mutex_unlock(&((ig_rollout *)prev)->log_mu);
}

/* splitmix64's finalizer: spreads hashes and random bits evenly over 64 bits. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return mix64(h);
}

/* Index into split of the pool named by the first len bytes of v, or -1. */
static int split_named(const ig_rollout *r, const char *v, size_t len, int *pool)
{
    for (int i = 0; i < r->n; i++)
        if (strlen(r->split[i].name) == len && !memcmp(r->split[i].name, v, len)) {
            *pool = r->split[i].pool;
            return i;
        }
    if (r->canary) {
        const char *cn = ig_canary_canary_name(r->canary);
        if (strlen(cn) == len && !memcmp(cn, v, len)) {
            *pool = ig_canary_canary_pool(r->canary);
            return 0;
        }
    }
    return -1;
}

static bool pin_from_value(const ig_rollout *r, const char *v, size_t len, int *pool)
{
    while (len && (*v == ' ' || *v == '\t')) v++, len--;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') v++, len -= 2;
    return split_named(r, v, len, pool) >= 0;
}

/* Finds cookie `name` in a raw Cookie header ("a=1; name=value"). */
static bool cookie_value(const char *h, const char *name, const char **v, size_t *len)
{
    size_t nl = strlen(name);
    while (*h) {
        while (*h == ' ' || *h == '\t' || *h == ';') h++;
        const char *end = strchr(h, ';');
        size_t l = end ? (size_t)(end - h) : strlen(h);
        const char *eq = memchr(h, '=', l);
        if (eq) {
            size_t kl = (size_t)(eq - h);
            while (kl && (h[kl - 1] == ' ' || h[kl - 1] == '\t')) kl--;
            if (kl == nl && !memcmp(h, name, nl)) {
                *v = eq + 1;
                *len = l - (size_t)(eq + 1 - h);
                return true;
            }
        }
        h += l;
    }
    return false;
}

/* Maps x (uniform over 64 bits) to a pool. While a canary is configured its weight takes the first
 * cw percent of the space, so a sticky key only ever moves from the rest to the canary as it grows. */
static int pick_point(const ig_rollout *r, uint64_t x, bool *is_canary)
{
    *is_canary = false;
    if (!r->canary) {
        int64_t at = (int64_t)(x % (uint64_t)r->total);
        for (int i = 0; i < r->n; i++) {
            if (at < r->split[i].weight) return r->split[i].pool;
            at -= r->split[i].weight;
        }
        return r->split[r->n - 1].pool;
    }
    int cpool = ig_canary_canary_pool(r->canary);
    uint64_t cppm = (uint64_t)ig_canary_weight(r->canary) * 10000u;
    uint64_t p = x % PPM;
    if (p < cppm) {
        *is_canary = true;
        return cpool;
    }
    int64_t others = 0;
    for (int i = 0; i < r->n; i++)
        if (r->split[i].pool != cpool) others += r->split[i].weight;
    if (others <= 0) return ig_canary_baseline_pool(r->canary);
    int64_t at = (int64_t)((p - cppm) * (uint64_t)others / (PPM - cppm));
    int last = -1;
    for (int i = 0; i < r->n; i++) {
        if (r->split[i].pool == cpool) continue;
        last = i;
        if (at < r->split[i].weight) return r->split[i].pool;
        at -= r->split[i].weight;
    }
    return r->split[last].pool;
}

void ig_rollout_choose(const ig_rollout *r, const char *pin_header, const char *cookie_header,
                       const char *sticky_value, uint64_t rand, ig_rollout_pick *out)
{
    out->pool = -1;
    out->shadow_pool = -1;
    out->canary = false;
    out->pinned = false;
    if (r->has_split) {
        int pool;
        const char *v;
        size_t len;
        if (r->pin_header && pin_header && pin_from_value(r, pin_header, strlen(pin_header), &pool))
            out->pinned = true;
        else if (r->pin_cookie && cookie_header && cookie_value(cookie_header, r->pin_cookie, &v, &len) &&
                 pin_from_value(r, v, len, &pool))
            out->pinned = true;
        if (out->pinned) {
            out->pool = pool;
            out->canary = r->canary && pool == ig_canary_canary_pool(r->canary);
        } else {
            uint64_t x = r->sticky_header && sticky_value ? hash_str(sticky_value) : mix64(rand);
            out->pool = pick_point(r, x, &out->canary);
        }
    }
    if (r->shadow_pool >= 0 && r->shadow_pool != out->pool &&
        mix64(rand ^ 0x9e3779b97f4a7c15ull) % PPM < r->shadow_ppm)
        out->shadow_pool = r->shadow_pool;
}

const char *ig_rollout_pin_header(const ig_rollout *r)
{
    return r->pin_header;
}

const char *ig_rollout_sticky_header(const ig_rollout *r)
{
    return r->sticky_header;
}

void ig_rollout_shadow_tolerance(const ig_rollout *r, double *atol, double *rtol)
{
    *atol = r->atol;
    *rtol = r->rtol;
}

static void emit(ig_rollout *r, const ig_canary_decision *d)
{
    atomic_fetch_add(&r->counts[d->kind], 1);
    char *line = ig_canary_decision_json(d, r->name);
    if (!line) return;
    if (r->log) r->log(r->log_ctx, line);
    pthread_mutex_lock(&r->log_mu);
    free(r->recent[r->recent_next]);
    r->recent[r->recent_next] = line;
    r->recent_next = (r->recent_next + 1) % RECENT;
    if (r->recent_n < RECENT) r->recent_n++;
    pthread_mutex_unlock(&r->log_mu);
}

void ig_rollout_record(ig_rollout *r, int pool, bool failed, int64_t latency_us, int64_t now_ns)
{
    if (!r || !r->canary) return;
    bool is_canary = pool == ig_canary_canary_pool(r->canary);
    if (!is_canary && pool != ig_canary_baseline_pool(r->canary)) return;
    ig_canary_decision d;
    if (ig_canary_record(r->canary, is_canary, failed, latency_us, now_ns, &d) != IG_CANARY_NONE) emit(r, &d);
}

void ig_rollout_record_shadow(ig_rollout *r, int shadow_pool, int compare_result, int64_t now_ns)
{
    if (r && r->canary && shadow_pool == ig_canary_canary_pool(r->canary))
        ig_canary_record_shadow(r->canary, compare_result, now_ns);
}

int ig_rollout_tick(ig_rollout *r, int64_t now_ns)
{
    if (!r || !r->canary) return IG_CANARY_NONE;
    ig_canary_decision d;
    int kind = ig_canary_tick(r->canary, now_ns, &d);
    if (kind != IG_CANARY_NONE) emit(r, &d);
    return kind;
}

int ig_rollout_promote(ig_rollout *r, const char *actor, int64_t now_ns)
{
    if (!r || !r->canary) return IG_ENOTFOUND;
    ig_canary_decision d;
    ig_canary_promote(r->canary, actor, now_ns, &d);
    emit(r, &d);
    return 0;
}

int ig_rollout_rollback(ig_rollout *r, const char *actor, int64_t now_ns)
{
    if (!r || !r->canary) return IG_ENOTFOUND;
    ig_canary_decision d;
    ig_canary_rollback(r->canary, actor, now_ns, &d);
    emit(r, &d);
    return 0;
}

uint64_t ig_rollout_decisions(const ig_rollout *r, int kind)
{
    if (!r || kind < 0 || kind >= IG_CANARY_NKINDS) return 0;
    return atomic_load(&((ig_rollout *)r)->counts[kind]);
}

char *ig_rollout_status_json(const ig_rollout *rc)
{
    ig_rollout *r = (ig_rollout *)rc;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (r->name) cJSON_AddStringToObject(o, "route", r->name);
    cJSON *sp = cJSON_AddArrayToObject(o, "split");
    for (int i = 0; sp && i < r->n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "pool", r->split[i].name);
        cJSON_AddNumberToObject(e, "weight", (double)r->split[i].weight);
        cJSON_AddItemToArray(sp, e);
    }
    if (r->pin_header) cJSON_AddStringToObject(o, "pin_header", r->pin_header);
    if (r->pin_cookie) cJSON_AddStringToObject(o, "pin_cookie", r->pin_cookie);
    if (r->sticky_header) cJSON_AddStringToObject(o, "sticky_header", r->sticky_header);
    if (r->shadow_name) {
        cJSON *sh = cJSON_AddObjectToObject(o, "shadow");
        cJSON_AddStringToObject(sh, "pool", r->shadow_name);
        cJSON_AddNumberToObject(sh, "percent", r->shadow_ppm / 10000.0);
        cJSON_AddNumberToObject(sh, "atol", r->atol);
        cJSON_AddNumberToObject(sh, "rtol", r->rtol);
    }
    if (r->canary) {
        char *cs = ig_canary_status_json(r->canary);
        if (cs) cJSON_AddItemToObject(o, "canary", cJSON_CreateRaw(cs));
        free(cs);
    }
    cJSON *dec = cJSON_AddObjectToObject(o, "decisions");
    for (int k = 1; dec && k < IG_CANARY_NKINDS; k++)
        cJSON_AddNumberToObject(dec, ig_canary_kind_name(k), (double)atomic_load(&r->counts[k]));
    cJSON *rec = cJSON_AddArrayToObject(o, "recent");
    pthread_mutex_lock(&r->log_mu);
    for (int i = 0; rec && i < r->recent_n; i++) {
        int at = (r->recent_next - r->recent_n + i + RECENT) % RECENT;
        cJSON_AddItemToArray(rec, cJSON_CreateRaw(r->recent[at]));
    }
    pthread_mutex_unlock(&r->log_mu);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int ig_rollout_canary_weight(const ig_rollout *r)
{
    return r->canary ? ig_canary_weight(r->canary) : -1;
}
