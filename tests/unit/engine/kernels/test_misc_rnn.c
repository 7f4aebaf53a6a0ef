/* Unit tests of the LSTM and GRU reference kernels: one step of a one-unit cell computed by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels/kernel.h"

static double sig(double x)
{
    return 1 / (1 + exp(-x));
}

static ig_tensor t3(float *d, int64_t a, int64_t b, int64_t c)
{
    ig_tensor t = {IG_DT_FLOAT, 3, {a, b, c}, d};
    return t;
}

static int run(const char *op, ig_tensor **in, int n_in, ig_tensor **out, int n_out)
{
    ig_attr hs = {.name = "hidden_size", .type = IG_ATTR_INT, .i = 1};
    ig_node node = {.name = "r", .op_type = op, .domain = "", .opset = 14, .n_attrs = 1, .attrs = &hs};
    ig_kstep s = {.node = &node, .n_in = n_in, .n_out = n_out, .in = in, .out = out, .n_threads = 1};
    const ig_kernel_def *k = ig_kernel_next(NULL, "", op, 14, in, n_in);
    if (!k) return -100;
    ig_error err = {0};
    int rc = k->plan(&s, &err);
    if (rc) return rc;
    for (int i = 0; i < n_out; i++)
        if (out[i]) out[i]->data = malloc(ig_tensor_nbytes(out[i]) + 1);
    s.scratch = malloc(s.scratch_bytes + 64);
    rc = k->run(&s);
    free(s.scratch);
    k->destroy(s.state);
    return rc;
}

int main(void)
{
    /* LSTM, gates i, o, f, c; W bias on i only. */
    float x[1] = {2}, w[4] = {0.5f, -0.3f, 0.2f, 0.8f}, r[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    float b[8] = {0.1f, 0, 0, 0, 0, 0, 0, 0}, h0[1] = {0.5f}, c0[1] = {0.3f};
    ig_tensor X = t3(x, 1, 1, 1), W = t3(w, 1, 4, 1), R = t3(r, 1, 4, 1), H0 = t3(h0, 1, 1, 1),
              C0 = t3(c0, 1, 1, 1);
    ig_tensor B = {IG_DT_FLOAT, 2, {1, 8}, b};
    ig_tensor Y = {0}, YH = {0}, YC = {0};
    ig_tensor *in[7] = {&X, &W, &R, &B, NULL, &H0, &C0};
    ig_tensor *out[3] = {&Y, &YH, &YC};
    CHECK_EQ_INT(run("LSTM", in, 7, out, 3), 0);
    double gi = 1.0 + 0.05 + 0.1, go = -0.6 + 0.1, gf = 0.4 + 0.15, gc = 1.6 + 0.2;
    double c = sig(gf) * 0.3 + sig(gi) * tanh(gc), h = sig(go) * tanh(c);
    CHECK_EQ_INT(Y.ndim, 4);
    CHECK(fabs(((float *)Y.data)[0] - h) < 1e-5);
    CHECK(fabs(((float *)YH.data)[0] - h) < 1e-5);
    CHECK(fabs(((float *)YC.data)[0] - c) < 1e-5);
    free(Y.data);
    free(YH.data);
    free(YC.data);

    /* GRU, gates z, r, h, no bias, linear_before_reset 0 */
    float gw[3] = {0.4f, -0.2f, 0.7f}, gr[3] = {0.3f, 0.5f, -0.6f};
    ig_tensor GW = t3(gw, 1, 3, 1), GR = t3(gr, 1, 3, 1);
    ig_tensor *gin[6] = {&X, &GW, &GR, NULL, NULL, &H0};
    ig_tensor *gout[2] = {NULL, &YH};
    memset(&YH, 0, sizeof(YH));
    CHECK_EQ_INT(run("GRU", gin, 6, gout, 2), 0);
    double z = sig(0.8 + 0.15), rr = sig(-0.4 + 0.25), hh = tanh(1.4 + -0.6 * rr * 0.5);
    double hn = (1 - z) * hh + z * 0.5;
    CHECK(fabs(((float *)YH.data)[0] - hn) < 1e-5);
    free(YH.data);

    /* shape errors are reported, not crashed on */
    ig_tensor badW = t3(w, 1, 3, 1);
    ig_tensor *bin[3] = {&X, &badW, &R};
    ig_tensor *bout[1] = {&Y};
    CHECK_EQ_INT(run("LSTM", bin, 3, bout, 1), IG_ESHAPE);
    return CHECK_DONE();
}
