/* Rate limiter: the `rate_limits:` config, rule matching, the GCRA arithmetic, a bounded sharded local
 * bucket store, the tightest-rule choice and the RateLimit headers. The Redis backend's GCRA lives in
 * rate_limit_redis.c (same formulas, run atomically in a Lua script). */
#include "policy/rate_limit.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define RL_SHARDS 16
#define RL_MAX_RULES 64
#define RL_NAME_MAX 64

typedef enum { PER_KEY, PER_MODEL, PER_KEY_MODEL, PER_GLOBAL } rl_per;
typedef enum { COST_REQUESTS, COST_ELEMENTS } rl_cost;

/* One bucket: chained in its shard's table; the key is stored inline. */
typedef struct rl_bucket {
    struct rl_bucket *next;
    uint64_t hash;
    int64_t tat;
    size_t len;
    char key[];
} rl_bucket;

/* A shard: its own mutex, table and count, so threads hitting different keys rarely meet. */
typedef struct {
    pthread_mutex_t mu;
    rl_bucket **slots;
    size_t nslots, count;
} rl_shard;

typedef struct {
    char name[RL_NAME_MAX + 1];
    rl_per per;
    rl_cost cost;
    int64_t rate, period_ns, burst;
    char **models, **keys; /* glob filters, NULL-terminated, or NULL for "any" */
    size_t shard_cap;
    rl_shard shards[RL_SHARDS];
    _Atomic uint64_t allowed, denied, redis_errors;
} rl_rule;

struct ig_ratelimit {
    rl_rule *rules;
    size_t nrules;
    ig__rl_redis *redis; /* NULL: local backend */
};

/* ---- GCRA arithmetic (128-bit intermediates: n*P and (x)*N stay exact) ---- */

/* n*T in ns, rounded down: a request is charged at most 1 ns less than its share, never more. */
static int64_t gcra_span(int64_t period_ns, int64_t rate, uint64_t n)
{
    __int128 v = (__int128)n * period_ns / rate;
    return v > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)v;
}

