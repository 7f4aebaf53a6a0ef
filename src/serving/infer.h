/* The request path every protocol shares: find the model version, check the request against its
 * configuration, answer from the response cache or queue it on the version's scheduler, and shape
 * the response (requested outputs only). REST and gRPC differ only in how they decode and encode. */
#ifndef IG_SERVING_INFER_H
#define IG_SERVING_INFER_H

#include "serving/model_manager.h"
#include "serving/request.h"

typedef struct ig_serving {
    ig_mm *mm;
    struct ig_cache *cache; /* NULL when no model may use the response cache */
} ig_serving;

/* Runs req on (req->model_name, req->model_version). done runs exactly once, possibly before this
 * returns (refusals, cache hits), otherwise on a scheduler thread. The response names the version
 * that ran in resp_version (a buffer of 24 bytes kept by the caller until done runs). */
void ig_serving_infer(ig_serving *sv, ig_infer_request *req, char *resp_version, ig_infer_done done, void *ctx);

/* Checks a request against a completed configuration: input names, dtypes and shapes (batch dim
 * within max_batch_size, others matching dims), requested outputs. Fills err with Triton's wording. */
int ig_serving_check_request(const ig_model_config *cfg, const ig_infer_request *req, ig_error *err);

#endif
