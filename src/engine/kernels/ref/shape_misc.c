/* Layout and selection ops without a family of their own: OneHot, Trilu, DepthToSpace,
 * SpaceToDepth, ReverseSequence, and Dropout in inference mode (a copy plus an all-true mask). */
#include "engine/kernels/ref/shape_common.h"

#include <stdlib.h>

typedef struct {
    int axis;
    int64_t depth;
} onehot_state;

int ig__shape_onehot_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *ind = s->in[0], *dep = ig__shape_in(s, 1), *val = ig__shape_in(s, 2);
    if (!dep || !val) return ig_kstep_fail(s, err, IG_EINVAL, "missing depth or values");
    if (ig_tensor_numel(val) != 2) return ig_kstep_fail(s, err, IG_ESHAPE, "values must have 2 elements");
    if (ig_tensor_numel(dep) != 1) return ig_kstep_fail(s, err, IG_ESHAPE, "depth must be a scalar");
    if (ind->dtype == IG_DT_STRING || dep->dtype == IG_DT_STRING)
        return ig_kstep_fail(s, err, IG_EDTYPE, "indices and depth must be numeric");
    if (!dep->data) return IG_EDEFER;
    int64_t depth = ig__shape_get_i64(dep, 0);
    if (depth < 1) return ig_kstep_fail(s, err, IG_EINVAL, "depth must be positive");
    int r = ind->ndim + 1, axis;
    if (r > IG_MAX_DIMS) return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "output rank too large");
    if (!ig__shape_axis(ig_node_attr_int(s->node, "axis", -1), r, &axis))
        return ig_kstep_fail(s, err, IG_EINVAL, "axis out of range");
    int64_t dims[IG_MAX_DIMS];
    for (int k = 0, j = 0; k < r; k++) dims[k] = k == axis ? depth : ind->dims[j++];
    onehot_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->axis = axis;
    st->depth = depth;
    s->state = st;
    ig__shape_set_out(s, 0, val->dtype, r, dims);
    return 0;
}

int ig__shape_onehot_run(ig_kstep *s)
{
    const onehot_state *st = s->state;
    const ig_tensor *ind = s->in[0], *val = s->in[2];
    ig_tensor *y = s->out[0];
    size_t es = ig_dtype_size(y->dtype);
    int64_t outer = ig__shape_prod(ind->dims, 0, st->axis),
            inner = ig__shape_prod(ind->dims, st->axis, ind->ndim);
    int64_t depth = st->depth;
    const char *off = val->data, *on = (const char *)val->data + es;
    char *o = y->data;
    for (int64_t a = 0; a < outer; a++) {
        for (int64_t d = 0; d < depth; d++) {
            for (int64_t i = 0; i < inner; i++) {
                int64_t v = ig__shape_get_i64(ind, a * inner + i);
                if (v < 0) v += depth;
                memcpy(o + ((a * depth + d) * inner + i) * (int64_t)es, v == d ? on : off, es);
            }
        }
    }
    return 0;
}

typedef struct {
    bool upper;
} trilu_state;

int ig__shape_trilu_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *k = ig__shape_in(s, 1);
    if (x->ndim < 2) return ig_kstep_fail(s, err, IG_ESHAPE, "input must have rank >= 2");
    if (k && (ig_tensor_numel(k) != 1 || k->dtype != IG_DT_INT64))
        return ig_kstep_fail(s, err, IG_EINVAL, "k must be an int64 scalar");
    trilu_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->upper = ig_node_attr_int(s->node, "upper", 1) != 0;
    s->state = st;
    ig__shape_set_out(s, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

int ig__shape_trilu_run(ig_kstep *s)
{
    const trilu_state *st = s->state;
    const ig_tensor *x = s->in[0], *kt = ig__shape_in(s, 1);
    ig_tensor *y = s->out[0];
    int64_t k = kt ? *(const int64_t *)kt->data : 0;
    size_t es = ig_dtype_size(x->dtype);
    int64_t R = x->dims[x->ndim - 2], C = x->dims[x->ndim - 1], nb = ig__shape_prod(x->dims, 0, x->ndim - 2);
    const char *src = x->data;
    char *dst = y->data;
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t i = 0; i < R; i++) {
            size_t off = (size_t)((b * R + i) * C) * es;
            memset(dst + off, 0, (size_t)C * es);
            /* upper keeps j - i >= k, lower keeps j - i <= k */
            int64_t j0 = st->upper ? i + k : 0, j1 = st->upper ? C : i + k + 1;
            if (j0 < 0) j0 = 0;
            if (j1 > C) j1 = C;
            if (j1 > j0) memcpy(dst + off + j0 * es, src + off + j0 * es, (size_t)(j1 - j0) * es);
        }
    }
    return 0;
}