/* How many cost-1 requests fit in d ns (floor), for d >= 0. */
static int64_t gcra_units(int64_t period_ns, int64_t rate, int64_t d)
{
    if (d <= 0) return 0;
    __int128 v = (__int128)d * rate / period_ns;
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Evaluates one item against a stored TAT (fresh: tat <= now). Returns the TAT to store if allowed. */
static int64_t gcra_eval(ig__rl_item *it, int64_t tat, int64_t now)
{
    int64_t tau = gcra_span(it->period_ns, it->rate, (uint64_t)it->burst);
    int64_t base = tat > now ? tat : now;
    if (it->cost > (uint64_t)it->burst) {
        it->allowed = false;
        it->retry_ns = -1;
        it->remaining = gcra_units(it->period_ns, it->rate, now + tau - base);
        it->reset_ns = base - now;
        return tat;
    }
    int64_t next = base + gcra_span(it->period_ns, it->rate, it->cost);
    if (next - tau <= now) {
        it->allowed = true;
        it->retry_ns = 0;
        it->remaining = gcra_units(it->period_ns, it->rate, now + tau - next);
        it->reset_ns = next - now;
        return next;
    }
    it->allowed = false;
    it->retry_ns = next - tau - now;
    it->remaining = gcra_units(it->period_ns, it->rate, now + tau - base);
    it->reset_ns = base - now;
    return tat;
}

/* ---- local store ---- */

static rl_bucket **shard_find(rl_shard *s, const char *key, size_t len, uint64_t h)
{
    if (!s->nslots) return NULL;
    rl_bucket **p = &s->slots[h & (s->nslots - 1)];
    for (; *p; p = &(*p)->next)
        if ((*p)->hash == h && (*p)->len == len && !memcmp((*p)->key, key, len)) return p;
    return NULL;
}

/* Drops buckets whose TAT has passed (they behave exactly like absent ones); if none did and the
 * shard is full, drops the bucket nearest to full (smallest TAT), which forgets the least debt. */
static void shard_make_room(rl_shard *s, size_t cap, int64_t now)
{
    rl_bucket **victim = NULL;
    for (size_t i = 0; i < s->nslots; i++) {
        for (rl_bucket **p = &s->slots[i]; *p;) {
            if ((*p)->tat <= now) {
                rl_bucket *dead = *p;
                *p = dead->next;
                free(dead);
                s->count--;
                continue;
            }
            if (!victim || (*p)->tat < (*victim)->tat) victim = p;
            p = &(*p)->next;
        }
    }
    if (s->count >= cap && victim) {
        rl_bucket *dead = *victim;
        *victim = dead->next;
        free(dead);
        s->count--;
    }
}

static void shard_grow(rl_shard *s)
{
    size_t n = s->nslots ? s->nslots * 2 : 16;
    rl_bucket **slots = calloc(n, sizeof(*slots));
    if (!slots) return; /* chains just get longer */
    for (size_t i = 0; i < s->nslots; i++) {
        for (rl_bucket *b = s->slots[i], *nx; b; b = nx) {
            nx = b->next;
            b->next = slots[b->hash & (n - 1)];
            slots[b->hash & (n - 1)] = b;
        }
    }
    free(s->slots);
    s->slots = slots;
    s->nslots = n;
}

/* Stores tat for key (caller holds the lock). Out of memory: the bucket is not tracked. */
static void shard_store(rl_shard *s, size_t cap, const char *key, size_t len, uint64_t h, int64_t tat,
                        int64_t now)
{
    rl_bucket **p = shard_find(s, key, len, h);
    if (p) {
        (*p)->tat = tat;
        return;
    }
    if (s->count >= cap) shard_make_room(s, cap, now);
    if (s->count >= s->nslots) shard_grow(s);
    if (!s->nslots) return;
    rl_bucket *b = malloc(sizeof(*b) + len);
    if (!b) return;
    memcpy(b->key, key, len);
    b->len = len;
    b->hash = h;
    b->tat = tat;
    b->next = s->slots[h & (s->nslots - 1)];
    s->slots[h & (s->nslots - 1)] = b;
    s->count++;
}

static void shard_clear(rl_shard *s)
{
    for (size_t i = 0; i < s->nslots; i++) {
        for (rl_bucket *b = s->slots[i], *nx; b; b = nx) {
            nx = b->next;
            free(b);
        }
    }
    free(s->slots);
    s->slots = NULL;
    s->nslots = s->count = 0;
}

/* ---- config ---- */

static void free_globs(char **g)
{
    if (!g) return;
    for (char **p = g; *p; p++) free(*p);
    free(g);
}

static bool parse_globs(const ig_conf *c, const ig_conf_node *rule, const char *key, char ***out,
                        ig_error *err)
{
    const ig_conf_node *n = ig_conf_get(rule, key);
    *out = NULL;
    if (!n) return true;
    if (n->kind == IG_CONF_SCALAR) {
        char **g = calloc(2, sizeof(*g));
        if (!g || !(g[0] = strdup(n->value))) {
            free(g);
            return ig_error_set(err, IG_ENOMEM, "out of memory"), false;
        }
        *out = g;
        return true;
    }
    if (n->kind != IG_CONF_SEQ || n->count == 0)
        return ig_conf_fail(c, n, err, "%s: expected a list of names or globs", key);
    char **g = calloc(n->count + 1, sizeof(*g));
    if (!g) return ig_error_set(err, IG_ENOMEM, "out of memory"), false;
    *out = g;
    size_t i = 0;
    for (const ig_conf_node *it = n->child; it; it = it->next) {
        if (it->kind != IG_CONF_SCALAR) return ig_conf_fail(c, it, err, "%s: expected a name or glob", key);
        if (!(g[i++] = strdup(it->value))) return ig_error_set(err, IG_ENOMEM, "out of memory"), false;
    }
    return true;
}

/* "N/s", "N/m", "N/h", "N/d" (also "N/sec", "N/second", ...: only the first letter counts). */
static bool parse_rate(const ig_conf *c, const ig_conf_node *n, int64_t *rate, int64_t *period_ns,
                       ig_error *err)
{
    const char *s = n->value;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *s == '-' || *end != '/' || v == 0 || v > (1ull << 53))
        return ig_conf_fail(c, n, err, "rate: expected N/s, N/m, N/h or N/d with 1 <= N <= 2^53, got '%s'",
                            s);
    static const struct {
        const char *word;
        int64_t ns;
    } units[] = {{"s", 1000000000ll},      {"sec", 1000000000ll},     {"second", 1000000000ll},
                 {"m", 60000000000ll},     {"min", 60000000000ll},    {"minute", 60000000000ll},
                 {"h", 3600000000000ll},   {"hour", 3600000000000ll}, {"d", 86400000000000ll},
                 {"day", 86400000000000ll}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (!strcmp(end + 1, units[i].word)) {
            *rate = (int64_t)v;
            *period_ns = units[i].ns;
            return true;
        }
    }
    return ig_conf_fail(c, n, err, "rate: unknown period in '%s' (use s, m, h or d)", s);
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RL_NAME_MAX) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.'))
            return false;
    return true;
}

