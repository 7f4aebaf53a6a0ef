/* Elementwise kernels driven directly through the table: broadcasting shapes and errors, a few ops
 * per dtype, integer edge cases, Cast and float16, and the vectorised float loops against libm. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernel_harness.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/half.h"

/* Plans and runs op; on success out->data is malloc'd (caller frees). */
static int run_op(const char *op, int opset, ig_attr *attrs, int n_attrs, ig_tensor *in, int n_in,
                  ig_tensor *out, int n_threads, ig_error *err)
{
    ig_tensor *ip[8];
    for (int k = 0; k < n_in; k++) ip[k] = in[k].dtype ? &in[k] : NULL;
    ig_tensor *op_ = out;
    return ig_test_run_kernel("", op, opset, NULL, n_threads, attrs, n_attrs, ip, n_in, &op_, 1, err);
}

/* Reference broadcast of a float binary op by explicit index arithmetic. */
static void ref_binary(const ig_tensor *a, const ig_tensor *b, const ig_tensor *o, float (*f)(float, float),
                       float *ref)
{
    int64_t n = ig_tensor_numel(o);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int d = o->ndim - 1; d >= 0; d--) {
            int64_t idx = r % o->dims[d];
            r /= o->dims[d];
            int da = d - (o->ndim - a->ndim), db = d - (o->ndim - b->ndim);
            if (da >= 0) {
                ia += (a->dims[da] == 1 ? 0 : idx) * sa;
                sa *= a->dims[da];
            }
            if (db >= 0) {
                ib += (b->dims[db] == 1 ? 0 : idx) * sb;
                sb *= b->dims[db];
            }
        }
        ref[i] = f(((float *)a->data)[ia], ((float *)b->data)[ib]);
    }
}

static float fsub(float x, float y)
{
    return x - y;
}

