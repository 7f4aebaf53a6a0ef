/* Reduce-group kernels driven directly: every reduction over every axis subset against a naive
 * multi-index loop (attribute and input axes, keepdims, noop), Softmax opset 11 vs 13 semantics,
 * TopK tie order, and small checks of ArgMax, CumSum, Einsum, Det and the losses. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels/kernel.h"

/* ---- harness ---- */

static ig_attr a_int(const char *name, int64_t v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_INT, .i = v};
}
static ig_attr a_ints(const char *name, int64_t *v, int n)
{
    return (ig_attr){.name = name, .type = IG_ATTR_INTS, .ints = v, .n = n};
}
static ig_attr a_str(const char *name, const char *v)
{
    return (ig_attr){.name = name, .type = IG_ATTR_STRING, .s = {v, strlen(v)}};
}

static ig_tensor mk(ig_dtype dt, int ndim, const int64_t *dims, void *data)
{
    ig_tensor t = {.dtype = dt, .ndim = ndim, .data = data};
    if (ndim) memcpy(t.dims, dims, sizeof(int64_t) * ndim);
    return t;
}

/* Plans and runs op; outputs get malloc'd buffers the caller frees. Returns the plan/run code. */
static int run_op(const char *op, int opset, ig_attr *attrs, int n_attrs, ig_tensor **in, int n_in,
                  ig_tensor **out, int n_out)
{
    int ins[8] = {0}, outs[8] = {0};
    ig_node node = {.name = op,
                    .op_type = op,
                    .domain = "",
                    .opset = opset,
                    .n_inputs = n_in,
                    .inputs = ins,
                    .n_outputs = n_out,
                    .outputs = outs,
                    .n_attrs = n_attrs,
                    .attrs = attrs};
    ig_kstep s = {.node = &node, .n_in = n_in, .n_out = n_out, .in = in, .out = out, .n_threads = 2};
    const ig_kernel_def *k = ig_kernel_next(NULL, "", op, opset, in, n_in);
    if (!k) return IG_EUNSUPPORTED;
    ig_error err = {0};
    int rc = k->plan(&s, &err);
    if (rc) {
        if (k->destroy && s.state) k->destroy(s.state);
        return rc;
    }
    for (int i = 0; i < n_out; i++)
        if (out[i]) out[i]->data = calloc(1, ig_tensor_nbytes(out[i]) + 8);
    if (s.scratch_bytes) s.scratch = aligned_alloc(64, (s.scratch_bytes + 63) / 64 * 64);
    rc = k->run(&s);
    free(s.scratch);
    if (k->destroy && s.state) k->destroy(s.state);
    return rc;
}

static uint64_t rng = 88172645463325252ull;
static double frand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static bool close_to(double got, double want)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= 1e-4 * fabs(want) + 1e-5;
}

/* ---- reductions vs naive ---- */

static const char *red_ops[] = {"ReduceSum",       "ReduceMean",     "ReduceMax", "ReduceMin",
                                "ReduceProd",      "ReduceL1",       "ReduceL2",  "ReduceLogSum",
                                "ReduceLogSumExp", "ReduceSumSquare"};

