/* CumSum (opset 11, 14): running sum along the axis given as input 1, optionally exclusive and/or
 * reversed. The axis only selects the walk, not the shape, so it is read at run time. */
#include <stdlib.h>

#include "engine/kernels/ref/reduce_util.h"

typedef struct {
    bool exclusive, reverse;
} cs_state;

int ig__rd_cumsum_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *a = s->n_in > 1 ? s->in[1] : NULL;
    if (!x || !a) return ig_kstep_fail(s, err, IG_EINVAL, "CumSum needs x and axis");
    if (a->dtype != IG_DT_INT32 && a->dtype != IG_DT_INT64)
        return ig_kstep_fail(s, err, IG_EDTYPE, "axis must be int32 or int64");
    if (ig_tensor_numel(a) != 1 || a->ndim > 1)
        return ig_kstep_fail(s, err, IG_ESHAPE, "axis must be a scalar");
    if (x->ndim == 0) return ig_kstep_fail(s, err, IG_ESHAPE, "input must have rank >= 1");
    int64_t axis;
    if (a->data && rd_read_int_scalar(a, &axis) && !rd_norm_axis(&axis, x->ndim))
        return ig_kstep_fail(s, err, IG_EINVAL, "axis %lld out of range", (long long)axis);
    cs_state *st = ig__rd_state(s, sizeof(cs_state));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->exclusive = ig_node_attr_int(s->node, "exclusive", 0) != 0;
    st->reverse = ig_node_attr_int(s->node, "reverse", 0) != 0;
    int64_t maxn = 0;
    for (int d = 0; d < x->ndim; d++) maxn = x->dims[d] > maxn ? x->dims[d] : maxn;
    s->scratch_bytes = (size_t)maxn * 8;
    ig_kstep_set_output(s, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

#define CS_SCAN(T, buf)                                                                                      \
    do {                                                                                                     \
        T acc = 0;                                                                                           \
        for (int64_t k = 0; k < n; k++) {                                                                    \
            int64_t j = st->reverse ? n - 1 - k : k;                                                         \
            T v = buf[j];                                                                                    \
            if (st->exclusive) {                                                                             \
                buf[j] = acc;                                                                                \
                acc += v;                                                                                    \
            } else {                                                                                         \
                acc += v;                                                                                    \
                buf[j] = acc;                                                                                \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

int ig__rd_cumsum_run(ig_kstep *s)
{
    const cs_state *st = s->state;
    const ig_tensor *x = s->in[0];
    int64_t axis;
    if (!rd_read_int_scalar(s->in[1], &axis) || !rd_norm_axis(&axis, x->ndim)) return IG_EINVAL;
    int64_t outer = rd_prod(x->dims, 0, (int)axis), n = x->dims[axis];
    int64_t inner = rd_prod(x->dims, (int)axis + 1, x->ndim);
    void *y = s->out[0]->data;
    bool real = rd_is_float(x->dtype);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t off = o * n * inner + i;
            if (real) {
                double *buf = s->scratch;
                ig__rd_load_d(x->data, x->dtype, off, n, inner, buf);
                CS_SCAN(double, buf);
                ig__rd_store_d(y, x->dtype, off, n, inner, buf);
            } else {
                int64_t *buf = s->scratch;
                ig__rd_load_i(x->data, x->dtype, off, n, inner, buf);
                /* Wrapping adds, as the integer dtypes do. */
                CS_SCAN(uint64_t, ((uint64_t *)buf));
                ig__rd_store_i(y, x->dtype, off, n, inner, buf);
            }
        }
    }
    return 0;
}
