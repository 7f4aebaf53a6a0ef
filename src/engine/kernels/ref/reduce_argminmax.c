/* ArgMax / ArgMin (all opsets): index of the extreme value along axis, first occurrence unless
 * select_last_index; NaN counts as the extreme, as numpy does. Output int64. */
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/ref/reduce_util.h"

typedef struct {
    int64_t outer, n, inner;
    bool is_max, last, use_int;
} am_state;

int ig__rd_argminmax_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    if (!x) return ig_kstep_fail(s, err, IG_EINVAL, "missing input");
    int r = x->ndim;
    int64_t axis = ig_node_attr_int(s->node, "axis", 0);
    int64_t keepdims = ig_node_attr_int(s->node, "keepdims", 1);
    int64_t last = ig_node_attr_int(s->node, "select_last_index", 0);
    if (r == 0) return ig_kstep_fail(s, err, IG_ESHAPE, "input must have rank >= 1");
    if (!rd_norm_axis(&axis, r)) return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    if (x->dims[axis] == 0 && rd_prod(x->dims, 0, (int)axis) * rd_prod(x->dims, (int)axis + 1, r) > 0)
        return ig_kstep_fail(s, err, IG_ESHAPE, "cannot take arg%s of an empty axis",
                             strcmp(s->node->op_type, "ArgMax") ? "min" : "max");
    am_state *st = ig__rd_state(s, sizeof(am_state));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->outer = rd_prod(x->dims, 0, (int)axis);
    st->n = x->dims[axis];
    st->inner = rd_prod(x->dims, (int)axis + 1, r);
    st->is_max = !strcmp(s->node->op_type, "ArgMax");
    st->last = last != 0;
    st->use_int = !rd_is_float(x->dtype);
    s->scratch_bytes = (size_t)st->n * 8;
    int64_t od[IG_MAX_DIMS];
    int on = 0;
    for (int d = 0; d < r; d++) {
        if (d != axis)
            od[on++] = x->dims[d];
        else if (keepdims)
            od[on++] = 1;
    }
    ig_kstep_set_output(s, 0, IG_DT_INT64, on, od);
    return 0;
}

/* `better(v, b)`: v replaces the current best b (strictly, or also on ties when selecting last). */
#define AM_SCAN(buf, NANV)                                                                                   \
    do {                                                                                                     \
        int64_t bi = 0;                                                                                      \
        for (int64_t j = 1; j < st->n; j++) {                                                                \
            if (NANV(buf[bi])) break;                                                                        \
            bool take;                                                                                       \
            if (NANV(buf[j]))                                                                                \
                take = true;                                                                                 \
            else if (st->is_max)                                                                             \
                take = st->last ? buf[j] >= buf[bi] : buf[j] > buf[bi];                                      \
            else                                                                                             \
                take = st->last ? buf[j] <= buf[bi] : buf[j] < buf[bi];                                      \
            if (take) bi = j;                                                                                \
        }                                                                                                    \
        y[o * st->inner + i] = bi;                                                                           \
    } while (0)

#define AM_NAN(v) ((v) != (v))
#define AM_NONAN(v) false

int ig__rd_argminmax_run(ig_kstep *s)
{
    const am_state *st = s->state;
    const ig_tensor *x = s->in[0];
    int64_t *y = s->out[0]->data;
    if (st->n == 0) return 0;
    for (int64_t o = 0; o < st->outer; o++) {
        for (int64_t i = 0; i < st->inner; i++) {
            int64_t off = o * st->n * st->inner + i;
            if (st->use_int) {
                int64_t *buf = s->scratch;
                ig__rd_load_i(x->data, x->dtype, off, st->n, st->inner, buf);
                if (x->dtype == IG_DT_UINT64)
                    for (int64_t j = 0; j < st->n; j++) buf[j] = (int64_t)((uint64_t)buf[j] ^ (1ull << 63));
                AM_SCAN(buf, AM_NONAN);
            } else {
                double *buf = s->scratch;
                ig__rd_load_d(x->data, x->dtype, off, st->n, st->inner, buf);
                AM_SCAN(buf, AM_NAN);
            }
        }
    }
    return 0;
}