static void test_broadcast_add(void)
{
    static const struct {
        int na, nb;
        int64_t a[4], b[4];
    } cases[] = {
        {1, 1, {17}, {17}},
        {1, 0, {17}, {0}},
        {0, 1, {0}, {16}},
        {2, 1, {5, 15}, {15}},
        {2, 2, {5, 1}, {1, 4}},
        {4, 3, {2, 3, 4, 5}, {3, 1, 5}},
        {2, 1, {300, 200}, {200}},
        {1, 1, {70001}, {1}},
        {3, 3, {2, 1, 40000}, {1, 3, 1}},
        {4, 4, {2, 3, 1, 7}, {1, 3, 5, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int nt = 1; nt <= 2; nt++) {
            ig_tensor in[2] = {ig_test_tensor(IG_DT_FLOAT, cases[c].na, cases[c].a, NULL),
                               ig_test_tensor(IG_DT_FLOAT, cases[c].nb, cases[c].b, NULL)};
            for (int k = 0; k < 2; k++) {
                int64_t n = ig_tensor_numel(&in[k]);
                float *p = malloc(sizeof(float) * (size_t)n);
                for (int64_t i = 0; i < n; i++) p[i] = (float)((i * 7 + k * 3) % 101) - 50.0f;
                in[k].data = p;
            }
            ig_tensor out = {0};
            ig_error err = {0};
            CHECK_EQ_INT(run_op("Sub", 14, NULL, 0, in, 2, &out, nt, &err), 0);
            int64_t n = ig_tensor_numel(&out);
            float *ref = malloc(sizeof(float) * (size_t)(n ? n : 1));
            ref_binary(&in[0], &in[1], &out, fsub, ref);
            int bad = 0;
            for (int64_t i = 0; i < n; i++) bad += ref[i] != ((float *)out.data)[i];
            CHECK_EQ_INT(bad, 0);
            free(ref);
            free(out.data);
            free(in[0].data);
            free(in[1].data);
        }
    }
}

static void test_broadcast_errors(void)
{
    float a[6] = {0}, b[4] = {0};
    ig_tensor in[2] = {ig_test_tensor(IG_DT_FLOAT, 2, (int64_t[]){2, 3}, a),
                       ig_test_tensor(IG_DT_FLOAT, 1, (int64_t[]){4}, b)};
    ig_tensor out = {0};
    ig_error err = {0};
    CHECK_EQ_INT(run_op("Add", 14, NULL, 0, in, 2, &out, 1, &err), IG_ESHAPE);
    CHECK(strstr(err.msg, "cannot broadcast") != NULL);
    /* mismatched dtypes */
    int32_t ib[4] = {0};
    ig_tensor in2[2] = {ig_test_tensor(IG_DT_FLOAT, 1, (int64_t[]){4}, b),
                        ig_test_tensor(IG_DT_INT32, 1, (int64_t[]){4}, ib)};
    ig_error err2 = {0};
    CHECK_EQ_INT(run_op("Mul", 14, NULL, 0, in2, 2, &out, 1, &err2), IG_EDTYPE);
    /* scalar with scalar is a scalar */
    ig_tensor in3[2] = {ig_test_tensor(IG_DT_FLOAT, 0, NULL, a), ig_test_tensor(IG_DT_FLOAT, 0, NULL, b)};
    ig_tensor o3 = {0};
    CHECK_EQ_INT(run_op("Add", 14, NULL, 0, in3, 2, &o3, 1, &err), 0);
    CHECK_EQ_INT(o3.ndim, 0);
    free(o3.data);
}

static void test_int_edges(void)
{
    int32_t a[4] = {7, INT32_MIN, -7, 5}, b[4] = {0, -1, 2, -3};
    ig_tensor in[2] = {ig_test_tensor(IG_DT_INT32, 1, (int64_t[]){4}, a),
                       ig_test_tensor(IG_DT_INT32, 1, (int64_t[]){4}, b)};
    ig_tensor out = {0};
    ig_error err = {0};
    CHECK_EQ_INT(run_op("Div", 14, NULL, 0, in, 2, &out, 1, &err), 0);
    int32_t *o = out.data;
    CHECK_EQ_INT(o[0], 0);
    CHECK_EQ_INT(o[1], INT32_MIN);
    CHECK_EQ_INT(o[2], -3);
    CHECK_EQ_INT(o[3], -1);
    free(out.data);
    CHECK_EQ_INT(run_op("Mod", 13, NULL, 0, in, 2, &out, 1, &err), 0);
    o = out.data;
    CHECK_EQ_INT(o[0], 0);
    CHECK_EQ_INT(o[1], 0);
    CHECK_EQ_INT(o[2], 1);  /* Python: -7 % 2 == 1 */
    CHECK_EQ_INT(o[3], -1); /* 5 % -3 == -1 */
    free(out.data);
    ig_attr fm = {.name = "fmod", .type = IG_ATTR_INT, .i = 1};
    CHECK_EQ_INT(run_op("Mod", 13, &fm, 1, in, 2, &out, 1, &err), 0);
    o = out.data;
    CHECK_EQ_INT(o[2], -1);
    CHECK_EQ_INT(o[3], 2);
    free(out.data);

    uint8_t u[3] = {250, 3, 1}, v[3] = {10, 2, 9};
    ig_tensor iu[2] = {ig_test_tensor(IG_DT_UINT8, 1, (int64_t[]){3}, u),
                       ig_test_tensor(IG_DT_UINT8, 1, (int64_t[]){3}, v)};
    CHECK_EQ_INT(run_op("Add", 14, NULL, 0, iu, 2, &out, 1, &err), 0);
    CHECK_EQ_INT(((uint8_t *)out.data)[0], 4);
    free(out.data);
    ig_attr dir = {.name = "direction", .type = IG_ATTR_STRING, .s = {"LEFT", 4}};
    CHECK_EQ_INT(run_op("BitShift", 11, &dir, 1, iu, 2, &out, 1, &err), 0);
    CHECK_EQ_INT(((uint8_t *)out.data)[1], 12);
    CHECK_EQ_INT(((uint8_t *)out.data)[2], 0); /* shifted out */
    free(out.data);

    int64_t pa[3] = {3, -2, 2}, pb[3] = {4, 3, -1};
    ig_tensor ip[2] = {ig_test_tensor(IG_DT_INT64, 1, (int64_t[]){3}, pa),
                       ig_test_tensor(IG_DT_INT64, 1, (int64_t[]){3}, pb)};
    CHECK_EQ_INT(run_op("Pow", 15, NULL, 0, ip, 2, &out, 1, &err), 0);
    CHECK_EQ_INT(((int64_t *)out.data)[0], 81);
    CHECK_EQ_INT(((int64_t *)out.data)[1], -8);
    CHECK_EQ_INT(((int64_t *)out.data)[2], 0);
    free(out.data);
    float pf[3] = {0.5f, 2.0f, 3.0f};
    ig_tensor im[2] = {ig_test_tensor(IG_DT_INT64, 1, (int64_t[]){3}, pa),
                       ig_test_tensor(IG_DT_FLOAT, 1, (int64_t[]){3}, pf)};
    CHECK_EQ_INT(run_op("Pow", 15, NULL, 0, im, 2, &out, 1, &err), 0);
    CHECK_EQ_INT(out.dtype, IG_DT_INT64);
    CHECK_EQ_INT(((int64_t *)out.data)[1], 4);
    free(out.data);
}

static void test_variadic_where_expand(void)
{
    float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30}, c1[1] = {100};
    ig_tensor in[3] = {ig_test_tensor(IG_DT_FLOAT, 2, (int64_t[]){2, 3}, a),
                       ig_test_tensor(IG_DT_FLOAT, 1, (int64_t[]){3}, b),
                       ig_test_tensor(IG_DT_FLOAT, 0, NULL, c1)};
    ig_tensor out = {0};
    ig_error err = {0};
    CHECK_EQ_INT(run_op("Sum", 13, NULL, 0, in, 3, &out, 1, &err), 0);
    CHECK(((float *)out.data)[4] == 125);
    free(out.data);
    CHECK_EQ_INT(run_op("Mean", 13, NULL, 0, in, 3, &out, 1, &err), 0);
    CHECK(fabsf(((float *)out.data)[5] - 136.0f / 3) < 1e-4f);
    free(out.data);
    /* Max where only later inputs carry the full shape */
    ig_tensor in_r[3] = {in[2], in[1], in[0]};
    CHECK_EQ_INT(run_op("Max", 13, NULL, 0, in_r, 3, &out, 1, &err), 0);
    CHECK_EQ_INT(out.ndim, 2);
    CHECK(((float *)out.data)[3] == 100);
    free(out.data);
    CHECK_EQ_INT(run_op("Min", 13, NULL, 0, in, 1, &out, 1, &err), 0);
    CHECK(((float *)out.data)[5] == 6);
    free(out.data);

    uint8_t cond[2] = {1, 0};
    ig_tensor w[3] = {ig_test_tensor(IG_DT_BOOL, 2, (int64_t[]){2, 1}, cond), in[0], in[1]};
    CHECK_EQ_INT(run_op("Where", 16, NULL, 0, w, 3, &out, 1, &err), 0);
    float *o = out.data;
    CHECK(o[0] == 1 && o[2] == 3 && o[3] == 10 && o[5] == 30);
    free(out.data);

    int64_t shape[3] = {2, 1, 3};
    ig_tensor e[2] = {ig_test_tensor(IG_DT_FLOAT, 1, (int64_t[]){3}, b),
                      ig_test_tensor(IG_DT_INT64, 1, (int64_t[]){3}, shape)};
    CHECK_EQ_INT(run_op("Expand", 13, NULL, 0, e, 2, &out, 1, &err), 0);
    CHECK_EQ_INT(out.ndim, 3);
    CHECK(((float *)out.data)[4] == 20);
    free(out.data);
    ig_tensor e2[2] = {e[0], ig_test_tensor(IG_DT_INT64, 1, (int64_t[]){3}, NULL)};
    CHECK_EQ_INT(run_op("Expand", 13, NULL, 0, e2, 2, &out, 1, &err), IG_EDEFER);
}

