/* oneDNN kernels against naive references on random data: Conv (groups, strides, pads, dilations,
 * bias, fused relu + residual), MatMul (batched broadcast, constant 2-D weights through the cache),
 * Gemm (transposes, alpha, beta, broadcast C) and MaxPool/AveragePool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels/dnnl/dnnl_common.h"
#include "engine/kernels/kernel.h"

static float frand(void)
{
    return (float)((double)rand() / RAND_MAX * 2.0 - 1.0);
}

static ig_tensor mk(int ndim, const int64_t *dims)
{
    ig_tensor t = {.dtype = IG_DT_FLOAT, .ndim = ndim};
    if (ndim) memcpy(t.dims, dims, sizeof(int64_t) * ndim);
    int64_t n = ig_tensor_numel(&t);
    t.data = aligned_alloc(64, ((size_t)n * 4 + 63) & ~(size_t)63);
    for (int64_t i = 0; i < n; i++) ((float *)t.data)[i] = frand();
    return t;
}

static bool close_all(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (fabsf(a[i] - b[i]) > 1e-4f * (1.f + fabsf(b[i]))) {
            fprintf(stderr, "mismatch at %lld: %g vs %g\n", (long long)i, a[i], b[i]);
            return false;
        }
    return true;
}

/* Plans and runs op over ins; out holds the result. Values listed in consts are initializers. */
static int run_op(const char *domain, const char *op, ig_attr *attrs, int n_attrs, ig_tensor **ins, int n_in,
                  const bool *consts, ig_tensor *out)
{
    ig_value vals[16] = {0};
    int in_idx[16];
    for (int i = 0; i < n_in; i++) {
        in_idx[i] = ins[i] ? i : -1;
        vals[i].constant = consts && consts[i] ? ins[i] : NULL;
        vals[i].name = "v";
    }
    ig_graph g = {.n_values = n_in + 1, .values = vals};
    ig_node n = {.name = "n",
                 .op_type = op,
                 .domain = domain,
                 .opset = 13,
                 .n_inputs = n_in,
                 .inputs = in_idx,
                 .n_outputs = 1,
                 .outputs = (int[]){n_in},
                 .n_attrs = n_attrs,
                 .attrs = attrs};
    ig_tensor *outs[1] = {out};
    ig_kstep s = {.node = &n, .graph = &g, .n_in = n_in, .n_out = 1, .in = ins, .out = outs, .n_threads = 2};
    const ig_kernel_def *k = ig_kernel_next(NULL, domain, op, 13, ins, n_in);
    if (!k || strcmp(k->backend, "dnnl")) return -100;
    ig_error err = {0};
    int rc = k->plan(&s, &err);
    if (rc) {
        fprintf(stderr, "plan: %s\n", err.msg);
        return rc;
    }
    out->data = aligned_alloc(64, (ig_tensor_nbytes(out) + 63) & ~(size_t)63);
    s.scratch = s.scratch_bytes ? aligned_alloc(64, (s.scratch_bytes + 63) & ~(size_t)63) : NULL;
    rc = k->run(&s);
    free(s.scratch);
    k->destroy(s.state);
    return rc;
}

static void ref_conv(const ig_tensor *x, const ig_tensor *w, const float *b, int64_t g, const int64_t *st,
                     const int64_t *pad, const int64_t *dil, const ig_tensor *o)
{
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t M = w->dims[0], CG = w->dims[1], KH = w->dims[2], KW = w->dims[3];
    int64_t OH = o->dims[2], OW = o->dims[3];
    const float *xf = x->data, *wf = w->data;
    float *of = o->data;
    (void)C;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            int64_t gi = m / (M / g);
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = b ? b[m] : 0;
                    for (int64_t c = 0; c < CG; c++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t ih = oh * st[0] - pad[0] + kh * dil[0];
                                int64_t iw = ow * st[1] - pad[1] + kw * dil[1];
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += xf[((n * x->dims[1] + gi * CG + c) * H + ih) * W + iw] *
                                       wf[((m * CG + c) * KH + kh) * KW + kw];
                            }
                    of[((n * M + m) * OH + oh) * OW + ow] = (float)acc;
                }
        }
}

