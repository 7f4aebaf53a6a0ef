/* Setting up one model version's statistics. */
#include "serving/stats.h"

#include <string.h>

void ig_model_stats_init(ig_model_stats *st)
{
    /* Lock-free atomics of integer type have the all-zero representation on every target we build. */
    memset(st, 0, sizeof(*st));
    ig_histogram_init_latency_us(&st->request_us);
    ig_histogram_init_latency_us(&st->queue_us);
    ig_histogram_init_latency_us(&st->compute_infer_us);
    ig_histogram_init_batch(&st->batch_size);
}
