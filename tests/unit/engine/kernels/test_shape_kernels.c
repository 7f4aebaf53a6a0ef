/* Shape kernels driven directly through the kernel table: Reshape 0/-1, Slice clamping and
 * negative steps, Gather negative and out-of-range indices, Transpose against a naive loop, uneven
 * Split. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels/kernel.h"

typedef struct {
    ig_node node;
    ig_kstep s;
    ig_tensor outs[4];
    ig_tensor *outp[4];
    const ig_kernel_def *def;
    ig_error err;
} op_call;

/* Plans and runs op; returns the first non-zero code (plan's or run's). */
static int call(op_call *c, const char *op, int opset, ig_attr *attrs, int n_attrs, ig_tensor **in, int n_in,
                int n_out)
{
    memset(c, 0, sizeof *c);
    c->node.name = "t";
    c->node.op_type = op;
    c->node.domain = "";
    c->node.opset = opset;
    c->node.attrs = attrs;
    c->node.n_attrs = n_attrs;
    c->node.n_inputs = n_in;
    c->node.n_outputs = n_out;
    for (int i = 0; i < n_out; i++) c->outp[i] = &c->outs[i];
    c->def = ig_kernel_next(NULL, "", op, opset, in, n_in);
    if (!c->def) return -1000;
    c->s.node = &c->node;
    c->s.n_in = n_in;
    c->s.in = in;
    c->s.n_out = n_out;
    c->s.out = c->outp;
    c->s.n_threads = 2;
    int rc = c->def->plan(&c->s, &c->err);
    if (rc) return rc;
    for (int i = 0; i < n_out; i++) c->outs[i].data = calloc(1, ig_tensor_nbytes(&c->outs[i]) + 16);
    return c->def->run(&c->s);
}

static void done(op_call *c)
{
    if (c->def && c->def->destroy && c->s.state) c->def->destroy(c->s.state);
    for (int i = 0; i < 4; i++) free(c->outs[i].data);
}

static ig_tensor t1d_i64(int64_t *v, int64_t n)
{
    ig_tensor t = {IG_DT_INT64, 1, {n}, v};
    return t;
}

static void test_reshape(void)
{
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    ig_tensor tx = {IG_DT_FLOAT, 3, {2, 3, 4}, x};
    int64_t sh1[] = {0, -1};
    ig_tensor ts = t1d_i64(sh1, 2), *in[2] = {&tx, &ts};
    op_call c;
    CHECK_EQ_INT(call(&c, "Reshape", 14, NULL, 0, in, 2, 1), 0);
    CHECK_EQ_INT(c.outs[0].ndim, 2);
    CHECK_EQ_INT(c.outs[0].dims[0], 2);
    CHECK_EQ_INT(c.outs[0].dims[1], 12);
    CHECK(!memcmp(c.outs[0].data, x, sizeof x));
    done(&c);

    int64_t sh2[] = {4, 0, -1};
    ts = t1d_i64(sh2, 3);
    CHECK_EQ_INT(call(&c, "Reshape", 14, NULL, 0, in, 2, 1), 0);
    CHECK_EQ_INT(c.outs[0].dims[0], 4);
    CHECK_EQ_INT(c.outs[0].dims[1], 3);
    CHECK_EQ_INT(c.outs[0].dims[2], 2);
    done(&c);

    /* allowzero: 0 is a real zero, so -1 cannot be inferred from 24 elements. */
    ig_attr az = {.name = "allowzero", .type = IG_ATTR_INT, .i = 1};
    ts = t1d_i64(sh1, 2);
    CHECK_EQ_INT(call(&c, "Reshape", 14, &az, 1, in, 2, 1), IG_ESHAPE);
    done(&c);

    int64_t sh3[] = {-1, -1};
    ts = t1d_i64(sh3, 2);
    CHECK_EQ_INT(call(&c, "Reshape", 14, NULL, 0, in, 2, 1), IG_ESHAPE);
    done(&c);

    int64_t sh4[] = {5, -1};
    ts = t1d_i64(sh4, 2);
    CHECK_EQ_INT(call(&c, "Reshape", 14, NULL, 0, in, 2, 1), IG_ESHAPE);
    done(&c);

    /* Shape not known yet: plan defers. */
    ts.data = NULL;
    CHECK_EQ_INT(call(&c, "Reshape", 14, NULL, 0, in, 2, 1), IG_EDEFER);
    done(&c);

    /* Empty tensor with allowzero keeps the zero. */
    ig_tensor te = {IG_DT_FLOAT, 2, {0, 3}, x};
    int64_t sh5[] = {3, 0};
    ts = t1d_i64(sh5, 2);
    in[0] = &te;
    CHECK_EQ_INT(call(&c, "Reshape", 14, &az, 1, in, 2, 1), 0);
    CHECK_EQ_INT(c.outs[0].dims[0], 3);
    CHECK_EQ_INT(c.outs[0].dims[1], 0);
    done(&c);
}