static bool parse_rule(const ig_conf *c, const ig_conf_node *n, rl_rule *r, int64_t max_keys, ig_error *err)
{
    if (!ig_conf_expect(c, n, IG_CONF_MAP, err)) return false;
    const char *name, *per, *cost;
    if (!ig_conf_require(c, n, "name", IG_CONF_SCALAR, err) || !ig_conf_str(c, n, "name", NULL, &name, err))
        return false;
    if (!valid_name(name))
        return ig_conf_fail(c, ig_conf_get(n, "name"), err,
                            "name: '%s' must be 1-%d characters of letters, digits, '-', '_' or '.'", name,
                            RL_NAME_MAX);
    strcpy(r->name, name);
    if (!ig_conf_str(c, n, "per", "key", &per, err)) return false;
    if (!strcmp(per, "key"))
        r->per = PER_KEY;
    else if (!strcmp(per, "model"))
        r->per = PER_MODEL;
    else if (!strcmp(per, "key_model"))
        r->per = PER_KEY_MODEL;
    else if (!strcmp(per, "global"))
        r->per = PER_GLOBAL;
    else
        return ig_conf_fail(c, ig_conf_get(n, "per"), err,
                            "per: expected key, model, key_model or global, got '%s'", per);
    const ig_conf_node *rate = ig_conf_require(c, n, "rate", IG_CONF_SCALAR, err);
    if (!rate || !parse_rate(c, rate, &r->rate, &r->period_ns, err)) return false;
    if (!ig_conf_int(c, n, "burst", 1, (int64_t)1 << 53, r->rate, &r->burst, err)) return false;
    if (!ig_conf_str(c, n, "cost", "requests", &cost, err)) return false;
    if (!strcmp(cost, "requests"))
        r->cost = COST_REQUESTS;
    else if (!strcmp(cost, "elements"))
        r->cost = COST_ELEMENTS;
    else
        return ig_conf_fail(c, ig_conf_get(n, "cost"), err, "cost: expected requests or elements, got '%s'",
                            cost);
    if (!parse_globs(c, n, "models", &r->models, err) || !parse_globs(c, n, "keys", &r->keys, err))
        return false;
    if (!ig_conf_no_unknown(c, n, err)) return false;
    r->shard_cap = (size_t)((max_keys + RL_SHARDS - 1) / RL_SHARDS);
    return true;
}

static void rules_free(rl_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int s = 0; s < RL_SHARDS; s++) {
            shard_clear(&rules[i].shards[s]);
            pthread_mutex_destroy(&rules[i].shards[s].mu);
        }
        free_globs(rules[i].models);
        free_globs(rules[i].keys);
    }
    free(rules);
}

void ig_ratelimit_free(ig_ratelimit *rl)
{
    if (!rl) return;
    rules_free(rl->rules, rl->nrules);
    ig__rl_redis_free(rl->redis);
    free(rl);
}