static void test_conv(int64_t g, int64_t C, int64_t M, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                      bool fused, bool wconst)
{
    int64_t xd[4] = {2, C, 11, 9}, wd[4] = {M, C / g, k, k}, bd[1] = {M};
    ig_tensor x = mk(4, xd), w = mk(4, wd), b = mk(1, bd);
    int64_t st[2] = {stride, stride}, pads[4] = {pad, pad, pad, pad}, dl[2] = {dil, dil};
    int64_t oh = (11 + 2 * pad - (k - 1) * dil - 1) / stride + 1,
            ow = (9 + 2 * pad - (k - 1) * dil - 1) / stride + 1;
    int64_t od[4] = {2, M, oh, ow};
    ig_tensor res = mk(4, od), expect = mk(4, od);
    int64_t po[2] = {6, 1};
    float pa[2] = {0, 0};
    ig_attr at[8] = {
        {.name = "group", .type = IG_ATTR_INT, .i = g},
        {.name = "strides", .type = IG_ATTR_INTS, .n = 2, .ints = st},
        {.name = "pads", .type = IG_ATTR_INTS, .n = 4, .ints = pads},
        {.name = "dilations", .type = IG_ATTR_INTS, .n = 2, .ints = dl},
        {.name = "post_ops", .type = IG_ATTR_INTS, .n = 2, .ints = po},
        {.name = "post_alpha", .type = IG_ATTR_FLOATS, .n = 2, .floats = pa},
    };
    ig_tensor *ins[4] = {&x, &w, &b, &res};
    bool consts[4] = {false, wconst, wconst, false};
    ig_tensor out = {0};
    int rc = run_op(fused ? "com.infergate" : "", fused ? "FusedConv" : "Conv", at, fused ? 6 : 4, ins,
                    fused ? 4 : 3, consts, &out);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(out.ndim, 4);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(out.dims[i], od[i]);
    ref_conv(&x, &w, b.data, g, st, pads, dl, &expect);
    int64_t n = ig_tensor_numel(&expect);
    if (fused)
        for (int64_t i = 0; i < n; i++) {
            float v = ((float *)expect.data)[i] + ((float *)res.data)[i];
            ((float *)expect.data)[i] = v > 0 ? v : 0;
        }
    if (!rc) CHECK(close_all(out.data, expect.data, n));
    free(x.data), free(w.data), free(b.data), free(res.data), free(expect.data), free(out.data);
}

static void test_matmul(int nda, const int64_t *ad, int ndb, const int64_t *bd, bool bconst, bool bias)
{
    ig_tensor a = mk(nda, ad), b = mk(ndb, bd);
    int64_t N = bd[ndb - 1], K = bd[ndb - 2], M = ad[nda - 2];
    ig_tensor bs = mk(1, &N);
    ig_tensor *ins[3] = {&a, &b, &bs};
    bool consts[3] = {false, bconst, bconst};
    ig_tensor out = {0};
    int rc = run_op(bias ? "com.infergate" : "", bias ? "FusedMatMul" : "MatMul", NULL, 0, ins, bias ? 3 : 2,
                    consts, &out);
    CHECK_EQ_INT(rc, 0);
    if (rc) return;
    /* batch: broadcast over the leading dims of the output */
    int nd = out.ndim;
    int64_t batch = ig_tensor_numel(&out) / (M * N);
    const float *af = a.data, *bf = b.data, *of = out.data;
    bool ok = true;
    for (int64_t bi = 0; bi < batch && ok; bi++) {
        /* index of this batch in a and b */
        int64_t rem = bi, ai = 0, bj = 0, astr = 1, bstr = 1;
        for (int d = nd - 3; d >= 0; d--) {
            int64_t od = out.dims[d], idx = rem % od;
            rem /= od;
            int da = d - (nd - nda), db = d - (nd - ndb);
            if (da >= 0) {
                if (ad[da] != 1) ai += idx * astr;
                astr *= ad[da];
            }
            if (db >= 0) {
                if (bd[db] != 1) bj += idx * bstr;
                bstr *= bd[db];
            }
        }
        for (int64_t i = 0; i < M && ok; i++)
            for (int64_t j = 0; j < N && ok; j++) {
                double acc = bias ? ((float *)bs.data)[j] : 0;
                for (int64_t k = 0; k < K; k++) acc += af[(ai * M + i) * K + k] * bf[(bj * K + k) * N + j];
                float got = of[(bi * M + i) * N + j];
                if (fabsf(got - (float)acc) > 1e-4f * (1 + fabsf((float)acc))) ok = false;
            }
    }
    CHECK(ok);
    free(a.data), free(b.data), free(bs.data), free(out.data);
}

