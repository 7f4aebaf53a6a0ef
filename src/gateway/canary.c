/* The canary controller: configuration, per-window counters (requests, failures and a log-spaced
 * latency histogram for each side, shadow verdicts), the judge and its decisions. Counters sit
 * behind a mutex held for a few increments; the current weight is an atomic the pick path reads. */
#include "gateway/canary.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bucket 0 holds [0, 1) us; bucket i >= 1 holds [2^((i-1)/4), 2^(i/4)) us, so each bucket is ~19%
 * wide and the last one ends beyond an hour. */
#define NBUCKETS 128
#define PER_OCTAVE 4

typedef struct {
    uint64_t requests, failures, samples;
    uint32_t hist[NBUCKETS];
} side;

struct ig_canary {
    /* specification, immutable after load */
    char *baseline_name, *canary_name;
    int baseline, canary;
    int nsteps;
    int steps[IG_CANARY_MAX_STEPS];
    int64_t interval_ms, interval_requests, min_requests;
    double max_error_rate, max_error_rate_increase; /* increase < 0: unset */
    double max_p99_ratio;                           /* <= 0: unset */
    int64_t max_p99_ms;                             /* <= 0: unset */
    double max_disagreement;                        /* < 0: unset */

    pthread_mutex_t mu;
    _Atomic int weight; /* percent of traffic for the canary */
    _Atomic int state;
    int step;             /* under mu */
    bool started;         /* window_start is set */
    int64_t window_start; /* ns */
    side sides[2];        /* [0] baseline, [1] canary */
    uint64_t compared, disagreed, incomparable;
};

static int bucket_of(int64_t us)
{
    if (us < 1) return 0;
    int b = 1 + (int)floor(PER_OCTAVE * log2((double)us));
    return b < 1 ? 1 : b >= NBUCKETS ? NBUCKETS - 1 : b;
}

static double bucket_lo(int b)
{
    return b == 0 ? 0 : exp2((double)(b - 1) / PER_OCTAVE);
}

static double bucket_hi(int b)
{
    return exp2((double)b / PER_OCTAVE);
}

/* The q-quantile, interpolated linearly inside the bucket where the rank falls. */
static double quantile_us(const uint32_t *hist, uint64_t n, double q)
{
    if (!n) return 0;
    double rank = q * (double)n, cum = 0;
    for (int b = 0; b < NBUCKETS; b++) {
        if (!hist[b]) continue;
        if (cum + hist[b] >= rank) {
            double f = (rank - cum) / hist[b];
            return bucket_lo(b) + f * (bucket_hi(b) - bucket_lo(b));
        }
        cum += hist[b];
    }
    return bucket_hi(NBUCKETS - 1);
}

