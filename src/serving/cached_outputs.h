/* The response cache's values: a model's outputs serialized to bytes and back, so a hit answers
 * without running the model. Internal to serving. */
#ifndef IG_SERVING_CACHED_OUTPUTS_H
#define IG_SERVING_CACHED_OUTPUTS_H

#include "obs/metrics.h"
#include "serving/request.h"

/* Appends resp's outputs (names, dtypes, shapes, bytes; strings length-prefixed) to b. */
void ig__outputs_serialize(const ig_infer_response *resp, ig_buf *b);
/* Rebuilds outputs from a serialized value into arena; IG_EFORMAT when it does not parse. */
int ig__outputs_deserialize(const void *data, size_t len, ig_arena *arena, ig_infer_response *resp);

#endif
