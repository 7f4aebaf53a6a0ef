/* Load-time optimisation of a model: the graph rewrites that make plans cheaper, and the release of
 * what they share across plans. */
#include "engine/graph/fuse.h"
#include "engine/kernels/dnnl/dnnl_common.h"
#include "engine/model_int.h"

int ig__model_optimize(ig_model *m, ig_error *err)
{
    return ig_graph_fuse(m->onnx->graph, m->onnx->arena, err);
}

void ig__model_release(ig_model *m)
{
    (void)m;
    /* Packed weights no plan holds any more; the model's plans are gone by now. */
    ig__dnnl_release_weights(NULL, NULL);
}