static double naive_reduce(const char *op, const float *x, const int64_t *dims, int r, const bool *red,
                           const int64_t *oidx)
{
    /* Walks every input index that matches the output index on kept axes. */
    int64_t idx[8] = {0}, n = 1;
    for (int d = 0; d < r; d++) n *= dims[d];
    double sum = 0, prod = 1, mx = -INFINITY, mn = INFINITY, sabs = 0, ssq = 0, sexp = 0, cnt = 0;
    for (int64_t e = 0; e < n; e++) {
        bool match = true;
        for (int d = 0; d < r; d++)
            if (!red[d] && idx[d] != oidx[d]) match = false;
        if (match) {
            double v = x[e];
            sum += v, prod *= v, sabs += fabs(v), ssq += v * v, sexp += exp(v), cnt++;
            mx = v > mx ? v : mx, mn = v < mn ? v : mn;
        }
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
    if (!strcmp(op, "ReduceSum")) return sum;
    if (!strcmp(op, "ReduceMean")) return sum / cnt;
    if (!strcmp(op, "ReduceMax")) return mx;
    if (!strcmp(op, "ReduceMin")) return mn;
    if (!strcmp(op, "ReduceProd")) return prod;
    if (!strcmp(op, "ReduceL1")) return sabs;
    if (!strcmp(op, "ReduceL2")) return sqrt(ssq);
    if (!strcmp(op, "ReduceLogSum")) return log(sum);
    if (!strcmp(op, "ReduceLogSumExp")) return log(sexp);
    return ssq;
}

static void check_reduce(const char *op, int opset, const int64_t *dims, int r, unsigned mask, int keepdims)
{
    int64_t n = 1;
    for (int d = 0; d < r; d++) n *= dims[d];
    float *x = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.5 + frand()); /* positive: LogSum stays finite */
    int64_t axes[8];
    int na = 0;
    bool red[8] = {0};
    for (int d = 0; d < r; d++)
        if (mask & (1u << d)) axes[na++] = (d % 2) ? d - r : d, red[d] = true; /* mix negative axes */
    if (na == 0)
        for (int d = 0; d < r; d++) red[d] = true;
    ig_tensor tx = mk(IG_DT_FLOAT, r, dims, x), ta, ty = {0};
    int64_t nadims[1] = {na};
    ta = mk(IG_DT_INT64, 1, nadims, axes);
    ig_tensor *in[2] = {&tx, &ta}, *out[1] = {&ty};
    bool axes_input = opset >= 18 || (!strcmp(op, "ReduceSum") && opset >= 13);
    ig_attr attrs[2] = {a_int("keepdims", keepdims), a_ints("axes", axes, na)};
    int rc = run_op(op, opset, attrs, axes_input || na == 0 ? 1 : 2, in, axes_input && na ? 2 : 1, out, 1);
    CHECK_EQ_INT(rc, 0);
    if (rc) {
        free(x);
        return;
    }
    int eo = 0;
    for (int d = 0; d < r; d++) eo += !red[d] || keepdims;
    CHECK_EQ_INT(ty.ndim, eo);
    int64_t on = 1, oidx[8] = {0};
    for (int d = 0; d < r; d++) on *= red[d] ? 1 : dims[d];
    const float *y = ty.data;
    int bad = 0;
    for (int64_t o = 0; o < on; o++) {
        double want = naive_reduce(op, x, dims, r, red, oidx);
        if (!close_to(y[o], want) && bad++ < 3)
            fprintf(stderr, "%s opset %d mask %x keep %d: y[%lld] = %g, want %g\n", op, opset, mask, keepdims,
                    (long long)o, y[o], want);
        for (int d = r - 1; d >= 0; d--) {
            if (red[d]) continue;
            if (++oidx[d] < dims[d]) break;
            oidx[d] = 0;
        }
    }
    CHECK_EQ_INT(bad, 0);
    free(ty.data);
    free(x);
}

static void test_reductions(void)
{
    const int64_t d3[3] = {3, 4, 5}, d4[4] = {2, 3, 1, 7};
    for (size_t k = 0; k < sizeof(red_ops) / sizeof(red_ops[0]); k++) {
        for (int opset = 13; opset <= 18; opset += 5) {
            for (unsigned m = 0; m < 8; m++)
                for (int keep = 0; keep < 2; keep++) check_reduce(red_ops[k], opset, d3, 3, m, keep);
            for (unsigned m = 1; m < 16; m += 3) check_reduce(red_ops[k], opset, d4, 4, m, 1);
        }
        check_reduce(red_ops[k], 11, d3, 3, 5, 0);
    }
}

