/* Inference requests and responses as the serving layer sees them, whatever protocol carried them.
 *
 * Ownership: the protocol decoder creates a request in its own arena and hands it to the scheduler
 * with ig_sched_submit; from then until the completion callback runs, only the scheduler's threads
 * touch it (they allocate the response's outputs in the same arena). The callback hands it back. */
#ifndef IG_SERVING_REQUEST_H
#define IG_SERVING_REQUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "infergate/tensor.h"

typedef struct ig_infer_tensor {
    const char *name;
    ig_tensor t; /* data in the request's arena, or borrowed from a body the request keeps alive */
    bool binary; /* outputs: send as binary data (REST binary extension) */
} ig_infer_tensor;

typedef struct ig_output_spec {
    const char *name;
    bool binary;        /* REST: "binary_data": true */
    bool binary_set;    /* the request said binary true or false for this output */
    int classification; /* top-N classification; 0 = off */
} ig_output_spec;

typedef struct ig_infer_request {
    ig_arena *arena;
    const char *model_name;
    const char *model_version; /* "" = the version policy's choice */
    const char *id;            /* "" when the client gave none */
    int n_inputs;
    ig_infer_tensor *inputs;
    int n_outputs; /* 0 = every output, with defaults */
    ig_output_spec *outputs;
    bool binary_output;  /* request-level "binary_data_output" */
    int64_t priority;    /* 0 = the model's default level */
    uint64_t timeout_us; /* queue timeout asked for; 0 = the model's default */
    uint64_t t_received_ns; /* monotonic clock when the request arrived */
    atomic_bool cancelled;  /* the client went away: dropped if not yet executing */
} ig_infer_request;

/* Durations of one request's life, for statistics and metrics. */
typedef struct ig_infer_timing {
    uint64_t queue_ns, compute_input_ns, compute_infer_ns, compute_output_ns;
    int batch_size; /* rows of the execution this request was part of */
} ig_infer_timing;

typedef struct ig_infer_response {
    int status;      /* 0, or a negative IG_E*: see protocol/status for the HTTP/gRPC mapping */
    char error[384]; /* one-line reason when status != 0 */
    int n_outputs;
    ig_infer_tensor *outputs; /* in the request's arena */
    bool cache_hit;
    ig_infer_timing timing;
} ig_infer_response;

/* Called exactly once per submitted request, on a scheduler thread (or on the submitting thread when
 * the request is refused at once). The callee owns req and resp from then on. */
typedef void (*ig_infer_done)(ig_infer_request *req, ig_infer_response *resp, void *ctx);

#endif
