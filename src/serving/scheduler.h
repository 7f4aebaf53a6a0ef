/* The scheduler of one model version: a dynamic batcher feeding `instance_count` instances, each a
 * worker thread with its own engine runner, so up to that many batches execute in parallel.
 *
 * Requests wait in one queue per priority level (lower level number = served first). A batch forms
 * from the front of the highest-priority non-empty queue: as large as possible up to max_batch_size
 * (preferring the largest configured preferred size that can be formed), waiting at most
 * max_queue_delay_us for more requests. Requests are batched along the first dimension; only
 * requests whose non-batch dims match go into one execution. A full queue refuses at submit time
 * (IG_EUNAVAILABLE, "Exceeds maximum queue size"); a request whose queue timeout expires is refused
 * (REJECT) or moved to the back of the lowest level (DELAY); a cancelled request is dropped before it
 * executes. Outputs of a batch are split back per request. */
#ifndef IG_SERVING_SCHEDULER_H
#define IG_SERVING_SCHEDULER_H

#include <stddef.h>

#include "infergate/engine.h"
#include "serving/config.h"
#include "serving/request.h"
#include "serving/stats.h"

typedef struct ig_sched ig_sched;

/* Starts the instance threads. model, cfg and stats are borrowed and must outlive the scheduler.
 * threads_per_instance is each instance's intra-op thread count. */
int ig_sched_create(ig_model *model, const ig_model_config *cfg, ig_model_stats *stats, int threads_per_instance,
                    ig_sched **out, ig_error *err);

/* Queues req; done runs once when it completes or fails. Returns 0, or a negative IG_E* when refused
 * at once (then done has already run with the reason), except that when req, its arena or done is
 * NULL (IG_EINVAL) or the arena cannot hold the scheduler's entry (IG_ENOMEM) done does not run.
 * Thread-safe. */
int ig_sched_submit(ig_sched *s, ig_infer_request *req, ig_infer_done done, void *ctx);

/* Requests queued and not yet executing. */
size_t ig_sched_pending(const ig_sched *s);

/* Refuses new requests, lets queued and executing ones finish, then stops the threads. Blocks. */
void ig_sched_drain(ig_sched *s);
void ig_sched_free(ig_sched *s);

#endif
