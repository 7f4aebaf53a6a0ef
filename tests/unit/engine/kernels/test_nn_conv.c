/* Conv against a naive direct convolution (stride, pads, dilation, group, bias, 1-D/2-D/3-D), and
 * MaxPool/AveragePool against a naive window loop (pads, ceil_mode, count_include_pad, Indices),
 * driving the kernels through plan() and run() as the executor does. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel_harness.h"
#include "engine/kernels/kernel.h"

/* Plans and runs op; out[i]->data is allocated here (caller frees). Returns plan/run status. */
static int run_op(const char *op, int opset, ig_attr *attrs, int n_attrs, ig_tensor **in, int n_in,
                  ig_tensor **out, int n_out)
{
    /* These tests pin the portable kernels; the fast backends are tested against them elsewhere. */
    ig_error err = {0};
    int rc = ig_test_run_kernel("", op, opset, "ref", 2, attrs, n_attrs, in, n_in, out, n_out, &err);
    if (rc && err.code) fprintf(stderr, "plan: %s\n", err.msg);
    return rc;
}

static unsigned seed = 12345;
static float frand(void)
{
    seed = seed * 1103515245u + 12345u;
    return ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static ig_tensor make(int ndim, const int64_t *dims)
{
    ig_tensor t = {.dtype = IG_DT_FLOAT, .ndim = ndim};
    memcpy(t.dims, dims, sizeof(int64_t) * ndim);
    int64_t n = ig_tensor_numel(&t);
    float *d = malloc(sizeof(float) * (n ? n : 1));
    for (int64_t i = 0; i < n; i++) d[i] = frand();
    t.data = d;
    return t;
}

typedef struct conv_case {
    int nsp;
    int64_t n, c, m, group, in[3], k[3], stride[3], dil[3], pads[6];
    int bias;
} conv_case;

/* Naive direct convolution over up to 3 spatial dims (missing dims are 1). */
static void conv_case_run(const conv_case *cc)
{
    int nsp = cc->nsp;
    int64_t xd[5] = {cc->n, cc->c}, wd[5] = {cc->m, cc->c / cc->group}, od[3] = {1, 1, 1};
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, st[3] = {1, 1, 1}, dl[3] = {1, 1, 1}, pb[3] = {0},
            pe[3] = {0};
    for (int i = 0; i < nsp; i++) {
        xd[2 + i] = in[i] = cc->in[i], wd[2 + i] = k[i] = cc->k[i];
        st[i] = cc->stride[i], dl[i] = cc->dil[i], pb[i] = cc->pads[i], pe[i] = cc->pads[nsp + i];
        od[i] = (in[i] + pb[i] + pe[i] - dl[i] * (k[i] - 1) - 1) / st[i] + 1;
    }
    ig_tensor x = make(2 + nsp, xd), w = make(2 + nsp, wd), b = make(1, &cc->m), y = {0};
    ig_tensor *ins[3] = {&x, &w, cc->bias ? &b : NULL}, *outs[1] = {&y};
    int64_t pads[6];
    memcpy(pads, cc->pads, sizeof(pads));
    int64_t strides[3], dils[3];
    memcpy(strides, st, sizeof(strides));
    memcpy(dils, dl, sizeof(dils));
    ig_attr attrs[4] = {ig_test_attr_ints("strides", strides, nsp), ig_test_attr_ints("dilations", dils, nsp),
                        ig_test_attr_ints("pads", pads, 2 * nsp), ig_test_attr_int("group", cc->group)};
    int rc = run_op("Conv", 11, attrs, 4, ins, cc->bias ? 3 : 2, outs, 1);
    CHECK_EQ_INT(rc, 0);
    if (rc) return;
    CHECK_EQ_INT(y.dims[1], cc->m);
    for (int i = 0; i < nsp; i++) CHECK_EQ_INT(y.dims[2 + i], od[i]);
    const float *xp = x.data, *wp = w.data, *bp = b.data, *yp = y.data;
    int64_t cg = cc->c / cc->group, mg = cc->m / cc->group, bad = 0;
    for (int64_t n = 0; n < cc->n; n++)
        for (int64_t m = 0; m < cc->m; m++)
            for (int64_t o0 = 0; o0 < od[0]; o0++)
                for (int64_t o1 = 0; o1 < od[1]; o1++)
                    for (int64_t o2 = 0; o2 < od[2]; o2++) {
                        double acc = cc->bias ? bp[m] : 0;
                        int64_t g = m / mg;
                        for (int64_t ci = 0; ci < cg; ci++)
                            for (int64_t k0 = 0; k0 < k[0]; k0++)
                                for (int64_t k1 = 0; k1 < k[1]; k1++)
                                    for (int64_t k2 = 0; k2 < k[2]; k2++) {
                                        int64_t i0 = o0 * st[0] - pb[0] + k0 * dl[0];
                                        int64_t i1 = o1 * st[1] - pb[1] + k1 * dl[1];
                                        int64_t i2 = o2 * st[2] - pb[2] + k2 * dl[2];
                                        if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 ||
                                            i2 >= in[2])
                                            continue;
                                        int64_t c = g * cg + ci;
                                        acc +=
                                            xp[(((n * cc->c + c) * in[0] + i0) * in[1] + i1) * in[2] + i2] *
                                            wp[(((m * cg + ci) * k[0] + k0) * k[1] + k1) * k[2] + k2];
                                    }
                        float got = yp[(((n * cc->m + m) * od[0] + o0) * od[1] + o1) * od[2] + o2];
                        if (fabs(got - acc) > 1e-4 * (1 + fabs(acc))) bad++;
                    }
    CHECK_EQ_INT(bad, 0);
    free(x.data), free(w.data), free(b.data), free(y.data);
}

