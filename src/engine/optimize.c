/* Load-time optimisation of a model: the graph rewrites that make plans cheaper. */
#include "engine/model_int.h"

int ig__model_optimize(ig_model *m, ig_error *err)
{
    (void)m;
    (void)err;
    return 0;
}

void ig__model_release(ig_model *m)
{
    (void)m;
}
