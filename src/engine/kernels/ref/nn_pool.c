/* Window pooling over N-D inputs: MaxPool (with Indices, storage_order, dilations, ceil_mode; float,
 * double, int8, uint8), AveragePool (count_include_pad), LpPool, and their Global forms, which are
 * the same windows spanning the whole spatial extent. One plane (n, c) per OpenMP work item. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/nn_window.h"

enum { POOL_MAX, POOL_AVG, POOL_LP };

typedef struct pool_state {
    ig__window w;
    int kind;
    int count_include_pad, storage_order;
    double p;
    int64_t planes, in_sp[IG_MAX_DIMS], out_sp[IG_MAX_DIMS], in_size, out_size;
} pool_state;

static int pool_plan_kind(ig_kstep *s, ig_error *err, int kind, int global)
{
    const ig_tensor *x = s->in[0];
    pool_state st;
    memset(&st, 0, sizeof(st));
    st.kind = kind;
    if (x->ndim < 3) return ig_kstep_fail(s, err, IG_ESHAPE, "X must have rank >= 3");
    int nsp = x->ndim - 2;
    char why[128];
    if (global) {
        st.w.nsp = nsp;
        for (int i = 0; i < nsp; i++) st.w.kernel[i] = x->dims[2 + i] > 0 ? x->dims[2 + i] : 1;
        for (int i = 0; i < nsp; i++) st.w.stride[i] = st.w.dil[i] = 1;
    } else if (ig__window_parse(s->node, nsp, NULL, &st.w, why)) {
        return ig_kstep_fail(s, err, IG_EINVAL, "%s", why);
    }
    if (kind != POOL_MAX && !global && ig_node_attr(s->node, "dilations") && s->node->opset < 19)
        for (int i = 0; i < nsp; i++) st.w.dil[i] = 1;
    st.count_include_pad = ig_node_attr_int(s->node, "count_include_pad", 0) != 0;
    st.storage_order = ig_node_attr_int(s->node, "storage_order", 0) != 0;
    st.p = kind == POOL_LP ? (double)ig_node_attr_int(s->node, "p", 2) : 0;
    if (kind == POOL_LP && ig_node_attr(s->node, "p") && ig_node_attr(s->node, "p")->type == IG_ATTR_FLOAT)
        st.p = ig_node_attr_float(s->node, "p", 2);
    memcpy(st.in_sp, x->dims + 2, sizeof(int64_t) * nsp);
    if (ig__window_output(&st.w, st.in_sp, st.out_sp, why))
        return ig_kstep_fail(s, err, IG_ESHAPE, "%s", why);
    st.planes = x->dims[0] * x->dims[1];
    st.in_size = st.out_size = 1;
    for (int i = 0; i < nsp; i++) st.in_size *= st.in_sp[i], st.out_size *= st.out_sp[i];
    int64_t dims[IG_MAX_DIMS] = {x->dims[0], x->dims[1]};
    memcpy(dims + 2, st.out_sp, sizeof(int64_t) * nsp);
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, dims);
    if (s->n_out > 1 && s->out[1]) {
        if (kind != POOL_MAX) return ig_kstep_fail(s, err, IG_EINVAL, "only MaxPool has an Indices output");
        ig_kstep_set_output(s, 1, IG_DT_INT64, x->ndim, dims);
    }
    if (!(s->state = malloc(sizeof(st)))) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    memcpy(s->state, &st, sizeof(st));
    return 0;
}

/* Pools one plane. For every output position the window is clipped to the input per dim; an
 * odometer then walks the clipped window. */
