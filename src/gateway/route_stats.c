/* The process-wide table of per-route stats (see route_stats.h). Routes are few; a list will do. */
#include "gateway/route_stats.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *name;
    ig_gw_route_stats stats;
    struct entry *next;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *head;

ig_gw_route_stats *ig_gw_route_stats_get(const char *name)
{
    pthread_mutex_lock(&lock);
    entry *e = head;
    while (e && strcmp(e->name, name)) e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        if (!(e->name = strdup(name))) {
            free(e);
            e = NULL;
        } else {
            ig_histogram_init_latency_us(&e->stats.latency_us);
            e->next = head;
            head = e;
        }
    }
    pthread_mutex_unlock(&lock);
    return e ? &e->stats : NULL;
}

void ig_gw_route_stats_expose(ig_buf *b)
{
    static const struct {
        const char *metric, *code;
        size_t off;
    } counters[] = {
        {"infergate_gateway_responses_total", "2xx", offsetof(ig_gw_route_stats, responses_2xx)},
        {"infergate_gateway_responses_total", "4xx", offsetof(ig_gw_route_stats, responses_4xx)},
        {"infergate_gateway_responses_total", "5xx", offsetof(ig_gw_route_stats, responses_5xx)},
    };
    pthread_mutex_lock(&lock);
    ig_prom_family(b, "infergate_gateway_requests_total", "counter", "Requests matched to the route.");
    for (entry *e = head; e; e = e->next) {
        char labels[300], esc[256];
        ig_prom_escape(e->name, esc, sizeof esc);
        snprintf(labels, sizeof labels, "route=\"%s\"", esc);
        ig_prom_value(b, "infergate_gateway_requests_total", labels, (double)atomic_load(&e->stats.requests));
    }
    ig_prom_family(b, "infergate_gateway_responses_total", "counter", "Responses sent, by status class.");
    for (entry *e = head; e; e = e->next)
        for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
            char labels[320], esc[256];
            ig_prom_escape(e->name, esc, sizeof esc);
            snprintf(labels, sizeof labels, "route=\"%s\",code=\"%s\"", esc, counters[i].code);
            const atomic_uint_fast64_t *v = (const void *)((const char *)&e->stats + counters[i].off);
            ig_prom_value(b, counters[i].metric, labels, (double)atomic_load(v));
        }
    ig_prom_family(b, "infergate_gateway_retries_total", "counter", "Tries after the first.");
    for (entry *e = head; e; e = e->next) {
        char labels[300], esc[256];
        ig_prom_escape(e->name, esc, sizeof esc);
        snprintf(labels, sizeof labels, "route=\"%s\"", esc);
        ig_prom_value(b, "infergate_gateway_retries_total", labels, (double)atomic_load(&e->stats.retries));
    }
    ig_prom_family(b, "infergate_gateway_shadow_comparisons_total", "counter",
                   "Shadow responses compared with the primary's: same, differ, or error (not comparable).");
    for (entry *e = head; e; e = e->next) {
        const struct {
            const char *name;
            atomic_uint_fast64_t *v;
        } res[] = {{"same", &e->stats.shadow_same},
                   {"differ", &e->stats.shadow_differ},
                   {"error", &e->stats.shadow_error}};
        for (size_t i = 0; i < 3; i++) {
            char labels[320], esc[256];
            ig_prom_escape(e->name, esc, sizeof esc);
            snprintf(labels, sizeof labels, "route=\"%s\",result=\"%s\"", esc, res[i].name);
            ig_prom_value(b, "infergate_gateway_shadow_comparisons_total", labels,
                          (double)atomic_load(res[i].v));
        }
    }
    ig_prom_family(b, "infergate_gateway_request_duration_us", "histogram",
                   "Time from the request head to the last response byte queued, microseconds.");
    for (entry *e = head; e; e = e->next) {
        char labels[300], esc[256];
        ig_prom_escape(e->name, esc, sizeof esc);
        snprintf(labels, sizeof labels, "route=\"%s\"", esc);
        ig_prom_histogram(b, "infergate_gateway_request_duration_us", labels, &e->stats.latency_us);
    }
    pthread_mutex_unlock(&lock);
}