/* Slices 0..9 with one (start, end, step); checks the result against expect[0..n). */
static void check_slice1(int64_t start, int64_t end, int64_t step, const int32_t *expect, int n)
{
    int32_t x[10];
    for (int i = 0; i < 10; i++) x[i] = i;
    ig_tensor tx = {IG_DT_INT32, 1, {10}, x};
    ig_tensor ts = t1d_i64(&start, 1), te = t1d_i64(&end, 1), tst = t1d_i64(&step, 1);
    ig_tensor *in[5] = {&tx, &ts, &te, NULL, &tst};
    op_call c;
    CHECK_EQ_INT(call(&c, "Slice", 13, NULL, 0, in, 5, 1), 0);
    CHECK_EQ_INT(c.outs[0].dims[0], n);
    if (c.outs[0].dims[0] == n && n) CHECK(!memcmp(c.outs[0].data, expect, sizeof(int32_t) * n));
    done(&c);
}

static void test_slice(void)
{
    const int32_t rev[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    check_slice1(-1, INT64_MIN, -1, rev, 10);
    check_slice1(INT64_MAX, -1000, -1, rev, 10);
    const int32_t e1[] = {2, 5, 8};
    check_slice1(2, 1000, 3, e1, 3);
    check_slice1(20, 30, 1, NULL, 0);
    check_slice1(-100, -200, 1, NULL, 0);
    const int32_t e2[] = {8, 6, 4};
    check_slice1(8, 2, -2, e2, 3);
    const int32_t e3[] = {7, 8};
    check_slice1(-3, -1, 1, e3, 2);
    check_slice1(3, 3, 1, NULL, 0);

    /* 2-D, negative axis, opset 1 attributes. */
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    ig_tensor tx = {IG_DT_FLOAT, 2, {3, 4}, x}, *in[1] = {&tx};
    int64_t st[] = {1, -3}, en[] = {100, 3}, ax[] = {0, -1};
    ig_attr attrs[3] = {{.name = "starts", .type = IG_ATTR_INTS, .n = 2, .ints = st},
                        {.name = "ends", .type = IG_ATTR_INTS, .n = 2, .ints = en},
                        {.name = "axes", .type = IG_ATTR_INTS, .n = 2, .ints = ax}};
    op_call c;
    CHECK_EQ_INT(call(&c, "Slice", 1, attrs, 3, in, 1, 1), 0);
    CHECK_EQ_INT(c.outs[0].dims[0], 2);
    CHECK_EQ_INT(c.outs[0].dims[1], 2);
    const float e4[] = {5, 6, 9, 10};
    CHECK(!memcmp(c.outs[0].data, e4, sizeof e4));
    done(&c);

    /* Step 0 is an error. */
    int64_t s0 = 0, b0 = 0, e0 = 2;
    int32_t xi[10] = {0};
    ig_tensor tx1 = {IG_DT_INT32, 1, {10}, xi}, ts = t1d_i64(&b0, 1), te = t1d_i64(&e0, 1),
              tst = t1d_i64(&s0, 1);
    ig_tensor *in5[5] = {&tx1, &ts, &te, NULL, &tst};
    CHECK_EQ_INT(call(&c, "Slice", 13, NULL, 0, in5, 5, 1), IG_EINVAL);
    done(&c);
}

static void test_gather(void)
{
    float x[] = {0, 1, 10, 11, 20, 21};
    ig_tensor tx = {IG_DT_FLOAT, 2, {3, 2}, x};
    int64_t idx[] = {-1, 0};
    ig_tensor ti = t1d_i64(idx, 2), *in[2] = {&tx, &ti};
    op_call c;
    CHECK_EQ_INT(call(&c, "Gather", 13, NULL, 0, in, 2, 1), 0);
    const float e1[] = {20, 21, 0, 1};
    CHECK_EQ_INT(c.outs[0].dims[0], 2);
    CHECK_EQ_INT(c.outs[0].dims[1], 2);
    CHECK(!memcmp(c.outs[0].data, e1, sizeof e1));
    done(&c);

    /* axis 1 with int32 scalar index: output drops the axis. */
    int32_t i32 = -2;
    ig_tensor ts = {IG_DT_INT32, 0, {0}, &i32};
    in[1] = &ts;
    ig_attr ax = {.name = "axis", .type = IG_ATTR_INT, .i = 1};
    CHECK_EQ_INT(call(&c, "Gather", 13, &ax, 1, in, 2, 1), 0);
    CHECK_EQ_INT(c.outs[0].ndim, 1);
    const float e2[] = {0, 10, 20};
    CHECK(!memcmp(c.outs[0].data, e2, sizeof e2));
    done(&c);

    int64_t bad[] = {0, 3};
    ti = t1d_i64(bad, 2);
    in[1] = &ti;
    CHECK_EQ_INT(call(&c, "Gather", 13, NULL, 0, in, 2, 1), IG_EINVAL);
    done(&c);
    bad[1] = -4;
    CHECK_EQ_INT(call(&c, "Gather", 13, NULL, 0, in, 2, 1), IG_EINVAL);
    done(&c);

    int64_t bad2[] = {0, 0, 2, 0, 0, 0};
    ig_tensor tie = {IG_DT_INT64, 2, {3, 2}, bad2};
    in[1] = &tie;
    CHECK_EQ_INT(call(&c, "GatherElements", 13, &ax, 1, in, 2, 1), IG_EINVAL);
    done(&c);
}

/* Transposes a tensor of dims through every permutation of its rank and compares with a naive loop. */
static int next_perm(int *p, int n)
{
    int i = n - 2;
    while (i >= 0 && p[i] >= p[i + 1]) i--;
    if (i < 0) return 0;
    int j = n - 1;
    while (p[j] <= p[i]) j--;
    int t = p[i];
    p[i] = p[j];
    p[j] = t;
    for (int a = i + 1, b = n - 1; a < b; a++, b--) t = p[a], p[a] = p[b], p[b] = t;
    return 1;
}

static void check_transpose(ig_dtype dt, int r, const int64_t *dims)
{
    size_t es = ig_dtype_size(dt);
    ig_tensor tx = {dt, r, {0}, NULL};
    memcpy(tx.dims, dims, sizeof(int64_t) * r);
    int64_t n = ig_tensor_numel(&tx);
    unsigned char *x = malloc(n * es), *ref = malloc(n * es);
    for (int64_t i = 0; i < n * (int64_t)es; i++) x[i] = (unsigned char)(i * 7 + i / 13);
    tx.data = x;
    int p[IG_MAX_DIMS];
    int64_t perm[IG_MAX_DIMS];
    for (int k = 0; k < r; k++) p[k] = k;
    int bad = 0;
    do {
        for (int k = 0; k < r; k++) perm[k] = p[k];
        ig_attr a = {.name = "perm", .type = IG_ATTR_INTS, .n = r, .ints = perm};
        ig_tensor *in[1] = {&tx};
        op_call c;
        if (call(&c, "Transpose", 13, &a, 1, in, 1, 1)) {
            bad++;
            done(&c);
            continue;
        }
        int64_t istr[IG_MAX_DIMS], odims[IG_MAX_DIMS];
        int64_t st = 1;
        for (int k = r - 1; k >= 0; k--) istr[k] = st, st *= dims[k];
        for (int k = 0; k < r; k++) odims[k] = dims[p[k]];
        for (int64_t o = 0; o < n; o++) {
            int64_t rem = o, off = 0;
            for (int k = r - 1; k >= 0; k--) {
                off += (rem % odims[k]) * istr[p[k]];
                rem /= odims[k];
            }
            memcpy(ref + o * es, x + off * es, es);
        }
        bad += memcmp(ref, c.outs[0].data, n * es) != 0;
        done(&c);
    } while (next_perm(p, r));
    CHECK_EQ_INT(bad, 0);
    free(x);
    free(ref);
}

static void test_transpose(void)
{
    const int64_t d4[] = {2, 3, 4, 5}, d3[] = {3, 67, 45}, d2[] = {130, 257}, d5[] = {2, 1, 3, 4, 2};
    check_transpose(IG_DT_FLOAT, 4, d4);
    check_transpose(IG_DT_UINT8, 4, d4);
    check_transpose(IG_DT_DOUBLE, 3, d3);
    check_transpose(IG_DT_FLOAT16, 2, d2);
    check_transpose(IG_DT_COMPLEX128, 3, d4);
    check_transpose(IG_DT_INT32, 5, d5);
    const int64_t big[] = {2, 64, 33, 40};
    check_transpose(IG_DT_FLOAT, 4, big);
}

static void test_split(void)
{
    int32_t x[14];
    for (int i = 0; i < 14; i++) x[i] = i;
    ig_tensor tx = {IG_DT_INT32, 2, {2, 7}, x}, *in[2] = {&tx, NULL};
    ig_attr attrs[2] = {{.name = "axis", .type = IG_ATTR_INT, .i = -1},
                        {.name = "num_outputs", .type = IG_ATTR_INT, .i = 3}};
    op_call c;
    CHECK_EQ_INT(call(&c, "Split", 18, attrs, 2, in, 1, 3), 0);
    CHECK_EQ_INT(c.outs[0].dims[1], 3);
    CHECK_EQ_INT(c.outs[1].dims[1], 3);
    CHECK_EQ_INT(c.outs[2].dims[1], 1);
    const int32_t e0[] = {0, 1, 2, 7, 8, 9}, e1[] = {3, 4, 5, 10, 11, 12}, e2[] = {6, 13};
    CHECK(!memcmp(c.outs[0].data, e0, sizeof e0));
    CHECK(!memcmp(c.outs[1].data, e1, sizeof e1));
    CHECK(!memcmp(c.outs[2].data, e2, sizeof e2));
    done(&c);

    /* Without num_outputs the parts must be equal. */
    CHECK_EQ_INT(call(&c, "Split", 13, attrs, 1, in, 1, 3), IG_ESHAPE);
    done(&c);

    int64_t sp[] = {2, 5};
    ig_tensor ts = t1d_i64(sp, 2);
    in[1] = &ts;
    CHECK_EQ_INT(call(&c, "Split", 13, attrs, 1, in, 2, 2), 0);
    CHECK_EQ_INT(c.outs[0].dims[1], 2);
    CHECK_EQ_INT(c.outs[1].dims[1], 5);
    const int32_t f0[] = {0, 1, 7, 8}, f1[] = {2, 3, 4, 5, 6, 9, 10, 11, 12, 13};
    CHECK(!memcmp(c.outs[0].data, f0, sizeof f0));
    CHECK(!memcmp(c.outs[1].data, f1, sizeof f1));
    done(&c);

    ts.data = NULL;
    CHECK_EQ_INT(call(&c, "Split", 13, attrs, 1, in, 2, 2), IG_EDEFER);
    done(&c);

    /* opset 11: split as attribute, must sum to the dim. */
    int64_t bad[] = {3, 3};
    ig_attr a11[2] = {attrs[0], {.name = "split", .type = IG_ATTR_INTS, .n = 2, .ints = bad}};
    CHECK_EQ_INT(call(&c, "Split", 11, a11, 2, in, 1, 2), IG_ESHAPE);
    done(&c);
}

static void test_shape_size(void)
{
    ig_tensor tx = {IG_DT_FLOAT, 4, {2, 3, 5, 7}, NULL}, *in[1] = {&tx};
    ig_attr a[2] = {{.name = "start", .type = IG_ATTR_INT, .i = 1},
                    {.name = "end", .type = IG_ATTR_INT, .i = -1}};
    op_call c;
    /* No input data needed. */
    CHECK_EQ_INT(call(&c, "Shape", 15, a, 2, in, 1, 1), 0);
    CHECK_EQ_INT(c.outs[0].dims[0], 2);
    CHECK_EQ_INT(((int64_t *)c.outs[0].data)[0], 3);
    CHECK_EQ_INT(((int64_t *)c.outs[0].data)[1], 5);
    done(&c);
    CHECK_EQ_INT(call(&c, "Size", 13, NULL, 0, in, 1, 1), 0);
    CHECK_EQ_INT(*(int64_t *)c.outs[0].data, 210);
    done(&c);
}

int main(void)
{
    test_reshape();
    test_slice();
    test_gather();
    test_transpose();
    test_split();
    test_shape_size();
    return CHECK_DONE();
}