#define IG_POOL_PLANE(NAME, T, ACC)                                                                          \
    static void NAME(const pool_state *st, const T *x, T *y, int64_t *idx, int64_t plane)                    \
    {                                                                                                        \
        int nsp = st->w.nsp;                                                                                 \
        int64_t o[IG_MAX_DIMS] = {0};                                                                        \
        for (int64_t oi = 0; oi < st->out_size; oi++) {                                                      \
            int64_t lo[IG_MAX_DIMS], hi[IG_MAX_DIMS], start[IG_MAX_DIMS], k[IG_MAX_DIMS];                    \
            int64_t padded_count = 1, empty = 0;                                                             \
            for (int d = 0; d < nsp; d++) {                                                                  \
                int64_t dl = st->w.dil[d], kk = st->w.kernel[d];                                             \
                start[d] = o[d] * st->w.stride[d] - st->w.pad_b[d];                                          \
                /* first/last kernel taps that land inside the input */                                      \
                lo[d] = start[d] >= 0 ? 0 : (-start[d] + dl - 1) / dl;                                       \
                int64_t last = st->in_sp[d] - 1 - start[d];                                                  \
                hi[d] = last < 0 ? -1 : (last / dl < kk - 1 ? last / dl : kk - 1);                           \
                if (hi[d] < lo[d]) empty = 1;                                                                \
                int64_t pend = start[d] + (kk - 1) * dl, lim = st->in_sp[d] + st->w.pad_e[d] - 1;            \
                int64_t plo = 0, phi = pend <= lim ? kk - 1 : (lim - start[d]) / dl;                         \
                padded_count *= phi >= plo ? phi - plo + 1 : 0;                                              \
                k[d] = lo[d];                                                                                \
            }                                                                                                \
            ACC acc = 0;                                                                                     \
            int64_t count = 0, best = -1;                                                                    \
            T mx = 0;                                                                                        \
            if (!empty) {                                                                                    \
                for (;;) {                                                                                   \
                    int64_t off = 0;                                                                         \
                    for (int d = 0; d < nsp; d++) off = off * st->in_sp[d] + start[d] + k[d] * st->w.dil[d]; \
                    T v = x[off];                                                                            \
                    if (st->kind == POOL_MAX) {                                                              \
                        if (best < 0 || v > mx) mx = v, best = off;                                          \
                    } else if (st->kind == POOL_AVG) {                                                       \
                        acc += v;                                                                            \
                    } else {                                                                                 \
                        acc += (ACC)pow(fabs((double)v), st->p);                                             \
                    }                                                                                        \
                    count++;                                                                                 \
                    int d = nsp - 1;                                                                         \
                    while (d >= 0 && ++k[d] > hi[d]) k[d] = lo[d], d--;                                      \
                    if (d < 0) break;                                                                        \
                }                                                                                            \
            }                                                                                                \
            if (st->kind == POOL_MAX) {                                                                      \
                y[oi] = mx;                                                                                  \
                if (idx) {                                                                                   \
                    int64_t flat = best < 0 ? 0 : best;                                                      \
                    if (st->storage_order && best >= 0) {                                                    \
                        int64_t rem = best, cm = 0, scale = 1, c[IG_MAX_DIMS];                               \
                        for (int d = nsp - 1; d >= 0; d--) c[d] = rem % st->in_sp[d], rem /= st->in_sp[d];   \
                        for (int d = 0; d < nsp; d++) cm += c[d] * scale, scale *= st->in_sp[d];             \
                        flat = cm;                                                                           \
                    }                                                                                        \
                    idx[oi] = plane * st->in_size + flat;                                                    \
                }                                                                                            \
            } else if (st->kind == POOL_AVG) {                                                               \
                int64_t div = st->count_include_pad ? padded_count : count;                                  \
                y[oi] = div ? (T)(acc / div) : (T)0;                                                         \
            } else {                                                                                         \
                y[oi] = (T)pow((double)acc, 1.0 / st->p);                                                    \
            }                                                                                                \
            for (int d = nsp - 1; d >= 0; d--) {                                                             \
                if (++o[d] < st->out_sp[d]) break;                                                           \
                o[d] = 0;                                                                                    \
            }                                                                                                \
        }                                                                                                    \
    }

IG_POOL_PLANE(pool_f32, float, double)
IG_POOL_PLANE(pool_f64, double, double)
IG_POOL_PLANE(pool_i8, int8_t, int64_t)
IG_POOL_PLANE(pool_u8, uint8_t, int64_t)

#define IG_POOL_DISPATCH(FN, T)                                                                              \
    _Pragma("omp parallel for num_threads(nt) if(nt > 1)") for (int64_t p = 0; p < st->planes; p++)          \
        FN(st, (const T *)s->in[0]->data + p * st->in_size, (T *)s->out[0]->data + p * st->out_size,         \
           idx ? idx + p * st->out_size : NULL, p);

static int pool_run(ig_kstep *s)
{
    const pool_state *st = s->state;
    int64_t *idx = s->n_out > 1 && s->out[1] ? s->out[1]->data : NULL;
    int nt = st->planes * st->out_size > (1 << 12) && st->planes > 1 ? s->n_threads : 1;
    switch (s->in[0]->dtype) {
    case IG_DT_FLOAT:
        IG_POOL_DISPATCH(pool_f32, float) break;
    case IG_DT_DOUBLE:
        IG_POOL_DISPATCH(pool_f64, double) break;
    case IG_DT_INT8:
        IG_POOL_DISPATCH(pool_i8, int8_t) break;
    case IG_DT_UINT8:
        IG_POOL_DISPATCH(pool_u8, uint8_t) break;
    default:
        return IG_EDTYPE;
    }
    return 0;
}

int ig__maxpool_plan(ig_kstep *s, ig_error *err)
{
    return pool_plan_kind(s, err, POOL_MAX, 0);
}
int ig__averagepool_plan(ig_kstep *s, ig_error *err)
{
    return pool_plan_kind(s, err, POOL_AVG, 0);
}
int ig__lppool_plan(ig_kstep *s, ig_error *err)
{
    return pool_plan_kind(s, err, POOL_LP, 0);
}
int ig__globalmaxpool_plan(ig_kstep *s, ig_error *err)
{
    return pool_plan_kind(s, err, POOL_MAX, 1);
}
int ig__globalaveragepool_plan(ig_kstep *s, ig_error *err)
{
    return pool_plan_kind(s, err, POOL_AVG, 1);
}
int ig__globallppool_plan(ig_kstep *s, ig_error *err)
{
    return pool_plan_kind(s, err, POOL_LP, 1);
}
int ig__maxpool_run(ig_kstep *s)
{
    return pool_run(s);
}
int ig__averagepool_run(ig_kstep *s)
{
    return pool_run(s);
}
int ig__lppool_run(ig_kstep *s)
{
    return pool_run(s);
}
int ig__globalmaxpool_run(ig_kstep *s)
{
    return pool_run(s);
}
int ig__globalaveragepool_run(ig_kstep *s)
{
    return pool_run(s);
}
int ig__globallppool_run(ig_kstep *s)
{
    return pool_run(s);
}