ig_ratelimit *ig_ratelimit_from_conf(const ig_conf *c, const ig_conf_node *section, ig_error *err)
{
    ig_ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl) return ig_error_set(err, IG_ENOMEM, "out of memory"), NULL;
    if (!section) return rl;
    if (!ig_conf_expect(c, section, IG_CONF_MAP, err)) goto fail;
    const char *backend;
    int64_t max_keys;
    if (!ig_conf_str(c, section, "backend", "local", &backend, err)) goto fail;
    if (!ig_conf_int(c, section, "max_keys", 1, (int64_t)1 << 32, 100000, &max_keys, err)) goto fail;
    const ig_conf_node *redis = ig_conf_get(section, "redis");
    if (!strcmp(backend, "redis")) {
        if (!redis) {
            ig_conf_fail(c, ig_conf_get(section, "backend"), err, "backend: redis needs a 'redis:' section");
            goto fail;
        }
        if (!(rl->redis = ig__rl_redis_from_conf(c, redis, err))) goto fail;
    } else if (strcmp(backend, "local")) {
        ig_conf_fail(c, ig_conf_get(section, "backend"), err, "backend: expected local or redis, got '%s'",
                     backend);
        goto fail;
    } else if (redis) {
        /* A local backend still checks a `redis:` section it carries (ready for switching over). */
        ig__rl_redis *r = ig__rl_redis_from_conf(c, redis, err);
        if (!r) goto fail;
        ig__rl_redis_free(r);
    }
    const ig_conf_node *rules = ig_conf_get(section, "rules");
    if (rules) {
        if (!ig_conf_expect(c, rules, IG_CONF_SEQ, err)) goto fail;
        if (rules->count > RL_MAX_RULES) {
            ig_conf_fail(c, rules, err, "rules: at most %d rules, got %zu", RL_MAX_RULES, rules->count);
            goto fail;
        }
        rl->rules = calloc(rules->count ? rules->count : 1, sizeof(*rl->rules));
        if (!rl->rules) {
            ig_error_set(err, IG_ENOMEM, "out of memory");
            goto fail;
        }
        for (const ig_conf_node *n = rules->child; n; n = n->next) {
            rl_rule *r = &rl->rules[rl->nrules];
            for (int s = 0; s < RL_SHARDS; s++) pthread_mutex_init(&r->shards[s].mu, NULL);
            rl->nrules++;
            if (!parse_rule(c, n, r, max_keys, err)) goto fail;
            for (size_t j = 0; j + 1 < rl->nrules; j++) {
                if (!strcmp(rl->rules[j].name, r->name)) {
                    ig_conf_fail(c, n, err, "rules: duplicate rule name '%s'", r->name);
                    goto fail;
                }
            }
        }
    }
    if (!ig_conf_no_unknown(c, section, err)) goto fail;
    return rl;
fail:
    ig_ratelimit_free(rl);
    return NULL;
}

/* ---- checks ---- */

static bool glob_any(char **globs, const char *s)
{
    if (!globs) return true;
    if (!s) return false;
    for (char **g = globs; *g; g++)
        if (fnmatch(*g, s, 0) == 0) return true;
    return false;
}

static bool rule_matches(const rl_rule *r, const ig_rl_request *rq)
{
    if (r->cost == COST_ELEMENTS && rq->elements == 0) return false;
    return glob_any(r->models, rq->model) && glob_any(r->keys, rq->key);
}

/* "RULE:" then the rule's partition: the key, the model, "LEN:KEY|MODEL" or nothing. */
static char *bucket_key(const rl_rule *r, const ig_rl_request *rq, char *buf, size_t cap)
{
    const char *key = rq->key ? rq->key : "", *model = rq->model ? rq->model : "";
    int n;
    switch (r->per) {
    case PER_KEY:
        n = snprintf(buf, cap, "%s:%s", r->name, key);
        break;
    case PER_MODEL:
        n = snprintf(buf, cap, "%s:%s", r->name, model);
        break;
    case PER_KEY_MODEL:
        n = snprintf(buf, cap, "%s:%zu:%s|%s", r->name, strlen(key), key, model);
        break;
    default:
        n = snprintf(buf, cap, "%s:", r->name);
        break;
    }
    if (n < 0) return NULL;
    if ((size_t)n < cap) return buf;
    char *h = malloc((size_t)n + 1);
    if (!h) return NULL;
    return bucket_key(r, rq, h, (size_t)n + 1) == h ? h : (free(h), NULL);
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a <= 0 ? 0 : (a + b - 1) / b;
}