static void test_compare_logic(void)
{
    int32_t a[4] = {1, 2, 3, 4}, b[1] = {3};
    ig_tensor in[2] = {ig_test_tensor(IG_DT_INT32, 1, (int64_t[]){4}, a),
                       ig_test_tensor(IG_DT_INT32, 1, (int64_t[]){1}, b)};
    ig_tensor out = {0};
    ig_error err = {0};
    CHECK_EQ_INT(run_op("LessOrEqual", 16, NULL, 0, in, 2, &out, 1, &err), 0);
    CHECK_EQ_INT(out.dtype, IG_DT_BOOL);
    uint8_t *o = out.data;
    CHECK(o[0] == 1 && o[2] == 1 && o[3] == 0);
    free(out.data);
    uint8_t x[2] = {1, 0}, y[2] = {1, 1};
    ig_tensor l[2] = {ig_test_tensor(IG_DT_BOOL, 1, (int64_t[]){2}, x),
                      ig_test_tensor(IG_DT_BOOL, 1, (int64_t[]){2}, y)};
    CHECK_EQ_INT(run_op("Xor", 7, NULL, 0, l, 2, &out, 1, &err), 0);
    o = out.data;
    CHECK(o[0] == 0 && o[1] == 1);
    free(out.data);
    CHECK_EQ_INT(run_op("Not", 1, NULL, 0, l, 1, &out, 1, &err), 0);
    CHECK(((uint8_t *)out.data)[1] == 1);
    free(out.data);
}