static void test_reduce_noop_and_ints(void)
{
    int64_t dims[2] = {2, 3}, x[6] = {1, -2, 3, 4, 5, -6}, zero = 0;
    ig_tensor tx = mk(IG_DT_INT64, 2, dims, x), ta = mk(IG_DT_INT64, 1, &zero, NULL), ty = {0};
    ig_tensor *in[2] = {&tx, &ta}, *out[1] = {&ty};
    /* Empty axes with noop: identity. */
    ig_attr at[2] = {a_int("keepdims", 1), a_int("noop_with_empty_axes", 1)};
    CHECK_EQ_INT(run_op("ReduceSum", 13, at, 2, in, 2, out, 1), 0);
    CHECK_EQ_INT(ty.ndim, 2);
    CHECK(!memcmp(ty.data, x, sizeof(x)));
    free(ty.data);
    /* Empty axes without noop: everything. */
    at[1].i = 0;
    CHECK_EQ_INT(run_op("ReduceSum", 13, at, 2, in, 2, out, 1), 0);
    CHECK_EQ_INT(ty.ndim, 2);
    CHECK_EQ_INT(ty.dims[0] * ty.dims[1], 1);
    CHECK_EQ_INT(((int64_t *)ty.data)[0], 5);
    free(ty.data);
    /* int32 max over axis 1, no keepdims. */
    int32_t xi[6] = {1, -2, 3, 4, 5, -6};
    int64_t ax = 1;
    ig_tensor ti = mk(IG_DT_INT32, 2, dims, xi);
    ig_attr am[2] = {a_int("keepdims", 0), a_ints("axes", &ax, 1)};
    ig_tensor *in1[1] = {&ti};
    CHECK_EQ_INT(run_op("ReduceMax", 13, am, 2, in1, 1, out, 1), 0);
    CHECK_EQ_INT(ty.ndim, 1);
    CHECK_EQ_INT(((int32_t *)ty.data)[0], 3);
    CHECK_EQ_INT(((int32_t *)ty.data)[1], 5);
    free(ty.data);
    /* Bad axis is a plan error, not a crash. */
    ax = 2;
    CHECK(run_op("ReduceMax", 13, am, 2, in1, 1, out, 1) == IG_EINVAL);
    /* Unknown axes input at plan time defers. */
    int64_t one = 1;
    ig_tensor tu = mk(IG_DT_INT64, 1, &one, NULL);
    ig_tensor *in2[2] = {&tx, &tu};
    CHECK(run_op("ReduceSum", 13, at, 1, in2, 2, out, 1) == IG_EDEFER);
}

/* ---- softmax ---- */

static void test_softmax_opsets(void)
{
    int64_t dims[3] = {2, 3, 4};
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)(frand() * 4 - 2);
    ig_tensor tx = mk(IG_DT_FLOAT, 3, dims, x), ty = {0};
    ig_tensor *in[1] = {&tx}, *out[1] = {&ty};
    ig_attr at[1] = {a_int("axis", 1)};
    /* Opset 11: [2, 12] rows. */
    CHECK_EQ_INT(run_op("Softmax", 11, at, 1, in, 1, out, 1), 0);
    const float *y = ty.data;
    for (int b = 0; b < 2; b++) {
        double s = 0;
        for (int j = 0; j < 12; j++) s += exp(x[b * 12 + j]);
        for (int j = 0; j < 12; j++) CHECK(close_to(y[b * 12 + j], exp(x[b * 12 + j]) / s));
    }
    free(ty.data);
    /* Opset 13: along axis 1 only (strided). */
    CHECK_EQ_INT(run_op("Softmax", 13, at, 1, in, 1, out, 1), 0);
    y = ty.data;
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 4; k++) {
            double s = 0;
            for (int j = 0; j < 3; j++) s += exp(x[b * 12 + j * 4 + k]);
            for (int j = 0; j < 3; j++)
                CHECK(close_to(y[b * 12 + j * 4 + k], exp(x[b * 12 + j * 4 + k]) / s));
        }
    free(ty.data);
    /* Opset 13 default axis -1, LogSoftmax, large row through the threaded float path. */
    int64_t big[2] = {64, 1000};
    float *xb = malloc(sizeof(float) * 64000);
    for (int i = 0; i < 64000; i++) xb[i] = (float)(frand() * 40 - 20);
    ig_tensor tb = mk(IG_DT_FLOAT, 2, big, xb);
    ig_tensor *inb[1] = {&tb};
    CHECK_EQ_INT(run_op("LogSoftmax", 13, NULL, 0, inb, 1, out, 1), 0);
    y = ty.data;
    int bad = 0;
    for (int r = 0; r < 64; r++) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < 1000; j++) m = fmax(m, xb[r * 1000 + j]);
        for (int j = 0; j < 1000; j++) s += exp(xb[r * 1000 + j] - m);
        for (int j = 0; j < 1000; j++) bad += !close_to(y[r * 1000 + j], xb[r * 1000 + j] - m - log(s));
    }
    CHECK_EQ_INT(bad, 0);
    free(ty.data);
    free(xb);
    /* Hardmax: first maximum wins. */
    float h[4] = {1, 3, 3, 2};
    int64_t hd[1] = {4};
    ig_tensor th = mk(IG_DT_FLOAT, 1, hd, h);
    ig_tensor *inh[1] = {&th};
    CHECK_EQ_INT(run_op("Hardmax", 13, NULL, 0, inh, 1, out, 1), 0);
    y = ty.data;
    CHECK(y[0] == 0 && y[1] == 1 && y[2] == 0 && y[3] == 0);
    free(ty.data);
}