/* Whether item a is tighter than b (see the header). */
static bool tighter(const ig__rl_item *a, const ig__rl_item *b)
{
    if (a->allowed != b->allowed) return !a->allowed;
    if (!a->allowed) {
        if ((a->retry_ns < 0) != (b->retry_ns < 0)) return a->retry_ns < 0;
        return a->retry_ns > b->retry_ns;
    }
    return (__int128)a->remaining * b->burst < (__int128)b->remaining * a->burst;
}

static void format_headers(ig_rl_decision *out, const ig__rl_item *t)
{
    int64_t window_ns = gcra_span(t->period_ns, t->rate, (uint64_t)t->burst);
    int64_t w = ceil_div(window_ns, 1000000000);
    if (w < 1) w = 1;
    int n = snprintf(out->headers, sizeof(out->headers),
                     "RateLimit-Policy: \"%s\";q=%" PRId64 ";w=%" PRId64 "\r\nRateLimit: \"%s\";r=%" PRId64
                     ";t=%" PRId64 "\r\n",
                     out->rule, out->limit, w, out->rule, out->remaining, out->reset_s);
    if (!out->allowed && out->retry_after_ms > 0 && n > 0 && (size_t)n < sizeof(out->headers))
        snprintf(out->headers + n, sizeof(out->headers) - (size_t)n, "Retry-After: %" PRId64 "\r\n",
                 ceil_div(out->retry_after_ms, 1000));
}

void ig_ratelimit_check(ig_ratelimit *rl, const ig_rl_request *rq, int64_t now_ns, ig_rl_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->allowed = true;
    ig__rl_item items[RL_MAX_RULES];
    rl_rule *ruleof[RL_MAX_RULES];
    char bufs[RL_MAX_RULES][160];
    size_t n = 0;
    for (size_t i = 0; i < rl->nrules; i++) {
        rl_rule *r = &rl->rules[i];
        if (!rule_matches(r, rq)) continue;
        char *b = bucket_key(r, rq, bufs[n], sizeof(bufs[n]));
        if (!b) continue; /* out of memory: this rule cannot be tracked */
        ig__rl_item *it = &items[n];
        memset(it, 0, sizeof(*it));
        it->bucket = b;
        it->period_ns = r->period_ns;
        it->rate = r->rate;
        it->burst = r->burst;
        it->cost = r->cost == COST_ELEMENTS ? rq->elements : 1;
        ruleof[n++] = r;
    }
    if (n == 0) return;

    bool all = true;
    if (rl->redis) {
        if (ig__rl_redis_check(rl->redis, items, n, now_ns) < 0) {
            out->backend_error = true;
            out->allowed = ig__rl_redis_fail_open(rl->redis);
            for (size_t i = 0; i < n; i++) atomic_fetch_add(&ruleof[i]->redis_errors, 1);
            if (!out->allowed) {
                out->retry_after_ms = 1000;
                snprintf(out->headers, sizeof(out->headers), "Retry-After: 1\r\n");
            }
            goto done;
        }
        for (size_t i = 0; i < n; i++) all = all && items[i].allowed;
    } else {
        /* Every matching rule's shard is locked (in rule order, so no two checks deadlock) before any
         * is charged: either all rules take the request or none does. */
        rl_shard *locked[RL_MAX_RULES];
        int64_t next_tat[RL_MAX_RULES];
        uint64_t hashes[RL_MAX_RULES];
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(items[i].bucket);
            hashes[i] = XXH3_64bits(items[i].bucket, len);
            locked[i] = &ruleof[i]->shards[(hashes[i] >> 60) % RL_SHARDS];
            pthread_mutex_lock(&locked[i]->mu);
            rl_bucket **p = shard_find(locked[i], items[i].bucket, len, hashes[i]);
            int64_t tat = p ? (*p)->tat : INT64_MIN;
            next_tat[i] = gcra_eval(&items[i], tat, now_ns);
            all = all && items[i].allowed;
        }
        for (size_t i = n; i-- > 0;) {
            if (all)
                shard_store(locked[i], ruleof[i]->shard_cap, items[i].bucket, strlen(items[i].bucket),
                            hashes[i], next_tat[i], now_ns);
            pthread_mutex_unlock(&locked[i]->mu);
        }
        /* A rule that allowed while another denied reports its untouched state: base = max(TAT, now). */
        for (size_t i = 0; i < n && !all; i++) {
            ig__rl_item *it = &items[i];
            if (!it->allowed) continue;
            int64_t base_gap = it->reset_ns - gcra_span(it->period_ns, it->rate, it->cost);
            if (base_gap < 0) base_gap = 0;
            it->reset_ns = base_gap;
            it->remaining = gcra_units(it->period_ns, it->rate,
                                       gcra_span(it->period_ns, it->rate, (uint64_t)it->burst) - base_gap);
        }
    }

    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        if (all)
            atomic_fetch_add(&ruleof[i]->allowed, 1);
        else if (!items[i].allowed)
            atomic_fetch_add(&ruleof[i]->denied, 1);
        if (i && tighter(&items[i], &items[t])) t = i;
    }
    out->allowed = all;
    out->rule = ruleof[t]->name;
    out->limit = items[t].burst;
    out->remaining = items[t].remaining;
    out->reset_s = ceil_div(items[t].reset_ns, 1000000000);
    if (!all) out->retry_after_ms = items[t].retry_ns < 0 ? -1 : ceil_div(items[t].retry_ns, 1000000);
    if (!all && out->retry_after_ms == 0) out->retry_after_ms = 1;
    format_headers(out, &items[t]);
