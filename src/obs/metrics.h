/* Metrics primitives and the Prometheus text exposition format. Histograms are fixed-bucket and
 * lock-free (atomic counts), so scheduler threads update them without coordination. */
#ifndef IG_OBS_METRICS_H
#define IG_OBS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum { IG_HIST_MAX_BUCKETS = 24 };

typedef struct ig_histogram {
    int n_bounds;
    double bounds[IG_HIST_MAX_BUCKETS];              /* upper bounds, ascending; +Inf is implicit */
    atomic_uint_fast64_t counts[IG_HIST_MAX_BUCKETS + 1]; /* per bucket (not cumulative); last = +Inf */
    atomic_uint_fast64_t sum_milli;                  /* sum of observations x 1000 */
} ig_histogram;

/* Sets bounds (at most IG_HIST_MAX_BUCKETS, ascending) and zeroes the counts. */
void ig_histogram_init(ig_histogram *h, const double *bounds, int n);
void ig_histogram_observe(ig_histogram *h, double value);
/* Latency buckets in microseconds (100 us .. 60 s) and batch-size buckets (1 .. 1024). */
void ig_histogram_init_latency_us(ig_histogram *h);
void ig_histogram_init_batch(ig_histogram *h);

/* A growable text buffer for expositions and JSON bodies. */
typedef struct ig_buf {
    char *data;
    size_t len, cap;
    int oom; /* set when an append failed; the content is then truncated */
} ig_buf;

void ig_buf_printf(ig_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ig_buf_append(ig_buf *b, const char *s, size_t n);
void ig_buf_free(ig_buf *b);

/* Prometheus text format. labels is the inside of {...} already escaped ("model=\"m\",version=\"1\""),
 * or "" for none. HELP/TYPE lines come from ig_prom_family, once per metric family. */
void ig_prom_family(ig_buf *b, const char *name, const char *type, const char *help);
void ig_prom_value(ig_buf *b, const char *name, const char *labels, double value);
void ig_prom_histogram(ig_buf *b, const char *name, const char *labels, const ig_histogram *h);
/* Escapes a label value (backslash, quote, newline) into out. */
void ig_prom_escape(const char *in, char *out, size_t len);

/* Process facts for the process_* metrics: resident set size in bytes, CPU seconds (user+system),
 * start time (seconds since the epoch). Linux /proc; 0 where unavailable. */
typedef struct ig_process_stats {
    uint64_t rss_bytes;
    double cpu_seconds;
    double start_time_seconds;
    uint64_t open_fds;
} ig_process_stats;
void ig_process_stats_read(ig_process_stats *out);

#endif
