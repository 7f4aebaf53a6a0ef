/* The scheduler's own types, shared by its files only: a queued request's entry and the batch
 * helpers that bind requests to model inputs, gather a batch's inputs and split its outputs. */
#ifndef IG_SERVING_SCHEDULER_INT_H
#define IG_SERVING_SCHEDULER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "serving/scheduler.h"

/* One submitted request while the scheduler owns it. Lives in the request's arena, so it costs the
 * scheduler no allocation and goes away with the request. Queue links are guarded by the scheduler's
 * lock; everything else belongs to the thread that holds the entry. */
typedef struct ig__sched_item {
    struct ig__sched_item *prev, *next; /* level queue, or the reorder list after completion */
    ig_infer_request *req;
    ig_infer_done done;
    void *ctx;
    uint64_t seq;          /* submit order, for preserve_ordering */
    uint64_t t_enqueue_ns; /* monotonic */
    uint64_t deadline_ns;  /* queue timeout; 0 = none */
    int level;             /* index into the level queues (0 = served first) */
    int rows;              /* batch rows (1 when the model does not batch) */
    ig_fail_reason reason; /* when resp.status != 0 */
    ig_infer_response resp;
    const ig_tensor **bound; /* [model inputs]: the request's tensor for each model input */
} ig__sched_item;

/* Matches req's inputs to the model's by name and checks dtype, rank and fixed dims; with
 * max_batch_size > 0 also the shared leading batch dim (1..max_batch_size rows). Fills item->bound
 * (allocated in the request's arena) and item->rows. Fails with IG_EINVAL/IG_ENOMEM and a reason. */
int ig__sched_bind(const ig_model *m, int32_t max_batch_size, ig__sched_item *item, ig_error *err);

/* True when two bound requests have equal non-batch dims for every input, so they can share one
 * execution. */
bool ig__sched_same_shape(const ig_model *m, const ig__sched_item *a, const ig__sched_item *b);

/* Growable per-instance buffers that a batch's inputs are gathered into. Owned by one worker. */
typedef struct ig__sched_gbuf {
    int n;
    void **data;
    size_t *cap;
} ig__sched_gbuf;

int ig__sched_gather_init(ig__sched_gbuf *g, int n_inputs);
void ig__sched_gather_free(ig__sched_gbuf *g);

/* Binds the batch's inputs into `inputs` (model input order): a lone request's tensors directly,
 * otherwise its rows concatenated along dim 0 in g's buffers. */
int ig__sched_gather(const ig_model *m, ig__sched_gbuf *g, ig__sched_item *const *items, int n, bool batching,
                     ig_tensor *inputs, ig_error *err);

/* Copies item's share of the batch outputs (rows [row0, row0 + item->rows) when batching, else all
 * of them) into its request's arena and points item->resp.outputs at them. STRING elements are
 * copied deeply: the runner's outputs are only valid until its next run. */
int ig__sched_scatter(const ig_model *m, const ig_tensor *outputs, int64_t total_rows, bool batching,
                      int64_t row0, ig__sched_item *item, ig_error *err);

#endif