static void test_half_and_cast(void)
{
    CHECK(ig_half_to_float(ig_float_to_half(65504.0f)) == 65504.0f);
    CHECK(isinf(ig_half_to_float(ig_float_to_half(65520.0f))));
    CHECK(ig_half_to_float(ig_float_to_half(5.9604645e-8f)) == 5.9604645e-8f);
    CHECK(ig_float_to_half(1.0f + 1.0f / 2048) == 0x3c00); /* tie rounds to even */
    CHECK(isnan(ig_half_to_float(ig_float_to_half(NAN))));
    CHECK(ig_bfloat16_to_float(ig_float_to_bfloat16(1.5f)) == 1.5f);

    uint16_t h[3] = {ig_float_to_half(1.5f), ig_float_to_half(-2.0f), ig_float_to_half(0.25f)};
    uint16_t g[3] = {ig_float_to_half(1.0f), ig_float_to_half(-1.0f), ig_float_to_half(1.0f)};
    ig_tensor in[2] = {ig_test_tensor(IG_DT_FLOAT16, 1, (int64_t[]){3}, h),
                       ig_test_tensor(IG_DT_FLOAT16, 1, (int64_t[]){3}, g)};
    ig_tensor out = {0};
    ig_error err = {0};
    CHECK_EQ_INT(run_op("Max", 13, NULL, 0, in, 2, &out, 1, &err), 0);
    CHECK_EQ_INT(out.dtype, IG_DT_FLOAT16);
    uint16_t *o = out.data;
    CHECK(ig_half_to_float(o[0]) == 1.5f && ig_half_to_float(o[1]) == -1.0f &&
          ig_half_to_float(o[2]) == 1.0f);
    free(out.data);

    float f[5] = {1.7f, -1.7f, NAN, 1e20f, -1e20f};
    ig_tensor fi = ig_test_tensor(IG_DT_FLOAT, 1, (int64_t[]){5}, f);
    ig_attr to = {.name = "to", .type = IG_ATTR_INT, .i = IG_DT_INT32};
    CHECK_EQ_INT(run_op("Cast", 13, &to, 1, &fi, 1, &out, 1, &err), 0);
    int32_t *oi = out.data;
    CHECK(oi[0] == 1 && oi[1] == -1 && oi[2] == 0 && oi[3] == INT32_MAX && oi[4] == INT32_MIN);
    free(out.data);
    to.i = IG_DT_FLOAT16;
    CHECK_EQ_INT(run_op("Cast", 13, &to, 1, &fi, 1, &out, 1, &err), 0);
    CHECK(fabsf(ig_half_to_float(((uint16_t *)out.data)[0]) - 1.7f) < 1e-3f);
    free(out.data);
    ig_string s[3] = {{"0.5", 3}, {"-INF", 4}, {"NaN", 3}};
    ig_tensor si = ig_test_tensor(IG_DT_STRING, 1, (int64_t[]){3}, s);
    to.i = IG_DT_DOUBLE;
    CHECK_EQ_INT(run_op("Cast", 13, &to, 1, &si, 1, &out, 1, &err), 0);
    double *od = out.data;
    CHECK(od[0] == 0.5 && isinf(od[1]) && od[1] < 0 && isnan(od[2]));
    free(out.data);
}