/* ---- selection and scans ---- */

static void test_topk_ties(void)
{
    float x[6] = {1, 3, 3, 2, 3, 1};
    int64_t dims[1] = {6}, k = 3, one = 1;
    ig_tensor tx = mk(IG_DT_FLOAT, 1, dims, x), tk = mk(IG_DT_INT64, 1, &one, &k), tv = {0}, ti = {0};
    ig_tensor *in[2] = {&tx, &tk}, *out[2] = {&tv, &ti};
    CHECK_EQ_INT(run_op("TopK", 11, NULL, 0, in, 2, out, 2), 0);
    const int64_t *idx = ti.data;
    CHECK(idx[0] == 1 && idx[1] == 2 && idx[2] == 4);
    CHECK(((float *)tv.data)[0] == 3);
    free(tv.data), free(ti.data);
    ig_attr at[1] = {a_int("largest", 0)};
    CHECK_EQ_INT(run_op("TopK", 11, at, 1, in, 2, out, 2), 0);
    idx = ti.data;
    CHECK(idx[0] == 0 && idx[1] == 5 && idx[2] == 3);
    free(tv.data), free(ti.data);
    k = 7;
    CHECK(run_op("TopK", 11, NULL, 0, in, 2, out, 2) == IG_EINVAL);
}

static void test_argmax_cumsum(void)
{
    float x[6] = {1, 3, 3, 2, 0, 2};
    int64_t dims[2] = {2, 3};
    ig_tensor tx = mk(IG_DT_FLOAT, 2, dims, x), ty = {0};
    ig_tensor *in[1] = {&tx}, *out[1] = {&ty};
    ig_attr at[3] = {a_int("axis", -1), a_int("keepdims", 0), a_int("select_last_index", 1)};
    CHECK_EQ_INT(run_op("ArgMax", 13, at, 2, in, 1, out, 1), 0);
    CHECK(((int64_t *)ty.data)[0] == 1 && ((int64_t *)ty.data)[1] == 0);
    free(ty.data);
    CHECK_EQ_INT(run_op("ArgMax", 13, at, 3, in, 1, out, 1), 0);
    CHECK(((int64_t *)ty.data)[0] == 2 && ((int64_t *)ty.data)[1] == 2);
    free(ty.data);

    int32_t xi[4] = {1, 2, 3, 4}, axis = 0;
    int64_t d1[1] = {4};
    ig_tensor ti = mk(IG_DT_INT32, 1, d1, xi), ta = mk(IG_DT_INT32, 0, NULL, &axis);
    ig_tensor *inc[2] = {&ti, &ta};
    ig_attr ac[2] = {a_int("exclusive", 1), a_int("reverse", 1)};
    CHECK_EQ_INT(run_op("CumSum", 14, ac, 2, inc, 2, out, 1), 0);
    const int32_t *c = ty.data;
    CHECK(c[0] == 9 && c[1] == 7 && c[2] == 4 && c[3] == 0);
    free(ty.data);
}

/* ---- einsum, det, losses ---- */