/* Naive 2-D pooling reference. */
static void pool_case(const char *op, int64_t h, int64_t wd, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                      const int64_t *pads, int ceil_mode, int cip)
{
    int64_t xd[4] = {2, 3, h, wd};
    ig_tensor x = make(4, xd), y = {0}, ind = {0};
    int is_max = !strcmp(op, "MaxPool");
    ig_tensor *ins[1] = {&x}, *outs[2] = {&y, is_max ? &ind : NULL};
    int64_t ks[2] = {kh, kw}, st[2] = {sh, sw}, pd[4];
    memcpy(pd, pads, sizeof(pd));
    ig_attr attrs[5] = {ig_test_attr_ints("kernel_shape", ks, 2), ig_test_attr_ints("strides", st, 2),
                        ig_test_attr_ints("pads", pd, 4), ig_test_attr_int("ceil_mode", ceil_mode),
                        ig_test_attr_int("count_include_pad", cip)};
    int rc = run_op(op, 12, attrs, 5, ins, 1, outs, is_max ? 2 : 1);
    CHECK_EQ_INT(rc, 0);
    if (rc) return;
    int64_t oh = y.dims[2], ow = y.dims[3];
    int64_t eh = h + pd[0] + pd[2] - kh, ew = wd + pd[1] + pd[3] - kw;
    int64_t exp_h = (ceil_mode ? (eh + sh - 1) / sh : eh / sh) + 1,
            exp_w = (ceil_mode ? (ew + sw - 1) / sw : ew / sw) + 1;
    if (ceil_mode && (exp_h - 1) * sh >= h + pd[0]) exp_h--;
    if (ceil_mode && (exp_w - 1) * sw >= wd + pd[1]) exp_w--;
    CHECK_EQ_INT(oh, exp_h);
    CHECK_EQ_INT(ow, exp_w);
    const float *xp = x.data, *yp = y.data;
    const int64_t *ip = ind.data;
    int64_t bad = 0;
    for (int64_t p = 0; p < 6; p++)
        for (int64_t i = 0; i < oh; i++)
            for (int64_t j = 0; j < ow; j++) {
                double acc = 0, mx = -1e30;
                int64_t cnt = 0, padcnt = 0, arg = -1;
                for (int64_t a = 0; a < kh; a++)
                    for (int64_t b = 0; b < kw; b++) {
                        int64_t r = i * sh - pd[0] + a, c = j * sw - pd[1] + b;
                        if (r < h + pd[2] && c < wd + pd[3]) padcnt++;
                        if (r < 0 || r >= h || c < 0 || c >= wd) continue;
                        float v = xp[(p * h + r) * wd + c];
                        acc += v, cnt++;
                        if (v > mx) mx = v, arg = (p * h + r) * wd + c;
                    }
                double want = is_max ? mx : acc / (cip ? padcnt : cnt);
                int64_t at = (p * oh + i) * ow + j;
                if (fabs(yp[at] - want) > 1e-5) bad++;
                if (is_max && ip[at] != arg) bad++;
            }
    CHECK_EQ_INT(bad, 0);
    free(x.data), free(y.data), free(ind.data);
}

int main(void)
{
    static const conv_case cases[] = {
        {2, 1, 3, 4, 1, {7, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1},
        {2, 2, 4, 6, 2, {8, 7}, {3, 2}, {2, 1}, {1, 2}, {0, 1, 2, 0}, 1},
        {2, 1, 6, 6, 6, {10, 10}, {3, 3}, {2, 2}, {2, 2}, {2, 2, 2, 2}, 0},
        {2, 1, 5, 7, 1, {6, 5}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1},
        {2, 1, 4, 3, 1, {5, 5}, {5, 5}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 0},
        {1, 2, 3, 4, 1, {17}, {4}, {3}, {2}, {3, 1}, 1},
        {3, 1, 2, 4, 2, {5, 6, 4}, {2, 3, 2}, {1, 2, 1}, {2, 1, 1}, {1, 0, 1, 0, 1, 1}, 1},
        {2, 1, 64, 48, 1, {20, 20}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) conv_case_run(&cases[i]);

    static const int64_t p0[4] = {0, 0, 0, 0}, p1[4] = {1, 1, 1, 1}, p2[4] = {1, 0, 2, 1};
    const char *ops[2] = {"MaxPool", "AveragePool"};
    for (int o = 0; o < 2; o++) {
        pool_case(ops[o], 5, 5, 2, 2, 1, 1, p0, 0, 0);
        pool_case(ops[o], 6, 7, 3, 3, 2, 2, p1, 0, 0);
        pool_case(ops[o], 6, 7, 3, 3, 2, 2, p1, 0, 1);
        pool_case(ops[o], 4, 4, 3, 3, 2, 2, p0, 1, 0);
        pool_case(ops[o], 7, 6, 3, 2, 2, 3, p2, 1, 0);
        pool_case(ops[o], 7, 6, 3, 2, 2, 3, p2, 1, 1);
    }
    return CHECK_DONE();
}