typedef struct {
    int64_t block;
    bool crd;
} d2s_state;

static int blocks_plan(ig_kstep *s, ig_error *err, bool to_space)
{
    const ig_tensor *x = s->in[0];
    int64_t b = ig_node_attr_int(s->node, "blocksize", 0);
    if (x->ndim != 4) return ig_kstep_fail(s, err, IG_ESHAPE, "input must be 4-D");
    if (b < 1) return ig_kstep_fail(s, err, IG_EINVAL, "blocksize must be positive");
    const char *mode = ig_node_attr_str(s->node, "mode", "DCR");
    bool crd = !strcmp(mode, "CRD");
    if (!crd && strcmp(mode, "DCR")) return ig_kstep_fail(s, err, IG_EINVAL, "unknown mode '%s'", mode);
    int64_t dims[4] = {x->dims[0], 0, 0, 0};
    if (to_space) {
        if (x->dims[1] % (b * b))
            return ig_kstep_fail(s, err, IG_ESHAPE, "channels not divisible by blocksize^2");
        dims[1] = x->dims[1] / (b * b);
        dims[2] = x->dims[2] * b;
        dims[3] = x->dims[3] * b;
    } else {
        if (x->dims[2] % b || x->dims[3] % b)
            return ig_kstep_fail(s, err, IG_ESHAPE, "height and width must be divisible by blocksize");
        dims[1] = x->dims[1] * b * b;
        dims[2] = x->dims[2] / b;
        dims[3] = x->dims[3] / b;
    }
    d2s_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->block = b;
    st->crd = crd;
    s->state = st;
    ig__shape_set_out(s, 0, x->dtype, 4, dims);
    return 0;
}

int ig__shape_depth_to_space_plan(ig_kstep *s, ig_error *err)
{
    return blocks_plan(s, err, true);
}

int ig__shape_space_to_depth_plan(ig_kstep *s, ig_error *err)
{
    return blocks_plan(s, err, false);
}

/* Output walked as [N, C', H, b, W, b]: the reshape-transpose-reshape of the spec as one view. */
int ig__shape_depth_to_space_run(ig_kstep *s)
{
    const d2s_state *st = s->state;
    const ig_tensor *x = s->in[0];
    int64_t b = st->block, N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], Cp = C / (b * b);
    int64_t HW = H * W;
    int64_t dims[6] = {N, Cp, H, b, W, b};
    int64_t str[6] = {C * HW, HW, W, 0, 1, 0};
    if (st->crd) {
        str[1] = b * b * HW;
        str[3] = b * HW;
        str[5] = HW;
    } else {
        str[3] = b * Cp * HW;
        str[5] = Cp * HW;
    }
    ig__shape_copy_strided(s->out[0]->data, x->data, ig_dtype_size(x->dtype), 6, dims, str, s->n_threads);
    return 0;
}

/* Output walked as [N, b, b, C, H/b, W/b]. */
int ig__shape_space_to_depth_run(ig_kstep *s)
{
    const d2s_state *st = s->state;
    const ig_tensor *x = s->in[0];
    int64_t b = st->block, N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t dims[6] = {N, b, b, C, H / b, W / b};
    int64_t str[6] = {C * H * W, W, 1, H * W, b * W, b};
    ig__shape_copy_strided(s->out[0]->data, x->data, ig_dtype_size(x->dtype), 6, dims, str, s->n_threads);
    return 0;
}