static void test_einsum(void)
{
    /* Batched matmul bij,bjk->bik and batch diagonal ...ii->...i against direct loops. */
    double a[2 * 3 * 4], b[2 * 4 * 5];
    for (int i = 0; i < 24; i++) a[i] = frand();
    for (int i = 0; i < 40; i++) b[i] = frand();
    int64_t da[3] = {2, 3, 4}, db[3] = {2, 4, 5};
    ig_tensor ta = mk(IG_DT_DOUBLE, 3, da, a), tb = mk(IG_DT_DOUBLE, 3, db, b), ty = {0};
    ig_tensor *in[2] = {&ta, &tb}, *out[1] = {&ty};
    ig_attr eq[1] = {a_str("equation", "bij, bjk -> bik")};
    CHECK_EQ_INT(run_op("Einsum", 12, eq, 1, in, 2, out, 1), 0);
    CHECK(ty.ndim == 3 && ty.dims[2] == 5);
    const double *y = ty.data;
    for (int bb = 0; bb < 2; bb++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 5; k++) {
                double s = 0;
                for (int j = 0; j < 4; j++) s += a[bb * 12 + i * 4 + j] * b[bb * 20 + j * 5 + k];
                CHECK(close_to(y[bb * 15 + i * 5 + k], s));
            }
    free(ty.data);
    double m[2 * 3 * 3];
    for (int i = 0; i < 18; i++) m[i] = i;
    int64_t dm[3] = {2, 3, 3};
    ig_tensor tm = mk(IG_DT_DOUBLE, 3, dm, m);
    ig_tensor *in1[1] = {&tm};
    eq[0] = a_str("equation", "...ii->...i");
    CHECK_EQ_INT(run_op("Einsum", 12, eq, 1, in1, 1, out, 1), 0);
    y = ty.data;
    CHECK(ty.ndim == 2 && y[0] == 0 && y[1] == 4 && y[2] == 8 && y[3] == 9 && y[5] == 17);
    free(ty.data);
    /* Implicit output: "ij" of a transpose "ji" sorts labels, giving the transpose. */
    eq[0] = a_str("equation", "bji");
    CHECK_EQ_INT(run_op("Einsum", 12, eq, 1, in1, 1, out, 1), 0);
    y = ty.data;
    CHECK(y[1] == 3 && y[3] == 1);
    free(ty.data);
}

static void test_det_and_losses(void)
{
    float m[8] = {1, 2, 3, 4, 2, 0, 0, 3};
    int64_t dm[3] = {2, 2, 2};
    ig_tensor tm = mk(IG_DT_FLOAT, 3, dm, m), ty = {0}, tl = {0};
    ig_tensor *in[3] = {&tm, NULL, NULL}, *out[2] = {&ty, &tl};
    CHECK_EQ_INT(run_op("Det", 11, NULL, 0, in, 1, out, 1), 0);
    CHECK(close_to(((float *)ty.data)[0], -2) && close_to(((float *)ty.data)[1], 6));
    free(ty.data);

    /* NLL on [N=2, C=3] with weights and an ignored target. */
    float x[6] = {-1, -2, -3, -4, -5, -6}, w[3] = {1, 2, 3};
    int64_t t[2] = {2, 1}, dx[2] = {2, 3}, dt[1] = {2}, dw[1] = {3};
    ig_tensor tx = mk(IG_DT_FLOAT, 2, dx, x), tt = mk(IG_DT_INT64, 1, dt, t), tw = mk(IG_DT_FLOAT, 1, dw, w);
    ig_tensor *inl[3] = {&tx, &tt, &tw};
    ig_attr at[2] = {a_str("reduction", "mean"), a_int("ignore_index", 1)};
    CHECK_EQ_INT(run_op("NegativeLogLikelihoodLoss", 13, at, 1, inl, 3, out, 1), 0);
    CHECK(close_to(((float *)ty.data)[0], (3 * 3 + 5 * 2) / 5.0));
    free(ty.data);
    CHECK_EQ_INT(run_op("NegativeLogLikelihoodLoss", 13, at, 2, inl, 3, out, 1), 0);
    CHECK(close_to(((float *)ty.data)[0], 3.0));
    free(ty.data);
    /* SCE with log_prob output; out-of-range target is a run error. */
    at[0] = a_str("reduction", "none");
    CHECK_EQ_INT(run_op("SoftmaxCrossEntropyLoss", 13, at, 1, inl, 2, out, 2), 0);
    double ls = log(exp(-1.0) + exp(-2.0) + exp(-3.0));
    CHECK(close_to(((float *)tl.data)[0], -1 - ls));
    CHECK(close_to(((float *)ty.data)[0], 3 + ls));
    free(ty.data), free(tl.data);
    t[1] = 3;
    CHECK(run_op("SoftmaxCrossEntropyLoss", 13, at, 1, inl, 2, out, 2) == IG_EINVAL);
    free(ty.data), free(tl.data);
}

int main(void)
{
    test_reductions();
    test_reduce_noop_and_ints();
    test_softmax_opsets();
    test_topk_ties();
    test_argmax_cumsum();
    test_einsum();
    test_det_and_losses();
    return CHECK_DONE();
}
