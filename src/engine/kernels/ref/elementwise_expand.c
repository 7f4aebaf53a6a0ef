/* Expand (broadcast a tensor to a shape given as data) and Clip (bounds from attributes before
 * opset 11, from optional scalar inputs after). */
#include <float.h>
#include <string.h>

#include "engine/kernels/ref/elementwise.h"
#include "engine/kernels/ref/half.h"

int ig__ew_plan_expand(ig_kstep *s, ig_error *err)
{
    if (s->n_in < 2 || !s->in[0] || !s->in[1])
        return ig_kstep_fail(s, err, IG_EINVAL, "Expand needs 2 inputs");
    const ig_tensor *sh = s->in[1];
    if (sh->dtype != IG_DT_INT64) return ig_kstep_fail(s, err, IG_EDTYPE, "shape must be INT64");
    if (sh->ndim != 1) return ig_kstep_fail(s, err, IG_ESHAPE, "shape must be 1-D");
    if (!sh->data) return IG_EDEFER;
    if (sh->dims[0] > IG_MAX_DIMS)
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "shape has %lld dims, at most %d supported",
                             (long long)sh->dims[0], IG_MAX_DIMS);
    ig_tensor target = {.dtype = s->in[0]->dtype, .ndim = (int)sh->dims[0]};
    for (int d = 0; d < target.ndim; d++) {
        target.dims[d] = ((const int64_t *)sh->data)[d];
        if (target.dims[d] < 0)
            return ig_kstep_fail(s, err, IG_ESHAPE, "shape[%d] = %lld is negative", d,
                                 (long long)target.dims[d]);
    }
    ig__bcast_fn fns[IG_DT_COUNT] = {NULL};
    fns[s->in[0]->dtype < IG_DT_COUNT ? s->in[0]->dtype : 0] = ig__ew_copy_fn(ig_dtype_size(s->in[0]->dtype));
    ig__ew_spec spec = {.fns = fns, .n_in = 1, .raw = true, .shape_only = &target};
    return ig__ew_plan(s, err, &spec, NULL);
}

/* Clip: y = min(max(x, lo), hi); lo > hi gives hi, like numpy.clip. */
#define LOWEST(T)                                                                                            \
    _Generic((T)0, float                                                                                     \
             : -INFINITY, double                                                                             \
             : -INFINITY, int8_t                                                                             \
             : INT8_MIN, int16_t                                                                             \
             : INT16_MIN, int32_t                                                                            \
             : INT32_MIN, int64_t                                                                            \
             : INT64_MIN, default : 0)
#define HIGHEST(T)                                                                                           \
    _Generic((T)0, float                                                                                     \
             : INFINITY, double                                                                              \
             : INFINITY, int8_t                                                                              \
             : INT8_MAX, int16_t                                                                             \
             : INT16_MAX, int32_t                                                                            \
             : INT32_MAX, int64_t                                                                            \
             : INT64_MAX, uint8_t                                                                            \
             : UINT8_MAX, uint16_t                                                                           \
             : UINT16_MAX, uint32_t                                                                          \
             : UINT32_MAX, default                                                                           \
             : UINT64_MAX)
#define CLIP_DEF(DT, T, S, U, HOT, op)                                                                       \
    HOT static void clip_##S(void *o_, const void *const *in, const int64_t *st, int64_t n, const void *ctx) \
    {                                                                                                        \
        const ig__ew_attrs *c = ctx;                                                                         \
        T *o = o_;                                                                                           \
        const T *x = in[0];                                                                                  \
        T lo = c->p[0] ? *(const T *)c->p[0] : (T)LOWEST(T);                                                 \
        T hi = c->p[1] ? *(const T *)c->p[1] : (T)HIGHEST(T);                                                \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            T v = x[st[0] ? i : 0];                                                                          \
            v = v < lo ? lo : v;                                                                             \
            o[i] = v > hi ? hi : v;                                                                          \
        }                                                                                                    \
    }
IG__EW_NUMS(CLIP_DEF, clip)
static ig__ew_fns clip_fns = {IG__EW_NUMS(IG__EW_ENTRY, clip)};

int ig__ew_plan_clip(ig_kstep *s, ig_error *err)
{
    ig__ew_attrs a = {0};
    if (s->node->opset < 11) {
        a.f[0] = ig_node_attr_float(s->node, "min", -FLT_MAX);
        a.f[1] = ig_node_attr_float(s->node, "max", FLT_MAX);
    } else {
        for (int k = 1; k < 3 && k < s->n_in; k++) {
            if (!s->in[k]) continue;
            if (s->in[0] && s->in[k]->dtype != s->in[0]->dtype)
                return ig_kstep_fail(s, err, IG_EDTYPE, "bound %d is %s but input is %s", k,
                                     ig_dtype_name(s->in[k]->dtype), ig_dtype_name(s->in[0]->dtype));
            if (ig_tensor_numel(s->in[k]) != 1)
                return ig_kstep_fail(s, err, IG_ESHAPE, "bound %d must be a scalar", k);
        }
    }
    ig__ew_spec spec = {.fns = clip_fns, .n_in = 1};
    return ig__ew_plan(s, err, &spec, &a);
}

/* bound k as the loops see it: float16/bfloat16 widened into buf */
static const void *bound(const ig_tensor *t, float *buf)
{
    if (!t) return NULL;
    if (t->dtype == IG_DT_FLOAT16) {
        *buf = ig_half_to_float(*(const uint16_t *)t->data);
        return buf;
    }
    if (t->dtype == IG_DT_BFLOAT16) {
        *buf = ig_bfloat16_to_float(*(const uint16_t *)t->data);
        return buf;
    }
    return t->data;
}

int ig__ew_run_clip(ig_kstep *s)
{
    ig__ew_attrs a = *ig__ew_planned_attrs(s->state);
    float fb[2];
    double db[2];
    if (s->node->opset < 11) {
        if (s->in[0]->dtype == IG_DT_DOUBLE) {
            db[0] = a.f[0];
            db[1] = a.f[1];
            a.p[0] = &db[0];
            a.p[1] = &db[1];
        } else if (s->in[0]->dtype == IG_DT_FLOAT || ig__ew_is_half(s->in[0]->dtype)) {
            a.p[0] = &a.f[0];
            a.p[1] = &a.f[1];
        }
    } else {
        a.p[0] = bound(s->n_in > 1 ? s->in[1] : NULL, &fb[0]);
        a.p[1] = bound(s->n_in > 2 ? s->in[2] : NULL, &fb[1]);
    }
    return ig__ew_run_with(s, &a);
}
