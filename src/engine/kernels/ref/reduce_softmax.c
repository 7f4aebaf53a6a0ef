/* Softmax, LogSoftmax and Hardmax. Before opset 13 the input is coerced to 2-D at axis (default
 * 1) and normalised over the flattened trailing block; from 13 along the single axis (default -1).
 * Float rows that are contiguous take vectorised loops (polynomial exp) across threads; other
 * cases gather each strided row into double. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/reduce_util.h"

typedef enum { SM_SOFTMAX, SM_LOG, SM_HARD } sm_kind;

typedef struct {
    sm_kind kind;
    int64_t outer, n, inner;
} sm_state;

int ig__rd_softmax_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    if (!x) return ig_kstep_fail(s, err, IG_EINVAL, "missing input");
    int r = x->ndim;
    bool legacy = s->node->opset < 13;
    int64_t axis = ig_node_attr_int(s->node, "axis", legacy ? 1 : -1);
    if (r == 0) return ig_kstep_fail(s, err, IG_ESHAPE, "input must have rank >= 1");
    /* The legacy 2-D coercion also accepts axis == rank (an empty trailing block). */
    if (legacy && axis == r) {
    } else if (!rd_norm_axis(&axis, r)) {
        return ig_kstep_fail(s, err, IG_EINVAL, "axis %lld out of range for rank %d", (long long)axis, r);
    }
    sm_state *st = ig__rd_state(s, sizeof(sm_state));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    const char *op = s->node->op_type;
    st->kind = !strcmp(op, "Softmax") ? SM_SOFTMAX : !strcmp(op, "LogSoftmax") ? SM_LOG : SM_HARD;
    st->outer = rd_prod(x->dims, 0, (int)axis);
    if (legacy) {
        st->n = rd_prod(x->dims, (int)axis, r);
        st->inner = 1;
    } else {
        st->n = x->dims[axis];
        st->inner = rd_prod(x->dims, (int)axis + 1, r);
    }
    if (x->dtype != IG_DT_FLOAT || st->inner != 1) s->scratch_bytes = (size_t)st->n * 8;
    ig_kstep_set_output(s, 0, x->dtype, r, x->dims);
    return 0;
}

RD_HOT static void softmax_row_f32(const float *restrict x, float *restrict y, int64_t n, sm_kind kind)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    if (kind == SM_HARD) {
        int64_t bi = 0;
        while (bi < n - 1 && !(x[bi] == m)) bi++;
        memset(y, 0, sizeof(float) * n);
        if (n) y[bi] = 1.0f;
        return;
    }
    float sum = 0.0f;
    if (kind == SM_SOFTMAX) {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < n; j++) {
            float e = rd_expf(x[j] - m);
            y[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int64_t j = 0; j < n; j++) y[j] *= inv;
    } else {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < n; j++) sum += rd_expf(x[j] - m);
        float sub = m + logf(sum);
#pragma omp simd
        for (int64_t j = 0; j < n; j++) y[j] = x[j] - sub;
    }
}

static void softmax_row_d(double *v, int64_t n, sm_kind kind)
{
    double m = -INFINITY;
    int64_t bi = 0;
    for (int64_t j = 0; j < n; j++)
        if (v[j] > m) m = v[j], bi = j;
    if (kind == SM_HARD) {
        for (int64_t j = 0; j < n; j++) v[j] = j == bi ? 1.0 : 0.0;
        return;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) sum += exp(v[j] - m);
    if (kind == SM_SOFTMAX) {
        for (int64_t j = 0; j < n; j++) v[j] = exp(v[j] - m) / sum;
    } else {
        double sub = m + log(sum);
        for (int64_t j = 0; j < n; j++) v[j] -= sub;
    }
}

int ig__rd_softmax_run(ig_kstep *s)
{
    const sm_state *st = s->state;
    const ig_tensor *x = s->in[0];
    void *y = s->out[0]->data;
    int64_t n = st->n;
    if (n == 0) return 0;
    if (x->dtype == IG_DT_FLOAT && st->inner == 1) {
        const float *xf = x->data;
        float *yf = y;
        int64_t rows = st->outer;
#pragma omp parallel for num_threads(s->n_threads) if (rows > 1 && rows * n > (1 << 15))
        for (int64_t r = 0; r < rows; r++) softmax_row_f32(xf + r * n, yf + r * n, n, st->kind);
        return 0;
    }
    double *buf = s->scratch;
    for (int64_t o = 0; o < st->outer; o++) {
        for (int64_t i = 0; i < st->inner; i++) {
            int64_t off = o * n * st->inner + i;
            ig__rd_load_d(x->data, x->dtype, off, n, st->inner, buf);
            softmax_row_d(buf, n, st->kind);
            ig__rd_store_d(y, x->dtype, off, n, st->inner, buf);
        }
    }
    return 0;
}
