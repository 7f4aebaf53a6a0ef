/* Runners: plans per input shape (batch 1..64, cached and reused), results independent of the batch
 * a row travels in, and the input checks that name the offending input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "infergate/engine.h"

static const char *MODEL = "examples/models/iris_mlp/1/model.onnx";

static float feature(int row, int k)
{
    return (float)((row * 7 + k * 3) % 11) / 5.0f - 1.0f;
}

static void batches(void)
{
    ig_model *m;
    ig_runner *r;
    ig_error err = {0};
    CHECK_EQ_INT(ig_model_load(MODEL, &(ig_model_options){.n_threads = 2}, &m, &err), 0);
    CHECK_EQ_INT(ig_runner_create(m, &r, &err), 0);
    CHECK_STR(ig_model_input(m, 0)->dim_params[0], "batch");
    /* Each row alone first: the reference. */
    float single[64][3];
    for (int row = 0; row < 64; row++) {
        float x[4];
        for (int k = 0; k < 4; k++) x[k] = feature(row, k);
        ig_tensor in = {.dtype = IG_DT_FLOAT, .ndim = 2, .dims = {1, 4}, .data = x}, out;
        CHECK_EQ_INT(ig_runner_run(r, &in, &out, &err), 0);
        CHECK(out.ndim == 2 && out.dims[0] == 1 && out.dims[1] == 3);
        memcpy(single[row], out.data, sizeof(single[row]));
    }
    /* Then every batch size twice over (the second pass reuses cached plans); rows must match. */
    float x[64 * 4];
    for (int row = 0; row < 64; row++)
        for (int k = 0; k < 4; k++) x[row * 4 + k] = feature(row, k);
    int mismatches = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int b = 1; b <= 64; b++) {
            ig_tensor in = {.dtype = IG_DT_FLOAT, .ndim = 2, .dims = {b, 4}, .data = x}, out;
            CHECK_EQ_INT(ig_runner_run(r, &in, &out, &err), 0);
            CHECK_EQ_INT(out.dims[0], b);
            const float *y = out.data;
            for (int row = 0; row < b; row++)
                for (int c = 0; c < 3; c++)
                    if (fabsf(y[row * 3 + c] - single[row][c]) > 1e-6f * (1 + fabsf(single[row][c]))) mismatches++;
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    ig_runner_free(r);
    ig_model_free(m);
}

static void rejects(ig_runner *r, ig_tensor *in, const char *words)
{
    ig_tensor out;
    ig_error err = {0};
    int rc = ig_runner_run(r, in, &out, &err);
    CHECK(rc < 0);
    if (!strstr(err.msg, words)) fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, words);
    CHECK(strstr(err.msg, words) != NULL);
}

static void input_checks(void)
{
    ig_model *m;
    ig_runner *r;
    ig_error err = {0};
    CHECK_EQ_INT(ig_model_load(MODEL, NULL, &m, &err), 0);
    CHECK_EQ_INT(ig_runner_create(m, &r, &err), 0);
    float x[8] = {0};
    int64_t xi[8] = {0};
    rejects(r, &(ig_tensor){.dtype = IG_DT_INT64, .ndim = 2, .dims = {2, 4}, .data = xi}, "input 'features': expected FLOAT, got INT64");
    rejects(r, &(ig_tensor){.dtype = IG_DT_FLOAT, .ndim = 1, .dims = {8}, .data = x}, "expected rank 2, got 1");
    rejects(r, &(ig_tensor){.dtype = IG_DT_FLOAT, .ndim = 2, .dims = {2, 3}, .data = x}, "dimension 1 must be 4, got 3");
    rejects(r, &(ig_tensor){.dtype = IG_DT_FLOAT, .ndim = 2, .dims = {-1, 4}, .data = x}, "negative");
    rejects(r, &(ig_tensor){.dtype = IG_DT_FLOAT, .ndim = 2, .dims = {2, 4}, .data = NULL}, "no data");
    ig_runner_free(r);
    ig_model_free(m);
}

static void load_errors(void)
{
    ig_model *m;
    ig_error err = {0};
    CHECK(ig_model_load("examples/models/none/1/model.onnx", NULL, &m, &err) < 0);
    CHECK(strstr(err.msg, "none") != NULL);
}

int main(void)
{
    batches();
    input_checks();
    load_errors();
    return CHECK_DONE();
}