/* The vectorised float loops against double-precision libm, on lengths that exercise vector
 * remainders. */
static double d_sigmoid(double x)
{
    return 1 / (1 + exp(-x));
}
static double d_relu(double x)
{
    return x < 0 ? 0 : x;
}
static double d_clip(double x)
{
    return x < -1 ? -1 : x > 2 ? 2 : x;
}

static void test_vector_math(void)
{
    static const struct {
        const char *op;
        double (*ref)(double);
        double lo, hi;
    } ops[] = {
        {"Exp", exp, -90, 88.5},     {"Tanh", tanh, -12, 12}, {"Sigmoid", d_sigmoid, -30, 30},
        {"Erf", erf, -5, 5},         {"Relu", d_relu, -5, 5}, {"Clip", d_clip, -5, 5},
        {"Tanh", tanh, -0.01, 0.01}, {"Erf", erf, -0.6, 0.6}, {"Exp", exp, -1, 1},
    };
    static const int lens[] = {1, 15, 16, 17, 1000};
    float clip_lo = -1, clip_hi = 2;
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            int n = lens[l];
            float *x = malloc(sizeof(float) * (size_t)n);
            for (int i = 0; i < n; i++) x[i] = (float)(ops[o].lo + (ops[o].hi - ops[o].lo) * (i + 0.37) / n);
            ig_tensor in[3] = {ig_test_tensor(IG_DT_FLOAT, 1, (int64_t[]){n}, x),
                               ig_test_tensor(IG_DT_FLOAT, 0, NULL, &clip_lo),
                               ig_test_tensor(IG_DT_FLOAT, 0, NULL, &clip_hi)};
            ig_tensor out = {0};
            ig_error err = {0};
            int n_in = strcmp(ops[o].op, "Clip") ? 1 : 3;
            CHECK_EQ_INT(run_op(ops[o].op, 13, NULL, 0, in, n_in, &out, 1, &err), 0);
            double worst = 0;
            for (int i = 0; i < n; i++) {
                double r = ops[o].ref(x[i]), y = ((float *)out.data)[i];
                double e = fabs(y - r) / (fabs(r) + 1e-30);
                if (fabs(r) < 1e-37) e = fabs(y - r) * 1e30; /* below float's normal range */
                if (e > worst) worst = e;
            }
            if (worst > 1e-6) fprintf(stderr, "%s n=%d: worst relative error %g\n", ops[o].op, n, worst);
            CHECK(worst <= 1e-6);
            free(out.data);
            free(x);
        }
    }
    /* special values */
    float sp[6] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 100.0f};
    static const char *names[] = {"Exp", "Tanh", "Sigmoid", "Erf"};
    for (int k = 0; k < 4; k++) {
        ig_tensor in = ig_test_tensor(IG_DT_FLOAT, 1, (int64_t[]){6}, sp);
        ig_tensor out = {0};
        ig_error err = {0};
        CHECK_EQ_INT(run_op(names[k], 13, NULL, 0, &in, 1, &out, 1, &err), 0);
        float *y = out.data;
        CHECK(isnan(y[2]));
        if (k == 0) CHECK(isinf(y[0]) && y[1] == 0 && y[3] == 1 && isinf(y[5]));
        if (k == 1 || k == 3) CHECK(y[0] == 1 && y[1] == -1 && y[3] == 0);
        if (k == 2) CHECK(y[0] == 1 && y[1] == 0 && y[3] == 0.5f);
        free(out.data);
    }
}

int main(void)
{
    test_broadcast_add();
    test_broadcast_errors();
    test_int_edges();
    test_variadic_where_expand();
    test_compare_logic();
    test_half_and_cast();
    test_vector_math();
    return CHECK_DONE();
}
