/* Concat and Split: both move contiguous blocks of (dims after the axis) x (extent along the axis)
 * for every index of the dims before the axis. */
#include "engine/kernels/ref/shape_common.h"

#include <stdlib.h>

typedef struct {
    int axis;
    int n;
    int64_t sizes[]; /* Split: extent of each output along the axis */
} axis_state;

int ig__shape_concat_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x0 = NULL;
    for (int i = 0; i < s->n_in && !x0; i++) x0 = s->in[i];
    if (!x0) return ig_kstep_fail(s, err, IG_EINVAL, "no inputs");
    int axis;
    if (!ig__shape_axis(ig_node_attr_int(s->node, "axis", 1), x0->ndim, &axis))
        return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range for rank %d", x0->ndim);
    int64_t dims[IG_MAX_DIMS];
    memcpy(dims, x0->dims, sizeof dims);
    dims[axis] = 0;
    for (int i = 0; i < s->n_in; i++) {
        const ig_tensor *x = s->in[i];
        if (!x) continue;
        if (x->dtype != x0->dtype) return ig_kstep_fail(s, err, IG_EDTYPE, "inputs differ in dtype");
        if (x->ndim != x0->ndim) return ig_kstep_fail(s, err, IG_ESHAPE, "inputs differ in rank");
        for (int k = 0; k < x->ndim; k++)
            if (k != axis && x->dims[k] != x0->dims[k])
                return ig_kstep_fail(s, err, IG_ESHAPE, "input %d differs in dim %d", i, k);
        dims[axis] += x->dims[axis];
    }
    axis_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->axis = axis;
    st->n = 0;
    s->state = st;
    ig__shape_set_out(s, 0, x0->dtype, x0->ndim, dims);
    return 0;
}

int ig__shape_concat_run(ig_kstep *s)
{
    const axis_state *st = s->state;
    const ig_tensor *y = s->out[0];
    size_t es = ig_dtype_size(y->dtype);
    int64_t outer = ig__shape_prod(y->dims, 0, st->axis),
            inner = ig__shape_prod(y->dims, st->axis + 1, y->ndim);
    int64_t orow = y->dims[st->axis] * inner * (int64_t)es;
    int64_t off = 0;
    for (int i = 0; i < s->n_in; i++) {
        const ig_tensor *x = s->in[i];
        if (!x) continue;
        int64_t row = x->dims[st->axis] * inner * (int64_t)es;
        if (row) {
            const char *src = x->data;
            char *dst = (char *)y->data + off;
#pragma omp parallel for num_threads(s->n_threads) if (outer * row > (1 << 17) && s->n_threads > 1)
            for (int64_t o = 0; o < outer; o++) memcpy(dst + o * orow, src + o * row, (size_t)row);
        }
        off += row;
    }
    return 0;
}

int ig__shape_split_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int axis;
    if (!ig__shape_axis(ig_node_attr_int(s->node, "axis", 0), x->ndim, &axis))
        return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range for rank %d", x->ndim);
    int nout = s->n_out;
    const ig_tensor *sp = ig__shape_in(s, 1);
    /* Before any allocation: a deferred plan's state is not released. */
    if (s->node->opset >= 13 && sp && !sp->data) return IG_EDEFER;
    axis_state *st = malloc(sizeof *st + sizeof(int64_t) * (nout > 0 ? nout : 1));
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->axis = axis;
    st->n = nout;
    s->state = st;
    int64_t dim = x->dims[axis];
    int n = -1;
    if (s->node->opset < 13) {
        const int64_t *a = ig_node_attr_ints(s->node, "split", &n);
        if (a) {
            if (n != nout)
                return ig_kstep_fail(s, err, IG_EINVAL, "split has %d entries for %d outputs", n, nout);
            memcpy(st->sizes, a, sizeof(int64_t) * n);
        } else {
            n = -1;
        }
    } else if (sp) {
        int64_t cnt = ig_tensor_numel(sp);
        if (cnt != nout || sp->dtype != IG_DT_INT64)
            return ig_kstep_fail(s, err, IG_EINVAL, "split must be int64 with one entry per output");
        n = ig__shape_read_ints(sp, st->sizes, nout);
    }
    if (n < 0) {
        /* Equal parts; with num_outputs (opset 18) the last part may be smaller. */
        int64_t parts = ig_node_attr_int(s->node, "num_outputs", nout);
        if (parts != nout || nout <= 0)
            return ig_kstep_fail(s, err, IG_EINVAL, "num_outputs does not match outputs");
        int64_t chunk = (dim + nout - 1) / nout;
        if (!ig_node_attr(s->node, "num_outputs") && dim % nout)
            return ig_kstep_fail(s, err, IG_ESHAPE, "dim %lld not divisible into %d parts", (long long)dim,
                                 nout);
        for (int i = 0; i < nout; i++) {
            int64_t b = chunk * i;
            st->sizes[i] = b >= dim ? 0 : (b + chunk > dim ? dim - b : chunk);
        }
    }
    int64_t total = 0;
    for (int i = 0; i < nout; i++) {
        if (st->sizes[i] < 0) return ig_kstep_fail(s, err, IG_EINVAL, "negative split");
        total += st->sizes[i];
    }
    if (total != dim)
        return ig_kstep_fail(s, err, IG_ESHAPE, "splits sum to %lld, dim is %lld", (long long)total,
                             (long long)dim);
    int64_t dims[IG_MAX_DIMS];
    memcpy(dims, x->dims, sizeof dims);
    for (int i = 0; i < nout; i++) {
        dims[axis] = st->sizes[i];
        ig__shape_set_out(s, i, x->dtype, x->ndim, dims);
    }
    return 0;
}

int ig__shape_split_run(ig_kstep *s)
{
    const axis_state *st = s->state;
    const ig_tensor *x = s->in[0];
    size_t es = ig_dtype_size(x->dtype);
    int64_t outer = ig__shape_prod(x->dims, 0, st->axis),
            inner = ig__shape_prod(x->dims, st->axis + 1, x->ndim);
    int64_t irow = x->dims[st->axis] * inner * (int64_t)es, off = 0;
    for (int i = 0; i < st->n; i++) {
        int64_t row = st->sizes[i] * inner * (int64_t)es;
        ig_tensor *y = s->out[i];
        if (y && row) {
            const char *src = (const char *)x->data + off;
            char *dst = y->data;
#pragma omp parallel for num_threads(s->n_threads) if (outer * row > (1 << 17) && s->n_threads > 1)
            for (int64_t o = 0; o < outer; o++) memcpy(dst + o * row, src + o * irow, (size_t)row);
        }
        off += row;
    }
    return 0;
}
