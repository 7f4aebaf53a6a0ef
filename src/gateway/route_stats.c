/* The process-wide table of per-route and per-pool stats (see route_stats.h). They are few; a list
 * will do. */
#include "gateway/route_stats.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    ig_gw_stats_kind kind;
    char *name;
    ig_gw_route_stats stats;
    struct entry *next;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *head;

ig_gw_route_stats *ig_gw_stats_get(ig_gw_stats_kind kind, const char *name)
{
    pthread_mutex_lock(&lock);
    entry *e = head;
    while (e && (e->kind != kind || strcmp(e->name, name))) e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        if (!(e->name = strdup(name))) {
            free(e);
            e = NULL;
        } else {
            e->kind = kind;
            ig_histogram_init_latency_us(&e->stats.latency_us);
            e->next = head;
            head = e;
        }
    }
    pthread_mutex_unlock(&lock);
    return e ? &e->stats : NULL;
}

void ig_gw_stats_try(ig_gw_route_stats *s, int try_no)
{
    atomic_fetch_add_explicit(try_no > 1 ? &s->retries : &s->requests, 1, memory_order_relaxed);
}

void ig_gw_stats_response(ig_gw_route_stats *s, int status, double duration_us)
{
    int cls = status / 100;
    atomic_fetch_add_explicit(cls == 2   ? &s->responses_2xx
                              : cls == 4 ? &s->responses_4xx
                                         : &s->responses_5xx,
                              1, memory_order_relaxed);
    ig_histogram_observe(&s->latency_us, duration_us);
}

/* One counter of every entry of a kind, with an extra label (or none). */
typedef struct {
    const char *suffix, *type, *help, *extra_label;
    size_t off;
    bool routes_only;
} family;

#define F(suffix, type, help, extra, field, routes_only)                                                     \
    {                                                                                                        \
        suffix, type, help, extra, offsetof(ig_gw_route_stats, field), routes_only                           \
    }

static const family families[] = {
    F("requests_total", "counter", "Requests matched.", NULL, requests, false),
    F("responses_total", "counter", "Responses sent, by status class.", "code=\"2xx\"", responses_2xx, false),
    F("responses_total", "counter", NULL, "code=\"4xx\"", responses_4xx, false),
    F("responses_total", "counter", NULL, "code=\"5xx\"", responses_5xx, false),
    F("retries_total", "counter", "Tries after the first.", NULL, retries, false),
    F("shadow_comparisons_total", "counter",
      "Shadow responses compared with the primary's: same, differ, or error (not comparable).",
      "result=\"same\"", shadow_same, true),
    F("shadow_comparisons_total", "counter", NULL, "result=\"differ\"", shadow_differ, true),
    F("shadow_comparisons_total", "counter", NULL, "result=\"error\"", shadow_error, true),
};

static void labels_of(const entry *e, const char *extra, char *out, size_t cap)
{
    char esc[256];
    ig_prom_escape(e->name, esc, sizeof esc);
    snprintf(out, cap, "%s=\"%s\"%s%s", e->kind == IG_GW_STATS_ROUTE ? "route" : "pool", esc,
             extra ? "," : "", extra ? extra : "");
}

static void expose_kind(ig_buf *b, ig_gw_stats_kind kind)
{
    const char *prefix = kind == IG_GW_STATS_ROUTE ? "infergate_gateway_" : "infergate_gateway_upstream_";
    char name[128], labels[400];
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        if (families[f].routes_only && kind != IG_GW_STATS_ROUTE) continue;
        snprintf(name, sizeof name, "%s%s", prefix, families[f].suffix);
        if (families[f].help) ig_prom_family(b, name, families[f].type, families[f].help);
        for (entry *e = head; e; e = e->next) {
            if (e->kind != kind) continue;
            labels_of(e, families[f].extra_label, labels, sizeof labels);
            const atomic_uint_fast64_t *v = (const void *)((const char *)&e->stats + families[f].off);
            ig_prom_value(b, name, labels, (double)atomic_load(v));
        }
    }
    snprintf(name, sizeof name, "%srequest_duration_us", prefix);
    ig_prom_family(b, name, "histogram",
                   kind == IG_GW_STATS_ROUTE
                       ? "From the request head to the last response byte, microseconds."
                       : "From the try's start to its response's last byte, microseconds.");
    for (entry *e = head; e; e = e->next) {
        if (e->kind != kind) continue;
        labels_of(e, NULL, labels, sizeof labels);
        ig_prom_histogram(b, name, labels, &e->stats.latency_us);
    }
}

void ig_gw_stats_expose(ig_buf *b)
{
    pthread_mutex_lock(&lock);
    expose_kind(b, IG_GW_STATS_ROUTE);
    expose_kind(b, IG_GW_STATS_POOL);
    pthread_mutex_unlock(&lock);
}