done:
    for (size_t i = 0; i < n; i++)
        if (items[i].bucket != bufs[i]) free((char *)items[i].bucket);
}

/* ---- reload and counters ---- */

void ig_ratelimit_adopt(ig_ratelimit *next, ig_ratelimit *prev)
{
    if (!next || !prev) return;
    for (size_t i = 0; i < next->nrules; i++) {
        rl_rule *a = &next->rules[i];
        for (size_t j = 0; j < prev->nrules; j++) {
            rl_rule *b = &prev->rules[j];
            if (strcmp(a->name, b->name) || a->per != b->per || a->cost != b->cost || a->rate != b->rate ||
                a->period_ns != b->period_ns || a->burst != b->burst)
                continue;
            atomic_store(&a->allowed, atomic_load(&b->allowed));
            atomic_store(&a->denied, atomic_load(&b->denied));
            atomic_store(&a->redis_errors, atomic_load(&b->redis_errors));
            if (next->redis) break;
            /* Same hash and shard layout, so buckets go to the same shard index in next. */
            for (int s = 0; s < RL_SHARDS; s++) {
                pthread_mutex_lock(&b->shards[s].mu);
                pthread_mutex_lock(&a->shards[s].mu);
                rl_shard *from = &b->shards[s];
                for (size_t k = 0; k < from->nslots; k++)
                    for (rl_bucket *x = from->slots[k]; x; x = x->next)
                        shard_store(&a->shards[s], a->shard_cap, x->key, x->len, x->hash, x->tat, INT64_MIN);
                pthread_mutex_unlock(&a->shards[s].mu);
                pthread_mutex_unlock(&b->shards[s].mu);
            }
            break;
        }
    }
}

size_t ig_ratelimit_rule_count(const ig_ratelimit *rl)
{
    return rl ? rl->nrules : 0;
}

bool ig_ratelimit_stats(ig_ratelimit *rl, size_t i, ig_rl_stats *out)
{
    if (!rl || i >= rl->nrules) return false;
    rl_rule *r = &rl->rules[i];
    out->name = r->name;
    out->allowed = atomic_load(&r->allowed);
    out->denied = atomic_load(&r->denied);
    out->redis_errors = atomic_load(&r->redis_errors);
    out->buckets = 0;
    for (int s = 0; s < RL_SHARDS; s++) {
        pthread_mutex_lock(&r->shards[s].mu);
        out->buckets += r->shards[s].count;
        pthread_mutex_unlock(&r->shards[s].mu);
    }
    return true;
}

bool ig_ratelimit_counts_elements(const ig_ratelimit *rl)
{
    for (size_t i = 0; rl && i < rl->nrules; i++)
        if (rl->rules[i].cost == COST_ELEMENTS) return true;
    return false;
}
