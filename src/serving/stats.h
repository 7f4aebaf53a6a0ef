/* Statistics of one model version: the counters behind Triton's statistics endpoint and the
 * Prometheus metrics, updated lock-free by scheduler threads and read by whoever renders them. */
#ifndef IG_SERVING_STATS_H
#define IG_SERVING_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"

typedef struct ig_duration_stat {
    atomic_uint_fast64_t count, ns;
} ig_duration_stat;

enum { IG_STATS_MAX_BATCH = 1024 };

/* Why a request failed, as the nv_inference_request_failure metric's reason label says it. */
typedef enum ig_fail_reason {
    IG_FAIL_REJECTED = 0, /* queue full or queue timeout */
    IG_FAIL_CANCELED,
    IG_FAIL_BACKEND, /* the engine failed */
    IG_FAIL_OTHER,   /* bad request and the rest */
    IG_FAIL_REASONS
} ig_fail_reason;

typedef struct ig_model_stats {
    ig_duration_stat success, fail, queue, compute_input, compute_infer, compute_output, cache_hit, cache_miss;
    atomic_uint_fast64_t inference_count; /* batch rows executed (cache hits excluded) */
    atomic_uint_fast64_t execution_count; /* engine executions */
    atomic_uint_fast64_t last_inference_ms; /* wall clock, ms since the epoch */
    atomic_uint_fast64_t failures[IG_FAIL_REASONS];
    /* per executed batch size (index = size, 1..IG_STATS_MAX_BATCH-1) */
    ig_duration_stat batch_compute_input[IG_STATS_MAX_BATCH], batch_compute_infer[IG_STATS_MAX_BATCH],
        batch_compute_output[IG_STATS_MAX_BATCH];
    ig_histogram request_us, queue_us, compute_infer_us; /* latency histograms */
    ig_histogram batch_size;                             /* executed batch sizes */
    atomic_int_fast64_t pending;                         /* queued, not yet executing */
    double load_seconds;
} ig_model_stats;

/* Zeroes stats and sets up its histograms with the default buckets. */
void ig_model_stats_init(ig_model_stats *st);

/* One model version as the metrics exposition sees it. All fields borrowed for the call. */
typedef struct ig_stats_model_ref {
    const char *name;
    const char *version;         /* decimal version, as the label shows it */
    const char *state;           /* "READY", "LOADING", "UNAVAILABLE", ... (NULL = "UNKNOWN") */
    const ig_model_stats *stats; /* NULL when the version has none (not loaded): only its state shows */
} ig_stats_model_ref;

/* Appends the Prometheus text exposition of the given model versions (Triton's nv_* metrics, the
 * infergate_* histograms and model state) and of this process (process_*; proc NULL reads it now). */
void ig_stats_prometheus(ig_buf *b, const ig_stats_model_ref *models, size_t n_models,
                         const ig_process_stats *proc);

static inline void ig_duration_add(ig_duration_stat *d, uint64_t ns)
{
    atomic_fetch_add_explicit(&d->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&d->ns, ns, memory_order_relaxed);
}

#endif