typedef struct {
    int batch_axis, time_axis;
} revseq_state;

int ig__shape_reverse_sequence_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *len = ig__shape_in(s, 1);
    if (x->ndim < 2) return ig_kstep_fail(s, err, IG_ESHAPE, "input must have rank >= 2");
    int64_t ba = ig_node_attr_int(s->node, "batch_axis", 1), ta = ig_node_attr_int(s->node, "time_axis", 0);
    if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0)))
        return ig_kstep_fail(s, err, IG_EINVAL, "batch_axis and time_axis must be 0 and 1");
    if (!len || len->dtype != IG_DT_INT64 || len->ndim != 1 || len->dims[0] != x->dims[ba])
        return ig_kstep_fail(s, err, IG_EINVAL, "sequence_lens must be int64 [batch]");
    revseq_state *st = malloc(sizeof *st);
    if (!st) return ig_kstep_fail(s, err, IG_ENOMEM, "out of memory");
    st->batch_axis = (int)ba;
    st->time_axis = (int)ta;
    s->state = st;
    ig__shape_set_out(s, 0, x->dtype, x->ndim, x->dims);
    return 0;
}

int ig__shape_reverse_sequence_run(ig_kstep *s)
{
    const revseq_state *st = s->state;
    const ig_tensor *x = s->in[0];
    const int64_t *lens = s->in[1]->data;
    size_t es = ig_dtype_size(x->dtype);
    int64_t d0 = x->dims[0], d1 = x->dims[1], inner = ig__shape_prod(x->dims, 2, x->ndim) * (int64_t)es;
    int64_t T = x->dims[st->time_axis];
    const char *src = x->data;
    char *dst = s->out[0]->data;
    for (int64_t i = 0; i < d0; i++) {
        for (int64_t j = 0; j < d1; j++) {
            int64_t bi = st->batch_axis == 0 ? i : j, t = st->time_axis == 0 ? i : j, L = lens[bi];
            if (L < 0 || L > T) return IG_EINVAL;
            int64_t ts = t < L ? L - 1 - t : t;
            int64_t si = st->time_axis == 0 ? ts : i, sj = st->time_axis == 0 ? j : ts;
            memcpy(dst + (i * d1 + j) * inner, src + (si * d1 + sj) * inner, (size_t)inner);
        }
    }
    return 0;
}

int ig__shape_dropout_plan(ig_kstep *s, ig_error *err)
{
    const ig_tensor *x = s->in[0], *ratio = ig__shape_in(s, 1), *train = ig__shape_in(s, 2);
    if (s->node->opset >= 12 && train) {
        if (!train->data || (ratio && !ratio->data)) return IG_EDEFER;
        double r = ratio ? ig__shape_get_f64(ratio, 0) : 0.5;
        if (ig__shape_get_i64(train, 0) && r > 0)
            return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "training-mode dropout is not supported");
    }
    if (s->node->opset < 7 && !ig_node_attr_int(s->node, "is_test", 0) &&
        ig_node_attr_float(s->node, "ratio", 0.5f) > 0)
        return ig_kstep_fail(s, err, IG_EUNSUPPORTED, "training-mode dropout (is_test=0) is not supported");
    ig__shape_set_out(s, 0, x->dtype, x->ndim, x->dims);
    ig__shape_set_out(s, 1, s->node->opset >= 10 ? IG_DT_BOOL : x->dtype, x->ndim, x->dims);
    return 0;
}

int ig__shape_dropout_run(ig_kstep *s)
{
    int rc = ig__shape_copy_run(s);
    ig_tensor *m = ig__shape_out(s, 1);
    if (m) {
        int64_t n = ig_tensor_numel(m);
        if (m->dtype == IG_DT_BOOL)
            memset(m->data, 1, (size_t)n);
        else
            for (int64_t k = 0; k < n; k++) ig__shape_put_f64(m->data, m->dtype, k, 1.0);
    }
    return rc;
}