double ig_canary_hist_quantile_us(const int64_t *samples, int n, double q)
{
    uint32_t hist[NBUCKETS] = {0};
    for (int i = 0; i < n; i++) hist[bucket_of(samples[i])]++;
    return quantile_us(hist, (uint64_t)(n > 0 ? n : 0), q);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static bool pool_member(const ig_conf *c, const ig_conf_node *n, const char *key,
                        ig_rollout_resolve_fn resolve, void *ctx, char **name, int *index, ig_error *err)
{
    const ig_conf_node *v = ig_conf_require(c, n, key, IG_CONF_SCALAR, err);
    if (!v) return false;
    if (!*v->value) return ig_conf_fail(c, v, err, "%s: empty pool name", key);
    *index = resolve ? resolve(ctx, v->value) : -1;
    if (*index < 0) return ig_conf_fail(c, v, err, "unknown pool '%s'", v->value);
    if (!(*name = dup_str(v->value))) return ig_conf_fail(c, v, err, "out of memory");
    return true;
}

ig_canary *ig_canary_from_conf(const ig_conf *c, const ig_conf_node *n, ig_rollout_resolve_fn resolve,
                               void *ctx, ig_error *err)
{
    if (!ig_conf_expect(c, n, IG_CONF_MAP, err)) return NULL;
    ig_canary *k = calloc(1, sizeof(*k));
    if (!k) {
        ig_conf_fail(c, n, err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&k->mu, NULL);
    if (!pool_member(c, n, "baseline", resolve, ctx, &k->baseline_name, &k->baseline, err) ||
        !pool_member(c, n, "canary", resolve, ctx, &k->canary_name, &k->canary, err))
        goto fail;
    if (!strcmp(k->baseline_name, k->canary_name) || k->baseline == k->canary) {
        ig_conf_fail(c, ig_conf_get(n, "canary"), err, "canary and baseline must be different pools");
        goto fail;
    }
    const ig_conf_node *steps = ig_conf_require(c, n, "steps", IG_CONF_SEQ, err);
    if (!steps) goto fail;
    if (steps->count < 1 || steps->count > IG_CANARY_MAX_STEPS) {
        ig_conf_fail(c, steps, err, "steps: expected 1 to %d percentages", IG_CANARY_MAX_STEPS);
        goto fail;
    }
    for (const ig_conf_node *s = steps->child; s; s = s->next) {
        int64_t v;
        if (!ig_conf_scalar_int(c, s, 1, 100, &v, err)) goto fail;
        if (k->nsteps && v <= k->steps[k->nsteps - 1]) {
            ig_conf_fail(c, s, err, "steps: percentages must increase");
            goto fail;
        }
        k->steps[k->nsteps++] = (int)v;
    }
    bool has_interval = ig_conf_get(n, "interval") != NULL;
    bool has_count = ig_conf_get(n, "interval_requests") != NULL;
    if (!ig_conf_duration_ms(c, n, "interval", has_count ? 0 : 30000, &k->interval_ms, err) ||
        !ig_conf_int(c, n, "interval_requests", 0, INT32_MAX, 0, &k->interval_requests, err) ||
        !ig_conf_int(c, n, "min_requests", 0, INT32_MAX, 20, &k->min_requests, err) ||
        !ig_conf_double(c, n, "max_error_rate", 0, 1, 0.05, &k->max_error_rate, err) ||
        !ig_conf_double(c, n, "max_error_rate_increase", 0, 1, -1, &k->max_error_rate_increase, err) ||
        !ig_conf_double(c, n, "max_p99_ratio", 0, 1e6, 0, &k->max_p99_ratio, err) ||
        !ig_conf_duration_ms(c, n, "max_p99", 0, &k->max_p99_ms, err) ||
        !ig_conf_double(c, n, "max_disagreement", 0, 1, -1, &k->max_disagreement, err))
        goto fail;
    if (k->interval_ms <= 0 && k->interval_requests <= 0) {
        ig_conf_fail(c, has_interval ? ig_conf_get(n, "interval") : n, err,
                     "canary: interval or interval_requests must be above zero");
        goto fail;
    }
    if (!ig_conf_no_unknown(c, n, err)) goto fail;
    atomic_store(&k->weight, k->steps[0]);
    atomic_store(&k->state, IG_CANARY_RUNNING);
    return k;
fail:
    ig_canary_free(k);
    return NULL;
}

void ig_canary_free(ig_canary *k)
{
    if (!k) return;
    pthread_mutex_destroy(&k->mu);
    free(k->baseline_name);
    free(k->canary_name);
    free(k);
}

int ig_canary_baseline_pool(const ig_canary *k)
{
    return k->baseline;
}
int ig_canary_canary_pool(const ig_canary *k)
{
    return k->canary;
}
const char *ig_canary_baseline_name(const ig_canary *k)
{
    return k->baseline_name;
}
const char *ig_canary_canary_name(const ig_canary *k)
{
    return k->canary_name;
}
int ig_canary_weight(const ig_canary *k)
{
    return atomic_load_explicit(&((ig_canary *)k)->weight, memory_order_relaxed);
}
ig_canary_state ig_canary_get_state(const ig_canary *k)
{
    return (ig_canary_state)atomic_load(&((ig_canary *)k)->state);
}

bool ig_canary_same_spec(const ig_canary *a, const ig_canary *b)
{
    return a && b && !strcmp(a->baseline_name, b->baseline_name) && !strcmp(a->canary_name, b->canary_name) &&
           a->nsteps == b->nsteps && !memcmp(a->steps, b->steps, sizeof(int) * (size_t)a->nsteps) &&
           a->interval_ms == b->interval_ms && a->interval_requests == b->interval_requests &&
           a->min_requests == b->min_requests && a->max_error_rate == b->max_error_rate &&
           a->max_error_rate_increase == b->max_error_rate_increase && a->max_p99_ratio == b->max_p99_ratio &&
           a->max_p99_ms == b->max_p99_ms && a->max_disagreement == b->max_disagreement;
}

void ig_canary_adopt(ig_canary *next, const ig_canary *prev)
{
    ig_canary *p = (ig_canary *)prev; /* the mutex is not part of prev's observable value */
    pthread_mutex_lock(&p->mu);
    pthread_mutex_lock(&next->mu);
    next->step = p->step;
    next->started = p->started;
    next->window_start = p->window_start;
    memcpy(next->sides, p->sides, sizeof(next->sides));
    next->compared = p->compared;
    next->disagreed = p->disagreed;
    next->incomparable = p->incomparable;
    atomic_store(&next->weight, atomic_load(&p->weight));
    atomic_store(&next->state, atomic_load(&p->state));
    pthread_mutex_unlock(&next->mu);
    pthread_mutex_unlock(&p->mu);
}

static void side_stats(const side *s, ig_canary_side_stats *out)
{
    out->requests = s->requests;
    out->failures = s->failures;
    out->error_rate = s->requests ? (double)s->failures / (double)s->requests : 0;
    out->p99_ms = quantile_us(s->hist, s->samples, 0.99) / 1000.0;
}

/* Fills the parts of d every decision shares; call under mu. */
static void begin_decision(ig_canary *k, int kind, const char *actor, int64_t now_ns, ig_canary_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->kind = kind;
    snprintf(d->actor, sizeof(d->actor), "%s", actor ? actor : "");
    d->now_ns = now_ns;
    d->from_step = k->step;
    d->from_weight = atomic_load(&k->weight);
    side_stats(&k->sides[1], &d->canary);
    side_stats(&k->sides[0], &d->baseline);
    d->compared = k->compared;
    d->disagreed = k->disagreed;
}

static void reset_window(ig_canary *k, int64_t now_ns)
{
    memset(k->sides, 0, sizeof(k->sides));
    k->compared = k->disagreed = k->incomparable = 0;
    k->window_start = now_ns;
    k->started = true;
}

static void set_state(ig_canary *k, int state, int step, int weight, ig_canary_decision *d)
{
    k->step = step;
    atomic_store(&k->weight, weight);
    atomic_store(&k->state, state);
    d->state = state;
    d->to_step = step;
    d->to_weight = weight;
}

/* Under mu: judges the open window if it has closed and holds enough canary requests. */
static int maybe_judge(ig_canary *k, int64_t now_ns, ig_canary_decision *d)
{
    if (atomic_load(&k->state) != IG_CANARY_RUNNING) return IG_CANARY_NONE;
    if (!k->started) {
        reset_window(k, now_ns);
        return IG_CANARY_NONE;
    }
    const side *cs = &k->sides[1];
    bool closed = (k->interval_ms > 0 && now_ns - k->window_start >= k->interval_ms * 1000000) ||
                  (k->interval_requests > 0 && cs->requests >= (uint64_t)k->interval_requests);
    /* Too few canary requests to say anything: keep the window open and wait for more. */
    if (!closed || cs->requests < (uint64_t)k->min_requests || !cs->requests) return IG_CANARY_NONE;

    begin_decision(k, IG_CANARY_NONE, "auto", now_ns, d);
    const ig_canary_side_stats *c = &d->canary, *b = &d->baseline;
    double disagreement = d->compared ? (double)d->disagreed / (double)d->compared : 0;
    if (c->error_rate > k->max_error_rate)
        snprintf(d->reason, sizeof(d->reason), "error rate %.4f > max_error_rate %.4f", c->error_rate,
                 k->max_error_rate);
    else if (k->max_error_rate_increase >= 0 && b->requests &&
             c->error_rate - b->error_rate > k->max_error_rate_increase)
        snprintf(d->reason, sizeof(d->reason), "error rate %.4f exceeds baseline %.4f by more than %.4f",
                 c->error_rate, b->error_rate, k->max_error_rate_increase);
    else if (k->max_p99_ms > 0 && c->p99_ms > (double)k->max_p99_ms)
        snprintf(d->reason, sizeof(d->reason), "p99 %.3fms > max_p99 %lldms", c->p99_ms,
                 (long long)k->max_p99_ms);
    else if (k->max_p99_ratio > 0 && k->sides[0].samples && c->p99_ms > k->max_p99_ratio * b->p99_ms)
        snprintf(d->reason, sizeof(d->reason), "p99 %.3fms > %.2f x baseline p99 %.3fms", c->p99_ms,
                 k->max_p99_ratio, b->p99_ms);
    else if (k->max_disagreement >= 0 && d->compared && disagreement > k->max_disagreement)
        snprintf(d->reason, sizeof(d->reason), "shadow disagreement %.4f > max_disagreement %.4f",
                 disagreement, k->max_disagreement);

    if (d->reason[0]) {
        d->kind = IG_CANARY_ROLLBACK;
        set_state(k, IG_CANARY_ROLLED_BACK, k->step, 0, d);
    } else if (k->step + 1 < k->nsteps) {
        d->kind = IG_CANARY_ADVANCE;
        snprintf(d->reason, sizeof(d->reason), "window passed");
        set_state(k, IG_CANARY_RUNNING, k->step + 1, k->steps[k->step + 1], d);
    } else {
        d->kind = IG_CANARY_PROMOTE;
        snprintf(d->reason, sizeof(d->reason), "last step passed");
        set_state(k, IG_CANARY_PROMOTED, k->step, 100, d);
    }
    reset_window(k, now_ns);
    return d->kind;
}

int ig_canary_record(ig_canary *k, bool is_canary, bool failed, int64_t latency_us, int64_t now_ns,
                     ig_canary_decision *d)
{
    if (atomic_load_explicit(&k->state, memory_order_relaxed) != IG_CANARY_RUNNING) return IG_CANARY_NONE;
    pthread_mutex_lock(&k->mu);
    if (!k->started) reset_window(k, now_ns);
    side *s = &k->sides[is_canary ? 1 : 0];
    s->requests++;
    s->failures += failed;
    if (latency_us >= 0) {
        s->hist[bucket_of(latency_us)]++;
        s->samples++;
    }
    int kind = is_canary && k->interval_requests > 0 ? maybe_judge(k, now_ns, d) : IG_CANARY_NONE;
    pthread_mutex_unlock(&k->mu);
    return kind;
}

void ig_canary_record_shadow(ig_canary *k, int compare_result, int64_t now_ns)
{
    if (atomic_load_explicit(&k->state, memory_order_relaxed) != IG_CANARY_RUNNING) return;
    pthread_mutex_lock(&k->mu);
    if (!k->started) reset_window(k, now_ns);
    if (compare_result < 0) {
        k->incomparable++; /* an unparsable response says nothing about agreement */
    } else {
        k->compared++;
        k->disagreed += compare_result != 0;
    }
    pthread_mutex_unlock(&k->mu);
}

int ig_canary_tick(ig_canary *k, int64_t now_ns, ig_canary_decision *d)
{
    if (atomic_load_explicit(&k->state, memory_order_relaxed) != IG_CANARY_RUNNING) return IG_CANARY_NONE;
    pthread_mutex_lock(&k->mu);
    int kind = maybe_judge(k, now_ns, d);
    pthread_mutex_unlock(&k->mu);
    return kind;
}

static int manual(ig_canary *k, int kind, const char *actor, int64_t now_ns, ig_canary_decision *d)
{
    pthread_mutex_lock(&k->mu);
    begin_decision(k, kind, actor && *actor ? actor : "admin", now_ns, d);
    snprintf(d->reason, sizeof(d->reason), "manual");
    if (kind == IG_CANARY_PROMOTE)
        set_state(k, IG_CANARY_PROMOTED, k->step, 100, d);
    else
        set_state(k, IG_CANARY_ROLLED_BACK, k->step, 0, d);
    reset_window(k, now_ns);
    pthread_mutex_unlock(&k->mu);
    return kind;
}

int ig_canary_promote(ig_canary *k, const char *actor, int64_t now_ns, ig_canary_decision *d)
{
    return manual(k, IG_CANARY_PROMOTE, actor, now_ns, d);
}

int ig_canary_rollback(ig_canary *k, const char *actor, int64_t now_ns, ig_canary_decision *d)
{
    return manual(k, IG_CANARY_ROLLBACK, actor, now_ns, d);
}

const char *ig_canary_kind_name(int kind)
{
    static const char *names[] = {"none", "advance", "promote", "rollback"};
    return kind >= 0 && kind < IG_CANARY_NKINDS ? names[kind] : "unknown";
}

const char *ig_canary_state_name(int state)
{
    return state == IG_CANARY_RUNNING ? "running" : state == IG_CANARY_PROMOTED ? "promoted" : "rolled_back";
}

static cJSON *side_json(const ig_canary_side_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "requests", (double)s->requests);
    cJSON_AddNumberToObject(o, "failures", (double)s->failures);
    cJSON_AddNumberToObject(o, "error_rate", s->error_rate);
    cJSON_AddNumberToObject(o, "p99_ms", s->p99_ms);
    return o;
}

char *ig_canary_decision_json(const ig_canary_decision *d, const char *route)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "ts_ns", (double)d->now_ns);
    if (route) cJSON_AddStringToObject(o, "route", route);
    cJSON_AddStringToObject(o, "decision", ig_canary_kind_name(d->kind));
    cJSON_AddStringToObject(o, "actor", d->actor);
    cJSON_AddStringToObject(o, "state", ig_canary_state_name(d->state));
    cJSON_AddNumberToObject(o, "from_step", d->from_step);
    cJSON_AddNumberToObject(o, "to_step", d->to_step);
    cJSON_AddNumberToObject(o, "from_weight", d->from_weight);
    cJSON_AddNumberToObject(o, "to_weight", d->to_weight);
    cJSON_AddStringToObject(o, "reason", d->reason);
    cJSON_AddItemToObject(o, "canary", side_json(&d->canary));
    cJSON_AddItemToObject(o, "baseline", side_json(&d->baseline));
    cJSON *sh = cJSON_AddObjectToObject(o, "shadow");
    if (sh) {
        cJSON_AddNumberToObject(sh, "compared", (double)d->compared);
        cJSON_AddNumberToObject(sh, "disagreed", (double)d->disagreed);
        cJSON_AddNumberToObject(sh, "disagreement",
                                d->compared ? (double)d->disagreed / (double)d->compared : 0);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *ig_canary_status_json(const ig_canary *kc)
{
    ig_canary *k = (ig_canary *)kc;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    pthread_mutex_lock(&k->mu);
    cJSON_AddStringToObject(o, "state", ig_canary_state_name(atomic_load(&k->state)));
    cJSON_AddStringToObject(o, "baseline", k->baseline_name);
    cJSON_AddStringToObject(o, "canary", k->canary_name);
    cJSON_AddNumberToObject(o, "weight", atomic_load(&k->weight));
    cJSON_AddNumberToObject(o, "step", k->step);
    cJSON_AddItemToObject(o, "steps", cJSON_CreateIntArray(k->steps, k->nsteps));
    cJSON_AddNumberToObject(o, "interval_ms", (double)k->interval_ms);
    cJSON_AddNumberToObject(o, "interval_requests", (double)k->interval_requests);
    cJSON_AddNumberToObject(o, "min_requests", (double)k->min_requests);
    cJSON *w = cJSON_AddObjectToObject(o, "window");
    if (w) {
        ig_canary_side_stats cs, bs;
        side_stats(&k->sides[1], &cs);
        side_stats(&k->sides[0], &bs);
        cJSON_AddNumberToObject(w, "start_ns", (double)k->window_start);
        cJSON_AddItemToObject(w, "canary", side_json(&cs));
        cJSON_AddItemToObject(w, "baseline", side_json(&bs));
        cJSON_AddNumberToObject(w, "shadow_compared", (double)k->compared);
        cJSON_AddNumberToObject(w, "shadow_disagreed", (double)k->disagreed);
        cJSON_AddNumberToObject(w, "shadow_incomparable", (double)k->incomparable);
    }
    pthread_mutex_unlock(&k->mu);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
