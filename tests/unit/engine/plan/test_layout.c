/* Memory layout of plans: values whose lifetimes do not overlap share bytes, values read later stay
 * alive, reshape-like steps are views, and the results are right. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "infergate/engine.h"

int main(void)
{
    ig_model *m;
    ig_runner *r;
    ig_error err = {0};
    CHECK_EQ_INT(ig_model_load("tests/fixtures/relu_chain.onnx", &(ig_model_options){.n_threads = 1}, &m, &err), 0);
    CHECK_EQ_INT(ig_runner_create(m, &r, &err), 0);
    float x[1024];
    for (int i = 0; i < 1024; i++) x[i] = (float)(i % 7) - 3.0f;
    ig_tensor in = {.dtype = IG_DT_FLOAT, .ndim = 2, .dims = {1, 1024}, .data = x}, out;
    CHECK_EQ_INT(ig_runner_run(r, &in, &out, &err), 0);
    CHECK_EQ_INT(out.ndim, 2); /* Flatten at axis 0 gives [1, 1024] */
    CHECK_EQ_INT(out.dims[1], 1024);
    int wrong = 0;
    for (int i = 0; i < 1024; i++) wrong += ((float *)out.data)[i] != fmaxf(x[i], 0) + x[i];
    CHECK_EQ_INT(wrong, 0);
    /* Nine 4 KiB intermediates (eight Relu outputs and the sum); the chain needs two at a time and
     * the sum reuses a freed one, the views add nothing: 8 KiB, where one buffer per value would be
     * 36 KiB. The input is the caller's and takes no space. */
    size_t bytes = ig_runner_activation_bytes(r);
    if (bytes != 8192) fprintf(stderr, "activation bytes: %zu\n", bytes);
    CHECK_EQ_INT(bytes, 8192);
    /* Running again reuses the plan and gives the same result. */
    CHECK_EQ_INT(ig_runner_run(r, &in, &out, &err), 0);
    CHECK(((float *)out.data)[3] == fmaxf(x[3], 0) + x[3]);
    ig_runner_free(r);
    ig_model_free(m);
    return CHECK_DONE();
}
