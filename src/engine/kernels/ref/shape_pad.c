/* Pad: constant, reflect, edge and wrap modes; pads as attribute (opset < 11) or input, optional
 * axes input (opset 18). Negative pads crop. Each output coordinate maps to one input coordinate
 * or, in constant mode, to the fill value. */
#include "engine/kernels/ref/shape_common.h"

#include <stdlib.h>

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

typedef struct {
    int mode;
    int64_t begin[IG_MAX_DIMS];
    double value; /* numeric fill; strings fill with empty */
} pad_state;

int ig__shape_pad_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0];
    int r = x->ndim;
    pad_state st = {0};
    const char *m = ig_node_attr_str(s->node, "mode", "constant");
    if (!strcmp(m, "constant"))
        st.mode = PAD_CONSTANT;
    else if (!strcmp(m, "reflect"))
        st.mode = PAD_REFLECT;
    else if (!strcmp(m, "edge"))
        st.mode = PAD_EDGE;
    else if (!strcmp(m, "wrap"))
        st.mode = PAD_WRAP;
    else
        return ig_kstep_fail(s, err, IG_EINVAL, "unknown mode '%s'", m);
    int64_t pads[2 * IG_MAX_DIMS], axes[IG_MAX_DIMS];
    int np, na = -1;
    if (s->node->opset < 11) {
        const int64_t *p = ig_node_attr_ints(s->node, s->node->opset < 2 ? "paddings" : "pads", &np);
        if (!p || np != 2 * r) return ig_kstep_fail(s, err, IG_EINVAL, "pads must have 2*rank entries");
        memcpy(pads, p, sizeof(int64_t) * np);
        st.value = ig_node_attr_float(s->node, "value", 0.f);
    } else {
        const ig_tensor *pt = ig__shape_in(s, 1), *cv = ig__shape_in(s, 2), *at = ig__shape_in(s, 3);
        if (!pt) return ig_kstep_fail(s, err, IG_EINVAL, "missing pads");
        if (!pt->data || (cv && !cv->data) || (at && !at->data)) return IG_EDEFER;
        np = ig__shape_read_ints(pt, pads, 2 * IG_MAX_DIMS);
        if (np < 0) return ig_kstep_fail(s, err, IG_EINVAL, "pads must be int64");
        if (cv && ig_tensor_numel(cv) >= 1) {
            if (cv->dtype != x->dtype)
                return ig_kstep_fail(s, err, IG_EDTYPE, "constant_value dtype differs");
            if (x->dtype != IG_DT_STRING) st.value = ig__shape_get_f64(cv, 0);
        }
        if (at) {
            na = ig__shape_read_ints(at, axes, IG_MAX_DIMS);
            if (na < 0) return ig_kstep_fail(s, err, IG_EINVAL, "axes must be integers");
        }
    }
    int64_t full[2 * IG_MAX_DIMS] = {0};
    if (na >= 0) {
        if (np != 2 * na) return ig_kstep_fail(s, err, IG_EINVAL, "pads must have 2 entries per axis");
        for (int i = 0; i < na; i++) {
            int a;
            if (!ig__shape_axis(axes[i], r, &a)) return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
            full[a] = pads[i];
            full[a + r] = pads[i + na];
        }
    } else {
        if (np != 2 * r) return ig_kstep_fail(s, err, IG_EINVAL, "pads must have 2*rank entries");
        memcpy(full, pads, sizeof(int64_t) * np);
    }
    int64_t dims[IG_MAX_DIMS];
    for (int k = 0; k < r; k++) {
        dims[k] = x->dims[k] + full[k] + full[k + r];
        if (dims[k] < 0) return ig_kstep_fail(s, err, IG_ESHAPE, "pads crop dim %d below zero", k);
        if (st.mode != PAD_CONSTANT && x->dims[k] == 0 && dims[k] > 0)
            return ig_kstep_fail(s, err, IG_ESHAPE, "cannot %s-pad an empty dim", m);
        st.begin[k] = full[k];
    }
    pad_state *p = malloc(sizeof *p);
    if (!p) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    *p = st;
    s->state = p;
    ig__shape_set_out(s, 0, x->dtype, r, dims);
    return 0;
}

/* Input coordinate for output coordinate o along a dim of size d, or -1 for the fill value. */
static inline int64_t map_coord(int mode, int64_t o, int64_t begin, int64_t d)
{
    int64_t i = o - begin;
    if (i >= 0 && i < d) return i;
    switch (mode) {
    case PAD_EDGE:
        return i < 0 ? 0 : d - 1;
    case PAD_WRAP:
        return ((i % d) + d) % d;
    case PAD_REFLECT: {
        if (d == 1) return 0;
        int64_t period = 2 * (d - 1);
        i = ((i % period) + period) % period;
        return i < d ? i : period - i;
    }
    default:
        return -1;
    }
}

int ig__shape_pad_run(ig_kstep *s)
{
    const pad_state *st = s->state;
    const ig_tensor *x = s->in[0];
    ig_tensor *y = s->out[0];
    int r = x->ndim;
    size_t es = ig_dtype_size(x->dtype);
    if (ig_tensor_numel(y) == 0) return 0;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return 0;
    }
    /* The fill value, once, in the output's dtype. */
    unsigned char fill[16] = {0};
    if (x->dtype != IG_DT_STRING) ig__shape_put_f64(fill, x->dtype, 0, st->value);
    int64_t inner = y->dims[r - 1], rows = ig__shape_prod(y->dims, 0, r - 1), xstr[IG_MAX_DIMS];
    int64_t xd = x->dims[r - 1], b = st->begin[r - 1];
    ig__shape_strides(x->dims, r, xstr);
    const char *src = x->data;
    char *dst = y->data;
#pragma omp parallel for num_threads(s->n_threads) if (rows * inner > (1 << 15) && s->n_threads > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, off = 0;
        bool filled = false;
        for (int k = r - 2; k >= 0; k--) {
            int64_t c = map_coord(st->mode, rem % y->dims[k], st->begin[k], x->dims[k]);
            rem /= y->dims[k];
            if (c < 0)
                filled = true;
            else
                off += c * xstr[k];
        }
        char *o = dst + row * inner * (int64_t)es;
        const char *in = src + off * (int64_t)es;
        for (int64_t j = 0; j < inner; j++) {
            int64_t c = filled ? -1 : map_coord(st->mode, j, b, xd);
            memcpy(o + j * (int64_t)es, c < 0 ? (const char *)fill : in + c * (int64_t)es, es);
        }
    }
    return 0;
}