static void test_gemm(int ta, int tb, float alpha, float beta, int cnd, const int64_t *cd, bool bconst)
{
    int64_t M = 7, K = 33, N = 20;
    int64_t adm[2] = {ta ? K : M, ta ? M : K}, bdm[2] = {tb ? N : K, tb ? K : N};
    ig_tensor a = mk(2, adm), b = mk(2, bdm), c = mk(cnd, cd);
    ig_attr at[4] = {
        {.name = "transA", .type = IG_ATTR_INT, .i = ta},
        {.name = "transB", .type = IG_ATTR_INT, .i = tb},
        {.name = "alpha", .type = IG_ATTR_FLOAT, .f = alpha},
        {.name = "beta", .type = IG_ATTR_FLOAT, .f = beta},
    };
    ig_tensor *ins[3] = {&a, &b, &c};
    bool consts[3] = {false, bconst, bconst};
    ig_tensor out = {0};
    int rc = run_op("", "Gemm", at, 4, ins, 3, consts, &out);
    CHECK_EQ_INT(rc, 0);
    if (rc) return;
    const float *af = a.data, *bf = b.data, *cf = c.data, *of = out.data;
    bool ok = true;
    int64_t cm = cnd == 2 ? cd[0] : 1, cn = cnd >= 1 ? cd[cnd - 1] : 1;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += af[ta ? k * M + i : i * K + k] * bf[tb ? j * K + k : k * N + j];
            double e = alpha * acc + beta * cf[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
            if (fabs(of[i * N + j] - e) > 1e-4 * (1 + fabs(e))) ok = false;
        }
    CHECK(ok);
    free(a.data), free(b.data), free(c.data), free(out.data);
}

static void test_maxpool(void)
{
    int64_t xd[4] = {1, 3, 9, 10};
    ig_tensor x = mk(4, xd);
    int64_t k[2] = {3, 3}, st[2] = {2, 2}, pads[4] = {1, 1, 1, 1};
    ig_attr at[4] = {
        {.name = "kernel_shape", .type = IG_ATTR_INTS, .n = 2, .ints = k},
        {.name = "strides", .type = IG_ATTR_INTS, .n = 2, .ints = st},
        {.name = "pads", .type = IG_ATTR_INTS, .n = 4, .ints = pads},
        {.name = "ceil_mode", .type = IG_ATTR_INT, .i = 1},
    };
    ig_tensor *ins[1] = {&x};
    ig_tensor out = {0};
    int rc = run_op("", "MaxPool", at, 4, ins, 1, NULL, &out);
    CHECK_EQ_INT(rc, 0);
    if (rc) return;
    CHECK_EQ_INT(out.dims[2], 5);
    CHECK_EQ_INT(out.dims[3], 6);
    bool ok = true;
    const float *xf = x.data, *of = out.data;
    for (int c = 0; c < 3; c++)
        for (int oh = 0; oh < out.dims[2]; oh++)
            for (int ow = 0; ow < out.dims[3]; ow++) {
                float m = -INFINITY;
                for (int kh = 0; kh < 3; kh++)
                    for (int kw = 0; kw < 3; kw++) {
                        int ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw;
                        if (ih >= 0 && ih < 9 && iw >= 0 && iw < 10 && xf[(c * 9 + ih) * 10 + iw] > m)
                            m = xf[(c * 9 + ih) * 10 + iw];
                    }
                if (of[(c * out.dims[2] + oh) * out.dims[3] + ow] != m) ok = false;
            }
    CHECK(ok);
    free(x.data), free(out.data);
}

int main(void)
{
    srand(7);
    test_conv(1, 8, 16, 3, 1, 1, 1, false, false);
    test_conv(1, 8, 16, 3, 2, 1, 1, false, true);
    test_conv(8, 8, 8, 3, 1, 1, 1, false, true); /* depthwise */
    test_conv(2, 8, 6, 3, 1, 2, 2, false, false);
    test_conv(1, 16, 32, 1, 1, 0, 1, true, true);
    test_conv(1, 16, 32, 3, 1, 1, 1, true, false);
    int entries = -1;
    ig__dnnl_weights_stats(&entries, NULL);
    CHECK(entries > 0); /* idle entries stay for later plans of the same model ... */
    ig__dnnl_release_weights(NULL, NULL);
    ig__dnnl_weights_stats(&entries, NULL);
    CHECK_EQ_INT(entries, 0); /* ... until the model goes */

    test_matmul(2, (int64_t[]){5, 7}, 2, (int64_t[]){7, 3}, false, false);
    test_matmul(3, (int64_t[]){4, 5, 64}, 2, (int64_t[]){64, 48}, true, true);
    test_matmul(4, (int64_t[]){2, 3, 5, 8}, 4, (int64_t[]){2, 1, 8, 6}, false, false);
    test_matmul(3, (int64_t[]){1, 5, 8}, 3, (int64_t[]){3, 8, 6}, false, false);
    test_matmul(2, (int64_t[]){3, 16}, 3, (int64_t[]){2, 16, 4}, false, false);

    test_gemm(0, 0, 1.f, 1.f, 1, (int64_t[]){20}, true);
    test_gemm(1, 1, 0.5f, 2.f, 2, (int64_t[]){7, 20}, true);
    test_gemm(0, 1, 1.f, 1.f, 2, (int64_t[]){7, 1}, false);
    test_gemm(1, 0, 2.f, 0.5f, 0, NULL, false);
    test_maxpool();
    return CHECK_DONE();
}
