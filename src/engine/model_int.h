/* Internals of ig_model shared by the engine's files. */
#ifndef IG_ENGINE_MODEL_INT_H
#define IG_ENGINE_MODEL_INT_H

#include "engine/kernels/kernel.h"
#include "engine/onnx/onnx.h"
#include "infergate/engine.h"

struct ig_model {
    ig_onnx_model *onnx;
    int n_threads;
    int n_nodes; /* including subgraphs */
    ig_io_info *inputs, *outputs;
    const char **opset_domains;
    int64_t *opset_versions;
};

/* Load-time graph rewrites (fusions, folding of weights) on a model that passed the kernel check. */
int ig__model_optimize(ig_model *m, ig_error *err);
/* Releases what ig__model_optimize set up outside the model's arena (packed-weight caches). */
void ig__model_release(ig_model *m);

#endif
